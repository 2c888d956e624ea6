/* The memory store plugin, loaded through the loader as keelsond loads it:
 * revisions, compare-and-swap, byte-ordered prefix ranges with paging,
 * binary-safe values, and the ABI 1.1 history, compaction and leases. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libconfig.h>

#include "loader.h"
#include "tap.h"

typedef struct copy {
    char key[256];
    char value[256];
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int calls;
} copy_t;

static int copy_visit(const kl_store_kv_t *kv, void *arg)
{
    copy_t *c = arg;
    snprintf(c->key, sizeof c->key, "%s", kv->key);
    c->value_len = kv->value_len < sizeof c->value ? kv->value_len : sizeof c->value;
    memcpy(c->value, kv->value, c->value_len);
    c->create_revision = kv->create_revision;
    c->mod_revision = kv->mod_revision;
    c->calls++;
    return 0;
}

typedef struct page {
    char last[64];
    size_t count;
    int ordered;
    int prefixed;
    const char *prefix;
    size_t stop_after;  /* 0: never stop */
} page_t;

static int page_visit(const kl_store_kv_t *kv, void *arg)
{
    page_t *p = arg;
    if (p->count && strcmp(p->last, kv->key) >= 0)
        p->ordered = 0;
    if (strncmp(kv->key, p->prefix, strlen(p->prefix)) != 0)
        p->prefixed = 0;
    snprintf(p->last, sizeof p->last, "%s", kv->key);
    p->count++;
    return p->stop_after && p->count == p->stop_after;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}


/* Opens another memory store with `settings` text (a libconfig group body). */
static kl_plugin_t *open_with(const char *settings, config_t *cfg, kl_error_t *err)
{
    char text[256];
    snprintf(text, sizeof text, "settings = { %s };", settings);
    config_init(cfg);
    if (!config_read_string(cfg, text)) {
        kl_error_set(err, KL_ERR_INVALID, "bad test settings: %s", config_error_text(cfg));
        return NULL;
    }
    kl_plugin_t *p = kl_plugin_load(KL_KIND_STORE, "memory", NULL, err);
    if (p && (kl_plugin_configure(p, config_lookup(cfg, "settings"), NULL, NULL, err) < 0
              || kl_plugin_open(p, err) < 0))
        kl_plugin_destroy(&p);
    return p;
}

typedef struct events {
    int count;
    int deletes;
    int64_t first, last;
    int with_prev;
} events_t;

