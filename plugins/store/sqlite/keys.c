/* store/sqlite: the keys themselves, read as they are now or were at a past
 * revision, and written one revision per put or delete. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_store.h"

static int check_key(const char *key, kl_error_t *err)
{
    if (!key || !*key)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store: the key is empty");
    return 0;
}

/* ---- reads ---------------------------------------------------------------- */

static void row_to_kv(sqlite3_stmt *st, int first_col, kl_store_kv_t *kv)
{
    kv->key = sqlite_store_column_bytes(st, first_col, NULL);
    kv->value = sqlite_store_column_bytes(st, first_col + 1, &kv->value_len);
    kv->create_revision = sqlite3_column_int64(st, first_col + 2);
    kv->mod_revision = sqlite3_column_int64(st, first_col + 3);
}

/* Reads the current row of `key` into the prepared ST_GET: 1 found, 0 absent.
 * The value is read only when asked: a write needs it rarely (keep_row). */
static int lookup(sqlite_store_t *s, const char *key, int with_value, row_kv_t *row, kl_error_t *err)
{
    sqlite3_stmt *st = sqlite_store_statement(s, ST_GET);
    sqlite_store_bind_key(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return sqlite_store_db_error(s, err, "reading a key");
    row->value = with_value ? sqlite_store_column_bytes(st, 1, &row->value_len) : NULL;
    if (!with_value)
        row->value_len = 0;
    row->create_revision = sqlite3_column_int64(st, 2);
    row->mod_revision = sqlite3_column_int64(st, 3);
    row->lease = sqlite3_column_int64(st, 4);
    row->copy = NULL;
    return 1;
}

/* Ends the write's ST_GET, keeping the value only when the change log will
 * copy it (the put that wrote it is compacted away: PREV_VALUE); it is
 * copied out, since ST_GET's row pointers do not survive the writes that
 * follow. */
static int keep_row(sqlite_store_t *s, row_kv_t *row, kl_error_t *err)
{
    if (row->mod_revision <= s->compacted) {
        const char *value = sqlite_store_column_bytes(s->stmt[ST_GET], 1, &row->value_len);
        row->copy = malloc(row->value_len + 1);
        if (!row->copy) {
            sqlite3_reset(s->stmt[ST_GET]);
            return kl_error_set(err, KL_ERR_INTERNAL, "sqlite store: out of memory for a %zu-byte value",
                                row->value_len);
        }
        memcpy(row->copy, value, row->value_len + 1);
        row->value = row->copy;
    }
    sqlite3_reset(s->stmt[ST_GET]);
    return 0;
}

int sqlite_store_get(void *store, const char *key, kl_store_visit_fn visit, void *arg, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    row_kv_t row;
    int found = lookup(s, key, 1, &row, err);
    if (found < 0)
        return -1;
    if (!found)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: key \"%.200s\" not found", key);
    kl_store_kv_t kv = {key, row.value, row.value_len, row.create_revision, row.mod_revision};
    if (visit)
        visit(&kv, arg);
    sqlite3_reset(s->stmt[ST_GET]);
    return 0;
}

/* Walks `st` (rows of key, value, create, mod in key order starting at the
 * bound start key) while keys carry `prefix`. */
static int walk_range(sqlite_store_t *s, sqlite3_stmt *st, const char *prefix, const char *start_after,
                      size_t limit, kl_store_visit_fn visit, void *arg, int *more, kl_error_t *err)
{
    size_t prefix_len = strlen(prefix), visited = 0;
    if (more)
        *more = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kl_store_kv_t kv;
        row_to_kv(st, 0, &kv);
        if (strncmp(kv.key, prefix, prefix_len) != 0)
            break;
        if (start_after && strcmp(kv.key, start_after) == 0)
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
    int failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
    if (failed)
        sqlite_store_db_error(s, err, "reading a range");
    sqlite3_reset(st);
    return failed ? -1 : 0;
}

static const char *range_start(const char *prefix, const char *start_after)
{
    return start_after && strcmp(start_after, prefix) >= 0 ? start_after : prefix;
}

int sqlite_store_range_at(void *store, const char *prefix, const char *start_after, size_t limit,
                          int64_t at_revision, kl_store_visit_fn visit, void *arg, int64_t *revision,
                          int *more, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (!prefix)
        prefix = "";
    if (at_revision < 0 || at_revision > s->revision)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store: revision %lld is not between 0 and the current revision %lld",
                            (long long)at_revision, (long long)s->revision);
    if (at_revision && at_revision < s->compacted)
        return kl_error_set(err, KL_ERR_EXPIRED,
                            "sqlite store: revision %lld was compacted away (history starts after %lld)",
                            (long long)at_revision, (long long)s->compacted);
    sqlite3_stmt *st;
    if (at_revision == 0 || at_revision == s->revision) {
        st = sqlite_store_statement(s, ST_RANGE);
    } else {
        st = sqlite_store_statement(s, ST_RANGE_AT);
        sqlite3_bind_int64(st, 2, at_revision);
    }
    const char *start = range_start(prefix, start_after);
    sqlite_store_bind_key(st, 1, start);
    if (revision)
        *revision = at_revision ? at_revision : s->revision;
    return walk_range(s, st, prefix, start == start_after ? start_after : NULL, limit, visit, arg,
                      more, err);
}

