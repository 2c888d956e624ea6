/* The `etcd` store plugin: keelson's revisioned key-value store kept in a
 * real etcd 3.4 cluster, reached through its v3 JSON gateway. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <keelson/store.h>

#include "base64.h"
#include "feed.h"
#include "gateway.h"

#define DEFAULT_PREFIX "/keelson"
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_DIAL_TIMEOUT_MS 1000
/* Keys per range request: keeps every reply small whatever the limit. */
#define PAGE_SIZE 1000
/* Revisions the change feed keeps: the API server reads it every few
 * milliseconds; one that falls further behind reads etcd's history. */
#define FEED_REVISIONS 1024
/* How long a read of the feed waits for a revision this store has seen
 * written to arrive on it. */
#define FEED_WAIT_MS 20

typedef struct etcd_store {
    const kl_host_t *host;
    kl_gateway_t *gateway;
    char *prefix;          /* prepended verbatim to every key */
    size_t prefix_len;
    long timeout_ms;
    int64_t revision;      /* highest revision any reply reported */
    int64_t compacted;     /* highest compaction this process knows of */
    char **endpoints;      /* NULL-terminated, for the change feed */
    etcd_feed_t *feed;     /* started by the first read of changes */
} etcd_store_t;

/* ---- small helpers -------------------------------------------------------- */

/* etcd's JSON writes int64 as strings and omits zero values. */
static int json_int64(const json_t *object, const char *field, int64_t *out)
{
    const json_t *v = json_object_get(object, field);
    *out = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *text = json_string_value(v);
    if (!text || !*text)
        return -1;
    char *end;
    long long n = strtoll(text, &end, 10);
    if (*end)
        return -1;
    *out = n;
    return 0;
}

static int bad_reply(const char *path, const char *what, kl_error_t *err)
{
    return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: the reply to %s has %s", path, what);
}

/* Reads header.revision, remembering the highest seen. */
static int note_header(etcd_store_t *s, const json_t *reply, const char *path, int64_t *revision,
                       kl_error_t *err)
{
    int64_t rev;
    if (json_int64(json_object_get(reply, "header"), "revision", &rev) < 0 || rev < 0)
        return bad_reply(path, "a malformed header.revision", err);
    if (rev > s->revision)
        s->revision = rev;
    if (revision)
        *revision = rev;
    return 0;
}

/* base64 of the store prefix, `key` and, with `nul`, one NUL byte: the first
 * key strictly after it. Caller owns. */
static char *key_b64(const etcd_store_t *s, const char *key, int nul)
{
    size_t key_len = strlen(key);
    char *full = malloc(s->prefix_len + key_len + 1);
    if (!full)
        return NULL;
    memcpy(full, s->prefix, s->prefix_len);
    memcpy(full + s->prefix_len, key, key_len);
    full[s->prefix_len + key_len] = '\0';
    char *b64 = kl_base64_encode(full, s->prefix_len + key_len + (nul ? 1 : 0));
    free(full);
    return b64;
}

/* etcd's range_end for "every key starting with prefix": the prefix with its
 * last byte below 0xff incremented, or "\0" (to the end) when there is none. */
static char *prefix_end_b64(const etcd_store_t *s, const char *prefix)
{
    size_t len = s->prefix_len + strlen(prefix);
    unsigned char *end = malloc(len + 1);
    if (!end)
        return NULL;
    memcpy(end, s->prefix, s->prefix_len);
    memcpy(end + s->prefix_len, prefix, len - s->prefix_len);
    while (len && end[len - 1] == 0xff)
        len--;
    char *b64;
    if (len) {
        end[len - 1]++;
        b64 = kl_base64_encode(end, len);
    } else {
        b64 = kl_base64_encode("", 1);
    }
    free(end);
    return b64;
}

static char *int64_text(int64_t n, char buf[24])
{
    snprintf(buf, 24, "%" PRId64, n);
    return buf;
}

static int check_key(const char *key, kl_error_t *err)
{
    if (!key || !*key)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: the key is empty");
    return 0;
}

/* One key of a reply, decoded; `kv` points into the buffers. */
typedef struct decoded_kv {
    kl_store_kv_t kv;
    int64_t lease;
    char *key_buf;
    char *value_buf;
} decoded_kv_t;

static void decoded_kv_free(decoded_kv_t *d)
{
    free(d->key_buf);
    free(d->value_buf);
    d->key_buf = d->value_buf = NULL;
}

/* Decodes an etcd KeyValue; keys outside the store prefix are refused since
 * every request is confined to it. */
