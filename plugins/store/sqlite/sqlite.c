/* The `sqlite` store plugin: keelson's durable embedded store. One SQLite file
 * in WAL mode holds the current keys, a change log for watches and past reads,
 * and leases; writes are grouped into one transaction until flush(). This
 * file opens and closes the store and runs that transaction. */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sqlite_store.h"

#define DEFAULT_HISTORY 100000
#define DEFAULT_BUSY_TIMEOUT_MS 5000
/* A checkpoint copies each page once however often it changed since the
 * last one, so rarer checkpoints write less: 16,384 pages instead of
 * SQLite's 1,000 bound more pods per second in most alternating cluster
 * runs, at the price of a longer stall when one comes (p99). The WAL file
 * grows to about this many 4 KiB pages (64 MiB). */
#define DEFAULT_CHECKPOINT_PAGES 16384
#define MIN_CHECKPOINT_PAGES 100
#define MAX_CHECKPOINT_PAGES 1048576

static const kl_setting_spec_t sqlite_settings[] = {
    { "path", KL_SETTING_STRING, 1, "database file; its folder must exist" },
    { "history_revisions", KL_SETTING_INT, 0,
      "revisions of change history kept before tick() compacts (default 100000)" },
    { "synchronous", KL_SETTING_STRING, 0,
      "\"full\" (default: acknowledged writes survive power loss) or \"normal\" (survive crashes)" },
    { "busy_timeout_ms", KL_SETTING_INT, 0, "how long to wait for a lock held elsewhere (default 5000)" },
    { "checkpoint_pages", KL_SETTING_INT, 0,
      "WAL pages written between checkpoints into the database (default 16384, 100 to 1048576)" },
    KL_SETTINGS_END
};

/* ---- transactions --------------------------------------------------------
 * The first write after a flush opens one long transaction; flush() commits
 * it, with meta's revision written once for all of its writes. Each
 * operation runs inside a savepoint so a failure half-way leaves none of its
 * rows behind. */

int sqlite_store_begin_write(sqlite_store_t *s, kl_error_t *err)
{
    if (s->rolled_back)
        return kl_error_set(err, KL_ERR_UNAVAILABLE,
                            "sqlite store (%s): a failed write rolled back the %lld writes before it "
                            "that were not yet committed; no write starts until they are reported lost",
                            s->path, (long long)s->rolled_back);
    if (!s->in_transaction) {
        if (sqlite_store_exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
            return -1;
        s->in_transaction = 1;
    }
    return sqlite_store_run_prepared(s, ST_SAVEPOINT, err);
}

int sqlite_store_end_write(sqlite_store_t *s, int failed, int64_t revision_before, kl_error_t *err)
{
    if (!failed) {
        if (sqlite_store_run_prepared(s, ST_RELEASE, err) < 0)
            return -1;
        s->pending_writes++;
        return 0;
    }
    /* Some errors (disk full, I/O) make SQLite roll back the whole
     * transaction; then the unflushed writes before this one are gone too,
     * and the next flush() must say so rather than find nothing to commit. */
    if (sqlite3_get_autocommit(s->db)) {
        s->in_transaction = 0;
        s->rolled_back = s->pending_writes;
        s->pending_writes = 0;
        int64_t revision = s->revision;
        if (sqlite_store_read_meta(s, "revision", &revision, NULL) == 0)
            s->revision = revision;
        return -1;
    }
    sqlite3_exec(s->db, "ROLLBACK TO op; RELEASE op", NULL, NULL, NULL);
    s->revision = revision_before;
    return -1;
}

static int sqlite_flush(void *store, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (s->rolled_back) {
        kl_error_set(err, KL_ERR_UNAVAILABLE,
                     "sqlite store (%s): a failed write made SQLite roll back the %lld writes "
                     "before it in this group commit; they are lost", s->path,
                     (long long)s->rolled_back);
        s->rolled_back = 0;
        return -1;
    }
    if (!s->in_transaction)
        return 0;
    s->pending_writes = 0;
    int meta_failed = sqlite_store_set_meta(s, "revision", s->revision, err) < 0;
    sqlite3_reset(s->stmt[ST_SET_META]);
    if (!meta_failed && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        s->in_transaction = 0;
        return 0;
    }
    if (!meta_failed)
        sqlite_store_db_error(s, err, "committing the pending writes");
    /* The writes are lost: roll back so memory agrees with the file again. */
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_transaction = 0;
    int64_t revision = s->revision;
    if (sqlite_store_read_meta(s, "revision", &revision, NULL) == 0)
        s->revision = revision;
    return -1;
}

/* ---- open and close ------------------------------------------------------ */

static void store_free(sqlite_store_t *s)
{
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->stmt[i]);
    if (s->db)
        sqlite3_close(s->db);
    free(s->path);
    free(s);
}

static int check_folder(sqlite_store_t *s, kl_error_t *err)
{
    char *folder = strdup(s->path);
    if (!folder)
        return kl_error_set(err, KL_ERR_INTERNAL, "sqlite store: out of memory");
    char *slash = strrchr(folder, '/');
    int rc = 0;
    struct stat st;
    if (slash) {
        if (slash == folder)
            slash[1] = '\0';
        else
            *slash = '\0';
        int found = stat(folder, &st) == 0;
        if (!found || !S_ISDIR(st.st_mode))
            rc = kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): folder \"%s\" %s", s->path,
                              folder,
                              found ? "is not a folder"
                              : errno == ENOENT ? "does not exist: create it first"
                                                : strerror(errno));
    }
    free(folder);
    if (rc == 0 && stat(s->path, &st) == 0 && !S_ISREG(st.st_mode))
        rc = kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): the path is not a regular file",
                          s->path);
    return rc;
}

