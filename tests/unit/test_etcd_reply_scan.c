/* The etcd store's reading of get and transaction answers straight from
 * their text: what it reads agrees with the parsed tree's reading, and every
 * answer of another shape, malformed or merely unusual, is left to the tree
 * (ETCD_SCAN_OTHER) rather than misread. */
#include <stdio.h>
#include <string.h>

#include "../../plugins/store/etcd/base64.h"
#include "../../plugins/store/etcd/reply_scan.h"
#include "tap.h"

static etcd_store_t store = {.prefix = "/p", .prefix_len = 2};

/* A get answer holding key /p<key> with `value` at the given revisions. */
static void get_answer(char *out, size_t size, const char *key, const char *value, const char *extra)
{
    char full[128];
    snprintf(full, sizeof full, "/p%s", key);
    char *k = kl_base64_encode(full, strlen(full));
    char *v = kl_base64_encode(value, strlen(value));
    snprintf(out, size,
             "{\"header\":{\"cluster_id\":\"14841639068965178418\",\"member_id\":\"10276657743932975437\","
             "\"revision\":\"57\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":\"%s\",\"create_revision\":\"12\","
             "\"mod_revision\":\"40\",\"version\":\"3\",\"value\":\"%s\"%s}],\"count\":\"1\"}",
             k, v, extra);
    free(k);
    free(v);
}

static void test_get_read(void)
{
    char text[1024];
    get_answer(text, sizeof text, "/registry/pods/default/a", "{\"kind\":\"Pod\"}", ",\"lease\":\"7\"");
    int64_t revision = 0;
    int found = 0;
    decoded_kv_t d;
    store.revision = 0;
    int r = etcd_scan_get_reply(&store, text, strlen(text), &revision, &found, &d);
    ok(r == ETCD_SCAN_READ && found, "a get answer with its key is read");
    if (r == ETCD_SCAN_READ && found) {
        is_str(d.kv.key, "/registry/pods/default/a", "the key, without the store prefix");
        ok(d.kv.value_len == 14 && memcmp(d.kv.value, "{\"kind\":\"Pod\"}", 14) == 0,
           "the value decoded from base64");
        ok(d.kv.create_revision == 12 && d.kv.mod_revision == 40 && d.lease == 7,
           "create and mod revisions and the lease");
        /* The tree's reading of the same text agrees. */
        json_t *tree = json_loads(text, 0, NULL);
        decoded_kv_t t;
        kl_error_t err;
        int tree_ok = etcd_kv_decode(&store, json_array_get(json_object_get(tree, "kvs"), 0), &t,
                                     "/v3/kv/range", &err) == 0;
        ok(tree_ok && strcmp(t.kv.key, d.kv.key) == 0 && t.kv.value_len == d.kv.value_len
               && memcmp(t.kv.value, d.kv.value, d.kv.value_len) == 0
               && t.kv.mod_revision == d.kv.mod_revision && t.lease == d.lease,
           "and agrees with the parsed tree's reading");
        if (tree_ok)
            etcd_decoded_kv_free(&t);
        json_decref(tree);
        etcd_decoded_kv_free(&d);
    }
    ok(revision == 57 && store.revision == 57, "the header's revision, remembered as the highest seen");

    /* etcd leaves an empty value and a zero lease out. */
    const char *empty = "{\"header\":{\"revision\":\"9\"},\"kvs\":[{\"key\":\"L3Av\",\"create_revision\":\"3\","
                        "\"mod_revision\":\"3\",\"version\":\"1\"}],\"count\":\"1\"}";
    r = etcd_scan_get_reply(&store, empty, strlen(empty), &revision, &found, &d);
    ok(r == ETCD_SCAN_READ && found && d.kv.value_len == 0 && d.lease == 0 && strcmp(d.kv.key, "/") == 0,
       "an empty value and no lease, as etcd leaves them out");
    if (r == ETCD_SCAN_READ && found)
        etcd_decoded_kv_free(&d);

    const char *none = "{\"header\":{\"cluster_id\":\"1\",\"revision\":\"58\"}}";
    r = etcd_scan_get_reply(&store, none, strlen(none), &revision, &found, &d);
    ok(r == ETCD_SCAN_READ && !found && revision == 58, "no kvs: read as not found");
    const char *none2 = "{\"header\":{\"revision\":\"58\"},\"kvs\":[],\"count\":\"0\"}\n";
    r = etcd_scan_get_reply(&store, none2, strlen(none2), &revision, &found, &d);
    ok(r == ETCD_SCAN_READ && !found, "an empty kvs and a trailing newline: not found");
}