static int kv_decode(const etcd_store_t *s, const json_t *j, decoded_kv_t *d, const char *path,
                     kl_error_t *err)
{
    memset(d, 0, sizeof *d);
    const char *key = json_string_value(json_object_get(j, "key"));
    const json_t *value = json_object_get(j, "value");
    const char *value_text = value ? json_string_value(value) : "";
    size_t key_len = 0;
    int bad = 0;
    if (!key || !value_text)
        return bad_reply(path, "a key-value without a key or with a non-string value", err);
    d->key_buf = kl_base64_decode(key, strlen(key), &key_len, &bad);
    if (d->key_buf)
        d->value_buf = kl_base64_decode(value_text, strlen(value_text), &d->kv.value_len, &bad);
    if (!d->key_buf || !d->value_buf) {
        decoded_kv_free(d);
        if (bad)
            return bad_reply(path, "a key or value that is not base64", err);
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory decoding a reply to %s",
                            path);
    }
    if (key_len < s->prefix_len || memcmp(d->key_buf, s->prefix, s->prefix_len) != 0) {
        decoded_kv_free(d);
        return bad_reply(path, "a key outside the store prefix", err);
    }
    if (json_int64(j, "create_revision", &d->kv.create_revision) < 0
        || json_int64(j, "mod_revision", &d->kv.mod_revision) < 0
        || json_int64(j, "lease", &d->lease) < 0) {
        decoded_kv_free(d);
        return bad_reply(path, "a malformed revision or lease", err);
    }
    d->kv.key = d->key_buf + s->prefix_len;
    d->kv.value = d->value_buf;
    return 0;
}

static json_t *call(etcd_store_t *s, const char *path, json_t *body, int *maybe_applied,
                    kl_error_t *err)
{
    if (!body) {
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory building a request for %s", path);
        return NULL;
    }
    json_t *reply = kl_gateway_call(s->gateway, path, body, maybe_applied, err);
    json_decref(body);
    return reply;
}

/* ---- open / close ----------------------------------------------------------- */

static void etcd_close(void *store);

static int setting_range(long long v, long long low, long long high, const char *name,
                         kl_error_t *err)
{
    if (v < low || v > high)
        return kl_error_set(err, KL_ERR_INVALID,
                            "etcd store: setting %s = %lld is out of range (%lld to %lld ms)", name, v,
                            low, high);
    return 0;
}

static int64_t current_revision(etcd_store_t *s, kl_error_t *err);

static void *etcd_open(const kl_host_t *host, kl_error_t *err)
{
    long long timeout_ms = host->setting_int(host, "timeout_ms", DEFAULT_TIMEOUT_MS);
    if (setting_range(timeout_ms, 1, 600000, "timeout_ms", err) < 0)
        return NULL;
    long long dial_ms = host->setting_int(host, "dial_timeout_ms",
                                          timeout_ms < DEFAULT_DIAL_TIMEOUT_MS ? timeout_ms
                                                                               : DEFAULT_DIAL_TIMEOUT_MS);
    if (setting_range(dial_ms, 1, 600000, "dial_timeout_ms", err) < 0)
        return NULL;
    const char *endpoints[65];
    size_t count = 0;
    for (const char *e; (e = host->setting_list_item(host, "endpoints", count));) {
        if (count == 64) {
            kl_error_set(err, KL_ERR_INVALID, "etcd store: setting endpoints lists more than 64 endpoints");
            return NULL;
        }
        endpoints[count++] = e;
    }
    endpoints[count] = NULL;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: libcurl failed to initialise");
        return NULL;
    }
    etcd_store_t *s = calloc(1, sizeof *s);
    const char *prefix = host->setting_string(host, "prefix", DEFAULT_PREFIX);
    if (!s || !(s->prefix = strdup(prefix))) {
        free(s);
        curl_global_cleanup();
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
        return NULL;
    }
    s->host = host;
    s->prefix_len = strlen(s->prefix);
    s->endpoints = calloc(count + 1, sizeof *s->endpoints);
    for (size_t i = 0; s->endpoints && i < count; i++)
        if (!(s->endpoints[i] = strdup(endpoints[i]))) {
            kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
            etcd_close(s);
            return NULL;
        }
    s->timeout_ms = (long)timeout_ms;
    s->gateway = kl_gateway_new(endpoints, (long)timeout_ms, (long)dial_ms, err);
    if (!s->gateway) {
        etcd_close(s);
        return NULL;
    }
    /* A cluster that is down now may be up later: start anyway, and let
     * each request report it. */
    kl_error_t probe_err = {0, ""};
    if (current_revision(s, &probe_err) < 0)
        host->log(host, KL_LOG_WARN, "%s; requests will fail until etcd answers", probe_err.text);
    return s;
}

static void etcd_close(void *store)
{
    etcd_store_t *s = store;
    if (!s)
        return;
    etcd_feed_stop(&s->feed);
    kl_gateway_destroy(&s->gateway);
    for (size_t i = 0; s->endpoints && s->endpoints[i]; i++)
        free(s->endpoints[i]);
    free(s->endpoints);
    free(s->prefix);
    free(s);
    curl_global_cleanup();
}

