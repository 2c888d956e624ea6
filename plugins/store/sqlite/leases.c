/* store/sqlite: leases, which delete their keys when revoked or expired so
 * that a dead holder's keys do not outlive it. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_store.h"

/* Checks the lease a write attaches to: present and not yet expired. */
int sqlite_store_check_lease(sqlite_store_t *s, int64_t lease_id, kl_error_t *err)
{
    sqlite3_stmt *st = sqlite_store_statement(s, ST_LEASE_GET);
    sqlite3_bind_int64(st, 1, lease_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sqlite_store_db_error(s, err, "reading a lease");
    int alive = rc == SQLITE_ROW && sqlite3_column_int64(st, 1) > s->host->realtime_ms(s->host);
    sqlite3_reset(st);
    if (!alive)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: lease %lld not found or expired",
                            (long long)lease_id);
    return 0;
}

int sqlite_store_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (ttl_ms <= 0)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store: lease TTL %lld ms must be positive",
                            (long long)ttl_ms);
    if (sqlite_store_begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st = sqlite_store_statement(s, ST_LEASE_INSERT);
    sqlite3_bind_int64(st, 1, ttl_ms);
    sqlite3_bind_int64(st, 2, s->host->realtime_ms(s->host) + ttl_ms);
    int failed = sqlite3_step(st) != SQLITE_DONE;
    if (failed)
        sqlite_store_db_error(s, err, "granting a lease");
    else if (lease_id)
        *lease_id = sqlite3_last_insert_rowid(s->db);
    sqlite3_reset(st);
    return sqlite_store_end_write(s, failed, s->revision, err);
}

int sqlite_store_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err)
{
    sqlite_store_t *s = store;
    sqlite3_stmt *st = sqlite_store_statement(s, ST_LEASE_GET);
    sqlite3_bind_int64(st, 1, lease_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return sqlite_store_db_error(s, err, "reading a lease");
    int64_t now = s->host->realtime_ms(s->host);
    int alive = rc == SQLITE_ROW && sqlite3_column_int64(st, 1) > now;
    int64_t ttl = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (!alive)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: lease %lld not found or expired",
                            (long long)lease_id);
    if (sqlite_store_begin_write(s, err) < 0)
        return -1;
    st = sqlite_store_statement(s, ST_LEASE_TOUCH);
    sqlite3_bind_int64(st, 1, lease_id);
    sqlite3_bind_int64(st, 2, now + ttl);
    int failed = sqlite3_step(st) != SQLITE_DONE;
    if (failed)
        sqlite_store_db_error(s, err, "renewing a lease");
    sqlite3_reset(st);
    return sqlite_store_end_write(s, failed, s->revision, err);
}

/* Deletes every key attached to the lease (one DELETE change each), then the
 * lease. Runs inside a savepoint. */
static int drop_lease(sqlite_store_t *s, int64_t lease_id, kl_error_t *err)
{
    for (;;) {
        sqlite3_stmt *st = sqlite_store_statement(s, ST_LEASE_KEYS);
        sqlite3_bind_int64(st, 1, lease_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            return sqlite_store_db_error(s, err, "reading the keys of a lease");
        char *key = strdup(sqlite_store_column_bytes(st, 0, NULL));
        sqlite3_reset(st);
        if (!key)
            return kl_error_set(err, KL_ERR_INTERNAL, "sqlite store: out of memory");
        int failed = sqlite_store_delete_key(s, key, 0, NULL, err) < 0;
        free(key);
        if (failed)
            return -1;
    }
    sqlite3_reset(s->stmt[ST_LEASE_KEYS]);
    sqlite3_stmt *st = sqlite_store_statement(s, ST_LEASE_DELETE);
    sqlite3_bind_int64(st, 1, lease_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        return sqlite_store_db_error(s, err, "deleting a lease");
    sqlite3_reset(st);
    return 0;
}

int sqlite_store_lease_revoke(void *store, int64_t lease_id, kl_error_t *err)
{
    sqlite_store_t *s = store;
    sqlite3_stmt *st = sqlite_store_statement(s, ST_LEASE_GET);
    sqlite3_bind_int64(st, 1, lease_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: lease %lld not found",
                            (long long)lease_id);
    if (rc != SQLITE_ROW)
        return sqlite_store_db_error(s, err, "reading a lease");
    int64_t before = s->revision;
    if (sqlite_store_begin_write(s, err) < 0)
        return -1;
    int failed = drop_lease(s, lease_id, err) < 0;
    sqlite3_reset(s->stmt[ST_GET]);
    return sqlite_store_end_write(s, failed, before, err);
}
