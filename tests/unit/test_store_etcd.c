/* The etcd store plugin against a real one-member etcd started for the test:
 * every operation, compare-and-swap causes, paging, history, compaction,
 * leases, binary values, a change feed shared by two stores, fail-over and
 * refused settings. The API server on etcd: test_store_etcd_api.c. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "etcd_fixture.h"
#include "loader.h"
#include "tap.h"

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
        kl_plugin_t *p = etcd_store_new(bad[i][0], &cfg, &err);
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
    kl_plugin_t *p = etcd_store_new("endpoints = [ \"http://127.0.0.1:1\" ]; timeout_ms = 1000;", &cfg, &err);
    ok(p != NULL, "opens while the cluster is unreachable %s", p ? "" : err.text);
    if (p) {
        const kl_store_ops_t *ops = p->ops;
        double t0 = etcd_fixture_seconds();
        int rc = ops->get(p->state, "/k", copy_visit, &(copy_t){0}, &err);
        double took = etcd_fixture_seconds() - t0;
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

/* Submitted operations as the API server drives them: nothing but polling
 * settle_fd() and settling what it reports ready. */
typedef struct submitted {
    int done, failed;
    kl_error_t last_err;
} submitted_t;

static void note_submitted(int rc, int64_t revision, const kl_store_kv_t *kv, const kl_error_t *err,
                           void *arg)
{
    (void)revision;
    (void)kv;
    submitted_t *t = arg;
    t->done++;
    if (rc < 0) {
        t->failed++;
        t->last_err = *err;
    }
}

/* Polls the store's descriptor until `want` operations are done or
 * `seconds` pass; returns the seconds taken. */
static double drive_until(const kl_store_ops_t *ops, void *s, submitted_t *t, int want, double seconds)
{
    double t0 = etcd_fixture_seconds();
    kl_error_t err;
    while (t->done < want && etcd_fixture_seconds() - t0 < seconds) {
        struct pollfd pfd = {.fd = ops->settle_fd(s), .events = POLLIN};
        if (pfd.fd >= 0 && poll(&pfd, 1, 50) > 0)
            ops->settle(s, 0, &err);
    }
    return etcd_fixture_seconds() - t0;
}

static void test_submitted_burst(const kl_store_ops_t *ops, void *s)
{
    enum { BURST = 64 };
    submitted_t t = {0};
    kl_error_t err;
    int started = 0;
    for (int i = 0; i < BURST; i++) {
        char key[32];
        snprintf(key, sizeof key, "/burst/%02d", i);
        kl_store_op_t op = {.kind = KL_STORE_OP_CREATE, .key = key, .value = "v", .value_len = 1};
        started += ops->submit(s, &op, note_submitted, &t, &err) == 0;
    }
    double took = drive_until(ops, s, &t, BURST, 10);
    ok(started == BURST && t.done == BURST && t.failed == 0,
       "%d creates submitted together all finish through settle_fd alone (%d done, %d failed, %.2f s)",
       BURST, t.done, t.failed, took);
}

/* An endpoint that takes the connection and never answers: a submitted get
 * must still end, on the store's timeout, with only settle_fd() polled. */
static void test_silent_endpoint(void)
{
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (listener < 0 || bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listener, 8) < 0
        || getsockname(listener, (struct sockaddr *)&addr, &len) < 0) {
        ok(0, "a silent listener on loopback");
        if (listener >= 0)
            close(listener);
        return;
    }
    char settings[160];
    snprintf(settings, sizeof settings, "endpoints = [ \"http://127.0.0.1:%d\" ]; timeout_ms = 300;",
             ntohs(addr.sin_port));
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = etcd_store_new(settings, &cfg, &err);
    ok(p != NULL, "opens on an endpoint that never answers %s", p ? "" : err.text);
    if (p) {
        const kl_store_ops_t *ops = p->ops;
        submitted_t t = {0};
        kl_store_op_t op = {.kind = KL_STORE_OP_GET, .key = "/silent"};
        ok(ops->submit(p->state, &op, note_submitted, &t, &err) == 0, "a get is submitted to it");
        double took = drive_until(ops, p->state, &t, 1, 10);
        ok(t.done == 1 && t.failed == 1 && took >= 0.25 && took < 3.0,
           "it fails on the 300 ms timeout, found by polling settle_fd (%.2f s): %s", took,
           t.last_err.text);
    }
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
    close(listener);
}

/* A dead first endpoint: requests go on to the live one. */
static void test_failover(const char *endpoint)
{
    char settings[512];
    snprintf(settings, sizeof settings,
             "endpoints = [ \"http://127.0.0.1:1\", \"%s\" ]; prefix = \"/failover\";", endpoint);
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = etcd_store_new(settings, &cfg, &err);
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
    kl_plugin_t *a = etcd_store_new(settings, &cfg_a, &err);
    kl_plugin_t *b = a ? etcd_store_new(settings, &cfg_b, &err) : NULL;
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
    double t0 = etcd_fixture_seconds();
    do {
        memset(&seen, 0, sizeof seen);
        rc = ops->changes(b->state, "/f/", start, 0, log_event, &seen, &last, &err);
    } while (rc == 0 && seen.count == 0 && etcd_fixture_seconds() - t0 < 5 && usleep(2000) == 0);
    is_int(rc, 0, "the second store reads the changes %s", err.text);
    ok(seen.count == 1 && strcmp(seen.key[0], "/f/one") == 0,
       "... including the first store's write (after %.1f ms)", (etcd_fixture_seconds() - t0) * 1000);
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
    double t0 = etcd_fixture_seconds();
    int gone = 0;
    while (etcd_fixture_seconds() - t0 < 10 && !gone) {
        gone = ops->get(s, "/lease/a", copy_visit, &c, &err) < 0 && err.code == KL_ERR_NOT_FOUND;
        if (!gone)
            usleep(100000);
    }
    ok(gone, "the key goes when the lease expires (%.1f s)", etcd_fixture_seconds() - t0);
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
    char endpoint[64], settings[256];
    int started = etcd_fixture_start(endpoint, sizeof endpoint, settings, sizeof settings);
    if (started < 0)
        return 0;
    ok(started, "one-member etcd started on %s", endpoint);
    if (!started) {
        etcd_fixture_stop();
        return done_testing();
    }
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = etcd_store_new(settings, &cfg, &err);
    ok(p != NULL, "etcd store plugin loads, configures and opens %s", p ? "" : err.text);
    if (p) {
        ok(p->ops_size >= sizeof(kl_store_ops_t), "it implements the whole store ABI 1.3");
        test_crud(p->ops, p->state);
        test_paging(p->ops, p->state);
        test_changes(p->ops, p->state);
        test_leases(p->ops, p->state);
        test_submitted_burst(p->ops, p->state);
    }
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
    test_shared_feed(settings);
    test_failover(endpoint);
    test_unreachable();
    test_silent_endpoint();
    test_refused_settings();
    etcd_fixture_stop();
    return done_testing();
}
