/* The `sqlite` store plugin: keelson's durable embedded store. One SQLite file
 * in WAL mode holds the current keys, a change log for watches and past reads,
 * and leases; writes are grouped into one transaction until flush(). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include <keelson/store.h>

/* Bump when the tables change; open() refuses a file from a newer keelson
 * instead of misreading it. */
#define SCHEMA_VERSION 2
#define DEFAULT_HISTORY 100000
#define DEFAULT_BUSY_TIMEOUT_MS 5000

static const kl_setting_spec_t sqlite_settings[] = {
    { "path", KL_SETTING_STRING, 1, "database file; its folder must exist" },
    { "history_revisions", KL_SETTING_INT, 0,
      "revisions of change history kept before tick() compacts (default 100000)" },
    { "synchronous", KL_SETTING_STRING, 0,
      "\"full\" (default: acknowledged writes survive power loss) or \"normal\" (survive crashes)" },
    { "busy_timeout_ms", KL_SETTING_INT, 0, "how long to wait for a lock held elsewhere (default 5000)" },
    KL_SETTINGS_END
};

/* A change's previous value. A change stores it only when the put that wrote
 * it has been compacted away; otherwise it is that put's own value, so each
 * update writes the object once to the log instead of twice. */
#define PREV_VALUE \
    "COALESCE(c.prev_value, (SELECT p.value FROM changes p WHERE p.revision = c.prev_mod_revision))"

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
    ST_KEEP_PREV,
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

static const char *const statement_sql[ST_COUNT] = {
    [ST_SAVEPOINT] = "SAVEPOINT op",
    [ST_RELEASE] = "RELEASE op",
    [ST_GET] = "SELECT key, value, create_revision, mod_revision, lease FROM kv WHERE key = ?1",
    [ST_RANGE] = "SELECT key, value, create_revision, mod_revision FROM kv WHERE key >= ?1 ORDER BY key",
    /* A key's state at revision R is its current row when nothing touched it
     * after R; otherwise it is the `prev` recorded by its first change after R
     * (none when that change created it). Only changes after R are needed,
     * so any R at or after the compacted revision can be answered. */
    [ST_RANGE_AT] =
        "SELECT key, value, create_revision, mod_revision FROM kv"
        " WHERE key >= ?1 AND mod_revision <= ?2"
        " UNION ALL"
        " SELECT c.key, " PREV_VALUE ", c.prev_create_revision, c.prev_mod_revision FROM changes c"
        " WHERE c.key >= ?1 AND c.revision > ?2 AND c.prev_mod_revision > 0"
        "   AND c.revision = (SELECT min(d.revision) FROM changes d"
        "                     WHERE d.key = c.key AND d.revision > ?2)"
        " ORDER BY 1",
    [ST_INSERT_KV] = "INSERT INTO kv (key, value, create_revision, mod_revision, lease)"
                     " VALUES (?1, ?2, ?3, ?3, ?4)",
    [ST_UPDATE_KV] = "UPDATE kv SET value = ?2, mod_revision = ?3, lease = ?4 WHERE key = ?1",
    [ST_DELETE_KV] = "DELETE FROM kv WHERE key = ?1",
    [ST_INSERT_CHANGE] =
        "INSERT INTO changes (revision, key, type, value, create_revision,"
        " prev_value, prev_create_revision, prev_mod_revision) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_SET_META] = "UPDATE meta SET value = ?2 WHERE name = ?1",
    [ST_CHANGES] =
        "SELECT c.revision, c.key, c.type, c.value, c.create_revision, " PREV_VALUE ","
        " c.prev_create_revision, c.prev_mod_revision FROM changes c"
        " WHERE c.revision > ?1 AND substr(c.key, 1, ?2) = ?3 ORDER BY c.revision LIMIT ?4",
    /* The changes that follow a put about to be compacted away take a copy
     * of the value they refer to. */
    [ST_KEEP_PREV] =
        "UPDATE changes SET prev_value = (SELECT p.value FROM changes p"
        "                                 WHERE p.revision = changes.prev_mod_revision)"
        " WHERE revision IN (SELECT (SELECT n.revision FROM changes n WHERE n.key = d.key"
        "                            AND n.revision > d.revision ORDER BY n.revision LIMIT 1)"
        "                    FROM changes d WHERE d.revision > ?2 AND d.revision <= ?1 AND d.type = 1)"
        " AND revision > ?1 AND prev_value IS NULL AND prev_mod_revision > 0",
    [ST_COMPACT] = "DELETE FROM changes WHERE revision <= ?1",
    [ST_LEASE_INSERT] = "INSERT INTO leases (ttl_ms, expires_at) VALUES (?1, ?2)",
    [ST_LEASE_GET] = "SELECT ttl_ms, expires_at FROM leases WHERE id = ?1",
    [ST_LEASE_TOUCH] = "UPDATE leases SET expires_at = ?2 WHERE id = ?1",
    [ST_LEASE_DELETE] = "DELETE FROM leases WHERE id = ?1",
    [ST_LEASE_EXPIRED] = "SELECT id FROM leases WHERE expires_at <= ?1 ORDER BY expires_at LIMIT 1",
    [ST_LEASE_KEYS] = "SELECT key FROM kv WHERE lease = ?1 ORDER BY key LIMIT 1",
};

