/* The `memory` store plugin: an in-process, revisioned key-value store kept in
 * a skip list, so keys stay in byte order and prefix ranges seek in O(log n). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <keelson/store.h>

#define MAX_LEVEL 24  /* comfortable for well over ten million keys */

typedef struct entry {
    char *value;             /* value_len bytes and a NUL, for convenience */
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    const char *key;         /* stored right after next[] */
    int level;
    struct entry *next[];
} entry_t;

typedef struct memory_store {
    entry_t *head;           /* sentinel with MAX_LEVEL links, no key */
    int level;               /* levels in use */
    int64_t revision;
    uint64_t random_state;
    size_t count;
} memory_store_t;

static entry_t *entry_new(const char *key, int level)
{
    size_t key_len = key ? strlen(key) + 1 : 0;
    entry_t *e = calloc(1, sizeof *e + (size_t)level * sizeof(entry_t *) + key_len);
    if (!e)
        return NULL;
    e->level = level;
    if (key) {
        char *copy = (char *)&e->next[level];
        memcpy(copy, key, key_len);
        e->key = copy;
    }
    return e;
}

static void entry_free(entry_t *e)
{
    if (e) {
        free(e->value);
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
    (void)host;
    memory_store_t *s = calloc(1, sizeof *s);
    if (s)
        s->head = entry_new(NULL, MAX_LEVEL);
    if (!s || !s->head) {
        free(s);
        kl_error_set(err, KL_ERR_INTERNAL, "memory store: out of memory");
        return NULL;
    }
    s->level = 1;
    s->random_state = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)s;
    return s;
}

static void memory_close(void *store)
{
    memory_store_t *s = store;
    if (!s)
        return;
    entry_t *e = s->head;
    while (e) {
        entry_t *next = e->next[0];
        entry_free(e);
        e = next;
    }
    free(s);
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

static void visit_entry(const entry_t *e, kl_store_visit_fn visit, void *arg, int *stop)
{
    kl_store_kv_t kv = {e->key, e->value, e->value_len, e->create_revision, e->mod_revision};
    *stop = visit(&kv, arg);
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
    int stop;
    if (visit)
        visit_entry(e, visit, arg, &stop);
    return 0;
}

static int memory_range(void *store, const char *prefix, const char *start_after, size_t limit,
                        kl_store_visit_fn visit, void *arg, int64_t *revision, kl_error_t *err)
{
    (void)err;
    memory_store_t *s = store;
    if (!prefix)
        prefix = "";
    size_t prefix_len = strlen(prefix);
    entry_t *e;
    if (start_after && strcmp(start_after, prefix) >= 0)
        e = seek(s, start_after, 1, NULL);
    else
        e = seek(s, prefix, 0, NULL);
    if (revision)
        *revision = s->revision;
    size_t visited = 0;
    for (; e && strncmp(e->key, prefix, prefix_len) == 0; e = e->next[0]) {
        if (limit && visited == limit)
            break;
        visited++;
        int stop = 0;
        if (visit)
            visit_entry(e, visit, arg, &stop);
        if (stop)
            break;
    }
    return 0;
}

static int set_value(entry_t *e, const char *value, size_t value_len, kl_error_t *err)
{
    char *copy = malloc(value_len + 1);
    if (!copy)
        return kl_error_set(err, KL_ERR_INTERNAL, "memory store: out of memory for a %zu-byte value",
                            value_len);
    if (value_len)
        memcpy(copy, value, value_len);
    copy[value_len] = '\0';
    free(e->value);
    e->value = copy;
    e->value_len = value_len;
    return 0;
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
    if (!e || set_value(e, value, value_len, err) < 0) {
        entry_free(e);
        return kl_error_set(err, KL_ERR_INTERNAL, "memory store: out of memory creating \"%.200s\"",
                            key);
    }
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
    if (set_value(e, value, value_len, err) < 0)
        return -1;
    e->mod_revision = ++s->revision;
    if (revision)
        *revision = s->revision;
    return 0;
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
    for (int i = 0; i < e->level; i++)
        update[i]->next[i] = e->next[i];
    while (s->level > 1 && !s->head->next[s->level - 1])
        s->level--;
    entry_free(e);
    s->count--;
    s->revision++;
    if (revision)
        *revision = s->revision;
    return 0;
}

static int64_t memory_revision(void *store)
{
    return ((memory_store_t *)store)->revision;
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
};

KL_STORE_PLUGIN("memory", "0.1.0", "in-memory revisioned key-value store (lost on exit)", NULL,
                memory_ops);
