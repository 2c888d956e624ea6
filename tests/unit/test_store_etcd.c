/* The etcd store plugin against a real one-member etcd started for the test:
 * every operation, compare-and-swap causes, paging, history, compaction,
 * leases, binary values, fail-over and refused settings. */
#include <errno.h>
#include <stdio.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apiserver.h"
#include "loader.h"
#include "tap.h"

static char work[64];
static char script[1024];

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cluster_stop(void)
{
    char cmd[2048];
    if (!work[0])
        return;
    snprintf(cmd, sizeof cmd, "sh '%s' stop '%s' >/dev/null 2>&1; rm -rf '%s'", script, work, work);
    if (system(cmd) != 0)
        diag("cleaning up %s failed", work);
    work[0] = '\0';
}

/* Loads a fresh instance of the plugin with `settings_text` (the inside of a
 * libconfig settings group); returns it opened, or NULL with err filled. */
static kl_plugin_t *store_new(const char *settings_text, config_t *cfg, kl_error_t *err)
{
    char path[128];
    snprintf(path, sizeof path, "%s/store.conf", work);
    FILE *f = fopen(path, "w");
    if (!f) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot write %s", path);
        return NULL;
    }
    fprintf(f, "settings = { %s };\n", settings_text);
    fclose(f);
    config_init(cfg);
    if (!config_read_file(cfg, path)) {
        kl_error_set(err, KL_ERR_INVALID, "%s:%d: %s", path, config_error_line(cfg),
                     config_error_text(cfg));
        return NULL;
    }
    kl_plugin_t *p = kl_plugin_load(KL_KIND_STORE, "etcd", NULL, err);
    if (!p)
        return NULL;
    if (kl_plugin_configure(p, config_lookup(cfg, "settings"), NULL, NULL, err) < 0
        || kl_plugin_open(p, err) < 0) {
        kl_plugin_destroy(&p);
        return NULL;
    }
    return p;
}

typedef struct copy {
    char key[256];
    char value[512];
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
    const char *prefix;
    int prefixed;
    char first_value[64];
} page_t;

static int page_visit(const kl_store_kv_t *kv, void *arg)
{
    page_t *p = arg;
    if (p->count && strcmp(p->last, kv->key) >= 0)
        p->ordered = 0;
    if (strncmp(kv->key, p->prefix, strlen(p->prefix)) != 0)
        p->prefixed = 0;
    if (!p->count)
        snprintf(p->first_value, sizeof p->first_value, "%.*s", (int)kv->value_len, kv->value);
    snprintf(p->last, sizeof p->last, "%s", kv->key);
    p->count++;
    return 0;
}

#define MAX_EVENTS 16
typedef struct event_log {
    int count;
    int type[MAX_EVENTS];
    char key[MAX_EVENTS][64];
    char value[MAX_EVENTS][64];  /* "(null)" for a NULL value */
    char prev[MAX_EVENTS][64];   /* "" when prev is NULL */
    int64_t revision[MAX_EVENTS];
} event_log_t;

static int log_event(const kl_store_event_t *e, void *arg)
{
    event_log_t *l = arg;
    if (l->count == MAX_EVENTS)
        return 1;
    int i = l->count++;
    l->type[i] = e->type;
    snprintf(l->key[i], sizeof l->key[i], "%s", e->kv.key);
    if (e->kv.value)
        snprintf(l->value[i], sizeof l->value[i], "%.*s", (int)e->kv.value_len, e->kv.value);
    else
        snprintf(l->value[i], sizeof l->value[i], "(null)");
    if (e->prev)
        snprintf(l->prev[i], sizeof l->prev[i], "%.*s", (int)e->prev->value_len, e->prev->value);
    else
        l->prev[i][0] = '\0';
    l->revision[i] = e->kv.mod_revision;
    return 0;
}