static const char schema_sql[] =
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    /* Keys are bound as BLOBs so SQLite compares them with memcmp(): byte
     * order, whatever the bytes are. */
    "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL,"
    " create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL,"
    " lease INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE INDEX kv_lease ON kv (lease) WHERE lease != 0;"
    /* type: 1 put, 2 delete. prev_* hold the key's state before the change
     * (prev_mod_revision 0: there was none), which both feeds watch events
     * and lets range_at() undo later changes; prev_value is NULL while the
     * change at prev_mod_revision is still in the log (PREV_VALUE). */
    "CREATE TABLE changes (revision INTEGER PRIMARY KEY, key BLOB NOT NULL,"
    " type INTEGER NOT NULL, value BLOB, create_revision INTEGER NOT NULL,"
    " prev_value BLOB, prev_create_revision INTEGER NOT NULL,"
    " prev_mod_revision INTEGER NOT NULL);"
    "CREATE INDEX changes_key ON changes (key, revision);"
    /* AUTOINCREMENT: a revoked lease's id is never handed out again. */
    "CREATE TABLE leases (id INTEGER PRIMARY KEY AUTOINCREMENT, ttl_ms INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL);"
    "CREATE INDEX leases_expiry ON leases (expires_at);";

typedef struct sqlite_store {
    const kl_host_t *host;
    char *path;
    sqlite3 *db;
    sqlite3_stmt *stmt[ST_COUNT];
    int in_transaction;       /* BEGIN IMMEDIATE done, COMMIT pending */
    int64_t revision;         /* mirrors meta.revision, including unflushed writes */
    int64_t compacted;        /* mirrors meta.compacted_revision */
    int64_t history;          /* history_revisions */
} sqlite_store_t;

/* One key's state as read from a row. `value` points into the statement's
 * row, or into `copy` once keep_row() has run. */
typedef struct row_kv {
    const void *value;
    void *copy;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t lease;
} row_kv_t;

static int db_error(sqlite_store_t *s, kl_error_t *err, const char *doing)
{
    int code = sqlite3_extended_errcode(s->db);
    int kind = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_FULL
                       || (code & 0xff) == SQLITE_IOERR
                   ? KL_ERR_UNAVAILABLE
                   : KL_ERR_INTERNAL;
    return kl_error_set(err, kind, "sqlite store (%s): %s failed: %s", s->path, doing,
                        sqlite3_errmsg(s->db));
}

static int check_key(const char *key, kl_error_t *err)
{
    if (!key || !*key)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store: the key is empty");
    return 0;
}

static void bind_key(sqlite3_stmt *st, int index, const char *key)
{
    sqlite3_bind_blob(st, index, key, (int)strlen(key), SQLITE_STATIC);
}

/* An empty value is bound as a zero-length BLOB, never as NULL. */
static void bind_value(sqlite3_stmt *st, int index, const void *value, size_t value_len)
{
    sqlite3_bind_blob64(st, index, value_len ? value : "", value_len, SQLITE_STATIC);
}

/* column_text() on a BLOB yields its bytes NUL-terminated: callers get keys
 * as C strings and values with a NUL after value_len bytes, as the memory
 * store gives them. */