/* ---- reads ---------------------------------------------------------------- */

/* The store's revision now, from a range that matches at most the prefix key
 * itself and returns only a count. */
static int64_t current_revision(etcd_store_t *s, kl_error_t *err)
{
    char *key = kl_base64_encode(s->prefix_len ? s->prefix : "", s->prefix_len ? s->prefix_len : 1);
    json_t *reply = call(s, "/v3/kv/range",
                         key ? json_pack("{s:s, s:b}", "key", key, "count_only", 1) : NULL, NULL, err);
    free(key);
    int64_t rev = -1;
    if (reply && note_header(s, reply, "/v3/kv/range", &rev, err) < 0)
        rev = -1;
    json_decref(reply);
    return rev;
}

static int64_t etcd_revision(void *store)
{
    etcd_store_t *s = store;
    /* Other processes write too (KL_STORE_SHARED); when etcd cannot be
     * reached the last revision seen is the best answer left. */
    current_revision(s, NULL);
    return s->revision;
}

static int etcd_get(void *store, const char *key, kl_store_visit_fn visit, void *arg,
                    kl_error_t *err)
{
    etcd_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    char *k = key_b64(s, key, 0);
    json_t *reply = call(s, "/v3/kv/range", k ? json_pack("{s:s}", "key", k) : NULL, NULL, err);
    free(k);
    if (!reply)
        return -1;
    int rc = note_header(s, reply, "/v3/kv/range", NULL, err);
    json_t *kvs = json_object_get(reply, "kvs");
    if (rc == 0 && json_array_size(kvs) == 0)
        rc = kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: key \"%.200s\" not found", key);
    decoded_kv_t d;
    if (rc == 0 && kv_decode(s, json_array_get(kvs, 0), &d, "/v3/kv/range", err) == 0) {
        if (visit)
            visit(&d.kv, arg);
        decoded_kv_free(&d);
    } else {
        rc = -1;
    }
    json_decref(reply);
    return rc;
}

/* range() and range_at(): pages of PAGE_SIZE keys, every page read at the
 * revision of the first so the whole result is one snapshot. */
static int range_pages(etcd_store_t *s, const char *prefix, const char *start_after, size_t limit,
                       int64_t at_revision, kl_store_visit_fn visit, void *arg, int64_t *revision,
                       int *more, kl_error_t *err)
{
    if (!prefix)
        prefix = "";
    if (at_revision < 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: revision %" PRId64 " is negative",
                            at_revision);
    int all_keys = s->prefix_len == 0 && !*prefix;
    char *start = start_after && strcmp(start_after, prefix) >= 0 ? key_b64(s, start_after, 1)
                  : all_keys ? kl_base64_encode("", 1) : key_b64(s, prefix, 0);
    char *end = prefix_end_b64(s, prefix);
    if (more)
        *more = 0;
    int rc = 0;
    size_t visited = 0;
    int64_t read_at = at_revision;
    while (rc == 0) {
        if (!start || !end) {
            rc = kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory building a range");
            break;
        }
        size_t page = limit && limit - visited < PAGE_SIZE ? limit - visited : PAGE_SIZE;
        char page_text[24], rev_text[24];
        json_t *body = json_pack("{s:s, s:s, s:s}", "key", start, "range_end", end, "limit",
                                 int64_text((int64_t)page, page_text));
        if (body && read_at)
            json_object_set_new(body, "revision", json_string(int64_text(read_at, rev_text)));
        json_t *reply = call(s, "/v3/kv/range", body, NULL, err);
        if (!reply) {
            if (err && err->code == KL_ERR_EXPIRED)
                kl_error_set(err, KL_ERR_EXPIRED,
                             "etcd store: revision %" PRId64 " of prefix \"%.200s\" has been compacted",
                             read_at, prefix);
            rc = -1;
            break;
        }
        int64_t header_rev;
        if (note_header(s, reply, "/v3/kv/range", &header_rev, err) < 0) {
            json_decref(reply);
            rc = -1;
            break;
        }
        if (!read_at)
            read_at = header_rev;
        json_t *kvs = json_object_get(reply, "kvs");
        int reply_more = json_is_true(json_object_get(reply, "more"));
        int stopped = 0;
        size_t i, n = json_array_size(kvs);
        for (i = 0; i < n && !stopped; i++) {
            decoded_kv_t d;
            if (kv_decode(s, json_array_get(kvs, i), &d, "/v3/kv/range", err) < 0) {
                rc = -1;
                break;
            }
            visited++;
            if (visit)
                stopped = visit(&d.kv, arg);
            if (i + 1 == n) {
                free(start);
                start = key_b64(s, d.kv.key, 1);
            }
            decoded_kv_free(&d);
        }
        json_decref(reply);
        if (rc < 0)
            break;
        int cut = stopped ? i < n || reply_more : reply_more && limit && visited >= limit;
        if (cut && more)
            *more = 1;
        if (stopped || !reply_more || (limit && visited >= limit))
            break;
    }
    if (rc == 0 && revision)
        *revision = read_at;
    free(start);
    free(end);
    return rc;
}

