/* The memory store's history (ABI 1.1): the ring of recent changes and what
 * reads it (changes, past ranges, compaction), apart from the live skip list. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory_store.h"

static change_t *ring_at(memory_store_t *s, size_t i)
{
    return &s->ring[(s->ring_start + i) % s->ring_cap];
}

/* The change with revision `rev`, which must lie in compacted+1..revision. */
static change_t *change_at(memory_store_t *s, int64_t rev)
{
    return ring_at(s, (size_t)(rev - s->compacted - 1));
}

static void change_release(change_t *c)
{
    memory_entry_unref(c->entry);
    memory_value_unref(c->value);
    memory_value_unref(c->prev_value);
}

void memory_history_drop_oldest(memory_store_t *s)
{
    change_release(ring_at(s, 0));
    s->ring_start = (s->ring_start + 1) % s->ring_cap;
    s->ring_len--;
    s->compacted++;
}

/* Records the write that just took the store to revision s->revision. On
 * failure (out of memory) the oldest history goes first, so the write is
 * never refused for the sake of history. */
void memory_history_record(memory_store_t *s, entry_t *e, value_t *value, value_t *prev_value,
                           int64_t prev_create_revision, int64_t prev_mod_revision)
{
    if (s->history_limit == 0) {
        s->compacted = s->revision;
        return;
    }
    if (s->ring_len == s->ring_cap) {
        size_t cap = s->ring_cap ? s->ring_cap * 2 : 1024;
        if (cap > s->history_limit)
            cap = s->history_limit;
        change_t *ring = cap > s->ring_cap ? malloc(cap * sizeof *ring) : NULL;
        if (ring) {
            for (size_t i = 0; i < s->ring_len; i++)
                ring[i] = *ring_at(s, i);
            free(s->ring);
            s->ring = ring;
            s->ring_cap = cap;
            s->ring_start = 0;
        } else if (s->ring_len) {
            memory_history_drop_oldest(s);
        } else {
            s->compacted = s->revision;
            return;
        }
    }
    change_t *c = ring_at(s, s->ring_len);
    s->ring_len++;
    e->refs++;
    if (value)
        value->refs++;
    if (prev_value)
        prev_value->refs++;
    *c = (change_t){e, value, prev_value, e->create_revision, prev_create_revision,
                    prev_mod_revision};
    /* Older changes are compacted automatically to keep the history bounded. */
    while (s->ring_len > s->history_limit)
        memory_history_drop_oldest(s);
}

static int check_history(const memory_store_t *s, int64_t rev, const char *what, kl_error_t *err)
{
    if (rev < s->compacted)
        return kl_error_set(err, KL_ERR_EXPIRED,
                            "memory store: %s revision %lld is older than the compacted revision %lld",
                            what, (long long)rev, (long long)s->compacted);
    if (rev > s->revision)
        return kl_error_set(err, KL_ERR_INVALID,
                            "memory store: %s revision %lld is ahead of the store's revision %lld",
                            what, (long long)rev, (long long)s->revision);
    return 0;
}

/* A key changed after the revision read at, with its state back then. */
typedef struct past_key {
    const char *key;
    const change_t *first;   /* its first change after that revision */
    int64_t revision;        /* of that change */
} past_key_t;

static int past_key_compare(const void *a, const void *b)
{
    const past_key_t *x = a, *y = b;
    int cmp = strcmp(x->key, y->key);
    if (cmp)
        return cmp;
    return x->revision < y->revision ? -1 : x->revision > y->revision;
}

/* A past read is the live range with every key written since `at` replaced
 * by its state just before its first later change. */