static const char *column_bytes(sqlite3_stmt *st, int col, size_t *len)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    if (len)
        *len = (size_t)sqlite3_column_bytes(st, col);
    return text ? text : "";
}

static sqlite3_stmt *statement(sqlite_store_t *s, int which)
{
    sqlite3_stmt *st = s->stmt[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int exec_sql(sqlite_store_t *s, const char *sql, kl_error_t *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(s, err, sql);
    return 0;
}

static int read_meta(sqlite_store_t *s, const char *name, int64_t *value, kl_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading meta");
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_INTEGER) {
        *value = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store (%s): meta has no integer \"%s\": not a keelson store or damaged",
                            s->path, name);
    return db_error(s, err, "reading meta");
}

static int set_meta(sqlite_store_t *s, const char *name, int64_t value, kl_error_t *err)
{
    sqlite3_stmt *st = statement(s, ST_SET_META);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_error(s, err, "updating meta");
    return 0;
}

/* ---- transactions --------------------------------------------------------
 * The first write after a flush opens one long transaction; flush() commits
 * it, with meta's revision written once for all of its writes. Each
 * operation runs inside a savepoint so a failure half-way leaves none of its
 * rows behind. */

static int run_prepared(sqlite_store_t *s, int which, kl_error_t *err)
{
    sqlite3_stmt *st = statement(s, which);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, err, statement_sql[which]);
    sqlite3_reset(st);
    return rc;
}

static int begin_write(sqlite_store_t *s, kl_error_t *err)
{
    if (!s->in_transaction) {
        if (exec_sql(s, "BEGIN IMMEDIATE", err) < 0)
            return -1;
        s->in_transaction = 1;
    }
    return run_prepared(s, ST_SAVEPOINT, err);
}

static int end_write(sqlite_store_t *s, int failed, int64_t revision_before, kl_error_t *err)
{
    if (!failed)
        return run_prepared(s, ST_RELEASE, err);
    /* Some errors (disk full, I/O) make SQLite roll back the whole
     * transaction; then the unflushed writes before this one are gone too. */
    if (sqlite3_get_autocommit(s->db)) {
        s->in_transaction = 0;
        int64_t revision = s->revision;
        if (read_meta(s, "revision", &revision, NULL) == 0)
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
    if (!s->in_transaction)
        return 0;
    int meta_failed = set_meta(s, "revision", s->revision, err) < 0;
    sqlite3_reset(s->stmt[ST_SET_META]);
    if (!meta_failed && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK) {
        s->in_transaction = 0;
        return 0;
    }
    if (!meta_failed)
        db_error(s, err, "committing the pending writes");
    /* The writes are lost: roll back so memory agrees with the file again. */
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_transaction = 0;
    int64_t revision = s->revision;
    if (read_meta(s, "revision", &revision, NULL) == 0)
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

/* First thing that reads the file: reports a file that is not SQLite, or is
 * held by another process, with the path. */
static int set_pragmas(sqlite_store_t *s, const char *synchronous, kl_error_t *err)
{
    /* EXCLUSIVE: this process owns the file (the store does not claim
     * KL_STORE_SHARED), and WAL then needs no shared-memory index. */
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, "PRAGMA locking_mode = EXCLUSIVE", NULL, NULL, &msg);
    sqlite3_free(msg);
    if (rc != SQLITE_OK)
        return db_error(s, err, "setting the locking mode");
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            if (!mode || strcmp(mode, "wal") != 0) {
                kl_error_set(err, KL_ERR_INVALID,
                             "sqlite store (%s): cannot switch the database to WAL journal mode (it stays \"%s\")",
                             s->path, mode ? mode : "?");
                sqlite3_finalize(st);
                return -1;
            }
            rc = SQLITE_OK;
        }
        sqlite3_finalize(st);
    }
    if (rc != SQLITE_OK) {
        int code = sqlite3_errcode(s->db);
        if (code == SQLITE_NOTADB)
            return kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): the file is not an SQLite database",
                                s->path);
        if (code == SQLITE_BUSY)
            return kl_error_set(err, KL_ERR_UNAVAILABLE,
                                "sqlite store (%s): the database is locked by another process (another keelsond on the same path?)",
                                s->path);
        if (code == SQLITE_CORRUPT)
            return kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): the database is corrupt: %s",
                                s->path, sqlite3_errmsg(s->db));
        return db_error(s, err, "opening the database");
    }
    /* FULL: in WAL mode SQLite then fsyncs the WAL at every commit, so a write
     * acknowledged after flush() survives power loss. NORMAL fsyncs only at
     * checkpoints: it survives a crash of the process but may lose the last
     * commits if the machine loses power. */
    if (strcmp(synchronous, "full") == 0)
        return exec_sql(s, "PRAGMA synchronous = FULL", err);
    return exec_sql(s, "PRAGMA synchronous = NORMAL", err);
}

