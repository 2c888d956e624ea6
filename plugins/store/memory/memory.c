/* The `memory` store plugin: an in-process, revisioned key-value store kept in
 * a skip list (keys in byte order, prefix ranges seek in O(log n)), with a
 * bounded change history for watches and past reads, and leases. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <keelson/store.h>

#include "memory_store.h"

#define DEFAULT_HISTORY 100000
#define MAX_HISTORY 1000000000LL

static value_t *value_new(const char *data, size_t len)
{
    value_t *v = malloc(sizeof *v + len + 1);
    if (!v)
        return NULL;
    v->refs = 1;
    v->len = len;
    if (len)
        memcpy(v->data, data, len);
    v->data[len] = '\0';
    return v;
}

void memory_value_unref(value_t *v)
{
    if (v && --v->refs == 0)
        free(v);
}

static entry_t *entry_new(const char *key, int level)
{
    size_t key_len = key ? strlen(key) + 1 : 0;
    entry_t *e = calloc(1, sizeof *e + (size_t)level * sizeof(entry_t *) + key_len);
    if (!e)
        return NULL;
    e->level = level;
    e->refs = 1;
    if (key) {
        char *copy = (char *)&e->next[level];
        memcpy(copy, key, key_len);
        e->key = copy;
    }
    return e;
}

void memory_entry_unref(entry_t *e)
{
    if (e && --e->refs == 0) {
        memory_value_unref(e->value);
        free(e);
    }
}

/* Geometric levels with p = 1/4 from xorshift64*: cheap and good enough. */
static int random_level(memory_store_t *s)
{
    uint64_t x = s->random_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->random_state = x;
    uint64_t bits = x * 0x2545F4914F6CDD1DULL;
    int level = 1;
    while (level < MAX_LEVEL && (bits & 3) == 0) {
        level++;
        bits >>= 2;
    }
    return level;
}

static void *memory_open(const kl_host_t *host, kl_error_t *err)
{
    long long history = DEFAULT_HISTORY;
    if (host && host->setting_int)
        history = host->setting_int(host, "history_revisions", DEFAULT_HISTORY);
    if (history < 0 || history > MAX_HISTORY) {
        kl_error_set(err, KL_ERR_INVALID,
                     "memory store: setting history_revisions is %lld but must be between 0 and %lld",
                     history, MAX_HISTORY);
        return NULL;
    }
    memory_store_t *s = calloc(1, sizeof *s);
    if (s)
        s->head = entry_new(NULL, MAX_LEVEL);
    if (!s || !s->head) {
        free(s);
        kl_error_set(err, KL_ERR_INTERNAL, "memory store: out of memory");
        return NULL;
    }
    s->host = host;
    s->level = 1;
    s->random_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)s;
    s->history_limit = (size_t)history;
    s->next_lease_id = 1;
    return s;
}

static void memory_close(void *store)
{
    memory_store_t *s = store;
    if (!s)
        return;
    while (s->ring_len)
        memory_history_drop_oldest(s);
    free(s->ring);
    entry_t *e = s->head;
    while (e) {
        entry_t *next = e->next[0];
        memory_entry_unref(e);
        e = next;
    }
    for (size_t i = 0; i < s->nleases; i++)
        memory_lease_free(s->leases[i]);
    free(s->leases);
    free(s);
}

/* Last entry (per level) before the first key >= `key`, or > `key` when
 * `after`; returns the entry at level 0 that follows. */
entry_t *memory_seek(memory_store_t *s, const char *key, int after, entry_t **update)
{
    entry_t *x = s->head;
    for (int i = s->level - 1; i >= 0; i--) {
        for (;;) {
            entry_t *n = x->next[i];
            if (!n)
                break;
            int cmp = strcmp(n->key, key);
            if (cmp < 0 || (after && cmp == 0))
                x = n;
            else
                break;
        }
        if (update)
            update[i] = x;
    }
    return x->next[0];
}

entry_t *memory_find(memory_store_t *s, const char *key)
{
    entry_t *e = memory_seek(s, key, 0, NULL);
    return e && strcmp(e->key, key) == 0 ? e : NULL;
}