static int etcd_range(void *store, const char *prefix, const char *start_after, size_t limit,
                      kl_store_visit_fn visit, void *arg, int64_t *revision, kl_error_t *err)
{
    return range_pages(store, prefix, start_after, limit, 0, visit, arg, revision, NULL, err);
}

static int etcd_range_at(void *store, const char *prefix, const char *start_after, size_t limit,
                         int64_t at_revision, kl_store_visit_fn visit, void *arg, int64_t *revision,
                         int *more, kl_error_t *err)
{
    return range_pages(store, prefix, start_after, limit, at_revision, visit, arg, revision, more,
                       err);
}

/* ---- writes ----------------------------------------------------------------
 * Every write is one transaction guarded by a compare, with a read of the key
 * in its failure branch, so a failure names its cause in one round trip.
 * When the gateway had to retry after sending (the first endpoint died or
 * timed out with the request in flight), etcd may have applied the first
 * attempt: the guard then fails on our own write. The failure branch's read
 * tells: a key holding exactly our value (and lease) past the expected
 * revision is reported as our success; a removed key that is gone, likewise.
 * The residual risk is another writer storing the identical value in that
 * window, which leaves the store in the state the caller asked for anyway. */

typedef enum write_kind {
    WRITE_CREATE,
    WRITE_UPDATE,
    WRITE_REMOVE
} write_kind_t;

static json_t *compare_for(write_kind_t kind, const char *k, int64_t expected)
{
    char rev[24];
    if (kind == WRITE_CREATE)
        return json_pack("{s:s, s:s, s:s, s:s}", "target", "CREATE", "key", k, "result", "EQUAL",
                         "create_revision", "0");
    if (expected > 0)
        return json_pack("{s:s, s:s, s:s, s:s}", "target", "MOD", "key", k, "result", "EQUAL",
                         "mod_revision", int64_text(expected, rev));
    return json_pack("{s:s, s:s, s:s, s:s}", "target", "CREATE", "key", k, "result", "GREATER",
                     "create_revision", "0");
}

static int etcd_write(etcd_store_t *s, write_kind_t kind, const char *key, const char *value,
                      size_t value_len, int64_t expected, int64_t lease, int keep_lease,
                      int64_t *revision, kl_error_t *err)
{
    if (check_key(key, err) < 0)
        return -1;
    if (kind != WRITE_REMOVE && !value && value_len)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: value of \"%.200s\" is NULL", key);
    if (expected < 0)
        return kl_error_set(err, KL_ERR_INVALID,
                            "etcd store: expected revision %" PRId64 " of \"%.200s\" is negative",
                            expected, key);
    char *k = key_b64(s, key, 0);
    char *v = kind != WRITE_REMOVE ? kl_base64_encode(value ? value : "", value_len) : NULL;
    json_t *op = NULL;
    if (k && kind == WRITE_REMOVE) {
        op = json_pack("{s:{s:s}}", "request_delete_range", "key", k);
    } else if (k && v) {
        json_t *put = json_pack("{s:s, s:s}", "key", k, "value", v);
        char lease_text[24];
        if (put && lease)
            json_object_set_new(put, "lease", json_string(int64_text(lease, lease_text)));
        if (put && keep_lease)
            json_object_set_new(put, "ignore_lease", json_true());
        op = put ? json_pack("{s:o}", "request_put", put) : NULL;
    }
    json_t *body = op ? json_pack("{s:[o], s:[o], s:[{s:{s:s}}]}", "compare",
                                  compare_for(kind, k, expected), "success", op, "failure",
                                  "request_range", "key", k)
                      : NULL;
    free(k);
    free(v);
    int maybe_applied = 0;
    json_t *reply = call(s, "/v3/kv/txn", body, &maybe_applied, err);
    if (!reply)
        return -1;
    int64_t header_rev;
    int rc = note_header(s, reply, "/v3/kv/txn", &header_rev, err);
    if (rc == 0 && json_is_true(json_object_get(reply, "succeeded"))) {
        if (revision)
            *revision = header_rev;
        json_decref(reply);
        return 0;
    }
    const json_t *range = json_object_get(json_array_get(json_object_get(reply, "responses"), 0),
                                          "response_range");
    const json_t *kvs = json_object_get(range, "kvs");
    decoded_kv_t d = {0};
    int present = json_array_size(kvs) > 0;
    if (rc == 0 && present)
        rc = kv_decode(s, json_array_get(kvs, 0), &d, "/v3/kv/txn", err);
    if (rc == 0) {
        int ours = maybe_applied && present && kind != WRITE_REMOVE && d.kv.value_len == value_len
                   && (!value_len || memcmp(d.kv.value, value, value_len) == 0)
                   && (keep_lease || d.lease == lease) && d.kv.mod_revision > expected;
        if (ours || (maybe_applied && !present && kind == WRITE_REMOVE)) {
            if (revision)
                *revision = ours ? d.kv.mod_revision : header_rev;
            s->host->log(s->host, KL_LOG_INFO,
                         "etcd store: a retried write of \"%.200s\" found it already applied", key);
        } else if (kind == WRITE_CREATE) {
            rc = kl_error_set(err, present ? KL_ERR_EXISTS : KL_ERR_INTERNAL,
                              present ? "etcd store: key \"%.200s\" already exists"
                                      : "etcd store: creating \"%.200s\" failed with no key present",
                              key);
        } else if (!present) {
            rc = kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: key \"%.200s\" not found", key);
        } else {
            rc = kl_error_set(err, KL_ERR_CONFLICT,
                              "etcd store: key \"%.200s\" is at revision %" PRId64 ", not %" PRId64,
                              key, d.kv.mod_revision, expected);
        }
    }
    decoded_kv_free(&d);
    json_decref(reply);
    return rc;
}