static void test_refused_settings(void)
{
    const char *bad[][2] = {
        {"endpoints = [ \"127.0.0.1:2379\" ];", "does not start with http://"},
        {"endpoints = [ \"http://127.0.0.1:99999\" ];", "not of the form"},
        {"endpoints = [ \"http://127.0.0.1:2379/v3\" ];", "not of the form"},
        {"endpoints = [ \"https://127.0.0.1:2379\" ];", "uses https"},
        {"endpoints = [ ];", "lists no endpoint"},
        {"endpoints = [ \"http://127.0.0.1:2379\" ]; timeout_ms = 0;", "timeout_ms = 0 is out of range"},
        {"prefix = \"/x\";", "needs the setting \"endpoints\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        config_t cfg;
        kl_error_t err = {0, ""};
        kl_plugin_t *p = store_new(bad[i][0], &cfg, &err);
        ok(!p && err.code == KL_ERR_INVALID && strstr(err.text, bad[i][1]),
           "settings { %s } refused: %s", bad[i][0], err.text);
        kl_plugin_destroy(&p);
        config_destroy(&cfg);
    }
}

static void test_unreachable(void)
{
    config_t cfg;
    kl_error_t err = {0, ""};
    /* Port 1 on loopback refuses connections at once. */
    kl_plugin_t *p = store_new("endpoints = [ \"http://127.0.0.1:1\" ]; timeout_ms = 1000;", &cfg, &err);
    ok(p != NULL, "opens while the cluster is unreachable %s", p ? "" : err.text);
    if (p) {
        const kl_store_ops_t *ops = p->ops;
        double t0 = seconds();
        int rc = ops->get(p->state, "/k", copy_visit, &(copy_t){0}, &err);
        double took = seconds() - t0;
        ok(rc < 0 && err.code == KL_ERR_UNAVAILABLE, "get on an unreachable cluster: ServiceUnavailable");
        ok(strstr(err.text, "http://127.0.0.1:1") != NULL, "the error names the endpoint tried: %s",
           err.text);
        ok(took < 2.0, "and answers quickly (%.2f s)", took);
        int64_t rev;
        ok(ops->create(p->state, "/k", "v", 1, &rev, &err) < 0 && err.code == KL_ERR_UNAVAILABLE,
           "create on an unreachable cluster: ServiceUnavailable");
    }
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
}

/* A dead first endpoint: requests go on to the live one. */
static void test_failover(const char *endpoint)
{
    char settings[512];
    snprintf(settings, sizeof settings,
             "endpoints = [ \"http://127.0.0.1:1\", \"%s\" ]; prefix = \"/failover\";", endpoint);
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = store_new(settings, &cfg, &err);
    ok(p != NULL, "opens with a dead endpoint first %s", p ? "" : err.text);
    if (p) {
        const kl_store_ops_t *ops = p->ops;
        int64_t rev = 0;
        is_int(ops->create(p->state, "/a", "x", 1, &rev, &err), 0, "create goes to the live endpoint %s",
               err.text);
        copy_t c = {0};
        is_int(ops->get(p->state, "/a", copy_visit, &c, &err), 0, "and get reads it back");
        is_int(c.mod_revision, rev, "at the revision create reported");
    }
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
}

static void test_crud(const kl_store_ops_t *ops, void *s)
{
    kl_error_t err = {0, ""};
    is_int(ops->features(s), KL_STORE_DURABLE | KL_STORE_SHARED, "features: durable and shared");
    int64_t base = ops->revision(s);
    ok(base >= 1, "a fresh etcd reports revision %lld", (long long)base);

    int64_t rev = -1;
    is_int(ops->create(s, "/pods/a", "one", 3, &rev, &err), 0, "create /pods/a");
    is_int(rev, base + 1, "create advances the revision by one");
    is_int(ops->revision(s), rev, "revision() reports the latest write");
    copy_t c = {0};
    is_int(ops->get(s, "/pods/a", copy_visit, &c, &err), 0, "get /pods/a");
    is_str(c.key, "/pods/a", "get gives the key without the etcd prefix");
    ok(c.value_len == 3 && memcmp(c.value, "one", 3) == 0, "get gives the value");
    ok(c.create_revision == rev && c.mod_revision == rev, "create and mod revision are the write's");

    ok(ops->create(s, "/pods/a", "two", 3, &rev, &err) < 0 && err.code == KL_ERR_EXISTS,
       "creating it again: AlreadyExists (%s)", err.text);
    ok(ops->get(s, "/pods/none", copy_visit, &c, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "get of a missing key: NotFound");

    int64_t created = c.mod_revision, updated = 0;
    is_int(ops->update(s, "/pods/a", "two", 3, created, &updated, &err), 0, "update with the right revision");
    is_int(updated, created + 1, "update advances the revision");
    ok(ops->update(s, "/pods/a", "three", 5, created, &rev, &err) < 0 && err.code == KL_ERR_CONFLICT,
       "update with a stale revision: Conflict (%s)", err.text);
    ok(ops->update(s, "/pods/none", "x", 1, 0, &rev, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "unconditional update of a missing key: NotFound");
    ok(ops->update(s, "/pods/none", "x", 1, created, &rev, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "compare-and-swap update of a missing key: NotFound, not Conflict");
    is_int(ops->update(s, "/pods/a", "four", 4, 0, &rev, &err), 0, "unconditional update");
    c.calls = 0;
    ops->get(s, "/pods/a", copy_visit, &c, &err);
    ok(c.value_len == 4 && memcmp(c.value, "four", 4) == 0 && c.create_revision == created
           && c.mod_revision == rev, "update kept create_revision and moved mod_revision");

    ok(ops->remove(s, "/pods/a", created, &rev, &err) < 0 && err.code == KL_ERR_CONFLICT,
       "remove with a stale revision: Conflict");
    ok(ops->remove(s, "/pods/none", 0, &rev, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "remove of a missing key: NotFound");
    ok(ops->remove(s, "/pods/none", 7, &rev, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "compare-and-swap remove of a missing key: NotFound");
    int64_t before = ops->revision(s);
    is_int(ops->remove(s, "/pods/a", c.mod_revision, &rev, &err), 0, "remove with the right revision");
    is_int(rev, before + 1, "remove advances the revision");
    ok(ops->get(s, "/pods/a", copy_visit, &c, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "the removed key is gone");
    ok(ops->create(s, "", "x", 1, &rev, &err) < 0 && err.code == KL_ERR_INVALID, "an empty key is refused");

    char binary[256];
    for (int i = 0; i < 256; i++)
        binary[i] = (char)i;
    is_int(ops->create(s, "/bin", binary, sizeof binary, &rev, &err), 0, "create a value of all 256 bytes");
    c.calls = 0;
    ops->get(s, "/bin", copy_visit, &c, &err);
    ok(c.value_len == 256 && memcmp(c.value, binary, 256) == 0, "binary value read back intact");
    is_int(ops->create(s, "/empty", "", 0, &rev, &err), 0, "create an empty value");
    c.calls = 0;
    c.value_len = 99;
    ops->get(s, "/empty", copy_visit, &c, &err);
    ok(c.calls == 1 && c.value_len == 0, "empty value read back empty");
}

static void test_paging(const kl_store_ops_t *ops, void *s)
{
    kl_error_t err = {0, ""};
    int64_t rev;
    int fails = 0;
    for (int i = 24; i >= 0; i--) {  /* written out of order: ranges sort */
        char key[32], value[32];
        snprintf(key, sizeof key, "/p/k%02d", i);
        snprintf(value, sizeof value, "v%d", i);
        fails += ops->create(s, key, value, strlen(value), &rev, &err) < 0;
    }
    fails += ops->create(s, "/pz", "x", 1, &rev, &err) < 0;
    fails += ops->create(s, "/o/k", "x", 1, &rev, &err) < 0;
    is_int(fails, 0, "27 keys created");
    int64_t at_create = rev;

    page_t p = {.ordered = 1, .prefixed = 1, .prefix = "/p/"};
    int64_t read_rev = 0;
    is_int(ops->range(s, "/p/", NULL, 0, page_visit, &p, &read_rev, &err), 0, "range /p/ with no limit");
    ok(p.count == 25 && p.ordered && p.prefixed, "gives the 25 keys under /p/ in order (%zu)", p.count);
    is_int(read_rev, at_create, "at the current revision");

    size_t total = 0, pages = 0;
    char after[64] = "";
    int more = 0, ordered = 1;
    do {
        page_t q = {.ordered = 1, .prefixed = 1, .prefix = "/p/"};
        if (ops->range_at(s, "/p/", after[0] ? after : NULL, 10, 0, page_visit, &q, &read_rev, &more,
                          &err) < 0)
            break;
        /* Each page starts strictly after the previous one's last key. */
        if (q.count && after[0] && strcmp(q.last, after) <= 0)
            ordered = 0;
        ordered &= q.ordered && q.prefixed;
        total += q.count;
        pages++;
        snprintf(after, sizeof after, "%s", q.last);
    } while (more && pages < 10);
    ok(total == 25 && pages == 3 && ordered, "pages of 10: 3 pages, 25 keys, no repeats (%zu in %zu)",
       total, pages);
    page_t q = {.ordered = 1, .prefixed = 1, .prefix = "/p/"};
    more = -1;
    ops->range_at(s, "/p/", NULL, 25, 0, page_visit, &q, &read_rev, &more, &err);
    ok(q.count == 25 && more == 0, "limit equal to the count: more is 0");
    page_t r = {.ordered = 1, .prefixed = 1, .prefix = ""};
    ops->range(s, "/p/k1", "/p/k13", 0, page_visit, &r, &read_rev, &err);
    ok(r.count == 6 && strcmp(r.last, "/p/k19") == 0, "start_after skips up to and including it (%zu)",
       r.count);

    is_int(ops->update(s, "/p/k00", "changed", 7, 0, &rev, &err), 0, "update /p/k00");
    page_t old = {.ordered = 1, .prefixed = 1, .prefix = "/p/"};
    is_int(ops->range_at(s, "/p/", NULL, 1, at_create, page_visit, &old, &read_rev, &more, &err), 0,
           "range_at an older revision");
    is_str(old.first_value, "v0", "sees the value as it was");
    ok(more == 1 && read_rev == at_create, "with more set and the revision asked for");
    page_t now = {.ordered = 1, .prefixed = 1, .prefix = "/p/"};
    ops->range_at(s, "/p/", NULL, 1, 0, page_visit, &now, &read_rev, &more, &err);
    is_str(now.first_value, "changed", "range_at 0 sees the current value");
    ok(ops->range_at(s, "/p/", NULL, 1, rev + 1000, page_visit, &now, &read_rev, &more, &err) < 0
           && err.code == KL_ERR_INVALID, "range_at a future revision is refused: %s", err.text);
}

static void test_changes(const kl_store_ops_t *ops, void *s)
{
    kl_error_t err = {0, ""};
    int64_t r0 = ops->revision(s), rev, revs[5];
    ops->create(s, "/c/one", "v1", 2, &revs[0], &err);
    ops->update(s, "/c/one", "v2", 2, revs[0], &revs[1], &err);
    ops->create(s, "/c/two", "w1", 2, &revs[2], &err);
    ops->remove(s, "/c/one", revs[1], &revs[3], &err);
    ops->create(s, "/elsewhere", "x", 1, &revs[4], &err);
    is_int(revs[4], r0 + 5, "five writes, one outside the prefix");

    event_log_t l = {0};
    int64_t last = 0;
    is_int(ops->changes(s, "/c/", r0, 0, log_event, &l, &last, &err), 0, "changes under /c/ %s", err.text);
    is_int(l.count, 4, "four changes under the prefix");
    ok(l.type[0] == KL_STORE_PUT && strcmp(l.key[0], "/c/one") == 0 && strcmp(l.value[0], "v1") == 0
           && l.prev[0][0] == '\0', "1: create of /c/one with no previous value");
    ok(l.type[1] == KL_STORE_PUT && strcmp(l.value[1], "v2") == 0 && strcmp(l.prev[1], "v1") == 0,
       "2: update with the previous value");
    ok(l.type[2] == KL_STORE_PUT && strcmp(l.key[2], "/c/two") == 0, "3: create of /c/two");
    ok(l.type[3] == KL_STORE_DELETE && strcmp(l.value[3], "(null)") == 0 && strcmp(l.prev[3], "v2") == 0
           && l.revision[3] == revs[3], "4: delete with a NULL value, the previous one and its revision");
    is_int(last, revs[3], "last_revision is the last change delivered");
    int resumed_ok = 1;
    for (int i = 0; i < 4; i++) {
        event_log_t rest = {0};
        if (ops->changes(s, "/c/", revs[i], 0, log_event, &rest, &last, &err) < 0
            || rest.count != 3 - i || (rest.count && strcmp(rest.key[0], l.key[i + 1]) != 0))
            resumed_ok = 0;
    }
    ok(resumed_ok, "resuming after each change gives exactly the rest");
    event_log_t none = {0};
    is_int(ops->changes(s, "/c/", revs[4], 0, log_event, &none, &last, &err), 0, "changes with none left");
    ok(none.count == 0 && last == revs[4], "no events and last_revision is the current revision");
    event_log_t two = {0};
    ops->changes(s, "/c/", r0, 2, log_event, &two, &last, &err);
    ok(two.count == 2 && last == revs[1], "a limit of 2 stops at the second change");

    /* Compaction: history up to revs[2] is gone. */
    is_int(ops->compact(s, revs[2], &err), 0, "compact at the third change %s", err.text);
    is_int(ops->compacted_revision(s), revs[2], "compacted_revision reports it");
    event_log_t gone = {0};
    ok(ops->changes(s, "/c/", revs[0], 0, log_event, &gone, &last, &err) < 0 && err.code == KL_ERR_EXPIRED,
       "changes from before it: Expired (%s)", err.text);
    page_t p = {.ordered = 1, .prefixed = 1, .prefix = ""};
    int more;
    ok(ops->range_at(s, "/c/", NULL, 0, revs[0], page_visit, &p, &rev, &more, &err) < 0
           && err.code == KL_ERR_EXPIRED, "range_at before it: Expired (%s)", err.text);
    event_log_t after = {0};
    is_int(ops->changes(s, "/c/", revs[2], 0, log_event, &after, &last, &err), 0, "changes from it work");
    is_int(after.count, 1, "and give the one later change");
    is_int(ops->compact(s, revs[1], &err), 0, "compacting at an older revision is harmless");
}

/* Two stores on the same etcd in one process (two API workers) share one
 * change feed: each sees the other's writes, and the one left still does
 * after the other closes. */
static void test_shared_feed(const char *settings)
{
    config_t cfg_a, cfg_b;
    kl_error_t err = {0, ""};
    kl_plugin_t *a = store_new(settings, &cfg_a, &err);
    kl_plugin_t *b = a ? store_new(settings, &cfg_b, &err) : NULL;
    if (!ok(a && b, "two stores on one etcd open %s", a && b ? "" : err.text)) {
        kl_plugin_destroy(&a);
        config_destroy(&cfg_a);
        return;
    }
    const kl_store_ops_t *ops = a->ops;
    int64_t start = ops->revision(a->state), rev, last;
    event_log_t warm = {0};
    ops->changes(a->state, "/f/", start, 0, log_event, &warm, &last, &err);
    ops->changes(b->state, "/f/", start, 0, log_event, &warm, &last, &err);
    ops->create(a->state, "/f/one", "1", 1, &rev, &err);
    /* Another writer's change reaches a reader with the feed, a moment
     * after the write: read until it is there. */
    event_log_t seen = {0};
    int rc = 0;
    double t0 = seconds();
    do {
        memset(&seen, 0, sizeof seen);
        rc = ops->changes(b->state, "/f/", start, 0, log_event, &seen, &last, &err);
    } while (rc == 0 && seen.count == 0 && seconds() - t0 < 5 && usleep(2000) == 0);
    is_int(rc, 0, "the second store reads the changes %s", err.text);
    ok(seen.count == 1 && strcmp(seen.key[0], "/f/one") == 0,
       "... including the first store's write (after %.1f ms)", (seconds() - t0) * 1000);
    kl_plugin_destroy(&a);
    config_destroy(&cfg_a);
    ops->create(b->state, "/f/two", "2", 1, &rev, &err);
    memset(&seen, 0, sizeof seen);
    is_int(ops->changes(b->state, "/f/", start, 0, log_event, &seen, &last, &err), 0,
           "after the first store closed, the second still reads changes %s", err.text);
    ok(seen.count == 2 && strcmp(seen.key[1], "/f/two") == 0 && last == rev,
       "... up to its own new write (%d changes, last %lld of %lld)", seen.count, (long long)last,
       (long long)rev);
    kl_plugin_destroy(&b);
    config_destroy(&cfg_b);
}

typedef struct watch_answer {
    int calls;
    json_t *reply;
} watch_answer_t;

static void keep_answer(void *token, json_t *reply, const kl_error_t *err, void *arg)
{
    (void)err;
    (void)arg;
    watch_answer_t *a = token;
    a->calls++;
    json_decref(a->reply);
    a->reply = reply;
}

/* Two API servers on one etcd, as two API workers: a watch parked on one
 * is answered as soon as the other writes, through the store's change
 * descriptor, with no tick of the watching server in between. */
static void test_watch_wakeup(const char *settings)
{
    config_t cfg_a, cfg_b;
    kl_error_t err = {0, ""};
    kl_plugin_t *a = store_new(settings, &cfg_a, &err);
    int tried_b = a != NULL;
    kl_plugin_t *b = a ? store_new(settings, &cfg_b, &err) : NULL;
    kl_apiserver_t *writer = b ? kl_apiserver_new(a, 0, &err) : NULL;
    kl_apiserver_t *watcher = writer ? kl_apiserver_new(b, 0, &err) : NULL;
    if (!ok(watcher != NULL, "two API servers on one etcd %s", watcher ? "" : err.text))
        goto done;
    int fd = kl_apiserver_changes_fd(watcher);
    ok(fd >= 0, "the etcd store gives the API server a change descriptor");
    watch_answer_t answer = {0};
    kl_apiserver_set_reply(watcher, keep_answer, NULL);
    char payload[160];
    snprintf(payload, sizeof payload,
             "{\"kind\":\"Pod\",\"namespace\":\"wake\",\"resourceVersion\":\"%lld\","
             "\"timeoutMs\":60000}",
             (long long)kl_apiserver_revision(watcher));
    json_t *watch = json_loads(payload, 0, NULL);
    kl_apiserver_watch(watcher, watch, &answer, 0);
    json_decref(watch);
    is_int((int)kl_apiserver_pending_watches(watcher), 1, "a watch is parked on the second server");
    struct pollfd idle = {fd, POLLIN, 0};
    is_int(poll(&idle, 1, 300), 0, "nothing changed: the descriptor stays quiet");

    json_t *create = json_loads("{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
                                "\"metadata\":{\"name\":\"woken\",\"namespace\":\"wake\"},"
                                "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}",
                                0, NULL);
    double t0 = seconds();
    json_t *created = kl_apiserver_handle(writer, "create", create, &err);
    json_decref(create);
    ok(created != NULL, "the first server creates a pod %s", created ? "" : err.text);
    json_decref(created);
    struct pollfd wake = {fd, POLLIN, 0};
    int readable = poll(&wake, 1, 5000) == 1;
    ok(readable, "the descriptor turns readable %.1f ms after the write", (seconds() - t0) * 1000);
    kl_apiserver_after_burst(watcher);
    const json_t *event = json_array_get(json_object_get(answer.reply, "events"), 0);
    const char *name = json_string_value(
        json_object_get(json_object_get(json_object_get(event, "object"), "metadata"), "name"));
    ok(answer.calls == 1 && name && strcmp(name, "woken") == 0,
       "the parked watch is answered with the pod, with no tick (%d answers)", answer.calls);
    struct pollfd after = {fd, POLLIN, 0};
    is_int(poll(&after, 1, 300), 0, "reading the changes cleared the descriptor");
    json_decref(answer.reply);
done:
    kl_apiserver_destroy(&watcher);
    kl_apiserver_destroy(&writer);
    kl_plugin_destroy(&b);
    kl_plugin_destroy(&a);
    if (tried_b)
        config_destroy(&cfg_b);
    config_destroy(&cfg_a);
}

/* ---- writes in flight together through the API server ------------------- */

#define INFLIGHT_PODS 20

typedef struct write_answers {
    int calls[64];
    int code[64];
    int64_t revision[64];
    int text_has_revision[64];
    char node[64][32];
    int total;
} write_answers_t;

static void keep_write(kl_apiserver_t *api, void *token, json_t *reply, const kl_error_t *err,
                       void *arg)
{
    write_answers_t *a = arg;
    int i = (int)(intptr_t)token;
    a->calls[i]++;
    a->total++;
    if (!reply) {
        a->code[i] = err ? err->code : -1;
        return;
    }
    a->revision[i] = kl_object_revision(reply);
    const char *node = json_string_value(json_object_get(json_object_get(reply, "spec"), "nodeName"));
    snprintf(a->node[i], sizeof a->node[i], "%s", node ? node : "");
    size_t length = 0;
    char *text = kl_apiserver_reply_text(api, reply, &length);
    char expect[64];
    snprintf(expect, sizeof expect, "\"resourceVersion\":\"%lld\"", (long long)a->revision[i]);
    a->text_has_revision[i] = text && strstr(text, expect) != NULL;
    free(text);
    json_decref(reply);
}

static json_t *pod_request(int i)
{
    char text[320];
    snprintf(text, sizeof text,
             "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"fly-%d\","
             "\"namespace\":\"inflight\"},\"spec\":{\"containers\":[{\"name\":\"c\","
             "\"image\":\"busybox\"}]}}}",
             i);
    return json_loads(text, 0, NULL);
}

static json_t *named_request(const char *fmt, int i)
{
    char text[200];
    snprintf(text, sizeof text, fmt, i);
    return json_loads(text, 0, NULL);
}

static void test_writes_in_flight(const char *settings)
{
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = store_new(settings, &cfg, &err);
    kl_apiserver_t *api = p ? kl_apiserver_new(p, 0, &err) : NULL;
    if (!ok(api != NULL, "an API server on etcd %s", api ? "" : err.text))
        goto done;
    static write_answers_t a;
    memset(&a, 0, sizeof a);
    kl_apiserver_set_done(api, keep_write, &a);

    int deferred_all = 1;
    for (int i = 1; i <= INFLIGHT_PODS; i++) {
        json_t *create = pod_request(i);
        int deferred = 0;
        json_t *reply = kl_apiserver_handle_token(api, "create", create, (void *)(intptr_t)i,
                                                  &deferred, &err);
        json_decref(create);
        deferred_all &= deferred && !reply;
        json_decref(reply);
    }
    ok(deferred_all, "%d creates are submitted without waiting for etcd", INFLIGHT_PODS);
    is_int(a.total, 0, "none is answered before the writes settle");

    /* A write to a key in flight waits for it: the same name again. */
    json_t *again = pod_request(1);
    int deferred = 0;
    json_t *reply = kl_apiserver_handle_token(api, "create", again, (void *)(intptr_t)21, &deferred,
                                              &err);
    json_decref(again);
    ok(!reply && deferred, "a second create of a name in flight is submitted too");
    is_int(a.total, INFLIGHT_PODS, "after the first writes to that name were settled");
    kl_apiserver_settle(api);
    is_int(a.code[21], KL_ERR_EXISTS, "and it is answered \"already exists\"");

    int answered = 1, distinct = 1, texts = 1;
    for (int i = 1; i <= INFLIGHT_PODS; i++) {
        answered &= a.calls[i] == 1 && a.code[i] == 0 && a.revision[i] > 0;
        texts &= a.text_has_revision[i];
        for (int j = 1; j < i; j++)
            distinct &= a.revision[i] != a.revision[j];
    }
    ok(answered, "each create is answered once, with the object");
    ok(distinct, "each at a revision of its own");
    ok(texts, "each reply's text carries its resourceVersion");

    /* Binds in flight; gets join them, unless they read a key being written. */
    for (int i = 1; i <= 10; i++) {
        json_t *bind = named_request("{\"kind\":\"Pod\",\"namespace\":\"inflight\",\"name\":\"fly-%d\","
                                     "\"nodeName\":\"node-a\"}",
                                     i);
        reply = kl_apiserver_handle_token(api, "bind", bind, (void *)(intptr_t)(21 + i), &deferred,
                                          &err);
        json_decref(bind);
        json_decref(reply);
    }
    int before_read = a.total;
    json_t *get = named_request("{\"kind\":\"Pod\",\"namespace\":\"inflight\",\"name\":\"fly-%d\"}", 15);
    reply = kl_apiserver_handle_token(api, "get", get, (void *)(intptr_t)40, &deferred, &err);
    json_decref(get);
    ok(!reply && deferred && a.total == before_read,
       "a get of a pod nobody is writing joins the binds in flight");
    get = named_request("{\"kind\":\"Pod\",\"namespace\":\"inflight\",\"name\":\"fly-%d\"}", 3);
    reply = kl_apiserver_handle_token(api, "get", get, (void *)(intptr_t)41, &deferred, &err);
    json_decref(get);
    ok(!reply && deferred, "a get of a pod being bound is submitted too");
    is_int(a.total - before_read, 11, "after the binds and the first get were answered");
    kl_apiserver_settle(api);
    ok(a.calls[40] == 1 && a.revision[40] == a.revision[15] && strcmp(a.node[40], "") == 0,
       "the first get gives the unbound pod at its create's revision");
    ok(a.calls[41] == 1 && strcmp(a.node[41], "node-a") == 0 && a.revision[41] == a.revision[24],
       "the second sees its bind");
    int bound = 1;
    for (int i = 22; i <= 31; i++)
        bound &= a.calls[i] == 1 && strcmp(a.node[i], "node-a") == 0 && a.revision[i] > a.revision[i - 21];
    ok(bound, "each bind is answered with the pod on its node, at a later revision");
    json_t *list = json_loads("{\"kind\":\"Pod\",\"namespace\":\"inflight\"}", 0, NULL);
    json_t *missing = named_request("{\"kind\":\"Pod\",\"namespace\":\"inflight\",\"name\":\"fly-%d\"}", 77);
    reply = kl_apiserver_handle_token(api, "get", missing, (void *)(intptr_t)42, &deferred, &err);
    json_decref(missing);
    json_decref(reply);
    reply = kl_apiserver_handle_token(api, "list", list, (void *)(intptr_t)43, &deferred, &err);
    json_decref(list);
    ok(reply && !deferred && json_array_size(json_object_get(reply, "items")) == INFLIGHT_PODS,
       "a list is answered at once, with every pod");
    json_decref(reply);
    ok(a.calls[42] == 1 && a.code[42] == KL_ERR_NOT_FOUND,
       "after settling the get before it, which found nothing (code %d)", a.code[42]);

    /* Answers as the store finishes them, with no settle: the descriptor
     * says when. */
    is_int(kl_apiserver_settle_fd(api), -1, "with nothing in flight there is no descriptor to poll");
    for (int i = 50; i < 60; i++) {
        json_t *create = pod_request(i);
        reply = kl_apiserver_handle_token(api, "create", create, (void *)(intptr_t)i, &deferred, &err);
        json_decref(create);
        json_decref(reply);
    }
    int fd = kl_apiserver_settle_fd(api), wakes = 0, progressed = 0;
    ok(fd >= 0, "with creates in flight the API server gives a descriptor");
    for (int round = 0; round < 100 && progressed < 10; round++) {
        struct pollfd pf = {kl_apiserver_settle_fd(api), POLLIN, 0};
        if (pf.fd < 0)
            break;
        wakes += poll(&pf, 1, 100) == 1;
        kl_apiserver_progress(api);
        progressed = 0;
        for (int i = 50; i < 60; i++)
            progressed += a.calls[i] == 1 && a.code[i] == 0;
    }
    is_int(progressed, 10, "all 10 are answered by progress() as the descriptor wakes (%d wakes)",
           wakes);
    is_int(kl_apiserver_settle_fd(api), -1, "and then nothing is in flight");

    /* Without a token the same API server answers at once, as before. */
    json_t *plain = pod_request(99);
    reply = kl_apiserver_handle(api, "create", plain, &err);
    json_decref(plain);
    ok(reply && kl_object_revision(reply) > 0, "a create without a token is answered at once %s",
       reply ? "" : err.text);
    json_decref(reply);
done:
    kl_apiserver_destroy(&api);
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
}

/* ---- writes from the cache's copy, checked by the store ------------------ */

typedef struct kept_replies {
    json_t *reply[16];
    int calls[16], code[16];
    char text[16][300];
} kept_replies_t;

static void keep_reply(kl_apiserver_t *api, void *token, json_t *reply, const kl_error_t *err,
                       void *arg)
{
    (void)api;
    kept_replies_t *k = arg;
    int i = (int)(intptr_t)token;
    k->calls[i]++;
    json_decref(k->reply[i]);
    k->reply[i] = reply;
    k->code[i] = reply ? 0 : err ? err->code : -1;
    snprintf(k->text[i], sizeof k->text[i], "%.250s", reply || !err ? "" : err->text);
}

static json_t *stale_request(const char *fmt, int i)
{
    return named_request(fmt, i);
}

static const char *label_of(const json_t *pod, const char *name)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(pod, "metadata"),
                                                             "labels"), name));
}

/* Two API servers on one etcd: A answers binds and status writes from its
 * cached copy of the pod, with no read first; B changes the pods behind A's
 * back. Each of A's writes must still land on the pod as it is, or fail the
 * way a fresh read would have made it fail. */
static void test_writes_from_cache(const char *settings)
{
    config_t cfg_a = {0}, cfg_b = {0};
    kl_error_t err = {0, ""};
    kl_plugin_t *pa = store_new(settings, &cfg_a, &err);
    kl_plugin_t *pb = pa ? store_new(settings, &cfg_b, &err) : NULL;
    kl_apiserver_t *a = pb ? kl_apiserver_new(pa, 0, &err) : NULL;
    kl_apiserver_t *b = a ? kl_apiserver_new(pb, 0, &err) : NULL;
    if (!ok(a && b, "two API servers on one etcd %s", b ? "" : err.text))
        goto done;
    static kept_replies_t k;
    memset(&k, 0, sizeof k);
    kl_apiserver_set_done(a, keep_reply, &k);
    int deferred = 0;
    for (int i = 1; i <= 4; i++) {
        json_t *create = stale_request(
            "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"stale-%d\","
            "\"namespace\":\"cached\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}",
            i);
        json_decref(kl_apiserver_handle_token(a, "create", create, (void *)(intptr_t)i, &deferred, &err));
        json_decref(create);
    }
    kl_apiserver_settle(a);
    ok(k.code[1] == 0 && k.code[2] == 0 && k.code[3] == 0 && k.code[4] == 0,
       "A creates four pods, and so holds a copy of each");

    /* B: a label on stale-1, stale-2 bound elsewhere, stale-3 deleted. */
    json_t *get1 = stale_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\"}", 1);
    json_t *current = kl_apiserver_handle(b, "get", get1, &err);
    json_t *labelled = json_deep_copy(current);
    json_object_set_new(json_object_get(labelled, "metadata"), "labels", json_pack("{s:s}", "by", "b"));
    json_t *update = json_pack("{s:o}", "object", labelled);
    json_t *updated = kl_apiserver_handle(b, "update", update, &err);
    int64_t b_revision = kl_object_revision(updated);
    json_t *bind_b = stale_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\","
                                   "\"nodeName\":\"node-b\"}", 2);
    json_t *bound_b = kl_apiserver_handle(b, "bind", bind_b, &err);
    json_t *delete_b = stale_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\"}", 3);
    json_t *deleted_b = kl_apiserver_handle(b, "delete", delete_b, &err);
    ok(updated && bound_b && deleted_b, "B labels stale-1, binds stale-2 to node-b and deletes stale-3");

    /* A, from its copies: none of them reads etcd before writing. */
    json_t *status = stale_request("{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
                                   "{\"name\":\"stale-%d\",\"namespace\":\"cached\"},\"status\":"
                                   "{\"phase\":\"Running\"}}}", 1);
    json_t *reply = kl_apiserver_handle_token(a, "update_status", status, (void *)(intptr_t)5,
                                              &deferred, &err);
    ok(!reply && deferred, "A submits a status write to stale-1 from its copy");
    json_t *bind_a = stale_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\","
                                   "\"nodeName\":\"node-a\"}", 2);
    reply = kl_apiserver_handle_token(a, "bind", bind_a, (void *)(intptr_t)6, &deferred, &err);
    ok(!reply && deferred, "a bind of stale-2 to node-a from its copy");
    json_t *status3 = stale_request("{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
                                    "{\"name\":\"stale-%d\",\"namespace\":\"cached\"},\"status\":"
                                    "{\"phase\":\"Running\"}}}", 3);
    reply = kl_apiserver_handle_token(a, "update_status", status3, (void *)(intptr_t)7, &deferred, &err);
    ok(!reply && deferred, "a status write to the deleted stale-3 from its copy");
    json_t *bind4 = stale_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\","
                                  "\"nodeName\":\"node-a\"}", 4);
    reply = kl_apiserver_handle_token(a, "bind", bind4, (void *)(intptr_t)8, &deferred, &err);
    ok(!reply && deferred, "and a bind of stale-4, which nobody else touched");
    is_int(k.calls[5] + k.calls[6] + k.calls[7] + k.calls[8], 0, "none is answered before A settles");
    kl_apiserver_settle(a);

    ok(k.calls[5] == 1 && k.code[5] == 0 && k.reply[5]
           && json_is_string(json_object_get(json_object_get(k.reply[5], "status"), "phase"))
           && strcmp(json_string_value(json_object_get(json_object_get(k.reply[5], "status"), "phase")),
                     "Running") == 0
           && label_of(k.reply[5], "by") && strcmp(label_of(k.reply[5], "by"), "b") == 0
           && kl_object_revision(k.reply[5]) > b_revision,
       "stale-1's status write ran again from a fresh read: Running, B's label kept, after B's "
       "revision (%s)", k.text[5]);
    ok(k.calls[6] == 1 && k.code[6] == KL_ERR_CONFLICT && strstr(k.text[6], "already assigned to node \"node-b\""),
       "stale-2's bind is refused as a fresh read refuses it: %s", k.text[6]);
    ok(k.calls[7] == 1 && k.code[7] == KL_ERR_NOT_FOUND, "stale-3's status write finds no pod: %s",
       k.text[7]);
    ok(k.calls[8] == 1 && k.code[8] == 0 && k.reply[8]
           && strcmp(json_string_value(json_object_get(json_object_get(k.reply[8], "spec"), "nodeName")),
                     "node-a") == 0,
       "stale-4 is bound to node-a from the copy");
    json_t *get2 = stale_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\"}", 2);
    json_t *check = kl_apiserver_handle(b, "get", get2, &err);
    const char *node = json_string_value(json_object_get(json_object_get(check, "spec"), "nodeName"));
    ok(node && strcmp(node, "node-b") == 0, "stale-2 stays on node-b in etcd");
    json_t *empty = json_object();
    json_t *info = kl_apiserver_handle(a, "info", empty, &err);
    json_t *writes = json_object_get(info, "writes");
    is_int(json_integer_value(json_object_get(writes, "fromCache")), 4,
           "api.info: A made all four writes from its copies, with no read before them");
    is_int(json_integer_value(json_object_get(writes, "runAgain")), 3,
           "and ran three of them again from a fresh read");
    json_decref(info);
    json_decref(empty);

    json_decref(check);
    json_decref(get1);
    json_decref(get2);
    json_decref(status);
    json_decref(bind_a);
    json_decref(status3);
    json_decref(bind4);
    json_decref(current);
    json_decref(update);
    json_decref(updated);
    json_decref(bind_b);
    json_decref(bound_b);
    json_decref(delete_b);
    json_decref(deleted_b);
    for (int i = 0; i < 16; i++)
        json_decref(k.reply[i]);
