/* Conformance group for requests kept in flight together (store ABI 1.3):
 * every submitted get and write is done exactly once by settle(), with the
 * outcome the synchronous call would have given, whatever order the store
 * applied them in. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_conformance.h"

#define IN_FLIGHT 40

typedef struct outcome {
    int calls;
    int rc;
    int code;
    int64_t revision;
    char value[32];  /* a get's value, NUL-terminated */
    int64_t mod_revision;
} outcome_t;

static void note_done(int rc, int64_t revision, const kl_store_kv_t *kv, const kl_error_t *err,
                      void *arg)
{
    outcome_t *o = arg;
    o->calls++;
    o->rc = rc;
    o->code = rc < 0 && err ? err->code : 0;
    o->revision = revision;
    if (kv) {
        size_t n = kv->value_len < sizeof o->value - 1 ? kv->value_len : sizeof o->value - 1;
        memcpy(o->value, kv->value, n);
        o->value[n] = '\0';
        o->mod_revision = kv->mod_revision;
    }
}

static int submit(kl_conformance_t *c, kl_store_op_kind_t kind, const char *key,
                  const char *value, int64_t expected, outcome_t *o, kl_error_t *err)
{
    kl_store_op_t op = {kind, key, value, value ? strlen(value) : 0, expected};
    memset(o, 0, sizeof *o);
    return c->ops->submit(c->store, &op, note_done, o, err);
}

static int settle(kl_conformance_t *c, kl_error_t *err)
{
    return c->ops->settle(c->store, 1, err);
}

/* Creates on distinct keys, all in flight at once. */
static void many_creates(kl_conformance_t *c, char keys[][256], outcome_t *done)
{
    kl_error_t err;
    kl_error_clear(&err);
    int64_t before = c->ops->revision(c->store);
    int started = 0;
    for (int i = 0; i < IN_FLIGHT; i++) {
        char suffix[32], value[32];
        snprintf(suffix, sizeof suffix, "key-%02d", i);
        snprintf(value, sizeof value, "value-%02d", i);
        kl_conformance_key(c, keys[i], sizeof keys[i], suffix);
        started += submit(c, KL_STORE_OP_CREATE, keys[i], value, 0, &done[i], &err) == 0;
    }
    kl_tap_ok(started == IN_FLIGHT, "%d creates start without waiting (%d did) %s", IN_FLIGHT,
              started, err.text);
    kl_tap_call(settle(c, &err), &err, "settle() returns once they are done");
    int once = 1, ok = 1, distinct = 1, after = 1;
    for (int i = 0; i < IN_FLIGHT; i++) {
        once &= done[i].calls == 1;
        ok &= done[i].rc == 0;
        after &= done[i].revision > before;
        for (int j = 0; j < i; j++)
            distinct &= done[i].revision != done[j].revision;
    }
    kl_tap_ok(once, "each write's done() was called exactly once");
    kl_tap_ok(ok, "each create succeeded");
    kl_tap_ok(distinct && after, "each has a revision of its own, after the store's revision before");
    int stored = 1;
    kl_kv_copy_t kv = {0};
    for (int i = 0; i < IN_FLIGHT && stored; i++) {
        char value[32];
        snprintf(value, sizeof value, "value-%02d", i);
        stored = kl_conformance_get(c, keys[i], &kv, &err) == 0 && kv.value_len == strlen(value)
                 && memcmp(kv.value, value, kv.value_len) == 0
                 && kv.mod_revision == done[i].revision && kv.create_revision == done[i].revision;
    }
    kl_kv_copy_clear(&kv);
    kl_tap_ok(stored, "get() finds every value at the revision its done() reported");
    int64_t highest = 0;
    for (int i = 0; i < IN_FLIGHT; i++)
        highest = done[i].revision > highest ? done[i].revision : highest;
    kl_tap_ok(c->ops->revision(c->store) >= highest, "revision() is at least the highest of them");
}

typedef struct change_count {
    char (*keys)[256];
    int seen[IN_FLIGHT];
    int64_t last;
    int in_order;
} change_count_t;