static int count_event(const kl_store_event_t *ev, void *arg)
{
    events_t *e = arg;
    if (!e->count)
        e->first = ev->kv.mod_revision;
    e->last = ev->kv.mod_revision;
    e->count++;
    e->deletes += ev->type == KL_STORE_DELETE;
    e->with_prev += ev->prev != NULL;
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* The history is bounded by history_revisions: older changes are compacted
 * on their own, and reads before them expire. */
static void test_history_bound(void)
{
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = open_with("history_revisions = 10;", &cfg, &err);
    ok(p != NULL, "opens with history_revisions = 10");
    if (!p) {
        diag("%s", err.text);
        config_destroy(&cfg);
        return;
    }
    const kl_store_ops_t *ops = p->ops;
    void *s = p->state;
    is_int(ops->features(s), 0, "features: volatile and private");
    ok(ops->flush == NULL, "no flush: writes are done on return");
    int64_t rev = 0;
    char key[32];
    for (int i = 0; i < 25; i++) {
        snprintf(key, sizeof key, "/h/%d", i % 4);
        if (i < 4)
            ops->create(s, key, "c", 1, &rev, &err);
        else if (i % 5 == 0)
            ops->remove(s, key, 0, &rev, &err), ops->create(s, key, "r", 1, &rev, &err);
        else
            ops->update(s, key, "u", 1, 0, &rev, &err);
    }
    int64_t top = ops->revision(s);
    is_int(ops->compacted_revision(s), top - 10, "only the last 10 changes are kept");
    events_t ev = {0};
    is_int(ops->changes(s, "/h/", top - 11, 0, count_event, &ev, NULL, &err), -1,
           "changes before the kept history fails");
    is_int(err.code, KL_ERR_EXPIRED, "... with EXPIRED");
    ok(strstr(err.text, "compacted") != NULL, "... saying why: %s", err.text);
    memset(&ev, 0, sizeof ev);
    is_int(ops->changes(s, "/h/", top - 10, 0, count_event, &ev, NULL, &err), 0,
           "changes from the oldest kept revision works");
    is_int(ev.count, 10, "... and gives the 10 kept changes");
    page_t all = {"", 0, 1, 1, "/h/", 0};
    is_int(ops->range_at(s, "/h/", NULL, 0, top - 10, page_visit, &all, NULL, NULL, &err), 0,
           "range_at the oldest kept revision works");
    is_int(all.count, 4, "... with the four keys");
    is_int(ops->range_at(s, "/h/", NULL, 0, top - 11, page_visit, &all, NULL, NULL, &err), -1,
           "range_at before it fails");
    is_int(err.code, KL_ERR_EXPIRED, "... with EXPIRED");
    is_int(ops->range_at(s, "/h/", NULL, 0, top + 1, page_visit, &all, NULL, NULL, &err), -1,
           "range_at a future revision fails");
    is_int(err.code, KL_ERR_INVALID, "... as invalid");
    is_int(ops->compact(s, top + 1, &err), -1, "compacting past the current revision fails");
    is_int(ops->compact(s, top - 2, &err), 0, "compact within the history");
    is_int(ops->compacted_revision(s), top - 2, "compacted_revision follows");
    is_int(ops->compact(s, top - 5, &err), 0, "compacting an older revision again is harmless");
    is_int(ops->compacted_revision(s), top - 2, "... and does not go back");
    kl_plugin_destroy(&p);
    config_destroy(&cfg);

    p = open_with("history_revisions = 0;", &cfg, &err);
    ok(p != NULL, "opens with history_revisions = 0 (no history)");
    if (p) {
        ops = p->ops;
        ops->create(p->state, "/x", "1", 1, &rev, &err);
        ops->update(p->state, "/x", "2", 1, 0, &rev, &err);
        is_int(ops->compacted_revision(p->state), 2, "every change is compacted at once");
        memset(&ev, 0, sizeof ev);
        is_int(ops->changes(p->state, "", 2, 0, count_event, &ev, NULL, &err), 0,
               "changes from now still works");
        is_int(ev.count, 0, "... and is empty");
        kl_plugin_destroy(&p);
    }
    config_destroy(&cfg);
    p = open_with("history_revisions = -3;", &cfg, &err);
    ok(p == NULL, "a negative history_revisions is refused");
    ok(strstr(err.text, "history_revisions is -3") != NULL, "... naming the setting: %s", err.text);
    config_destroy(&cfg);
}

/* Leases expire on tick() with DELETE changes; update() detaches a key. */
static void test_leases(void)
{
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = open_with("", &cfg, &err);
    if (!ok(p != NULL, "opens with default settings")) {
        config_destroy(&cfg);
        return;
    }
    const kl_store_ops_t *ops = p->ops;
    void *s = p->state;
    int64_t lease = 0, rev = 0;
    is_int(ops->lease_grant(s, 0, &lease, &err), -1, "a lease needs a positive time to live");
    is_int(ops->lease_grant(s, 150, &lease, &err), 0, "grant a 150 ms lease");
    ops->put_with_lease(s, "/l/a", "a", 1, -1, lease, &rev, &err);
    ops->put_with_lease(s, "/l/b", "b", 1, -1, lease, &rev, &err);
    ops->put_with_lease(s, "/l/detached", "d", 1, -1, lease, &rev, &err);
    is_int(ops->update(s, "/l/detached", "d2", 2, 0, &rev, &err), 0, "a plain update detaches a key");
    /* Churn under one lease must not grow its key list without bound. */
    for (int i = 0; i < 1000; i++) {
        ops->put_with_lease(s, "/l/churn", "c", 1, -1, lease, &rev, &err);
        ops->remove(s, "/l/churn", 0, &rev, &err);
    }
    int64_t before = ops->revision(s);
    is_int(ops->tick(s, &err), 0, "tick before expiry");
    is_int(ops->get(s, "/l/a", NULL, NULL, &err), 0, "the leased key is still there");
    sleep_ms(200);
    is_int(ops->tick(s, &err), 0, "tick after expiry");
    is_int(ops->get(s, "/l/a", NULL, NULL, &err), -1, "the leased key is gone");
    is_int(ops->get(s, "/l/b", NULL, NULL, &err), -1, "so is the second");
    is_int(ops->get(s, "/l/detached", NULL, NULL, &err), 0, "the detached key stays");
    events_t ev = {0};
    ops->changes(s, "/l/", before, 0, count_event, &ev, NULL, &err);
    is_int(ev.deletes, 2, "expiry made two DELETE changes");
    is_int(ev.with_prev, 2, "... each with the value before it");
    is_int(ops->lease_keepalive(s, lease, &err), -1, "the expired lease is gone");
    is_int(err.code, KL_ERR_NOT_FOUND, "... NOT_FOUND");
    is_int(ops->put_with_lease(s, "/l/c", "c", 1, -1, lease, &rev, &err), -1,
           "a write with the expired lease fails");
    is_int(ops->get(s, "/l/c", NULL, NULL, &err), -1, "... and creates nothing");

    /* An expired lease is gone even before tick() runs. */
    ops->lease_grant(s, 50, &lease, &err);
    ops->put_with_lease(s, "/l/e", "e", 1, -1, lease, &rev, &err);
    sleep_ms(80);
    is_int(ops->lease_keepalive(s, lease, &err), -1, "keepalive after expiry, before tick, fails");
    is_int(ops->get(s, "/l/e", NULL, NULL, &err), -1, "... and its key is deleted");
    is_int(ops->put_with_lease(s, "/l/f", "f", 1, -2, 0, &rev, &err), -1,
           "an expected revision below -1 is refused");
    is_int(err.code, KL_ERR_INVALID, "... as invalid");
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
}

int main(void)
{
    /* make check sets the search path; a manual run from the build folder
     * finds the freshly built plugin. */
    setenv("KEELSON_PLUGIN_PATH", "plugins/store/memory/.libs", 0);
    kl_error_t err = {0, ""};
    kl_plugin_t *plugin = kl_plugin_load(KL_KIND_STORE, "memory", NULL, &err);
    ok(plugin != NULL, "memory store plugin loads");
    if (!plugin) {
        diag("%s", err.text);
        return done_testing();
    }
    is_int(kl_plugin_configure(plugin, NULL, NULL, NULL, &err), 0, "configures with no settings");
    is_int(kl_plugin_open(plugin, &err), 0, "opens");
    const kl_store_ops_t *ops = plugin->ops;
    void *s = plugin->state;

    int64_t rev = -1;
    copy_t c;
    is_int(ops->revision(s), 0, "a new store is at revision 0");
    is_int(ops->create(s, "/a/one", "v1", 2, &rev, &err), 0, "create");
    is_int(rev, 1, "the first write is revision 1");
    is_int(ops->create(s, "/a/one", "v2", 2, &rev, &err), -1, "create of an existing key fails");
    is_int(err.code, KL_ERR_EXISTS, "... with KL_ERR_EXISTS");
    is_int(ops->revision(s), 1, "a failed write does not advance the revision");

    memset(&c, 0, sizeof c);
    is_int(ops->get(s, "/a/one", copy_visit, &c, &err), 0, "get");
    is_int(c.calls, 1, "get visits once");
    ok(c.value_len == 2 && memcmp(c.value, "v1", 2) == 0, "get returns the value");
    is_int(c.create_revision, 1, "create_revision");
    is_int(c.mod_revision, 1, "mod_revision");
    is_int(ops->get(s, "/a/none", copy_visit, &c, &err), -1, "get of an absent key fails");
    is_int(err.code, KL_ERR_NOT_FOUND, "... with KL_ERR_NOT_FOUND");

    is_int(ops->update(s, "/a/one", "v3", 2, 7, &rev, &err), -1, "update with a stale revision");
    is_int(err.code, KL_ERR_CONFLICT, "... is a conflict");
    is_int(ops->update(s, "/a/one", "v3", 2, 1, &rev, &err), 0, "update with the right revision");
    is_int(rev, 2, "revision advances to 2");
    is_int(ops->update(s, "/a/one", "v4", 2, 0, &rev, &err), 0, "unconditional update");
    is_int(rev, 3, "revision 3");
    memset(&c, 0, sizeof c);
    ops->get(s, "/a/one", copy_visit, &c, &err);
    ok(memcmp(c.value, "v4", 2) == 0 && c.create_revision == 1 && c.mod_revision == 3,
       "update keeps create_revision and moves mod_revision");
    is_int(ops->update(s, "/a/none", "x", 1, 0, &rev, &err), -1, "update of an absent key");
    is_int(err.code, KL_ERR_NOT_FOUND, "... is not found");

    static const char binary[] = {'a', '\0', 'b', '\xff', '\0'};
    is_int(ops->create(s, "/b/bin", binary, sizeof binary, &rev, &err), 0, "binary value stored");
    memset(&c, 0, sizeof c);
    ops->get(s, "/b/bin", copy_visit, &c, &err);
    ok(c.value_len == sizeof binary && memcmp(c.value, binary, sizeof binary) == 0,
       "binary value comes back intact with its length");
    is_int(ops->create(s, "/b/empty", NULL, 0, &rev, &err), 0, "empty value stored");

    is_int(ops->remove(s, "/a/one", 2, &rev, &err), -1, "remove with a stale revision");
    is_int(err.code, KL_ERR_CONFLICT, "... is a conflict");
    int64_t before = ops->revision(s);
    is_int(ops->remove(s, "/a/one", 3, &rev, &err), 0, "remove with the right revision");
    is_int(rev, before + 1, "remove advances the revision");
    is_int(ops->get(s, "/a/one", copy_visit, &c, &err), -1, "removed key is gone");
    is_int(ops->remove(s, "/a/one", 0, &rev, &err), -1, "remove of an absent key");
    is_int(err.code, KL_ERR_NOT_FOUND, "... is not found");
    is_int(ops->create(s, "/a/one", "again", 5, &rev, &err), 0, "a removed key can be created again");
    memset(&c, 0, sizeof c);
    ops->get(s, "/a/one", copy_visit, &c, &err);
    is_int(c.create_revision, rev, "the new key has a fresh create_revision");

    /* 150,000 keys in a scrambled order, among neighbours that share a
     * prefix's leading bytes. */
    const size_t total = 150000;
    char key[64];
    int64_t last_rev = ops->revision(s);
    int monotonic = 1, created = 1;
    double t0 = seconds();
    for (size_t i = 0; i < total; i++) {
        size_t n = (i * 7919) % total;  /* 7919 is prime, so this permutes 0..total-1 */
        snprintf(key, sizeof key, "/registry/pods/ns/pod-%06zu", n);
        if (ops->create(s, key, "{}", 2, &rev, &err) < 0)
            created = 0;
        if (rev != last_rev + 1)
            monotonic = 0;
        last_rev = rev;
    }
    double elapsed = seconds() - t0;
    ok(created, "150000 creates succeed");
    ok(monotonic, "each write advances the revision by exactly one");
    diag("150000 creates in %.3f s", elapsed);
    ops->create(s, "/registry/pods/nr/x", "{}", 2, &rev, &err);
    ops->create(s, "/registry/pods/nt/x", "{}", 2, &rev, &err);
    ops->create(s, "/registry/pods/ns", "{}", 2, &rev, &err);

    page_t all = {"", 0, 1, 1, "/registry/pods/ns/", 0};
    int64_t range_rev = 0;
    is_int(ops->range(s, "/registry/pods/ns/", NULL, 0, page_visit, &all, &range_rev, &err), 0,
           "range over a prefix");
    is_int(all.count, total, "range sees exactly the prefixed keys");
    ok(all.ordered && all.prefixed, "in byte order, all under the prefix");
    is_int(range_rev, ops->revision(s), "range reports the store revision");

    size_t pages = 0, seen = 0;
    int paged_ok = 1;
    char after[64] = "";
    t0 = seconds();
    for (;;) {
        page_t p = {"", 0, 1, 1, "/registry/pods/ns/", 0};
        ops->range(s, "/registry/pods/ns/", after[0] ? after : NULL, 1000, page_visit, &p, NULL,
                   &err);
        if (!p.ordered || !p.prefixed || (after[0] && strcmp(p.last, after) <= 0 && p.count))
            paged_ok = 0;
        if (p.count == 0)
            break;
        pages++;
        seen += p.count;
        snprintf(after, sizeof after, "%s", p.last);
    }
    elapsed = seconds() - t0;
    is_int(pages, total / 1000, "150 pages of 1000");
    is_int(seen, total, "paging sees every key once");
    ok(paged_ok, "pages are ordered and continue strictly after start_after");
    ok(elapsed < 5.0, "paging is not quadratic (%.3f s)", elapsed);
    is_str(after, "/registry/pods/ns/pod-149999", "the last page ends at the last key");

    page_t one = {"", 0, 1, 1, "/registry/pods/", 0};
    ops->range(s, "/registry/pods/", "/registry/pods/ns/pod-000009", 1, page_visit, &one, NULL, &err);
    is_str(one.last, "/registry/pods/ns/pod-000010", "start_after seeks to the next key");
    page_t before_prefix = {"", 0, 1, 1, "/registry/pods/ns/", 0};
    ops->range(s, "/registry/pods/ns/", "/a", 2, page_visit, &before_prefix, NULL, &err);
    is_int(before_prefix.count, 2, "start_after before the prefix starts at the prefix");
    is_str(before_prefix.last, "/registry/pods/ns/pod-000001", "... from its first key");
    page_t stop = {"", 0, 1, 1, "/registry/", 5};
    ops->range(s, "/registry/", NULL, 0, page_visit, &stop, NULL, &err);
    is_int(stop.count, 5, "a visit returning non-zero stops the range");
    page_t none = {"", 0, 1, 1, "/zzz/", 0};
    is_int(ops->range(s, "/zzz/", NULL, 0, page_visit, &none, NULL, &err), 0, "empty range succeeds");
    is_int(none.count, 0, "... and visits nothing");
    page_t everything = {"", 0, 1, 1, "", 0};
    ops->range(s, "", NULL, 0, page_visit, &everything, NULL, &err);
    is_int(everything.count, total + 6, "an empty prefix ranges over every key");
    ok(everything.ordered, "... in byte order");

    int removed = 1;
    for (size_t i = 0; i < total; i += 2) {
        snprintf(key, sizeof key, "/registry/pods/ns/pod-%06zu", i);
        if (ops->remove(s, key, 0, &rev, &err) < 0)
            removed = 0;
    }
    ok(removed, "every other key removed");
    page_t half = {"", 0, 1, 1, "/registry/pods/ns/", 0};
    ops->range(s, "/registry/pods/ns/", NULL, 0, page_visit, &half, NULL, &err);
    is_int(half.count, total / 2, "half the keys remain");
    ok(half.ordered, "still in order after removals");

    is_int(ops->create(s, "", "x", 1, &rev, &err), -1, "empty key rejected");
    is_int(err.code, KL_ERR_INVALID, "... as invalid");

    /* Past reads after heavy churn: range_at the revision before the
     * removals sees every key again. */
    page_t past = {"", 0, 1, 1, "/registry/pods/ns/", 0};
    int64_t before_removals = ops->revision(s) - (int64_t)(total / 2);
    t0 = seconds();
    is_int(ops->range_at(s, "/registry/pods/ns/", NULL, 0, before_removals, page_visit, &past,
                         NULL, NULL, &err), 0, "range_at before the removals");
    is_int(past.count, total, "... sees all %zu keys", total);
    ok(past.ordered, "... in byte order");
    diag("range_at over %zu later changes in %.3f s", total / 2, seconds() - t0);
    kl_plugin_destroy(&plugin);
    ok(plugin == NULL, "destroy closes and frees the plugin");
    test_history_bound();
    test_leases();
    return done_testing();
}