/* An integer setting (or its default) checked against [min, max]. */
static int setting_in_range(const kl_host_t *host, const char *name, long long fallback,
                            long long min, long long max, long long *value, kl_error_t *err)
{
    *value = host->setting_int(host, name, fallback);
    if (*value >= min && *value <= max)
        return 0;
    if (max == LLONG_MAX)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store: the setting \"%s\" is %lld; it must be at least %lld", name,
                            *value, min);
    return kl_error_set(err, KL_ERR_INVALID,
                        "sqlite store: the setting \"%s\" is %lld; it must be between %lld and %lld",
                        name, *value, min, max);
}

static void *sqlite_open(const kl_host_t *host, kl_error_t *err)
{
    const char *path = host->setting_string(host, "path", NULL);
    if (!path || !*path) {
        kl_error_set(err, KL_ERR_INVALID, "sqlite store: the setting \"path\" is empty");
        return NULL;
    }
    const char *synchronous = host->setting_string(host, "synchronous", "full");
    if (strcmp(synchronous, "full") != 0 && strcmp(synchronous, "normal") != 0) {
        kl_error_set(err, KL_ERR_INVALID,
                     "sqlite store: the setting \"synchronous\" is \"%.100s\"; use \"full\" or \"normal\"",
                     synchronous);
        return NULL;
    }
    long long history, busy, checkpoint;
    if (setting_in_range(host, "history_revisions", DEFAULT_HISTORY, 1, LLONG_MAX, &history, err) < 0
        || setting_in_range(host, "busy_timeout_ms", DEFAULT_BUSY_TIMEOUT_MS, 0, INT32_MAX, &busy,
                            err) < 0
        || setting_in_range(host, "checkpoint_pages", DEFAULT_CHECKPOINT_PAGES,
                            MIN_CHECKPOINT_PAGES, MAX_CHECKPOINT_PAGES, &checkpoint, err) < 0)
        return NULL;
    sqlite_store_t *s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path))) {
        free(s);
        kl_error_set(err, KL_ERR_INTERNAL, "sqlite store: out of memory");
        return NULL;
    }
    s->host = host;
    s->history = history;
    if (check_folder(s, err) < 0)
        goto fail;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): cannot open: %s", path,
                     s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, (int)busy);
    if (sqlite_store_set_pragmas(s, synchronous, (int)checkpoint, err) < 0
        || sqlite_store_check_integrity(s, err) < 0 || sqlite_store_load_schema(s, err) < 0)
        goto fail;
    if (sqlite_store_read_meta(s, "revision", &s->revision, err) < 0
        || sqlite_store_read_meta(s, "compacted_revision", &s->compacted, err) < 0)
        goto fail;
    if (sqlite_store_prepare(s, err) < 0)
        goto fail;
    host->log(host, KL_LOG_INFO, "sqlite store %s open at revision %lld (compacted %lld)", path,
              (long long)s->revision, (long long)s->compacted);
    return s;
fail:
    store_free(s);
    return NULL;
}

static void sqlite_close(void *store)
{
    sqlite_store_t *s = store;
    if (!s)
        return;
    kl_error_t err;
    if (sqlite_flush(s, &err) < 0)
        s->host->log(s->host, KL_LOG_ERROR, "%s", err.text);
    store_free(s);
}

static int64_t sqlite_revision(void *store)
{
    return ((sqlite_store_t *)store)->revision;
}

static uint32_t sqlite_features(void *store)
{
    (void)store;
    return KL_STORE_DURABLE;
}

/* Expires leases and compacts history. Unlike client writes, nobody waits
 * to acknowledge these, so tick() commits its own work at once: watchers
 * never see a lease expiry that a crash could undo. */
static int sqlite_tick(void *store, kl_error_t *err)
{
    sqlite_store_t *s = store;
    int wrote = 0;
    int64_t now = s->host->realtime_ms(s->host);
    for (;;) {
        sqlite3_stmt *st = sqlite_store_statement(s, ST_LEASE_EXPIRED);
        sqlite3_bind_int64(st, 1, now);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            return sqlite_store_db_error(s, err, "looking for expired leases");
        int64_t lease_id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (sqlite_store_lease_revoke(s, lease_id, err) < 0)
            return -1;
        wrote = 1;
    }
    sqlite3_reset(s->stmt[ST_LEASE_EXPIRED]);
    /* Compact in slices of a sixteenth of the history, not on every write. */
    int64_t slack = s->history / 16 + 1;
    if (s->revision - s->compacted > s->history + slack) {
        if (sqlite_store_compact(s, s->revision - s->history, err) < 0)
            return -1;
        wrote = 1;
    }
    return wrote ? sqlite_flush(s, err) : 0;
}

static const kl_store_ops_t sqlite_ops = {
    .open = sqlite_open,
    .close = sqlite_close,
    .get = sqlite_store_get,
    .range = sqlite_store_range,
    .create = sqlite_store_create,
    .update = sqlite_store_update,
    .remove = sqlite_store_remove,
    .revision = sqlite_revision,
    .features = sqlite_features,
    .range_at = sqlite_store_range_at,
    .changes = sqlite_store_changes,
    .compact = sqlite_store_compact,
    .compacted_revision = sqlite_store_compacted_revision,
    .flush = sqlite_flush,
    .lease_grant = sqlite_store_lease_grant,
    .lease_keepalive = sqlite_store_lease_keepalive,
    .lease_revoke = sqlite_store_lease_revoke,
    .put_with_lease = sqlite_store_put_with_lease,
    .tick = sqlite_tick,
};

KL_STORE_PLUGIN("sqlite", "0.1.0", "durable revisioned key-value store in one SQLite file (WAL)",
                sqlite_settings, sqlite_ops);