static int range_past(memory_store_t *s, const char *prefix, const char *start_after,
                      size_t limit, int64_t at, kl_store_visit_fn visit, void *arg, int *more,
                      kl_error_t *err)
{
    size_t prefix_len = strlen(prefix);
    size_t n = (size_t)(s->revision - at), used = 0;
    past_key_t *past = malloc(n * sizeof *past);
    if (!past)
        return kl_error_set(err, KL_ERR_INTERNAL,
                            "memory store: out of memory reading %zu changes for revision %lld", n,
                            (long long)at);
    for (int64_t rev = at + 1; rev <= s->revision; rev++) {
        const change_t *c = change_at(s, rev);
        const char *key = c->entry->key;
        if (strncmp(key, prefix, prefix_len) != 0)
            continue;
        if (start_after && strcmp(key, start_after) <= 0)
            continue;
        past[used++] = (past_key_t){key, c, rev};
    }
    qsort(past, used, sizeof *past, past_key_compare);

    entry_t *e = memory_range_first(s, prefix, start_after);
    if (e && strncmp(e->key, prefix, prefix_len) != 0)
        e = NULL;
    size_t i = 0, visited = 0;
    for (;;) {
        while (i > 0 && i < used && strcmp(past[i].key, past[i - 1].key) == 0)
            i++;
        int cmp;
        if (e && i < used)
            cmp = strcmp(e->key, past[i].key);
        else if (e)
            cmp = -1;
        else if (i < used)
            cmp = 1;
        else
            break;
        kl_store_kv_t kv;
        int present = 1;
        if (cmp < 0) {
            kv = (kl_store_kv_t){e->key, e->value->data, e->value->len, e->create_revision,
                                 e->mod_revision};
        } else {
            const change_t *c = past[i].first;
            present = c->prev_value != NULL;
            if (present)
                kv = (kl_store_kv_t){past[i].key, c->prev_value->data, c->prev_value->len,
                                     c->prev_create_revision, c->prev_mod_revision};
        }
        if (cmp <= 0) {
            e = e->next[0];
            if (e && strncmp(e->key, prefix, prefix_len) != 0)
                e = NULL;
        }
        if (cmp >= 0)
            i++;
        if (!present)
            continue;
        if (limit && visited == limit) {
            if (more)
                *more = 1;
            break;
        }
        visited++;
        if (visit && visit(&kv, arg))
            break;
    }
    free(past);
    return 0;
}

int memory_range_at(void *store, const char *prefix, const char *start_after, size_t limit,
                    int64_t at_revision, kl_store_visit_fn visit, void *arg,
                    int64_t *revision, int *more, kl_error_t *err)
{
    memory_store_t *s = store;
    if (more)
        *more = 0;
    if (!prefix)
        prefix = "";
    if (at_revision == 0 || at_revision == s->revision) {
        if (revision)
            *revision = s->revision;
        return memory_range_current(s, prefix, start_after, limit, visit, arg, more);
    }
    if (check_history(s, at_revision, "range at", err) < 0)
        return -1;
    if (revision)
        *revision = at_revision;
    return range_past(s, prefix, start_after, limit, at_revision, visit, arg, more, err);
}

int memory_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
                   kl_store_event_fn visit, void *arg, int64_t *last_revision,
                   kl_error_t *err)
{
    memory_store_t *s = store;
    if (!prefix)
        prefix = "";
    if (check_history(s, after_revision, "changes after", err) < 0)
        return -1;
    size_t prefix_len = strlen(prefix), delivered = 0;
    int64_t last = s->revision;
    for (int64_t rev = after_revision + 1; rev <= s->revision; rev++) {
        const change_t *c = change_at(s, rev);
        if (strncmp(c->entry->key, prefix, prefix_len) != 0)
            continue;
        if (limit && delivered == limit)
            break;
        delivered++;
        last = rev;
        kl_store_kv_t prev = {c->entry->key, NULL, 0, c->prev_create_revision,
                              c->prev_mod_revision};
        if (c->prev_value) {
            prev.value = c->prev_value->data;
            prev.value_len = c->prev_value->len;
        }
        kl_store_event_t ev = {
            .type = c->value ? KL_STORE_PUT : KL_STORE_DELETE,
            .kv = {c->entry->key, c->value ? c->value->data : NULL, c->value ? c->value->len : 0,
                   c->create_revision, rev},
            .prev = c->prev_value ? &prev : NULL,
        };
        if (visit && visit(&ev, arg))
            break;
    }
    if (last_revision)
        *last_revision = last;
    return 0;
}

int memory_compact(void *store, int64_t revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (revision > s->revision)
        return kl_error_set(err, KL_ERR_INVALID,
                            "memory store: cannot compact to revision %lld, ahead of the store's "
                            "revision %lld",
                            (long long)revision, (long long)s->revision);
    while (s->compacted < revision && s->ring_len)
        memory_history_drop_oldest(s);
    if (s->compacted < revision)
        s->compacted = revision;
    return 0;
}

int64_t memory_compacted_revision(void *store)
{
    return ((memory_store_t *)store)->compacted;
}