int sqlite_store_range(void *store, const char *prefix, const char *start_after, size_t limit,
                       kl_store_visit_fn visit, void *arg, int64_t *revision, kl_error_t *err)
{
    return sqlite_store_range_at(store, prefix, start_after, limit, 0, visit, arg, revision, NULL, err);
}

/* ---- writes ---------------------------------------------------------------- */

/* The body of every put. expected: -1 create, 0 update any, >0 CAS update.
 * A put without a lease detaches the key from any lease it had, as in etcd. */
static int put(sqlite_store_t *s, const char *key, const char *value, size_t value_len,
               int64_t expected, int64_t lease_id, int64_t *revision, kl_error_t *err)
{
    if (lease_id < 0)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store: lease id %lld is negative",
                            (long long)lease_id);
    if (lease_id && sqlite_store_check_lease(s, lease_id, err) < 0)
        return -1;
    row_kv_t prev;
    int found = lookup(s, key, 0, &prev, err);
    if (found < 0)
        return -1;
    if (expected < 0 && found)
        return kl_error_set(err, KL_ERR_EXISTS, "sqlite store: key \"%.200s\" already exists", key);
    if (expected >= 0 && !found)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: key \"%.200s\" not found", key);
    if (expected > 0 && prev.mod_revision != expected)
        return kl_error_set(err, KL_ERR_CONFLICT, "sqlite store: key \"%.200s\" is at revision %lld, not %lld",
                            key, (long long)prev.mod_revision, (long long)expected);
    if (found && keep_row(s, &prev, err) < 0)
        return -1;
    int64_t next = s->revision + 1;
    int64_t create_revision = found ? prev.create_revision : next;
    sqlite3_stmt *st = sqlite_store_statement(s, found ? ST_UPDATE_KV : ST_INSERT_KV);
    sqlite_store_bind_key(st, 1, key);
    sqlite_store_bind_value(st, 2, value, value_len);
    sqlite3_bind_int64(st, 3, next);
    sqlite3_bind_int64(st, 4, lease_id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlite_store_db_error(s, err, "writing a key");
    sqlite3_reset(st);
    if (rc == 0)
        rc = sqlite_store_log_change(s, next, key, KL_STORE_PUT, value, value_len, create_revision,
                                     found ? &prev : NULL, err);
    if (found)
        free(prev.copy);
    if (rc < 0)
        return -1;
    s->revision = next;
    if (revision)
        *revision = next;
    return 0;
}

int sqlite_store_delete_key(sqlite_store_t *s, const char *key, int64_t expected, int64_t *revision,
                            kl_error_t *err)
{
    row_kv_t prev;
    int found = lookup(s, key, 0, &prev, err);
    if (found < 0)
        return -1;
    if (!found)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: key \"%.200s\" not found", key);
    if (expected > 0 && prev.mod_revision != expected)
        return kl_error_set(err, KL_ERR_CONFLICT, "sqlite store: key \"%.200s\" is at revision %lld, not %lld",
                            key, (long long)prev.mod_revision, (long long)expected);
    if (keep_row(s, &prev, err) < 0)
        return -1;
    int64_t next = s->revision + 1;
    sqlite3_stmt *st = sqlite_store_statement(s, ST_DELETE_KV);
    sqlite_store_bind_key(st, 1, key);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlite_store_db_error(s, err, "deleting a key");
    sqlite3_reset(st);
    if (rc == 0)
        rc = sqlite_store_log_change(s, next, key, KL_STORE_DELETE, NULL, 0, prev.create_revision,
                                     &prev, err);
    free(prev.copy);
    if (rc < 0)
        return -1;
    s->revision = next;
    if (revision)
        *revision = next;
    return 0;
}

int sqlite_store_put_with_lease(void *store, const char *key, const char *value, size_t value_len,
                                int64_t expected_mod_revision, int64_t lease_id, int64_t *revision,
                                kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    if (!value && value_len)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store: value of \"%.200s\" is NULL", key);
    if (value_len > INT32_MAX)
        return kl_error_set(err, KL_ERR_TOO_LARGE, "sqlite store: value of \"%.200s\" is %zu bytes, too large",
                            key, value_len);
    int64_t before = s->revision;
    if (sqlite_store_begin_write(s, err) < 0)
        return -1;
    int failed = put(s, key, value, value_len, expected_mod_revision, lease_id, revision, err) < 0;
    sqlite3_reset(s->stmt[ST_GET]);
    if (sqlite_store_end_write(s, failed, before, err) < 0)
        return -1;
    return 0;
}

int sqlite_store_create(void *store, const char *key, const char *value, size_t value_len,
                        int64_t *revision, kl_error_t *err)
{
    return sqlite_store_put_with_lease(store, key, value, value_len, -1, 0, revision, err);
}

int sqlite_store_update(void *store, const char *key, const char *value, size_t value_len,
                        int64_t expected_mod_revision, int64_t *revision, kl_error_t *err)
{
    if (expected_mod_revision < 0)
        expected_mod_revision = 0;
    return sqlite_store_put_with_lease(store, key, value, value_len, expected_mod_revision, 0, revision,
                                       err);
}

int sqlite_store_remove(void *store, const char *key, int64_t expected_mod_revision, int64_t *revision,
                        kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    int64_t before = s->revision;
    if (sqlite_store_begin_write(s, err) < 0)
        return -1;
    int failed = sqlite_store_delete_key(s, key, expected_mod_revision, revision, err) < 0;
    sqlite3_reset(s->stmt[ST_GET]);
    return sqlite_store_end_write(s, failed, before, err);
}