static int etcd_create(void *store, const char *key, const char *value, size_t value_len,
                       int64_t *revision, kl_error_t *err)
{
    return etcd_write(store, WRITE_CREATE, key, value, value_len, 0, 0, 0, revision, err);
}

/* A plain update detaches the key from any lease, like etcd's own put and
 * as store.h specifies for every store. */
static int etcd_update(void *store, const char *key, const char *value, size_t value_len,
                       int64_t expected_mod_revision, int64_t *revision, kl_error_t *err)
{
    return etcd_write(store, WRITE_UPDATE, key, value, value_len, expected_mod_revision, 0, 0,
                      revision, err);
}

static int etcd_remove(void *store, const char *key, int64_t expected_mod_revision,
                       int64_t *revision, kl_error_t *err)
{
    return etcd_write(store, WRITE_REMOVE, key, NULL, 0, expected_mod_revision, 0, 0, revision, err);
}

static int etcd_put_with_lease(void *store, const char *key, const char *value, size_t value_len,
                               int64_t expected_mod_revision, int64_t lease_id, int64_t *revision,
                               kl_error_t *err)
{
    if (lease_id < 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: lease %" PRId64 " is negative", lease_id);
    if (expected_mod_revision == -1)
        return etcd_write(store, WRITE_CREATE, key, value, value_len, 0, lease_id, 0, revision, err);
    return etcd_write(store, WRITE_UPDATE, key, value, value_len, expected_mod_revision, lease_id, 0,
                      revision, err);
}

/* ---- history ---------------------------------------------------------------- */

static uint32_t etcd_features(void *store)
{
    (void)store;
    return KL_STORE_DURABLE | KL_STORE_SHARED;
}

typedef struct changes_walk {
    etcd_store_t *s;
    const char *prefix;      /* store prefix + requested prefix */
    size_t prefix_len;
    size_t limit;
    int64_t target;          /* stop once events reach this revision */
    kl_store_event_fn visit;
    void *arg;
    size_t delivered;
    int64_t last;            /* revision of the last event delivered */
    int expired;
    int64_t compact_revision;
} changes_walk_t;

static int event_matches(const changes_walk_t *w, const json_t *event)
{
    const char *key = json_string_value(json_object_get(json_object_get(event, "kv"), "key"));
    size_t len;
    int bad;
    char *raw = key ? kl_base64_decode(key, strlen(key), &len, &bad) : NULL;
    int match = raw && len >= w->prefix_len && memcmp(raw, w->prefix, w->prefix_len) == 0;
    free(raw);
    return match;
}

static int event_deliver(changes_walk_t *w, const json_t *event, int *stop, kl_error_t *err)
{
    decoded_kv_t kv, prev;
    const json_t *prev_json = json_object_get(event, "prev_kv");
    if (kv_decode(w->s, json_object_get(event, "kv"), &kv, "/v3/watch", err) < 0)
        return -1;
    if (prev_json && kv_decode(w->s, prev_json, &prev, "/v3/watch", err) < 0) {
        decoded_kv_free(&kv);
        return -1;
    }
    const char *type = json_string_value(json_object_get(event, "type"));
    kl_store_event_t e = {.type = KL_STORE_PUT, .kv = kv.kv, .prev = prev_json ? &prev.kv : NULL};
    if (type && strcmp(type, "DELETE") == 0) {
        e.type = KL_STORE_DELETE;
        e.kv.value = NULL;
        e.kv.value_len = 0;
    }
    w->delivered++;
    w->last = e.kv.mod_revision;
    *stop = w->visit(&e, w->arg);
    decoded_kv_free(&kv);
    if (prev_json)
        decoded_kv_free(&prev);
    return 0;
}

/* One watch message. It holds every event of each revision it covers (the
 * watch is not fragmented), so `limit` is applied revision by revision and a
 * caller resuming from *last_revision never misses half a revision. */
/* Delivers events[i..j), the events of revision `rev`, whole or not at
 * all: 1 when the walk is done, 0 for more, -1 on error. */
static int deliver_revision(changes_walk_t *w, const json_t *events, size_t i, size_t j,
                            int64_t rev, kl_error_t *err)
{
    size_t matching = 0;
    for (size_t k = i; k < j; k++)
        matching += event_matches(w, json_array_get(events, k));
    if (w->limit && w->delivered && w->delivered + matching > w->limit)
        return 1;
    for (size_t k = i; k < j; k++) {
        const json_t *e = json_array_get(events, k);
        int stop = 0;
        if (!event_matches(w, e))
            continue;
        if (event_deliver(w, e, &stop, err) < 0)
            return -1;
        if (stop)
            return 1;
    }
    return (w->limit && w->delivered >= w->limit) || rev >= w->target;
}

static int changes_message(const json_t *result, void *arg, kl_error_t *err)
{
    changes_walk_t *w = arg;
    int64_t compact;
    if (json_int64(result, "compact_revision", &compact) < 0)
        return bad_reply("/v3/watch", "a malformed compact_revision", err);
    if (compact > 0 || json_is_true(json_object_get(result, "canceled"))) {
        w->expired = 1;
        w->compact_revision = compact;
        return kl_error_set(err, KL_ERR_EXPIRED, "etcd store: the watch was cancelled: %s",
                            compact > 0 ? "history was compacted" : "etcd refused it");
    }
    const json_t *events = json_object_get(result, "events");
    size_t n = json_array_size(events);
    for (size_t i = 0; i < n;) {
        int64_t rev;
        if (json_int64(json_object_get(json_array_get(events, i), "kv"), "mod_revision", &rev) < 0)
            return bad_reply("/v3/watch", "an event with a malformed mod_revision", err);
        size_t j = i;
        for (; j < n; j++) {
            int64_t r;
            const json_t *e = json_array_get(events, j);
            if (json_int64(json_object_get(e, "kv"), "mod_revision", &r) < 0 || r != rev)
                break;
        }
        int rc = deliver_revision(w, events, i, j, rev, err);
        if (rc != 0)
            return rc;
        i = j;
    }
    return 0;
}

/* The store prefix followed by `prefix`, as the keys in etcd start (caller frees). */
static char *full_prefix(const etcd_store_t *s, const char *prefix, size_t *len)
{
    *len = s->prefix_len + strlen(prefix);
    char *full = malloc(*len + 1);
    if (full) {
        memcpy(full, s->prefix, s->prefix_len);
        strcpy(full + s->prefix_len, prefix);
    }
    return full;
}

typedef struct feed_walk {
    changes_walk_t *w;
    kl_error_t *err;
    int failed, stopped;
} feed_walk_t;

static int feed_visit(const json_t *events, int64_t revision, void *arg)
{
    feed_walk_t *fw = arg;
    int rc = deliver_revision(fw->w, events, 0, json_array_size(events), revision, fw->err);
    fw->failed = rc < 0;
    fw->stopped = rc > 0;
    return rc != 0;
}

/* A watch over the prefix alone cannot tell "no more events" from "events
 * still coming", so it watches the whole keyspace, where every revision has
 * at least one event, keeps those under the prefix, and stops on reaching
 * the revision current at the call. */
static int etcd_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
                        kl_store_event_fn visit, void *arg, int64_t *last_revision,
                        kl_error_t *err)
{
    etcd_store_t *s = store;
    if (!prefix)
        prefix = "";
    if (after_revision < 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: revision %" PRId64 " is negative",
                            after_revision);
    if (after_revision < s->compacted)
        return kl_error_set(err, KL_ERR_EXPIRED,
                            "etcd store: changes after revision %" PRId64
                            " are gone: history is compacted up to %" PRId64,
                            after_revision, s->compacted);
    /* The live feed first; etcd's history when it does not reach back. */
    if (s->feed) {
        size_t full_len;
        char *full = full_prefix(s, prefix, &full_len);
        if (!full)
            return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
        changes_walk_t w = {.s = s, .prefix = full, .prefix_len = full_len, .limit = limit,
                            .target = INT64_MAX, .visit = visit, .arg = arg};
        feed_walk_t fw = {&w, err, 0, 0};
        int64_t reached = 0;
        int rc = etcd_feed_read(s->feed, after_revision, s->revision, FEED_WAIT_MS, feed_visit, &fw,
                                &reached);
        free(full);
        if (rc == 0) {
            if (fw.failed)
                return -1;
            if (last_revision)
                *last_revision = fw.stopped && w.delivered ? w.last
                                 : reached > after_revision ? reached : after_revision;
            return 0;
        }
    }
    /* Reading at after_revision both checks it is not compacted and gives
     * the current revision in the header. */
    int64_t target = 0;
    if (after_revision > 0) {
        char *key = kl_base64_encode(s->prefix_len ? s->prefix : "", s->prefix_len ? s->prefix_len : 1);
        char rev_text[24];
        kl_error_t probe_err = {0, ""};
        json_t *reply = call(s, "/v3/kv/range",
                             key ? json_pack("{s:s, s:b, s:s}", "key", key, "count_only", 1,
                                             "revision", int64_text(after_revision, rev_text))
                                 : NULL,
                             NULL, &probe_err);
        free(key);
        if (!reply && probe_err.code == KL_ERR_EXPIRED) {
            if (after_revision > s->compacted)
                s->compacted = after_revision + 1;
            return kl_error_set(err, KL_ERR_EXPIRED,
                                "etcd store: changes after revision %" PRId64 " are gone: history "
                                "is compacted past it", after_revision);
        }
        if (!reply && probe_err.code != KL_ERR_INVALID) {  /* INVALID: a future revision */
            if (err)
                *err = probe_err;
            return -1;
        }
        int rc = reply ? note_header(s, reply, "/v3/kv/range", &target, err) : 0;
        json_decref(reply);
        if (rc < 0)
            return -1;
    }
    if (!target && (target = current_revision(s, err)) < 0)
        return -1;
    if (target <= after_revision) {
        if (last_revision)
            *last_revision = target;
        return 0;
    }

    size_t full_len;
    char *full = full_prefix(s, prefix, &full_len);
    if (!full)
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
    changes_walk_t w = {.s = s, .prefix = full, .prefix_len = full_len, .limit = limit,
                        .target = target, .visit = visit, .arg = arg};
    char start_text[24];
    json_t *body = json_pack("{s:{s:s, s:s, s:s, s:b}}", "create_request", "key", "AA==",
                             "range_end", "AA==", "start_revision",
                             int64_text(after_revision + 1, start_text), "prev_kv", 1);
    size_t messages = 0;
    kl_error_t stream_err = {0, ""};
    int rc = body ? kl_gateway_stream(s->gateway, "/v3/watch", body, s->timeout_ms, changes_message,
                                      &w, &messages, &stream_err)
                  : kl_error_set(&stream_err, KL_ERR_INTERNAL, "etcd store: out of memory");
    json_decref(body);
    free(full);
    if (w.expired) {
        if (w.compact_revision > s->compacted)
            s->compacted = w.compact_revision;
        return kl_error_set(err, KL_ERR_EXPIRED,
                            "etcd store: changes after revision %" PRId64
                            " are gone: history is compacted up to %" PRId64,
                            after_revision, w.compact_revision);
    }
    /* A stream cut short still delivered whole revisions: report those. */
    if (rc < 0 && !w.delivered) {
        if (stream_err.code != KL_ERR_TIMEOUT) {
            if (err)
                *err = stream_err;
            return -1;
        }
        w.last = after_revision;  /* nothing is known past it */
    }
    int64_t last = w.delivered ? w.last : rc == 0 ? target : w.last;
    if (last_revision)
        *last_revision = last;
    /* From here on the feed follows etcd; reads resume from it. */
    if (!s->feed && s->endpoints)
        s->feed = etcd_feed_start((const char *const *)s->endpoints, last, FEED_REVISIONS);
    return 0;
}