static int check_integrity(sqlite_store_t *s, kl_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): the database is damaged: %s",
                            s->path, sqlite3_errmsg(s->db));
    int rc = sqlite3_step(st);
    const char *result = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (rc == SQLITE_ROW && result && strcmp(result, "ok") == 0) {
        sqlite3_finalize(st);
        return 0;
    }
    /* quick_check reports "*** in database main ***" and then one line per
     * problem; keep the error to one line. */
    const char *detail = result ? result : sqlite3_errmsg(s->db);
    if (strncmp(detail, "*** in database main ***\n", 25) == 0)
        detail += 25;
    kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): the database is corrupt: %.300s", s->path, detail);
    for (char *nl = strchr(err ? err->text : "", '\n'); nl; nl = strchr(nl, '\n'))
        *nl = ' ';
    sqlite3_finalize(st);
    return -1;
}

static int count_tables(sqlite_store_t *s, int64_t *count, kl_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading the schema");
    int rc = sqlite3_step(st);
    *count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_error(s, err, "reading the schema");
}

static int create_schema(sqlite_store_t *s, kl_error_t *err)
{
    char sql[sizeof schema_sql + 256];
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE;%s"
             "INSERT INTO meta VALUES ('schema_version', %d), ('revision', 0), ('compacted_revision', 0);"
             "COMMIT;",
             schema_sql, SCHEMA_VERSION);
    if (exec_sql(s, sql, err) < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int load_schema(sqlite_store_t *s, kl_error_t *err)
{
    int64_t tables = 0;
    if (count_tables(s, &tables, err) < 0)
        return -1;
    if (tables == 0)
        return create_schema(s, err);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(s, err, "reading the schema");
    int has_meta = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!has_meta)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store (%s): an SQLite database but not a keelson store (it has no meta table); refusing to touch it",
                            s->path);
    int64_t version;
    if (read_meta(s, "schema_version", &version, err) < 0)
        return -1;
    if (version > SCHEMA_VERSION)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store (%s): written by a newer keelson (schema version %lld; this plugin reads up to %d): upgrade keelsond",
                            s->path, (long long)version, SCHEMA_VERSION);
    if (version < 1)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): invalid schema version %lld",
                            s->path, (long long)version);
    /* Version 1 copied every previous value into the log. Its rows read the
     * same under version 2; the new number keeps older keelsond off a log
     * that now refers to them instead. */
    if (version == 1)
        return exec_sql(s, "UPDATE meta SET value = 2 WHERE name = 'schema_version'", err);
    return 0;
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
    long long history = host->setting_int(host, "history_revisions", DEFAULT_HISTORY);
    if (history < 1) {
        kl_error_set(err, KL_ERR_INVALID, "sqlite store: the setting \"history_revisions\" is %lld; it must be at least 1",
                     history);
        return NULL;
    }
    long long busy = host->setting_int(host, "busy_timeout_ms", DEFAULT_BUSY_TIMEOUT_MS);
    if (busy < 0 || busy > INT32_MAX) {
        kl_error_set(err, KL_ERR_INVALID,
                     "sqlite store: the setting \"busy_timeout_ms\" is %lld; it must be between 0 and %d",
                     busy, INT32_MAX);
        return NULL;
    }
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
    if (set_pragmas(s, synchronous, err) < 0 || check_integrity(s, err) < 0
        || load_schema(s, err) < 0)
        goto fail;
    if (read_meta(s, "revision", &s->revision, err) < 0
        || read_meta(s, "compacted_revision", &s->compacted, err) < 0)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK) {
            kl_error_set(err, KL_ERR_INVALID,
                         "sqlite store (%s): the database does not have the expected tables: %s", path,
                         sqlite3_errmsg(s->db));
            goto fail;
        }
    }
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