static void test_get_other(void)
{
    char text[1024];
    struct {
        const char *why;
        char text[1024];
    } cases[12];
    int n = 0;
    get_answer(text, sizeof text, "/a", "v", "");
    /* Keys outside the prefix, escapes, bad numbers and bad base64. */
    snprintf(cases[n].text, sizeof cases[n].text,
             "{\"header\":{\"revision\":\"5\"},\"kvs\":[{\"key\":\"L3EvYQ==\",\"value\":\"dg==\"}]}");
    cases[n++].why = "a key outside the store prefix (/q/a)";
    snprintf(cases[n].text, sizeof cases[n].text, "%.*s\\u0041%s", (int)(strstr(text, "\"value\":\"") + 9 - text),
             text, strstr(text, "\"value\":\"") + 9);
    cases[n++].why = "an escape in the value";
    static const char *const fixed[][2] = {
        {"a revision that is not a number", "{\"header\":{\"revision\":\"5x\"}}"},
        {"a revision past int64", "{\"header\":{\"revision\":\"99999999999999999999\"}}"},
        {"no header", "{\"kvs\":[]}"},
        {"trailing text", "{\"header\":{\"revision\":\"5\"}} {}"},
        {"a truncated answer", "{\"header\":{\"revision\":\"5\"}"},
        {"not an object", "[1,2]"},
        {"kvs not an array", "{\"header\":{\"revision\":\"5\"},\"kvs\":{\"key\":\"L3Av\"}}"},
        {"a value that is not base64",
         "{\"header\":{\"revision\":\"5\"},\"kvs\":[{\"key\":\"L3Av\",\"value\":\"@@@@\"}]}"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        cases[n].why = fixed[i][0];
        snprintf(cases[n].text, sizeof cases[n].text, "%s", fixed[i][1]);
        n++;
    }
    cases[n].text[0] = '\0';
    strcat(cases[n].text, "{\"header\":{\"revision\":\"5\"},\"kvs\":[");
    for (int i = 0; i < 40; i++)
        strcat(cases[n].text, i ? ",{\"key\":\"L3Av\"}" : "{\"key\":\"L3Av\"}");
    strcat(cases[n].text, "]}");
    cases[n++].why = "more tokens than a one-key answer has";
    for (int i = 0; i < n; i++) {
        int64_t revision;
        int found;
        decoded_kv_t d;
        int r = etcd_scan_get_reply(&store, cases[i].text, strlen(cases[i].text), &revision, &found, &d);
        ok(r == ETCD_SCAN_OTHER, "left to the tree: %s", cases[i].why);
        if (r == ETCD_SCAN_READ && found)
            etcd_decoded_kv_free(&d);
    }
}

static void test_txn(void)
{
    const char *done = "{\"header\":{\"cluster_id\":\"1\",\"member_id\":\"2\",\"revision\":\"77\",\"raft_term\":\"2\"},"
                       "\"succeeded\":true,\"responses\":[{\"response_put\":{\"header\":{\"revision\":\"77\"}}}]}";
    int64_t revision = 0;
    ok(etcd_scan_txn_succeeded(&store, done, strlen(done), &revision) == ETCD_SCAN_READ && revision == 77,
       "a transaction that succeeded, at its header's revision");
    const char *failed = "{\"header\":{\"revision\":\"77\"},\"responses\":[{\"response_range\":{\"header\":"
                         "{\"revision\":\"77\"},\"kvs\":[{\"key\":\"L3Av\",\"mod_revision\":\"70\"}]}}]}";
    ok(etcd_scan_txn_succeeded(&store, failed, strlen(failed), &revision) == ETCD_SCAN_OTHER,
       "a failed one (etcd leaves succeeded out) goes to the tree, which reads its cause");
    const char *quoted = "{\"header\":{\"revision\":\"77\"},\"succeeded\":\"true\"}";
    ok(etcd_scan_txn_succeeded(&store, quoted, strlen(quoted), &revision) == ETCD_SCAN_OTHER,
       "succeeded as a string is not success");
    const char *nested = "{\"header\":{\"revision\":\"77\"},\"responses\":[{\"succeeded\":true}]}";
    ok(etcd_scan_txn_succeeded(&store, nested, strlen(nested), &revision) == ETCD_SCAN_OTHER,
       "a succeeded nested deeper is not the transaction's");
    const char *headless = "{\"succeeded\":true}";
    ok(etcd_scan_txn_succeeded(&store, headless, strlen(headless), &revision) == ETCD_SCAN_OTHER,
       "success without a header revision goes to the tree");
    ok(etcd_scan_txn_succeeded(&store, NULL, 0, &revision) == ETCD_SCAN_OTHER,
       "no text (the fail-over path's tree) goes to the tree");
}

int main(void)
{
    test_get_read();
    test_get_other();
    test_txn();
    return done_testing();
}
