/* The `memory` store plugin: an in-process, revisioned key-value store kept in
 * a skip list (keys in byte order, prefix ranges seek in O(log n)), with a
 * bounded change history for watches and past reads, and leases. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keelson/store.h>

#define MAX_LEVEL 24  /* comfortable for well over ten million keys */
#define DEFAULT_HISTORY 100000
#define MAX_HISTORY 1000000000LL

/* Values are shared, immutable and reference counted, so the live key and
 * every change that mentions the value hold the same bytes: a write copies
 * its value once, whatever history is kept. */
typedef struct value {
    size_t refs;
    size_t len;
    char data[];  /* len bytes and a NUL, for convenience */
} value_t;

/* An entry outlives its removal from the skip list while the history still
 * names its key. */
typedef struct entry {
    value_t *value;          /* NULL once removed */
    int64_t create_revision;
    int64_t mod_revision;
    int64_t lease_id;        /* 0: none */
    size_t refs;             /* 1 for the skip list + 1 per change */
    const char *key;         /* stored right after next[] */
    int level;
    struct entry *next[];
} entry_t;

/* One write in the history; its revision is implied by its place. */
typedef struct change {
    entry_t *entry;          /* the key */
    value_t *value;          /* NULL for a delete */
    value_t *prev_value;     /* NULL when the key was absent before */
    int64_t create_revision;
    int64_t prev_create_revision;
    int64_t prev_mod_revision;
} change_t;

typedef struct lease {
    int64_t id;
    int64_t ttl_ms;
    int64_t expires_ms;      /* monotonic */
    char **keys;             /* may name keys since detached: checked on expiry */
    size_t nkeys, cap;
} lease_t;

typedef struct memory_store {
    const kl_host_t *host;
    entry_t *head;           /* sentinel with MAX_LEVEL links, no key */
    int level;               /* levels in use */
    int64_t revision;
    uint64_t random_state;
    size_t count;

    /* History: a ring of the changes with revisions compacted+1..revision. */
    change_t *ring;
    size_t ring_cap, ring_start, ring_len;
    size_t history_limit;
    int64_t compacted;

    lease_t **leases;        /* sorted by id, ids only grow */
    size_t nleases, leases_cap;
    int64_t next_lease_id;
} memory_store_t;

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

static void value_unref(value_t *v)
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

static void entry_unref(entry_t *e)
{
    if (e && --e->refs == 0) {
        value_unref(e->value);
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

static int64_t now_ms(const memory_store_t *s)
{
    const kl_host_t *h = s->host;
    if (h && h->size >= offsetof(kl_host_t, monotonic_ms) + sizeof h->monotonic_ms && h->monotonic_ms)
        return h->monotonic_ms(h);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
    entry_unref(c->entry);
    value_unref(c->value);
    value_unref(c->prev_value);
}

static void history_drop_oldest(memory_store_t *s)
{
    change_release(ring_at(s, 0));
    s->ring_start = (s->ring_start + 1) % s->ring_cap;
    s->ring_len--;
    s->compacted++;
}

static void lease_free(lease_t *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->nkeys; i++)
        free(l->keys[i]);
    free(l->keys);
    free(l);
}

static void memory_close(void *store)
{
    memory_store_t *s = store;
    if (!s)
        return;
    while (s->ring_len)
        history_drop_oldest(s);
    free(s->ring);
    entry_t *e = s->head;
    while (e) {
        entry_t *next = e->next[0];
        entry_unref(e);
        e = next;
    }
    for (size_t i = 0; i < s->nleases; i++)
        lease_free(s->leases[i]);
    free(s->leases);
    free(s);
}

/* Records the write that just took the store to revision s->revision. On
 * failure (out of memory) the oldest history goes first, so the write is
 * never refused for the sake of history. */
static void history_record(memory_store_t *s, entry_t *e, value_t *value, value_t *prev_value,
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
            history_drop_oldest(s);
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
        history_drop_oldest(s);
}

/* Last entry (per level) before the first key >= `key`, or > `key` when
 * `after`; returns the entry at level 0 that follows. */
static entry_t *seek(memory_store_t *s, const char *key, int after, entry_t **update)
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

static entry_t *find(memory_store_t *s, const char *key)
{
    entry_t *e = seek(s, key, 0, NULL);
    return e && strcmp(e->key, key) == 0 ? e : NULL;
}

static int visit_entry(const entry_t *e, kl_store_visit_fn visit, void *arg)
{
    kl_store_kv_t kv = {e->key, e->value->data, e->value->len, e->create_revision,
                        e->mod_revision};
    return visit(&kv, arg);
}

static int check_key(const char *key, kl_error_t *err)
{
    if (!key || !*key)
        return kl_error_set(err, KL_ERR_INVALID, "memory store: the key is empty");
    return 0;
}

static int memory_get(void *store, const char *key, kl_store_visit_fn visit, void *arg,
                      kl_error_t *err)
{
    if (check_key(key, err) < 0)
        return -1;
    entry_t *e = find(store, key);
    if (!e)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "memory store: key \"%.200s\" not found", key);
    if (visit)
        visit_entry(e, visit, arg);
    return 0;
}

/* First live entry of a range: at the prefix, or after start_after. */
static entry_t *range_first(memory_store_t *s, const char *prefix, const char *start_after)
{
    if (start_after && strcmp(start_after, prefix) >= 0)
        return seek(s, start_after, 1, NULL);
    return seek(s, prefix, 0, NULL);
}