done:
    kl_apiserver_destroy(&b);
    kl_apiserver_destroy(&a);
    kl_plugin_destroy(&pb);
    kl_plugin_destroy(&pa);
    config_destroy(&cfg_a);
    config_destroy(&cfg_b);
}

static void test_leases(const kl_store_ops_t *ops, void *s)
{
    kl_error_t err = {0, ""};
    int64_t lease = 0, rev;
    is_int(ops->lease_grant(s, 1000, &lease, &err), 0, "grant a 1 s lease %s", err.text);
    ok(lease > 0, "with an id");
    is_int(ops->put_with_lease(s, "/lease/a", "x", 1, -1, lease, &rev, &err), 0, "create a key with it");
    ok(ops->put_with_lease(s, "/lease/a", "x", 1, -1, lease, &rev, &err) < 0 && err.code == KL_ERR_EXISTS,
       "put_with_lease -1 on an existing key: AlreadyExists");
    is_int(ops->put_with_lease(s, "/lease/a", "y", 1, rev, lease, &rev, &err), 0, "update it under CAS");
    is_int(ops->lease_keepalive(s, lease, &err), 0, "keepalive of a live lease");
    copy_t c = {0};
    double t0 = seconds();
    int gone = 0;
    while (seconds() - t0 < 10 && !gone) {
        gone = ops->get(s, "/lease/a", copy_visit, &c, &err) < 0 && err.code == KL_ERR_NOT_FOUND;
        if (!gone)
            usleep(100000);
    }
    ok(gone, "the key goes when the lease expires (%.1f s)", seconds() - t0);
    ok(ops->lease_keepalive(s, lease, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "keepalive of an expired lease: NotFound (%s)", err.text);

    int64_t second = 0;
    ops->lease_grant(s, 60000, &second, &err);
    ops->put_with_lease(s, "/lease/b", "x", 1, -1, second, &rev, &err);
    is_int(ops->lease_revoke(s, second, &err), 0, "revoke a lease");
    ok(ops->get(s, "/lease/b", copy_visit, &c, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "its key is gone at once");
    ok(ops->lease_revoke(s, second, &err) < 0 && err.code == KL_ERR_NOT_FOUND, "revoking it again: NotFound");
    ok(ops->lease_grant(s, 0, &second, &err) < 0 && err.code == KL_ERR_INVALID, "a zero TTL is refused");
}

int main(void)
{
    const char *etcd = "/usr/bin/etcd";
    if (access(etcd, X_OK) != 0) {
        printf("1..0 # SKIP %s is not installed (apt-get install etcd-server)\n", etcd);
        return 0;
    }
    /* make check sets both; a manual run from the build folder finds the
     * freshly built plugin and the source tree one level up. */
    setenv("KEELSON_PLUGIN_PATH", "plugins/store/etcd/.libs", 0);
    const char *srcdir = getenv("KEELSON_SRCDIR") ? getenv("KEELSON_SRCDIR") : "..";
    snprintf(script, sizeof script, "%s/scripts/etcd-cluster.sh", srcdir);
    snprintf(work, sizeof work, "/tmp/keelson-etcd-test.XXXXXX");
    if (!mkdtemp(work)) {
        printf("1..0 # SKIP cannot create a temporary folder: %s\n", strerror(errno));
        return 0;
    }
    /* Below the ephemeral range, so no outgoing connection holds it. */
    int port = 20000 + (int)(getpid() % 6000) * 2;
    char cmd[2048], endpoint[64];
    snprintf(cmd, sizeof cmd, "ETCD=%s sh '%s' start '%s' 1 %d >/dev/null", etcd, script, work, port);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d", port);
    int started = system(cmd) == 0;
    ok(started, "one-member etcd started on %s", endpoint);
    if (!started) {
        cluster_stop();
        return done_testing();
    }

    char settings[256];
    snprintf(settings, sizeof settings, "endpoints = [ \"%s\" ]; prefix = \"/test\"; timeout_ms = 3000;",
             endpoint);
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = store_new(settings, &cfg, &err);
    ok(p != NULL, "etcd store plugin loads, configures and opens %s", p ? "" : err.text);
    if (p) {
        ok(p->ops_size >= sizeof(kl_store_ops_t), "it implements the whole store ABI 1.3");
        test_crud(p->ops, p->state);
        test_paging(p->ops, p->state);
        test_changes(p->ops, p->state);
        test_leases(p->ops, p->state);
    }
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
    test_shared_feed(settings);
    test_watch_wakeup(settings);
    test_writes_in_flight(settings);
    test_writes_from_cache(settings);
    test_failover(endpoint);
    test_unreachable();
    test_refused_settings();
    cluster_stop();
    return done_testing();
}
