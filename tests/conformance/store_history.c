/* Conformance groups for the ABI 1.1 history and leases: past reads, watch
 * resume from every revision, compaction and lease expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_conformance.h"

/* One write the suite made, with the key's state before it. */
typedef struct write_record {
    int type;                /* KL_STORE_PUT or KL_STORE_DELETE */
    int created;             /* a PUT that created the key */
    char key[256];
    char value[32];
    size_t len;
    int64_t revision;
    int64_t create_revision;
    char prev_value[32];
    size_t prev_len;
    int64_t prev_mod_revision;
} write_record_t;

typedef struct model_key {
    char key[256];
    int exists;
    char value[32];
    size_t len;
    int64_t create_revision, mod_revision;
} model_key_t;

#define MODEL_KEYS 6
#define MODEL_WRITES 40

typedef struct history {
    write_record_t writes[MODEL_WRITES];
    size_t count;
    int64_t before;          /* a revision before the first write */
    char prefix[200];        /* where the recorded writes go */
} history_t;

/* Writes a fixed mix of creates, updates and deletes over a few keys, with
 * writes under a sibling prefix in between that changes() must leave out. */
static int history_write(kl_conformance_t *c, history_t *h)
{
    const kl_store_ops_t *ops = c->ops;
    model_key_t keys[MODEL_KEYS];
    memset(keys, 0, sizeof keys);
    kl_conformance_key(c, h->prefix, sizeof h->prefix, "w/");
    for (size_t k = 0; k < MODEL_KEYS; k++)
        snprintf(keys[k].key, sizeof keys[k].key, "%sk%zu", h->prefix, k);
    kl_error_t err;
    kl_error_clear(&err);
    h->before = ops->revision(c->store);
    h->count = 0;
    for (size_t i = 0; i < MODEL_WRITES; i++) {
        model_key_t *m = &keys[(i * 5 + i / 7) % MODEL_KEYS];
        write_record_t *w = &h->writes[h->count];
        memset(w, 0, sizeof *w);
        snprintf(w->key, sizeof w->key, "%s", m->key);
        w->len = (size_t)snprintf(w->value, sizeof w->value, "v%zu", i);
        w->prev_len = m->len;
        memcpy(w->prev_value, m->value, m->len);
        w->prev_mod_revision = m->mod_revision;
        int rc;
        if (!m->exists) {
            w->type = KL_STORE_PUT;
            w->created = 1;
            rc = ops->create(c->store, m->key, w->value, w->len, &w->revision, &err);
            w->create_revision = w->revision;
        } else if (i % 4 == 0) {
            w->type = KL_STORE_DELETE;
            rc = ops->remove(c->store, m->key, m->mod_revision, &w->revision, &err);
            w->create_revision = m->create_revision;
        } else {
            w->type = KL_STORE_PUT;
            rc = ops->update(c->store, m->key, w->value, w->len, m->mod_revision, &w->revision, &err);
            w->create_revision = m->create_revision;
        }
        if (rc < 0) {
            kl_tap_diag("  write %zu to %s: %s", i, m->key, err.text);
            return -1;
        }
        m->exists = w->type == KL_STORE_PUT;
        memcpy(m->value, w->value, w->len);
        m->len = w->len;
        m->create_revision = w->create_revision;
        m->mod_revision = w->revision;
        h->count++;
        if (i % 3 == 0) {
            char other[256], suffix[32];
            snprintf(suffix, sizeof suffix, "w-sibling/%zu", i);
            if (ops->create(c->store, kl_conformance_key(c, other, sizeof other, suffix), "x", 1,
                            NULL, &err) < 0)
                return -1;
        }
    }
    return 0;
}