static int visit_entry(const entry_t *e, kl_store_visit_fn visit, void *arg)
{
    kl_store_kv_t kv = {e->key, e->value->data, e->value->len, e->create_revision,
                        e->mod_revision};
    return visit(&kv, arg);
}

int memory_check_key(const char *key, kl_error_t *err)
{
    if (!key || !*key)
        return kl_error_set(err, KL_ERR_INVALID, "memory store: the key is empty");
    return 0;
}

static int memory_get(void *store, const char *key, kl_store_visit_fn visit, void *arg,
                      kl_error_t *err)
{
    if (memory_check_key(key, err) < 0)
        return -1;
    entry_t *e = memory_find(store, key);
    if (!e)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "memory store: key \"%.200s\" not found", key);
    if (visit)
        visit_entry(e, visit, arg);
    return 0;
}

/* First live entry of a range: at the prefix, or after start_after. */
entry_t *memory_range_first(memory_store_t *s, const char *prefix, const char *start_after)
{
    if (start_after && strcmp(start_after, prefix) >= 0)
        return memory_seek(s, start_after, 1, NULL);
    return memory_seek(s, prefix, 0, NULL);
}

int memory_range_current(memory_store_t *s, const char *prefix, const char *start_after,
                         size_t limit, kl_store_visit_fn visit, void *arg, int *more)
{
    size_t prefix_len = strlen(prefix);
    size_t visited = 0;
    for (entry_t *e = memory_range_first(s, prefix, start_after);
         e && strncmp(e->key, prefix, prefix_len) == 0; e = e->next[0]) {
        if (limit && visited == limit) {
            if (more)
                *more = 1;
            break;
        }
        visited++;
        if (visit && visit_entry(e, visit, arg))
            break;
    }
    return 0;
}

static int memory_range(void *store, const char *prefix, const char *start_after, size_t limit,
                        kl_store_visit_fn visit, void *arg, int64_t *revision, kl_error_t *err)
{
    (void)err;
    memory_store_t *s = store;
    if (revision)
        *revision = s->revision;
    return memory_range_current(s, prefix ? prefix : "", start_after, limit, visit, arg, NULL);
}

int memory_create(void *store, const char *key, const char *value, size_t value_len,
                  int64_t *revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (memory_check_key(key, err) < 0)
        return -1;
    if (!value && value_len)
        return kl_error_set(err, KL_ERR_INVALID, "memory store: value of \"%.200s\" is NULL", key);
    entry_t *update[MAX_LEVEL];
    entry_t *at = memory_seek(s, key, 0, update);
    if (at && strcmp(at->key, key) == 0)
        return kl_error_set(err, KL_ERR_EXISTS, "memory store: key \"%.200s\" already exists", key);
    int level = random_level(s);
    entry_t *e = entry_new(key, level);
    value_t *v = value_new(value, value_len);
    if (!e || !v) {
        memory_entry_unref(e);
        memory_value_unref(v);
        return kl_error_set(err, KL_ERR_INTERNAL,
                            "memory store: out of memory creating \"%.200s\" (%zu-byte value)", key,
                            value_len);
    }
    e->value = v;
    for (int i = s->level; i < level; i++)
        update[i] = s->head;
    if (level > s->level)
        s->level = level;
    for (int i = 0; i < level; i++) {
        e->next[i] = update[i]->next[i];
        update[i]->next[i] = e;
    }
    s->count++;
    e->create_revision = e->mod_revision = ++s->revision;
    memory_history_record(s, e, v, NULL, 0, 0);
    if (revision)
        *revision = s->revision;
    return 0;
}

int memory_check_revision(const entry_t *e, const char *key, int64_t expected, kl_error_t *err)
{
    if (!e)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "memory store: key \"%.200s\" not found", key);
    if (expected && e->mod_revision != expected)
        return kl_error_set(err, KL_ERR_CONFLICT,
                            "memory store: key \"%.200s\" is at revision %lld, not %lld", key,
                            (long long)e->mod_revision, (long long)expected);
    return 0;
}