/* ---- reads ---------------------------------------------------------------- */

static void row_to_kv(sqlite3_stmt *st, int first_col, kl_store_kv_t *kv)
{
    kv->key = column_bytes(st, first_col, NULL);
    kv->value = column_bytes(st, first_col + 1, &kv->value_len);
    kv->create_revision = sqlite3_column_int64(st, first_col + 2);
    kv->mod_revision = sqlite3_column_int64(st, first_col + 3);
}

/* Reads the current row of `key` into the prepared ST_GET: 1 found, 0 absent. */
static int lookup(sqlite_store_t *s, const char *key, row_kv_t *row, kl_error_t *err)
{
    sqlite3_stmt *st = statement(s, ST_GET);
    bind_key(st, 1, key);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW)
        return db_error(s, err, "reading a key");
    row->value = column_bytes(st, 1, &row->value_len);
    row->create_revision = sqlite3_column_int64(st, 2);
    row->mod_revision = sqlite3_column_int64(st, 3);
    row->lease = sqlite3_column_int64(st, 4);
    row->copy = NULL;
    return 1;
}

/* Copies the row's value out of ST_GET, whose row pointers would not survive
 * the writes to the same table that follow. */
static int keep_row(sqlite_store_t *s, row_kv_t *row, kl_error_t *err)
{
    row->copy = malloc(row->value_len + 1);
    if (!row->copy) {
        sqlite3_reset(s->stmt[ST_GET]);
        return kl_error_set(err, KL_ERR_INTERNAL, "sqlite store: out of memory for a %zu-byte value",
                            row->value_len);
    }
    memcpy(row->copy, row->value, row->value_len + 1);
    row->value = row->copy;
    sqlite3_reset(s->stmt[ST_GET]);
    return 0;
}

static int sqlite_get(void *store, const char *key, kl_store_visit_fn visit, void *arg, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    row_kv_t row;
    int found = lookup(s, key, &row, err);
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
        db_error(s, err, "reading a range");
    sqlite3_reset(st);
    return failed ? -1 : 0;
}

static const char *range_start(const char *prefix, const char *start_after)
{
    return start_after && strcmp(start_after, prefix) >= 0 ? start_after : prefix;
}

static int sqlite_range_at(void *store, const char *prefix, const char *start_after, size_t limit,
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
        st = statement(s, ST_RANGE);
    } else {
        st = statement(s, ST_RANGE_AT);
        sqlite3_bind_int64(st, 2, at_revision);
    }
    const char *start = range_start(prefix, start_after);
    bind_key(st, 1, start);
    if (revision)
        *revision = at_revision ? at_revision : s->revision;
    return walk_range(s, st, prefix, start == start_after ? start_after : NULL, limit, visit, arg,
                      more, err);
}

