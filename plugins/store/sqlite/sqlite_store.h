/* store/sqlite internals shared by its files: the open store, its prepared
 * statements, and the steps one file lends another. Never installed. */
#ifndef KL_STORE_SQLITE_STORE_H
#define KL_STORE_SQLITE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include <keelson/store.h>

/* Every statement the store runs more than once, prepared at open. */
enum {
    ST_GET,
    ST_RANGE,        /* current keys from ?1 on, in byte order */
    ST_RANGE_AT,     /* keys as of revision ?2, from ?1 on */
    ST_INSERT_KV,
    ST_UPDATE_KV,
    ST_DELETE_KV,
    ST_INSERT_CHANGE,
    ST_SET_META,
    ST_CHANGES,
    ST_COMPACT,
    ST_LEASE_INSERT,
    ST_LEASE_GET,
    ST_LEASE_TOUCH,
    ST_LEASE_DELETE,
    ST_LEASE_EXPIRED,
    ST_LEASE_KEYS,
    ST_SAVEPOINT,
    ST_RELEASE,
    ST_COUNT
};

typedef struct sqlite_store {
    const kl_host_t *host;
    char *path;
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    int in_transaction;       /* BEGIN IMMEDIATE done, COMMIT pending */
    int64_t pending_writes;   /* writes made in it */
    /* SQLite rolled the transaction back after a failed write: the writes
     * before it are gone, so flush() must fail and no write may start
     * until it has. */
    int64_t rolled_back;
    int64_t revision;         /* mirrors meta.revision, including unflushed writes */
    int64_t compacted;        /* mirrors meta.compacted_revision */
    int64_t history;          /* history_revisions */
} sqlite_store_t;

/* One key's state as read from a row. `value` points into the statement's
 * row, into `copy` once keep_row() kept it, or is NULL when not read. */
typedef struct row_kv {
    const void *value;
    void *copy;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t lease;
} row_kv_t;

/* schema.c: statements and the file's layout. Functions returning int give
 * 0 on success, or -1 with err set. */

/* Fills err from the connection's last error, naming what was being done. */
int sqlite_store_db_error(sqlite_store_t *s, kl_error_t *err, const char *doing);
void sqlite_store_bind_key(sqlite3_stmt *st, int index, const char *key);
void sqlite_store_bind_value(sqlite3_stmt *st, int index, const void *value, size_t value_len);
const char *sqlite_store_column_bytes(sqlite3_stmt *st, int col, size_t *len);
/* The prepared statement `which` (an ST_ value), reset and unbound. */
sqlite3_stmt *sqlite_store_statement(sqlite_store_t *s, int which);
int sqlite_store_exec_sql(sqlite_store_t *s, const char *sql, kl_error_t *err);
/* Steps `which` once, for statements that return no rows. */
int sqlite_store_run_prepared(sqlite_store_t *s, int which, kl_error_t *err);
int sqlite_store_read_meta(sqlite_store_t *s, const char *name, int64_t *value, kl_error_t *err);
int sqlite_store_set_meta(sqlite_store_t *s, const char *name, int64_t value, kl_error_t *err);
/* The steps of open, in this order. */
int sqlite_store_set_pragmas(sqlite_store_t *s, const char *synchronous, int checkpoint_pages,
                             kl_error_t *err);
int sqlite_store_check_integrity(sqlite_store_t *s, kl_error_t *err);
int sqlite_store_load_schema(sqlite_store_t *s, kl_error_t *err);
int sqlite_store_prepare(sqlite_store_t *s, kl_error_t *err);

/* sqlite.c: every write runs between these two; end_write() undoes a
 * failed one (failed != 0) back to revision_before. */
int sqlite_store_begin_write(sqlite_store_t *s, kl_error_t *err);
int sqlite_store_end_write(sqlite_store_t *s, int failed, int64_t revision_before, kl_error_t *err);

/* keys.c: the store ops on keys, and the delete a lease's revocation
 * repeats for each of its keys (expected 0: whatever its revision). */
int sqlite_store_get(void *store, const char *key, kl_store_visit_fn visit, void *arg, kl_error_t *err);
int sqlite_store_range(void *store, const char *prefix, const char *start_after, size_t limit,
                       kl_store_visit_fn visit, void *arg, int64_t *revision, kl_error_t *err);
int sqlite_store_range_at(void *store, const char *prefix, const char *start_after, size_t limit,
                          int64_t at_revision, kl_store_visit_fn visit, void *arg, int64_t *revision,
                          int *more, kl_error_t *err);
int sqlite_store_create(void *store, const char *key, const char *value, size_t value_len,
                        int64_t *revision, kl_error_t *err);
int sqlite_store_update(void *store, const char *key, const char *value, size_t value_len,
                        int64_t expected_mod_revision, int64_t *revision, kl_error_t *err);
int sqlite_store_remove(void *store, const char *key, int64_t expected_mod_revision, int64_t *revision,
                        kl_error_t *err);
int sqlite_store_put_with_lease(void *store, const char *key, const char *value, size_t value_len,
                                int64_t expected_mod_revision, int64_t lease_id, int64_t *revision,
                                kl_error_t *err);
int sqlite_store_delete_key(sqlite_store_t *s, const char *key, int64_t expected, int64_t *revision,
                            kl_error_t *err);

/* changes.c: the store ops on history, and the log entry every put and
 * delete adds (prev: the key's state before it, NULL when it had none). */
int sqlite_store_log_change(sqlite_store_t *s, int64_t revision, const char *key, int type,
                            const void *value, size_t value_len, int64_t create_revision,
                            const row_kv_t *prev, kl_error_t *err);
int sqlite_store_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
                         kl_store_event_fn visit, void *arg, int64_t *last_revision, kl_error_t *err);
int sqlite_store_compact(void *store, int64_t revision, kl_error_t *err);
int64_t sqlite_store_compacted_revision(void *store);

/* leases.c: the store ops on leases, and the check a put makes before it
 * attaches a key to one. */
int sqlite_store_check_lease(sqlite_store_t *s, int64_t lease_id, kl_error_t *err);
int sqlite_store_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err);
int sqlite_store_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err);
int sqlite_store_lease_revoke(void *store, int64_t lease_id, kl_error_t *err);

#endif
