/* The memory store's leases: grant, keepalive, revoke, expiry on tick() and
 * writes of keys attached to a lease, kept apart from the plain key store. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "memory_store.h"

static int64_t now_ms(const memory_store_t *s)
{
    const kl_host_t *h = s->host;
    if (h && h->size >= offsetof(kl_host_t, monotonic_ms) + sizeof h->monotonic_ms && h->monotonic_ms)
        return h->monotonic_ms(h);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void memory_lease_free(lease_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nkeys; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l);
}

static size_t lease_index(const memory_store_t *s, int64_t id)
{
    size_t lo = 0, hi = s->nleases;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->leases[mid]->id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static lease_t *lease_find(const memory_store_t *s, int64_t id)
{
    size_t i = lease_index(s, id);
    return i < s->nleases && s->leases[i]->id == id ? s->leases[i] : NULL;
}

int memory_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err)
{
    memory_store_t *s = store;
    if (ttl_ms <= 0)
        return kl_error_set(err, KL_ERR_INVALID,
                            "memory store: lease time to live %lld ms must be positive",
                            (long long)ttl_ms);
    if (s->nleases == s->leases_cap) {
        size_t cap = s->leases_cap ? s->leases_cap * 2 : 16;
        lease_t **leases = realloc(s->leases, cap * sizeof *leases);
        if (!leases)
            return kl_error_set(err, KL_ERR_INTERNAL, "memory store: out of memory granting a lease");
        s->leases = leases;
        s->leases_cap = cap;
    }
    lease_t *l = calloc(1, sizeof *l);
    if (!l)
        return kl_error_set(err, KL_ERR_INTERNAL, "memory store: out of memory granting a lease");
    l->id = s->next_lease_id++;
    l->ttl_ms = ttl_ms;
    l->expires_ms = now_ms(s) + ttl_ms;
    s->leases[s->nleases++] = l;  /* ids only grow, so the array stays sorted */
    if (lease_id)
        *lease_id = l->id;
    return 0;
}

/* Deletes the lease's keys that are still attached to it, then the lease. */
static void lease_end(memory_store_t *s, int64_t id)
{
    size_t i = lease_index(s, id);
    lease_t *l = s->leases[i];
    memmove(&s->leases[i], &s->leases[i + 1], (s->nleases - i - 1) * sizeof *s->leases);
    s->nleases--;
    for (size_t k = 0; k < l->nkeys; k++) {
        entry_t *update[MAX_LEVEL];
        entry_t *e = memory_seek(s, l->keys[k], 0, update);
        if (e && strcmp(e->key, l->keys[k]) == 0 && e->lease_id == id)
            memory_remove_entry(s, e, update);
    }
    memory_lease_free(l);
}

static int lease_expired(memory_store_t *s, const lease_t *l)
{
    return now_ms(s) >= l->expires_ms;
}

static int lease_missing(int64_t id, kl_error_t *err)
{
    return kl_error_set(err, KL_ERR_NOT_FOUND, "memory store: lease %lld not found (expired or revoked)",
                        (long long)id);
}

int memory_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err)
{
    memory_store_t *s = store;
    lease_t *l = lease_find(s, lease_id);
    if (!l)
        return lease_missing(lease_id, err);
    /* A lease past its time is gone even if tick() has not run yet. */
    if (lease_expired(s, l)) {
        lease_end(s, lease_id);
        return lease_missing(lease_id, err);
    }
    l->expires_ms = now_ms(s) + l->ttl_ms;
    return 0;
}

int memory_lease_revoke(void *store, int64_t lease_id, kl_error_t *err)
{
    memory_store_t *s = store;
    if (!lease_find(s, lease_id))
        return lease_missing(lease_id, err);
    lease_end(s, lease_id);
    return 0;
}

/* Remembers that `key` is attached to `l`; stale names are pruned before
 * the list grows, so churn under one lease does not pile up. */
static int lease_attach(memory_store_t *s, lease_t *l, const char *key, kl_error_t *err)
{
    if (l->nkeys == l->cap) {
        size_t kept = 0;
        for (size_t i = 0; i < l->nkeys; i++) {
            entry_t *e = memory_find(s, l->keys[i]);
            if (e && e->lease_id == l->id)
                l->keys[kept++] = l->keys[i];
            else
                free(l->keys[i]);
        }
        l->nkeys = kept;
    }
    if (l->nkeys == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        char **keys = realloc(l->keys, cap * sizeof *keys);
        if (!keys)
            return kl_error_set(err, KL_ERR_INTERNAL, "memory store: out of memory attaching a lease");
        l->keys = keys;
        l->cap = cap;
    }
    if (!(l->keys[l->nkeys] = strdup(key)))
        return kl_error_set(err, KL_ERR_INTERNAL, "memory store: out of memory attaching a lease");
    l->nkeys++;
    return 0;
}

int memory_put_with_lease(void *store, const char *key, const char *value,
                          size_t value_len, int64_t expected_mod_revision, int64_t lease_id,
                          int64_t *revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (memory_check_key(key, err) < 0)
        return -1;
    if (!value && value_len)
        return kl_error_set(err, KL_ERR_INVALID, "memory store: value of \"%.200s\" is NULL", key);
    if (expected_mod_revision < -1)
        return kl_error_set(err, KL_ERR_INVALID,
                            "memory store: expected revision %lld of \"%.200s\" is not -1, 0 or "
                            "positive",
                            (long long)expected_mod_revision, key);
    lease_t *l = NULL;
    if (lease_id) {
        l = lease_find(s, lease_id);
        if (l && lease_expired(s, l)) {
            lease_end(s, lease_id);
            l = NULL;
        }
        if (!l)
            return lease_missing(lease_id, err);
    }
    entry_t *e = memory_find(s, key);
    int attach = l && !(e && e->lease_id == lease_id);
    if (expected_mod_revision == -1) {
        if (e)
            return kl_error_set(err, KL_ERR_EXISTS, "memory store: key \"%.200s\" already exists", key);
        /* Attach first: a failure then leaves no unleased key behind. */
        if (attach && lease_attach(s, l, key, err) < 0)
            return -1;
        if (memory_create(s, key, value, value_len, revision, err) < 0)
            return -1;
        memory_find(s, key)->lease_id = lease_id;
        return 0;
    }
    if (memory_check_revision(e, key, expected_mod_revision, err) < 0)
        return -1;
    if (attach && lease_attach(s, l, key, err) < 0)
        return -1;
    if (memory_replace_value(s, e, value, value_len, lease_id, err) < 0)
        return -1;
    if (revision)
        *revision = s->revision;
    return 0;
}

int memory_tick(void *store, kl_error_t *err)
{
    (void)err;
    memory_store_t *s = store;
    int64_t now = now_ms(s);
    for (size_t i = 0; i < s->nleases;) {
        if (now >= s->leases[i]->expires_ms)
            lease_end(s, s->leases[i]->id);  /* shifts the rest down */
        else
            i++;
    }
    return 0;
}