static int sqlite_range(void *store, const char *prefix, const char *start_after, size_t limit,
                        kl_store_visit_fn visit, void *arg, int64_t *revision, kl_error_t *err)
{
    return sqlite_range_at(store, prefix, start_after, limit, 0, visit, arg, revision, NULL, err);
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

static int sqlite_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
                          kl_store_event_fn visit, void *arg, int64_t *last_revision, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (!prefix)
        prefix = "";
    if (after_revision < s->compacted)
        return kl_error_set(err, KL_ERR_EXPIRED,
                            "sqlite store: changes after revision %lld were compacted away (history starts after %lld)",
                            (long long)after_revision, (long long)s->compacted);
    sqlite3_stmt *st = statement(s, ST_CHANGES);
    size_t prefix_len = strlen(prefix);
    sqlite3_bind_int64(st, 1, after_revision);
    sqlite3_bind_int64(st, 2, (int64_t)prefix_len);
    bind_value(st, 3, prefix, prefix_len);
    sqlite3_bind_int64(st, 4, limit ? (int64_t)limit : -1);
    int64_t last = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kl_store_event_t event = {0};
        kl_store_kv_t prev;
        last = sqlite3_column_int64(st, 0);
        event.type = sqlite3_column_int(st, 2) == KL_STORE_DELETE ? KL_STORE_DELETE : KL_STORE_PUT;
        event.kv.key = column_bytes(st, 1, NULL);
        if (event.type == KL_STORE_PUT)
            event.kv.value = column_bytes(st, 3, &event.kv.value_len);
        event.kv.create_revision = sqlite3_column_int64(st, 4);
        event.kv.mod_revision = last;
        if (sqlite3_column_int64(st, 7) > 0) {
            prev.key = event.kv.key;
            prev.value = column_bytes(st, 5, &prev.value_len);
            prev.create_revision = sqlite3_column_int64(st, 6);
            prev.mod_revision = sqlite3_column_int64(st, 7);
            event.prev = &prev;
        }
        if (visit && visit(&event, arg))
            break;
    }
    int failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
    if (failed)
        db_error(s, err, "reading the change log");
    sqlite3_reset(st);
    if (failed)
        return -1;
    if (last_revision)
        *last_revision = last ? last : s->revision;
    return 0;
}

/* ---- writes ---------------------------------------------------------------- */

static int log_change(sqlite_store_t *s, int64_t revision, const char *key, int type, const void *value,
                      size_t value_len, int64_t create_revision, const row_kv_t *prev, kl_error_t *err)
{
    sqlite3_stmt *st = statement(s, ST_INSERT_CHANGE);
    sqlite3_bind_int64(st, 1, revision);
    bind_key(st, 2, key);
    sqlite3_bind_int(st, 3, type);
    if (type == KL_STORE_PUT)
        bind_value(st, 4, value, value_len);
    sqlite3_bind_int64(st, 5, create_revision);
    if (prev && prev->mod_revision <= s->compacted)
        bind_value(st, 6, prev->value, prev->value_len);
    sqlite3_bind_int64(st, 7, prev ? prev->create_revision : 0);
    sqlite3_bind_int64(st, 8, prev ? prev->mod_revision : 0);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_error(s, err, "appending to the change log");
    sqlite3_reset(st);
    return 0;
}

/* Checks the lease a write attaches to: present and not yet expired. */
static int check_lease(sqlite_store_t *s, int64_t lease_id, kl_error_t *err)
{
    sqlite3_stmt *st = statement(s, ST_LEASE_GET);
    sqlite3_bind_int64(st, 1, lease_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(s, err, "reading a lease");
    int alive = rc == SQLITE_ROW && sqlite3_column_int64(st, 1) > s->host->realtime_ms(s->host);
    sqlite3_reset(st);
    if (!alive)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: lease %lld not found or expired",
                            (long long)lease_id);
    return 0;
}

/* The body of every put. expected: -1 create, 0 update any, >0 CAS update.
 * A put without a lease detaches the key from any lease it had, as in etcd. */