/* Replaces the value of a live entry; the caller has checked the revision. */
int memory_replace_value(memory_store_t *s, entry_t *e, const char *value, size_t value_len,
                         int64_t lease_id, kl_error_t *err)
{
    value_t *v = value_new(value, value_len);
    if (!v)
        return kl_error_set(err, KL_ERR_INTERNAL,
                            "memory store: out of memory for a %zu-byte value of \"%.200s\"",
                            value_len, e->key);
    value_t *prev = e->value;
    int64_t prev_mod = e->mod_revision;
    e->value = v;
    e->lease_id = lease_id;
    e->mod_revision = ++s->revision;
    memory_history_record(s, e, v, prev, e->create_revision, prev_mod);
    memory_value_unref(prev);
    return 0;
}

static int memory_update(void *store, const char *key, const char *value, size_t value_len,
                         int64_t expected_mod_revision, int64_t *revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (memory_check_key(key, err) < 0)
        return -1;
    if (!value && value_len)
        return kl_error_set(err, KL_ERR_INVALID, "memory store: value of \"%.200s\" is NULL", key);
    entry_t *e = memory_find(s, key);
    if (memory_check_revision(e, key, expected_mod_revision, err) < 0)
        return -1;
    /* As in etcd, a write without a lease detaches the key from its lease. */
    if (memory_replace_value(s, e, value, value_len, 0, err) < 0)
        return -1;
    if (revision)
        *revision = s->revision;
    return 0;
}

/* Unlinks a live entry found by memory_seek() with `update` filled, records the
 * delete and drops the skip list's reference. */
void memory_remove_entry(memory_store_t *s, entry_t *e, entry_t **update)
{
    for (int i = 0; i < e->level; i++)
        update[i]->next[i] = e->next[i];
    while (s->level > 1 && !s->head->next[s->level - 1])
        s->level--;
    s->count--;
    s->revision++;
    value_t *prev = e->value;
    e->value = NULL;
    memory_history_record(s, e, NULL, prev, e->create_revision, e->mod_revision);
    memory_value_unref(prev);
    memory_entry_unref(e);
}

static int memory_remove(void *store, const char *key, int64_t expected_mod_revision,
                         int64_t *revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (memory_check_key(key, err) < 0)
        return -1;
    entry_t *update[MAX_LEVEL];
    entry_t *e = memory_seek(s, key, 0, update);
    if (e && strcmp(e->key, key) != 0)
        e = NULL;
    if (memory_check_revision(e, key, expected_mod_revision, err) < 0)
        return -1;
    memory_remove_entry(s, e, update);
    if (revision)
        *revision = s->revision;
    return 0;
}

static int64_t memory_revision(void *store)
{
    return ((memory_store_t *)store)->revision;
}

/* ---- ABI 1.1 ---------------------------------------------------------- */

static uint32_t memory_features(void *store)
{
    (void)store;
    return 0;  /* volatile and private to this process */
}

static const kl_store_ops_t memory_ops = {
    .open = memory_open,
    .close = memory_close,
    .get = memory_get,
    .range = memory_range,
    .create = memory_create,
    .update = memory_update,
    .remove = memory_remove,
    .revision = memory_revision,
    .features = memory_features,
    .range_at = memory_range_at,
    .changes = memory_changes,
    .compact = memory_compact,
    .compacted_revision = memory_compacted_revision,
    .flush = NULL,
    .lease_grant = memory_lease_grant,
    .lease_keepalive = memory_lease_keepalive,
    .lease_revoke = memory_lease_revoke,
    .put_with_lease = memory_put_with_lease,
    .tick = memory_tick,
};

static const kl_setting_spec_t memory_settings[] = {
    {"history_revisions", KL_SETTING_INT, 0,
     "changes kept for watches and past reads; older ones are compacted (default 100000)"},
    KL_SETTINGS_END,
};

KL_STORE_PLUGIN("memory", "0.2.0", "in-memory revisioned key-value store (lost on exit)",
                memory_settings, memory_ops);
