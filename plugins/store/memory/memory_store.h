/* What the memory store's files share: its data structures and the functions
 * one file defines for another. Private to the plugin. */
#ifndef KL_STORE_MEMORY_STORE_H
#define KL_STORE_MEMORY_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <keelson/store.h>

#define MAX_LEVEL 24  /* comfortable for well over ten million keys */

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

/* memory.c: values, the skip list and the plain writes. */
void memory_value_unref(value_t *v);
void memory_entry_unref(entry_t *e);
entry_t *memory_seek(memory_store_t *s, const char *key, int after, entry_t **update);
entry_t *memory_find(memory_store_t *s, const char *key);
int memory_check_key(const char *key, kl_error_t *err);
entry_t *memory_range_first(memory_store_t *s, const char *prefix, const char *start_after);
int memory_range_current(memory_store_t *s, const char *prefix, const char *start_after,
                         size_t limit, kl_store_visit_fn visit, void *arg, int *more);
int memory_create(void *store, const char *key, const char *value, size_t value_len,
                  int64_t *revision, kl_error_t *err);
int memory_check_revision(const entry_t *e, const char *key, int64_t expected, kl_error_t *err);
int memory_replace_value(memory_store_t *s, entry_t *e, const char *value, size_t value_len,
                         int64_t lease_id, kl_error_t *err);
void memory_remove_entry(memory_store_t *s, entry_t *e, entry_t **update);

/* history.c */
void memory_history_drop_oldest(memory_store_t *s);
void memory_history_record(memory_store_t *s, entry_t *e, value_t *value, value_t *prev_value,
                           int64_t prev_create_revision, int64_t prev_mod_revision);
int memory_range_at(void *store, const char *prefix, const char *start_after, size_t limit,
                    int64_t at_revision, kl_store_visit_fn visit, void *arg, int64_t *revision,
                    int *more, kl_error_t *err);
int memory_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
                   kl_store_event_fn visit, void *arg, int64_t *last_revision, kl_error_t *err);
int memory_compact(void *store, int64_t revision, kl_error_t *err);
int64_t memory_compacted_revision(void *store);

/* leases.c */
void memory_lease_free(lease_t *l);
int memory_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err);
int memory_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err);
int memory_lease_revoke(void *store, int64_t lease_id, kl_error_t *err);
int memory_put_with_lease(void *store, const char *key, const char *value, size_t value_len,
                          int64_t expected_mod_revision, int64_t lease_id, int64_t *revision,
                          kl_error_t *err);
int memory_tick(void *store, kl_error_t *err);

#endif