static int put(sqlite_store_t *s, const char *key, const char *value, size_t value_len,
               int64_t expected, int64_t lease_id, int64_t *revision, kl_error_t *err)
{
    if (lease_id < 0)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store: lease id %lld is negative",
                            (long long)lease_id);
    if (lease_id && check_lease(s, lease_id, err) < 0)
        return -1;
    row_kv_t prev;
    int found = lookup(s, key, &prev, err);
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
    sqlite3_stmt *st = statement(s, found ? ST_UPDATE_KV : ST_INSERT_KV);
    bind_key(st, 1, key);
    bind_value(st, 2, value, value_len);
    sqlite3_bind_int64(st, 3, next);
    sqlite3_bind_int64(st, 4, lease_id);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, err, "writing a key");
    sqlite3_reset(st);
    if (rc == 0)
        rc = log_change(s, next, key, KL_STORE_PUT, value, value_len, create_revision,
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

static int delete_key(sqlite_store_t *s, const char *key, int64_t expected, int64_t *revision,
                      kl_error_t *err)
{
    row_kv_t prev;
    int found = lookup(s, key, &prev, err);
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
    sqlite3_stmt *st = statement(s, ST_DELETE_KV);
    bind_key(st, 1, key);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : db_error(s, err, "deleting a key");
    sqlite3_reset(st);
    if (rc == 0)
        rc = log_change(s, next, key, KL_STORE_DELETE, NULL, 0, prev.create_revision, &prev, err);
    free(prev.copy);
    if (rc < 0)
        return -1;
    s->revision = next;
    if (revision)
        *revision = next;
    return 0;
}

static int sqlite_put_with_lease(void *store, const char *key, const char *value, size_t value_len,
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
    if (begin_write(s, err) < 0)
        return -1;
    int failed = put(s, key, value, value_len, expected_mod_revision, lease_id, revision, err) < 0;
    sqlite3_reset(s->stmt[ST_GET]);
    if (end_write(s, failed, before, err) < 0)
        return -1;
    return 0;
}

static int sqlite_create(void *store, const char *key, const char *value, size_t value_len,
                         int64_t *revision, kl_error_t *err)
{
    return sqlite_put_with_lease(store, key, value, value_len, -1, 0, revision, err);
}

static int sqlite_update(void *store, const char *key, const char *value, size_t value_len,
                         int64_t expected_mod_revision, int64_t *revision, kl_error_t *err)
{
    if (expected_mod_revision < 0)
        expected_mod_revision = 0;
    return sqlite_put_with_lease(store, key, value, value_len, expected_mod_revision, 0, revision, err);
}

static int sqlite_remove(void *store, const char *key, int64_t expected_mod_revision, int64_t *revision,
                         kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (check_key(key, err) < 0)
        return -1;
    int64_t before = s->revision;
    if (begin_write(s, err) < 0)
        return -1;
    int failed = delete_key(s, key, expected_mod_revision, revision, err) < 0;
    sqlite3_reset(s->stmt[ST_GET]);
    return end_write(s, failed, before, err);
}

static int compact_to(sqlite_store_t *s, int64_t revision, kl_error_t *err)
{
    sqlite3_stmt *keep = statement(s, ST_KEEP_PREV);
    sqlite3_bind_int64(keep, 1, revision);
    sqlite3_bind_int64(keep, 2, s->compacted);
    if (sqlite3_step(keep) != SQLITE_DONE)
        return db_error(s, err, "keeping the values later changes refer to");
    sqlite3_reset(keep);
    sqlite3_stmt *st = statement(s, ST_COMPACT);
    sqlite3_bind_int64(st, 1, revision);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_error(s, err, "compacting the change log");
    sqlite3_reset(st);
    return set_meta(s, "compacted_revision", revision, err);
}

static int sqlite_compact(void *store, int64_t revision, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (revision < 0 || revision > s->revision)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store: cannot compact to revision %lld: it is not between 0 and the current revision %lld",
                            (long long)revision, (long long)s->revision);
    if (revision <= s->compacted)
        return 0;
    int64_t before = s->revision;
    if (begin_write(s, err) < 0)
        return -1;
    int failed = compact_to(s, revision, err) < 0;
    if (end_write(s, failed, before, err) < 0)
        return -1;
    s->compacted = revision;
    return 0;
}

static int64_t sqlite_compacted_revision(void *store)
{
    return ((sqlite_store_t *)store)->compacted;
}

/* ---- leases ---------------------------------------------------------------- */

static int sqlite_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (ttl_ms <= 0)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store: lease TTL %lld ms must be positive",
                            (long long)ttl_ms);
    if (begin_write(s, err) < 0)
        return -1;
    sqlite3_stmt *st = statement(s, ST_LEASE_INSERT);
    sqlite3_bind_int64(st, 1, ttl_ms);
    sqlite3_bind_int64(st, 2, s->host->realtime_ms(s->host) + ttl_ms);
    int failed = sqlite3_step(st) != SQLITE_DONE;
    if (failed)
        db_error(s, err, "granting a lease");
    else if (lease_id)
        *lease_id = sqlite3_last_insert_rowid(s->db);
    sqlite3_reset(st);
    return end_write(s, failed, s->revision, err);
}