static int etcd_compact(void *store, int64_t revision, kl_error_t *err)
{
    etcd_store_t *s = store;
    if (revision <= 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: cannot compact at revision %" PRId64,
                            revision);
    char rev_text[24];
    int maybe_applied = 0;
    kl_error_t call_err = {0, ""};
    json_t *reply = call(s, "/v3/kv/compaction",
                         json_pack("{s:s}", "revision", int64_text(revision, rev_text)),
                         &maybe_applied, &call_err);
    /* Compacting again at or below the compacted revision changes nothing. */
    if (!reply && call_err.code != KL_ERR_EXPIRED) {
        if (err)
            *err = call_err;
        return -1;
    }
    if (reply)
        note_header(s, reply, "/v3/kv/compaction", NULL, NULL);
    json_decref(reply);
    if (revision > s->compacted)
        s->compacted = revision;
    return 0;
}

static int64_t etcd_compacted_revision(void *store)
{
    return ((etcd_store_t *)store)->compacted;
}

/* ---- leases -------------------------------------------------------------- */

static int etcd_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err)
{
    etcd_store_t *s = store;
    if (ttl_ms <= 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: lease TTL %" PRId64 " ms is not positive",
                            ttl_ms);
    /* etcd counts whole seconds (and raises short TTLs to its minimum);
     * rounding up never expires a key early. An unknown outcome just leaves
     * an unused lease to expire. */
    char ttl_text[24];
    json_t *reply = call(s, "/v3/lease/grant",
                         json_pack("{s:s}", "TTL", int64_text((ttl_ms + 999) / 1000, ttl_text)), NULL,
                         err);
    if (!reply)
        return -1;
    int64_t id = 0;
    const char *error = json_string_value(json_object_get(reply, "error"));
    int rc = 0;
    if (error && *error)
        rc = kl_error_set(err, KL_ERR_UNAVAILABLE, "etcd store: granting a lease failed: %.300s", error);
    else if (json_int64(reply, "ID", &id) < 0 || id <= 0)
        rc = bad_reply("/v3/lease/grant", "no valid lease ID", err);
    else if (lease_id)
        *lease_id = id;
    json_decref(reply);
    return rc;
}