static int count_change(const kl_store_event_t *event, void *arg)
{
    change_count_t *cc = arg;
    if (event->kv.mod_revision <= cc->last)
        cc->in_order = 0;
    cc->last = event->kv.mod_revision;
    for (int i = 0; i < IN_FLIGHT; i++)
        if (strcmp(event->kv.key, cc->keys[i]) == 0 && event->type == KL_STORE_PUT)
            cc->seen[i]++;
    return 0;
}

static void changes_of(kl_conformance_t *c, char keys[][256], int64_t from)
{
    if (!KL_CONFORMANCE_HAS(c, changes)) {
        kl_tap_skip("inflight: the plugin keeps no history to read the writes back from");
        return;
    }
    kl_error_t err;
    kl_error_clear(&err);
    change_count_t cc = {keys, {0}, 0, 1};
    int64_t last = 0;
    int rc = -1;
    /* A shared store's history may take a moment to show its own writes. */
    for (int tries = 0; tries < 50; tries++) {
        memset(cc.seen, 0, sizeof cc.seen);
        cc.last = 0;
        cc.in_order = 1;
        rc = c->ops->changes(c->store, c->prefix, from, 0, count_change, &cc, &last, &err);
        int all = 1;
        for (int i = 0; i < IN_FLIGHT; i++)
            all &= cc.seen[i] == 1;
        if (rc < 0 || all)
            break;
        kl_conformance_sleep_ms(100);
    }
    int once = 1;
    for (int i = 0; i < IN_FLIGHT; i++)
        once &= cc.seen[i] == 1;
    kl_tap_ok(rc == 0 && once, "changes() gives each write in flight once %s", err.text);
    kl_tap_ok(cc.in_order, "and in revision order");
}

/* Without waiting: settle(store, 0) finishes only what is done, and the
 * descriptor (when the store has one) tells when to call it. */
static void settled_by_descriptor(kl_conformance_t *c)
{
    kl_error_t err;
    kl_error_clear(&err);
    enum { COUNT = 10 };
    char keys[COUNT][256];
    outcome_t done[COUNT];
    int started = 0;
    for (int i = 0; i < COUNT; i++) {
        char suffix[32];
        snprintf(suffix, sizeof suffix, "polled-%d", i);
        kl_conformance_key(c, keys[i], sizeof keys[i], suffix);
        started += submit(c, KL_STORE_OP_CREATE, keys[i], "polled", 0, &done[i], &err) == 0;
    }
    kl_tap_call(c->ops->settle(c->store, 0, &err), &err, "settle() without waiting returns");
    int fd = KL_CONFORMANCE_HAS(c, settle_fd) && c->ops->settle_fd ? c->ops->settle_fd(c->store) : -1;
    int calls = 0, wakes = 0;
    int64_t deadline = kl_conformance_now_ms() + 5000;
    while (kl_conformance_now_ms() < deadline) {
        calls = 0;
        for (int i = 0; i < COUNT; i++)
            calls += done[i].calls;
        if (calls == COUNT)
            break;
        if (fd >= 0) {
            struct pollfd p = {fd, POLLIN, 0};
            wakes += poll(&p, 1, 100) == 1;
        } else {
            kl_conformance_sleep_ms(10);
        }
        c->ops->settle(c->store, 0, &err);
    }
    int once = 1;
    for (int i = 0; i < COUNT; i++)
        once &= done[i].calls == 1 && done[i].rc == 0;
    kl_tap_ok(started == COUNT && once,
              "%d creates are each done once by calls that never wait%s (%d wakes)", COUNT,
              fd >= 0 ? ", made when settle_fd() turned readable" : "", wakes);
    kl_tap_ok(fd < 0 || wakes > 0, "settle_fd() turned readable while they were in flight");
}