static int sqlite_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err)
{
    sqlite_store_t *s = store;
    sqlite3_stmt *st = statement(s, ST_LEASE_GET);
    sqlite3_bind_int64(st, 1, lease_id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_error(s, err, "reading a lease");
    int64_t now = s->host->realtime_ms(s->host);
    int alive = rc == SQLITE_ROW && sqlite3_column_int64(st, 1) > now;
    int64_t ttl = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (!alive)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: lease %lld not found or expired",
                            (long long)lease_id);
    if (begin_write(s, err) < 0)
        return -1;
    st = statement(s, ST_LEASE_TOUCH);
    sqlite3_bind_int64(st, 1, lease_id);
    sqlite3_bind_int64(st, 2, now + ttl);
    int failed = sqlite3_step(st) != SQLITE_DONE;
    if (failed)
        db_error(s, err, "renewing a lease");
    sqlite3_reset(st);
    return end_write(s, failed, s->revision, err);
}

/* Deletes every key attached to the lease (one DELETE change each), then the
 * lease. Runs inside a savepoint. */
static int drop_lease(sqlite_store_t *s, int64_t lease_id, kl_error_t *err)
{
    for (;;) {
        sqlite3_stmt *st = statement(s, ST_LEASE_KEYS);
        sqlite3_bind_int64(st, 1, lease_id);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            return db_error(s, err, "reading the keys of a lease");
        char *key = strdup(column_bytes(st, 0, NULL));
        sqlite3_reset(st);
        if (!key)
            return kl_error_set(err, KL_ERR_INTERNAL, "sqlite store: out of memory");
        int failed = delete_key(s, key, 0, NULL, err) < 0;
        free(key);
        if (failed)
            return -1;
    }
    sqlite3_reset(s->stmt[ST_LEASE_KEYS]);
    sqlite3_stmt *st = statement(s, ST_LEASE_DELETE);
    sqlite3_bind_int64(st, 1, lease_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_error(s, err, "deleting a lease");
    sqlite3_reset(st);
    return 0;
}

static int sqlite_lease_revoke(void *store, int64_t lease_id, kl_error_t *err)
{
    sqlite_store_t *s = store;
    sqlite3_stmt *st = statement(s, ST_LEASE_GET);
    sqlite3_bind_int64(st, 1, lease_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "sqlite store: lease %lld not found",
                            (long long)lease_id);
    if (rc != SQLITE_ROW)
        return db_error(s, err, "reading a lease");
    int64_t before = s->revision;
    if (begin_write(s, err) < 0)
        return -1;
    int failed = drop_lease(s, lease_id, err) < 0;
    sqlite3_reset(s->stmt[ST_GET]);
    return end_write(s, failed, before, err);
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
        sqlite3_stmt *st = statement(s, ST_LEASE_EXPIRED);
        sqlite3_bind_int64(st, 1, now);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW)
            return db_error(s, err, "looking for expired leases");
        int64_t lease_id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (sqlite_lease_revoke(s, lease_id, err) < 0)
            return -1;
        wrote = 1;
    }
    sqlite3_reset(s->stmt[ST_LEASE_EXPIRED]);
    /* Compact in slices of a sixteenth of the history, not on every write. */
    int64_t slack = s->history / 16 + 1;
    if (s->revision - s->compacted > s->history + slack) {
        if (sqlite_compact(s, s->revision - s->history, err) < 0)
            return -1;
        wrote = 1;
    }
    return wrote ? sqlite_flush(s, err) : 0;
}

static const kl_store_ops_t sqlite_ops = {
    .open = sqlite_open,
    .close = sqlite_close,
    .get = sqlite_get,
    .range = sqlite_range,
    .create = sqlite_create,
    .update = sqlite_update,
    .remove = sqlite_remove,
    .revision = sqlite_revision,
    .features = sqlite_features,
    .range_at = sqlite_range_at,
    .changes = sqlite_changes,
    .compact = sqlite_compact,
    .compacted_revision = sqlite_compacted_revision,
    .flush = sqlite_flush,
    .lease_grant = sqlite_lease_grant,
    .lease_keepalive = sqlite_lease_keepalive,
    .lease_revoke = sqlite_lease_revoke,
    .put_with_lease = sqlite_put_with_lease,
    .tick = sqlite_tick,
};

KL_STORE_PLUGIN("sqlite", "0.1.0", "durable revisioned key-value store in one SQLite file (WAL)",
                sqlite_settings, sqlite_ops);