static int keepalive_message(const json_t *result, void *arg, kl_error_t *err)
{
    int64_t *ttl = arg;
    if (json_int64(result, "TTL", ttl) < 0)
        return bad_reply("/v3/lease/keepalive", "a malformed TTL", err);
    return 1;
}

static int etcd_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err)
{
    etcd_store_t *s = store;
    char id_text[24];
    json_t *body = json_pack("{s:s}", "ID", int64_text(lease_id, id_text));
    int64_t ttl = 0;
    size_t messages;
    int rc = body ? kl_gateway_stream(s->gateway, "/v3/lease/keepalive", body, s->timeout_ms,
                                      keepalive_message, &ttl, &messages, err)
                  : kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
    json_decref(body);
    if (rc == 0 && ttl <= 0)
        rc = kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: lease %" PRId64 " not found (expired?)",
                          lease_id);
    return rc;
}

static int etcd_lease_revoke(void *store, int64_t lease_id, kl_error_t *err)
{
    etcd_store_t *s = store;
    char id_text[24];
    int maybe_applied = 0;
    kl_error_t call_err = {0, ""};
    json_t *reply = call(s, "/v3/lease/revoke", json_pack("{s:s}", "ID", int64_text(lease_id, id_text)),
                         &maybe_applied, &call_err);
    if (!reply) {
        /* A retry after a revoke that went through finds no lease. */
        if (call_err.code == KL_ERR_NOT_FOUND && maybe_applied)
            return 0;
        if (call_err.code == KL_ERR_NOT_FOUND)
            return kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: lease %" PRId64 " not found",
                                lease_id);
        if (err)
            *err = call_err;
        return -1;
    }
    int rc = note_header(s, reply, "/v3/lease/revoke", NULL, err);
    json_decref(reply);
    return rc;
}