static int range_current(memory_store_t *s, const char *prefix, const char *start_after,
                         size_t limit, kl_store_visit_fn visit, void *arg, int *more)
{
    size_t prefix_len = strlen(prefix);
    size_t visited = 0;
    for (entry_t *e = range_first(s, prefix, start_after);
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
    return range_current(s, prefix ? prefix : "", start_after, limit, visit, arg, NULL);
}

static int memory_create(void *store, const char *key, const char *value, size_t value_len,
                         int64_t *revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    if (!value && value_len)
        return kl_error_set(err, KL_ERR_INVALID, "memory store: value of \"%.200s\" is NULL", key);
    entry_t *update[MAX_LEVEL];
    entry_t *at = seek(s, key, 0, update);
    if (at && strcmp(at->key, key) == 0)
        return kl_error_set(err, KL_ERR_EXISTS, "memory store: key \"%.200s\" already exists", key);
    int level = random_level(s);
    entry_t *e = entry_new(key, level);
    value_t *v = value_new(value, value_len);
    if (!e || !v) {
        entry_unref(e);
        value_unref(v);
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
    history_record(s, e, v, NULL, 0, 0);
    if (revision)
        *revision = s->revision;
    return 0;
}

static int check_revision(const entry_t *e, const char *key, int64_t expected, kl_error_t *err)
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
static int replace_value(memory_store_t *s, entry_t *e, const char *value, size_t value_len,
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
    history_record(s, e, v, prev, e->create_revision, prev_mod);
    value_unref(prev);
    return 0;
}

static int memory_update(void *store, const char *key, const char *value, size_t value_len,
                         int64_t expected_mod_revision, int64_t *revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    if (!value && value_len)
        return kl_error_set(err, KL_ERR_INVALID, "memory store: value of \"%.200s\" is NULL", key);
    entry_t *e = find(s, key);
    if (check_revision(e, key, expected_mod_revision, err) < 0)
        return -1;
    /* As in etcd, a write without a lease detaches the key from its lease. */
    if (replace_value(s, e, value, value_len, 0, err) < 0)
        return -1;
    if (revision)
        *revision = s->revision;
    return 0;
}

/* Unlinks a live entry found by seek() with `update` filled, records the
 * delete and drops the skip list's reference. */
static void remove_entry(memory_store_t *s, entry_t *e, entry_t **update)
{
    for (int i = 0; i < e->level; i++)
        update[i]->next[i] = e->next[i];
    while (s->level > 1 && !s->head->next[s->level - 1])
        s->level--;
    s->count--;
    s->revision++;
    value_t *prev = e->value;
    e->value = NULL;
    history_record(s, e, NULL, prev, e->create_revision, e->mod_revision);
    value_unref(prev);
    entry_unref(e);
}

static int memory_remove(void *store, const char *key, int64_t expected_mod_revision,
                         int64_t *revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    entry_t *update[MAX_LEVEL];
    entry_t *e = seek(s, key, 0, update);
    if (e && strcmp(e->key, key) != 0)
        e = NULL;
    if (check_revision(e, key, expected_mod_revision, err) < 0)
        return -1;
    remove_entry(s, e, update);
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

    entry_t *e = range_first(s, prefix, start_after);
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

static int memory_range_at(void *store, const char *prefix, const char *start_after, size_t limit,
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
        return range_current(s, prefix, start_after, limit, visit, arg, more);
    }
    if (check_history(s, at_revision, "range at", err) < 0)
        return -1;
    if (revision)
        *revision = at_revision;
    return range_past(s, prefix, start_after, limit, at_revision, visit, arg, more, err);
}

static int memory_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
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

static int memory_compact(void *store, int64_t revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (revision > s->revision)
        return kl_error_set(err, KL_ERR_INVALID,
                            "memory store: cannot compact to revision %lld, ahead of the store's "
                            "revision %lld",
                            (long long)revision, (long long)s->revision);
    while (s->compacted < revision && s->ring_len)
        history_drop_oldest(s);
    if (s->compacted < revision)
        s->compacted = revision;
    return 0;
}

static int64_t memory_compacted_revision(void *store)
{
    return ((memory_store_t *)store)->compacted;
}

/* ---- leases ------------------------------------------------------------ */

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

static int memory_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err)
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
        entry_t *e = seek(s, l->keys[k], 0, update);
        if (e && strcmp(e->key, l->keys[k]) == 0 && e->lease_id == id)
            remove_entry(s, e, update);
    }
    lease_free(l);
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

static int memory_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err)
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

static int memory_lease_revoke(void *store, int64_t lease_id, kl_error_t *err)
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
            entry_t *e = find(s, l->keys[i]);
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

static int memory_put_with_lease(void *store, const char *key, const char *value,
                                 size_t value_len, int64_t expected_mod_revision, int64_t lease_id,
                                 int64_t *revision, kl_error_t *err)
{
    memory_store_t *s = store;
    if (check_key(key, err) < 0)
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
    entry_t *e = find(s, key);
    int attach = l && !(e && e->lease_id == lease_id);
    if (expected_mod_revision == -1) {
        if (e)
            return kl_error_set(err, KL_ERR_EXISTS, "memory store: key \"%.200s\" already exists", key);
        /* Attach first: a failure then leaves no unleased key behind. */
        if (attach && lease_attach(s, l, key, err) < 0)
            return -1;
        if (memory_create(s, key, value, value_len, revision, err) < 0)
            return -1;
        find(s, key)->lease_id = lease_id;
        return 0;
    }
    if (check_revision(e, key, expected_mod_revision, err) < 0)
        return -1;
    if (attach && lease_attach(s, l, key, err) < 0)
        return -1;
    if (replace_value(s, e, value, value_len, lease_id, err) < 0)
        return -1;
    if (revision)
        *revision = s->revision;
    return 0;
}

static int memory_tick(void *store, kl_error_t *err)
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