void kl_group_inflight(kl_conformance_t *c)
{
    if (!KL_CONFORMANCE_HAS(c, submit) || !c->ops->submit || !c->ops->settle) {
        kl_tap_skip("inflight: the plugin keeps no requests in flight (no submit(), or built before ABI 1.3)");
        return;
    }
    kl_conformance_begin(c, "inflight");
    kl_error_t err;
    kl_error_clear(&err);
    kl_tap_call(settle(c, &err), &err, "settle() with nothing in flight returns at once");

    static char keys[IN_FLIGHT][256];
    outcome_t done[IN_FLIGHT];
    int64_t from = c->ops->revision(c->store);
    many_creates(c, keys, done);
    changes_of(c, keys, from);

    /* Outcomes the synchronous calls would give, all in flight together. */
    char missing[256];
    kl_conformance_key(c, missing, sizeof missing, "never-written");
    outcome_t exists, stale, fresh, gone, any, removed, read, unread;
    submit(c, KL_STORE_OP_CREATE, keys[0], "again", 0, &exists, &err);
    submit(c, KL_STORE_OP_UPDATE, keys[1], "stale", done[1].revision - 1, &stale, &err);
    submit(c, KL_STORE_OP_UPDATE, keys[2], "fresh", done[2].revision, &fresh, &err);
    submit(c, KL_STORE_OP_UPDATE, missing, "nobody", 0, &gone, &err);
    submit(c, KL_STORE_OP_UPDATE, keys[3], "any", 0, &any, &err);
    submit(c, KL_STORE_OP_REMOVE, keys[4], NULL, done[4].revision, &removed, &err);
    submit(c, KL_STORE_OP_GET, keys[5], NULL, 0, &read, &err);
    submit(c, KL_STORE_OP_GET, missing, NULL, 0, &unread, &err);
    kl_tap_call(settle(c, &err), &err, "a mixed batch settles");
    kl_tap_ok(read.calls == 1 && read.rc == 0 && strcmp(read.value, "value-05") == 0
                  && read.mod_revision == done[5].revision,
              "a get gives the key's value and mod_revision");
    kl_tap_ok(unread.calls == 1 && unread.rc < 0 && unread.code == KL_ERR_NOT_FOUND,
              "a get of a missing key is done with KL_ERR_NOT_FOUND (code %d)", unread.code);
    kl_tap_ok(exists.calls == 1 && exists.rc < 0 && exists.code == KL_ERR_EXISTS,
              "a create of a present key is done with KL_ERR_EXISTS (code %d)", exists.code);
    kl_tap_ok(stale.calls == 1 && stale.rc < 0 && stale.code == KL_ERR_CONFLICT,
              "an update at a stale revision is done with KL_ERR_CONFLICT (code %d)", stale.code);
    kl_tap_ok(fresh.calls == 1 && fresh.rc == 0 && fresh.revision > done[2].revision,
              "an update at the key's revision succeeds with a later revision");
    kl_tap_ok(gone.calls == 1 && gone.rc < 0 && gone.code == KL_ERR_NOT_FOUND,
              "an update of a missing key is done with KL_ERR_NOT_FOUND (code %d)", gone.code);
    kl_tap_ok(any.calls == 1 && any.rc == 0, "an update that does not compare succeeds");
    kl_tap_ok(removed.calls == 1 && removed.rc == 0, "a remove at the key's revision succeeds");
    kl_kv_copy_t kv = {0};
    kl_tap_fails_with(kl_conformance_get(c, keys[4], &kv, &err), &err, KL_ERR_NOT_FOUND,
                      "the removed key is gone");
    kl_tap_ok(kl_conformance_get(c, keys[2], &kv, &err) == 0 && kv.value_len == 5
                  && memcmp(kv.value, "fresh", 5) == 0 && kv.mod_revision == fresh.revision,
              "the updated key holds the new value at its revision");
    kl_tap_ok(kl_conformance_get(c, keys[0], &kv, &err) == 0 && kv.value_len == 8
                  && memcmp(kv.value, "value-00", 8) == 0,
              "the refused create left the key as it was");
    kl_kv_copy_clear(&kv);

    settled_by_descriptor(c);

    outcome_t never;
    kl_store_op_t bad = {0, keys[5], "x", 1, 0};
    memset(&never, 0, sizeof never);
    int rc = c->ops->submit(c->store, &bad, note_done, &never, &err);
    settle(c, &err);
    kl_tap_ok(rc < 0 && never.calls == 0, "an operation of no known kind is refused and never done");
    kl_conformance_end(c);
}