static const kl_setting_spec_t etcd_settings[] = {
    {"endpoints", KL_SETTING_STRING_LIST, 1,
     "etcd client URLs, e.g. [ \"http://127.0.0.1:2379\" ]; the others take over when one fails"},
    {"prefix", KL_SETTING_STRING, 0, "prepended verbatim to every key in etcd (default \"/keelson\")"},
    {"timeout_ms", KL_SETTING_INT, 0, "limit of one request on one endpoint (default 2000)"},
    {"dial_timeout_ms", KL_SETTING_INT, 0, "limit of connecting to an endpoint (default 1000)"},
    KL_SETTINGS_END
};

static const kl_store_ops_t etcd_ops = {
    .open = etcd_open,
    .close = etcd_close,
    .get = etcd_get,
    .range = etcd_range,
    .create = etcd_create,
    .update = etcd_update,
    .remove = etcd_remove,
    .revision = etcd_revision,
    .features = etcd_features,
    .range_at = etcd_range_at,
    .changes = etcd_changes,
    .compact = etcd_compact,
    .compacted_revision = etcd_compacted_revision,
    .flush = NULL,  /* etcd answers a write only after its own fsync */
    .lease_grant = etcd_lease_grant,
    .lease_keepalive = etcd_lease_keepalive,
    .lease_revoke = etcd_lease_revoke,
    .put_with_lease = etcd_put_with_lease,
    .tick = NULL,   /* etcd expires leases and compacts on its own */
};

KL_STORE_PLUGIN("etcd", "0.1.0", "revisioned key-value store in an etcd 3.4 cluster (durable, shared)",
                etcd_settings, etcd_ops);