/* The keys under h->prefix as of after write `upto` (-1: before any). */
static size_t history_state(const history_t *h, long upto, model_key_t *out)
{
    size_t n = 0;
    for (long i = 0; i <= upto; i++) {
        const write_record_t *w = &h->writes[i];
        size_t k = 0;
        while (k < n && strcmp(out[k].key, w->key) != 0)
            k++;
        if (k == n) {
            memset(&out[n], 0, sizeof out[n]);
            snprintf(out[n].key, sizeof out[n].key, "%s", w->key);
            n++;
        }
        out[k].exists = w->type == KL_STORE_PUT;
        memcpy(out[k].value, w->value, w->len);
        out[k].len = w->len;
        out[k].create_revision = w->create_revision;
        out[k].mod_revision = w->revision;
    }
    /* Keys are named k0..k5, so a plain sort gives byte order. */
    for (size_t a = 1; a < n; a++)
        for (size_t b = a; b > 0 && strcmp(out[b - 1].key, out[b].key) > 0; b--) {
            model_key_t t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    size_t kept = 0;
    for (size_t k = 0; k < n; k++)
        if (out[k].exists)
            out[kept++] = out[k];
    return kept;
}

static int state_matches(const kl_kv_list_t *list, const model_key_t *state, size_t n)
{
    if (list->count != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const kl_kv_copy_t *kv = &list->items[i];
        if (strcmp(kv->key, state[i].key) != 0 || kv->value_len != state[i].len
            || memcmp(kv->value, state[i].value, state[i].len) != 0
            || kv->create_revision != state[i].create_revision
            || kv->mod_revision != state[i].mod_revision)
            return 0;
    }
    return 1;
}

void kl_group_range_at(kl_conformance_t *c)
{
    if (!KL_CONFORMANCE_HAS(c, range_at)) {
        kl_tap_skip("range_at: the plugin lacks it (ABI 1.0)");
        return;
    }
    kl_conformance_begin(c, "range_at");
    history_t *h = calloc(1, sizeof *h);
    if (!kl_tap_ok(h && history_write(c, h) == 0, "%d writes over %d keys", MODEL_WRITES, MODEL_KEYS))
        goto out;
    kl_error_t err;
    kl_error_clear(&err);
    model_key_t state[MODEL_KEYS];
    int all_match = 1, revisions_right = 1, failed = 0;
    kl_kv_list_t list = {0};
    for (long i = -1; i < (long)h->count; i++) {
        int64_t at = i < 0 ? h->before : h->writes[i].revision;
        size_t n = history_state(h, i, state);
        int64_t read_at = -1;
        int more = -1;
        kl_kv_list_clear(&list);
        if (at == 0) {
            continue;  /* 0 means "now", not "before the first write" */
        }
        if (c->ops->range_at(c->store, h->prefix, NULL, 0, at, kl_kv_list_visit, &list, &read_at,
                             &more, &err) < 0) {
            if (!failed)
                kl_tap_diag("  range_at revision %lld: %s", (long long)at, err.text);
            failed = 1;
            continue;
        }
        if (!state_matches(&list, state, n)) {
            if (all_match)
                kl_tap_diag("  first mismatch at revision %lld: %zu keys, expected %zu",
                            (long long)at, list.count, n);
            all_match = 0;
        }
        if (read_at != at || more != 0)
            revisions_right = 0;
    }
    kl_tap_ok(!failed, "range_at succeeds at every revision since the first write");
    kl_tap_ok(all_match, "range_at at each of %zu revisions gives exactly the keys, values and "
                         "revisions as they were", h->count + 1);
    kl_tap_ok(revisions_right, "range_at reports the revision it read at, and *more = 0 without a limit");

    /* Paging a past revision: two keys at a time, resuming after the last. */
    long mid = (long)h->count / 2;
    size_t n = history_state(h, mid, state);
    kl_kv_list_t paged = {0};
    char after[256] = "";
    int more = 1, pages = 0;
    while (more && pages < MODEL_KEYS + 2) {
        kl_kv_list_t page = {0};
        if (c->ops->range_at(c->store, h->prefix, after[0] ? after : NULL, 2,
                             h->writes[mid].revision, kl_kv_list_visit, &page, NULL, &more,
                             &err) < 0) {
            kl_tap_diag("  range_at page: %s", err.text);
            kl_kv_list_clear(&page);
            break;
        }
        for (size_t i = 0; i < page.count; i++) {
            kl_kv_list_visit(&(kl_store_kv_t){page.items[i].key, page.items[i].value,
                                              page.items[i].value_len,
                                              page.items[i].create_revision,
                                              page.items[i].mod_revision},
                             &paged);
            snprintf(after, sizeof after, "%s", page.items[i].key);
        }
        pages++;
        kl_kv_list_clear(&page);
    }
    kl_tap_ok(state_matches(&paged, state, n),
              "range_at a past revision pages two keys at a time through the same %zu keys", n);
    kl_kv_list_clear(&paged);

    kl_kv_list_clear(&list);
    kl_tap_call(c->ops->range_at(c->store, h->prefix, NULL, 0, 0, kl_kv_list_visit, &list, NULL,
                                 NULL, &err),
                &err, "range_at revision 0 reads the current revision");
    n = history_state(h, (long)h->count - 1, state);
    kl_tap_ok(state_matches(&list, state, n), "... and matches range()");
    kl_kv_list_clear(&list);
out:
    free(h);
    kl_conformance_end(c);
}

/* Events as changes() delivered them. */
typedef struct event_copy {
    int type;
    char key[256];
    char value[32];
    size_t len;
    int value_null;
    int64_t create_revision, mod_revision;
    int has_prev;
    char prev_value[32];
    size_t prev_len;
    int64_t prev_mod_revision;
} event_copy_t;

typedef struct event_list {
    event_copy_t items[MODEL_WRITES * 2];
    size_t count;
    size_t stop_after;       /* 0: never stop */
} event_list_t;

static int collect_event(const kl_store_event_t *ev, void *arg)
{
    event_list_t *l = arg;
    if (l->count == sizeof l->items / sizeof *l->items)
        return 1;
    event_copy_t *e = &l->items[l->count++];
    memset(e, 0, sizeof *e);
    e->type = ev->type;
    snprintf(e->key, sizeof e->key, "%s", ev->kv.key ? ev->kv.key : "(null)");
    e->value_null = ev->kv.value == NULL;
    e->len = ev->kv.value_len < sizeof e->value ? ev->kv.value_len : sizeof e->value;
    if (ev->kv.value)
        memcpy(e->value, ev->kv.value, e->len);
    e->create_revision = ev->kv.create_revision;
    e->mod_revision = ev->kv.mod_revision;
    if (ev->prev) {
        e->has_prev = 1;
        e->prev_len = ev->prev->value_len < sizeof e->prev_value ? ev->prev->value_len
                                                                  : sizeof e->prev_value;
        if (ev->prev->value)
            memcpy(e->prev_value, ev->prev->value, e->prev_len);
        e->prev_mod_revision = ev->prev->mod_revision;
    }
    return l->stop_after && l->count == l->stop_after;
}

/* Does `e` describe write `w`? Counts prev values the store gave. */
static int event_matches(const event_copy_t *e, const write_record_t *w, int *prev_given,
                         int *prev_wrong)
{
    if (e->type != w->type || strcmp(e->key, w->key) != 0 || e->mod_revision != w->revision)
        return 0;
    if (w->type == KL_STORE_PUT
        && (e->len != w->len || memcmp(e->value, w->value, w->len) != 0
            || e->create_revision != w->create_revision))
        return 0;
    if (w->type == KL_STORE_DELETE && !e->value_null)
        return 0;
    if (w->created) {
        if (e->has_prev)
            (*prev_wrong)++;  /* prev is always NULL for a create */
    } else if (e->has_prev) {
        (*prev_given)++;
        if (e->prev_len != w->prev_len || memcmp(e->prev_value, w->prev_value, w->prev_len) != 0
            || e->prev_mod_revision != w->prev_mod_revision)
            (*prev_wrong)++;
    }
    return 1;
}

void kl_group_changes(kl_conformance_t *c)
{
    if (!KL_CONFORMANCE_HAS(c, changes)) {
        kl_tap_skip("changes: the plugin lacks it (ABI 1.0)");
        return;
    }
    kl_conformance_begin(c, "changes");
    history_t *h = calloc(1, sizeof *h);
    event_list_t *events = calloc(1, sizeof *events);
    if (!kl_tap_ok(h && events && history_write(c, h) == 0, "%d writes over %d keys", MODEL_WRITES,
                   MODEL_KEYS))
        goto out;
    kl_error_t err;
    kl_error_clear(&err);
    int all_match = 1, last_right = 1, failed = 0, prev_given = 0, prev_wrong = 0;
    int64_t last_write = h->writes[h->count - 1].revision;
    for (long i = -1; i < (long)h->count; i++) {
        int64_t after = i < 0 ? h->writes[0].revision - 1 : h->writes[i].revision;
        int64_t last = -1;
        events->count = 0;
        events->stop_after = 0;
        if (c->ops->changes(c->store, h->prefix, after, 0, collect_event, events, &last, &err) < 0) {
            if (!failed)
                kl_tap_diag("  changes after %lld: %s", (long long)after, err.text);
            failed = 1;
            continue;
        }
        size_t expected = h->count - (size_t)(i + 1);
        int match = events->count == expected;
        for (size_t e = 0; match && e < expected; e++)
            match = event_matches(&events->items[e], &h->writes[i + 1 + (long)e], &prev_given,
                                  &prev_wrong);
        if (!match && all_match)
            kl_tap_diag("  first mismatch after revision %lld: %zu events, expected %zu",
                        (long long)after, events->count, expected);
        all_match = all_match && match;
        if (expected && last != last_write)
            last_right = 0;
        if (!expected && (kl_conformance_shared(c) ? last < last_write
                                                   : last != c->ops->revision(c->store)))
            last_right = 0;
    }
    kl_tap_ok(!failed, "changes succeeds after every revision since the first write");
    kl_tap_ok(all_match, "changes after each of %zu revisions gives exactly the later writes under "
                         "the prefix, in order, with their values and revisions", h->count + 1);
    kl_tap_ok(last_right, "*last_revision is the last change delivered, or the store's revision "
                          "when there was none");
    kl_tap_is_int(prev_wrong, 0, "prev is NULL for creates and, when given, is the key's previous "
                                 "value and mod_revision");
    kl_tap_diag("the store gave prev for %d of the updates and deletes checked", prev_given);

    /* Resuming in small steps, as a watch that reconnects would. */
    size_t got = 0;
    int resumed = 1;
    int64_t after = h->writes[0].revision - 1;
    for (int guard = 0; guard < MODEL_WRITES + 2; guard++) {
        events->count = 0;
        int64_t last = -1;
        if (c->ops->changes(c->store, h->prefix, after, 3, collect_event, events, &last, &err) < 0) {
            resumed = 0;
            break;
        }
        if (events->count > 3)
            resumed = 0;
        for (size_t e = 0; e < events->count && resumed; e++)
            if (got >= h->count || !event_matches(&events->items[e], &h->writes[got++], &prev_given,
                                                  &prev_wrong))
                resumed = 0;
        if (!events->count || !resumed)
            break;
        after = last;
    }
    kl_tap_ok(resumed && got == h->count,
              "changes with limit 3, resumed from *last_revision, gives every write once (%zu)", got);
    events->count = 0;
    events->stop_after = 1;
    int64_t last = -1;
    c->ops->changes(c->store, h->prefix, h->writes[0].revision - 1, 0, collect_event, events, &last,
                    &err);
    kl_tap_ok(events->count == 1 && last == h->writes[0].revision,
              "a visit returning non-zero stops changes, and *last_revision is that change's");
out:
    free(events);
    free(h);
    kl_conformance_end(c);
}

void kl_group_compaction(kl_conformance_t *c)
{
    if (!KL_CONFORMANCE_HAS(c, compact) || !KL_CONFORMANCE_HAS(c, compacted_revision)
        || !KL_CONFORMANCE_HAS(c, changes) || !KL_CONFORMANCE_HAS(c, range_at)) {
        kl_tap_skip("compaction: the plugin lacks compact, changes or range_at (ABI 1.0)");
        return;
    }
    kl_conformance_begin(c, "compaction");
    if (kl_conformance_shared(c))
        kl_tap_diag("note: compaction applies to the whole shared store, not just this prefix");
    const kl_store_ops_t *ops = c->ops;
    kl_error_t err;
    kl_error_clear(&err);
    char a[256], b[256], k3[256];
    kl_conformance_key(c, a, sizeof a, "a");
    kl_conformance_key(c, b, sizeof b, "b");
    kl_conformance_key(c, k3, sizeof k3, "c");
    int64_t r[6] = {0};
    int wrote = ops->create(c->store, a, "a1", 2, &r[0], &err) == 0
                && ops->create(c->store, b, "b1", 2, &r[1], &err) == 0
                && ops->create(c->store, k3, "c1", 2, &r[2], &err) == 0
                && ops->update(c->store, a, "a2", 2, r[0], &r[3], &err) == 0
                && ops->remove(c->store, b, r[1], &r[4], &err) == 0
                && ops->update(c->store, k3, "c2", 2, r[2], &r[5], &err) == 0;
    if (!kl_tap_call(wrote ? 0 : -1, &err, "6 writes"))
        goto out;
    kl_tap_ok(ops->compacted_revision(c->store) < r[3], "before compaction the compacted revision "
                                                        "(%lld) is older than the writes",
              (long long)ops->compacted_revision(c->store));
    kl_tap_call(ops->compact(c->store, r[3], &err), &err, "compact to revision %lld", (long long)r[3]);
    kl_tap_is_int(ops->compacted_revision(c->store), r[3], "compacted_revision reports it");

    event_list_t *events = calloc(1, sizeof *events);
    int64_t last = -1;
    kl_kv_list_t list = {0};
    kl_tap_fails_with(ops->changes(c->store, c->prefix, r[0], 0, collect_event, events, &last, &err),
                      &err, KL_ERR_EXPIRED, "changes after an older revision fails with EXPIRED");
    kl_tap_fails_with(ops->changes(c->store, c->prefix, r[2], 0, collect_event, events, &last, &err),
                      &err, KL_ERR_EXPIRED, "changes after the revision just before it fails with "
                                            "EXPIRED");
    kl_tap_fails_with(ops->range_at(c->store, c->prefix, NULL, 0, r[2], kl_kv_list_visit, &list,
                                    NULL, NULL, &err),
                      &err, KL_ERR_EXPIRED, "range_at an older revision fails with EXPIRED");
    events->count = 0;
    kl_tap_call(ops->changes(c->store, c->prefix, r[3], 0, collect_event, events, &last, &err), &err,
                "changes after the compacted revision still works");
    kl_tap_ok(events->count == 2 && events->items[0].mod_revision == r[4]
                  && events->items[0].type == KL_STORE_DELETE
                  && events->items[1].mod_revision == r[5],
              "... and gives the two later writes");
    kl_kv_list_clear(&list);
    kl_tap_call(ops->range_at(c->store, c->prefix, NULL, 0, r[3], kl_kv_list_visit, &list, NULL,
                              NULL, &err),
                &err, "range_at the compacted revision still works");
    kl_tap_ok(list.count == 3 && strcmp(list.items[0].value, "a2") == 0
                  && strcmp(list.items[1].value, "b1") == 0
                  && strcmp(list.items[2].value, "c1") == 0,
              "... and gives the keys as they were then");
    kl_kv_list_clear(&list);
    kl_tap_call(ops->range_at(c->store, c->prefix, NULL, 0, r[4], kl_kv_list_visit, &list, NULL,
                              NULL, &err),
                &err, "range_at a later revision works");
    kl_tap_is_int(list.count, 2, "... without the key deleted at that revision");
    kl_kv_list_clear(&list);
    free(events);
out:
    kl_conformance_end(c);
}

/* Polls until `key` is gone (calling tick()), up to `limit_ms`; returns the
 * milliseconds waited, or -1 when it outlived the limit. */
static int64_t wait_gone(kl_conformance_t *c, const char *key, int64_t limit_ms)
{
    int64_t start = kl_conformance_now_ms();
    kl_error_t err;
    for (;;) {
        if (KL_CONFORMANCE_HAS(c, tick))
            c->ops->tick(c->store, &err);
        kl_error_clear(&err);
        if (c->ops->get(c->store, key, NULL, NULL, &err) < 0 && err.code == KL_ERR_NOT_FOUND)
            return kl_conformance_now_ms() - start;
        if (kl_conformance_now_ms() - start > limit_ms)
            return -1;
        kl_conformance_sleep_ms(50);
    }
}

static int has_delete(const event_list_t *events, const char *key)
{
    for (size_t i = 0; i < events->count; i++)
        if (events->items[i].type == KL_STORE_DELETE && strcmp(events->items[i].key, key) == 0)
            return 1;
    return 0;
}

void kl_group_leases(kl_conformance_t *c)
{
    if (!KL_CONFORMANCE_HAS(c, lease_grant) || !KL_CONFORMANCE_HAS(c, lease_keepalive)
        || !KL_CONFORMANCE_HAS(c, lease_revoke) || !KL_CONFORMANCE_HAS(c, put_with_lease)) {
        kl_tap_skip("leases: the plugin lacks the lease operations (ABI 1.0)");
        return;
    }
    kl_conformance_begin(c, "leases");
    const kl_store_ops_t *ops = c->ops;
    kl_error_t err;
    kl_error_clear(&err);
    /* Stores may round a lease up (etcd's minimum is over a second). */
    const int64_t limit_ms = 5000;
    char k1[256], k2[256], plain[256], k4[256], k5[256], k6[256], k7[256];
    kl_conformance_key(c, k1, sizeof k1, "leased-1");
    kl_conformance_key(c, k2, sizeof k2, "leased-2");
    kl_conformance_key(c, plain, sizeof plain, "plain");
    kl_conformance_key(c, k4, sizeof k4, "kept-alive");
    kl_conformance_key(c, k5, sizeof k5, "revoked");
    kl_conformance_key(c, k6, sizeof k6, "attached-later");
    kl_conformance_key(c, k7, sizeof k7, "bad-lease");
    int64_t lease = 0, rev = -1, start_rev = ops->revision(c->store);

    if (!kl_tap_call(ops->lease_grant(c->store, 500, &lease, &err), &err, "grant a 500 ms lease"))
        goto out;
    int64_t granted_at = kl_conformance_now_ms();
    kl_tap_ok(lease != 0, "the lease has a non-zero id");
    kl_tap_call(ops->put_with_lease(c->store, k1, "1", 1, -1, lease, &rev, &err), &err,
                "create a key with the lease");
    kl_tap_call(ops->put_with_lease(c->store, k2, "2", 1, -1, lease, &rev, &err), &err,
                "create a second key with the lease");
    ops->create(c->store, plain, "p", 1, &rev, &err);
    kl_tap_call(ops->get(c->store, k1, NULL, NULL, &err), &err, "the leased key is there at first");
    int64_t waited = wait_gone(c, k1, limit_ms);
    int64_t expiry_ms = waited < 0 ? limit_ms : kl_conformance_now_ms() - granted_at;
    kl_tap_ok(waited >= 0, "the leased key disappears after the lease expires (%lld ms)",
              (long long)expiry_ms);
    kl_tap_ok(expiry_ms >= 400, "... not before its time to live");
    kl_tap_ok(wait_gone(c, k2, 500) >= 0, "the second leased key disappears with it");
    kl_tap_call(ops->get(c->store, plain, NULL, NULL, &err), &err, "a key without a lease stays");
    event_list_t *events = calloc(1, sizeof *events);
    if (KL_CONFORMANCE_HAS(c, changes)) {
        int64_t last;
        ops->changes(c->store, c->prefix, start_rev, 0, collect_event, events, &last, &err);
        kl_tap_ok(has_delete(events, k1) && has_delete(events, k2),
                  "expiry shows as DELETE changes for both keys");
    }
    kl_tap_fails_with(ops->lease_keepalive(c->store, lease, &err), &err, KL_ERR_NOT_FOUND,
                      "keepalive on the expired lease fails with NOT_FOUND");

    /* Kept alive past its time to live, and past how long expiry took. */
    int64_t keep_ms = expiry_ms + 700 > 1200 ? expiry_ms + 700 : 1200;
    int64_t lease2 = 0;
    ops->lease_grant(c->store, 500, &lease2, &err);
    kl_tap_call(ops->put_with_lease(c->store, k4, "4", 1, -1, lease2, &rev, &err), &err,
                "create a key with a second 500 ms lease");
    int kept = 1;
    for (int64_t start = kl_conformance_now_ms(); kl_conformance_now_ms() - start < keep_ms;) {
        if (ops->lease_keepalive(c->store, lease2, &err) < 0) {
            kl_tap_diag("  keepalive: %s", err.text);
            kept = 0;
            break;
        }
        if (KL_CONFORMANCE_HAS(c, tick))
            ops->tick(c->store, &err);
        kl_conformance_sleep_ms(100);
    }
    kl_tap_ok(kept && ops->get(c->store, k4, NULL, NULL, &err) == 0,
              "keepalive every 100 ms keeps the key for %lld ms", (long long)keep_ms);
    kl_tap_ok(wait_gone(c, k4, limit_ms) >= 0, "once keepalives stop, the key disappears");

    int64_t lease3 = 0;
    ops->lease_grant(c->store, 60000, &lease3, &err);
    kl_tap_call(ops->put_with_lease(c->store, k5, "5", 1, -1, lease3, &rev, &err), &err,
                "create a key with a one minute lease");
    ops->create(c->store, k6, "6", 1, &rev, &err);
    kl_tap_call(ops->put_with_lease(c->store, k6, "6b", 2, rev, lease3, &rev, &err), &err,
                "attach an existing key to the lease by a CAS update");
    int64_t before_revoke = ops->revision(c->store);
    kl_tap_call(ops->lease_revoke(c->store, lease3, &err), &err, "revoke the lease");
    kl_tap_fails_with(ops->get(c->store, k5, NULL, NULL, &err), &err, KL_ERR_NOT_FOUND,
                      "revoking deletes its key at once");
    kl_tap_fails_with(ops->get(c->store, k6, NULL, NULL, &err), &err, KL_ERR_NOT_FOUND,
                      "... including the key attached by update");
    if (KL_CONFORMANCE_HAS(c, changes)) {
        int64_t last;
        events->count = 0;
        ops->changes(c->store, c->prefix, before_revoke, 0, collect_event, events, &last, &err);
        kl_tap_ok(has_delete(events, k5) && has_delete(events, k6),
                  "revoking shows as DELETE changes");
    }
    kl_tap_fails_with(ops->lease_revoke(c->store, lease3, &err), &err, KL_ERR_NOT_FOUND,
                      "revoking it again fails with NOT_FOUND");
    kl_tap_fails_with(ops->lease_keepalive(c->store, lease3, &err), &err, KL_ERR_NOT_FOUND,
                      "keepalive on a revoked lease fails with NOT_FOUND");
    kl_tap_fails_with(ops->lease_keepalive(c->store, 0x7eadbeef12345, &err), &err,
                      KL_ERR_NOT_FOUND, "keepalive on an unknown lease fails with NOT_FOUND");
    kl_error_clear(&err);
    int rc = ops->put_with_lease(c->store, k7, "7", 1, -1, lease3, &rev, &err);
    kl_tap_ok(rc == -1, "a write with an unknown lease fails (%s)", kl_error_reason(err.code));
    kl_tap_fails_with(ops->get(c->store, k7, NULL, NULL, &err), &err, KL_ERR_NOT_FOUND,
                      "... and leaves no key");
    free(events);
out:
    kl_conformance_end(c);
}
