/* store/sqlite: the database's layout and the statements run on it, so open
 * can create, upgrade, check and prepare it before any read or write. */
#include <stdio.h>
#include <string.h>

#include "sqlite_store.h"

/* Bump when the tables change; open() refuses a file from a newer keelson
 * instead of misreading it. */
#define SCHEMA_VERSION 3

/* A change's previous value. A change stores it only when the put that wrote
 * it was compacted away before the change was made; otherwise it is that
 * put's own row, kept by compaction while cited, so each update writes the
 * object once to the log instead of twice. */
#define PREV_VALUE \
    "COALESCE(c.prev_value, (SELECT p.value FROM changes p WHERE p.revision = c.prev_mod_revision))"

static const char *const statement_sql[ST_COUNT] = {
    [ST_SAVEPOINT] = "SAVEPOINT op",
    [ST_RELEASE] = "RELEASE op",
    [ST_GET] = "SELECT key, value, create_revision, mod_revision, lease FROM kv WHERE key = ?1",
    [ST_RANGE] = "SELECT key, value, create_revision, mod_revision FROM kv WHERE key >= ?1 ORDER BY key",
    /* A key's state at revision R is its current row when nothing touched it
     * after R; otherwise it is the `prev` recorded by its first change after R
     * (none when that change created it). The first change after R is the
     * one whose previous state is at or before R. Only changes after R are
     * read (`+` keeps the planner on that revision range, not the prev
     * index), so any R at or after the compacted revision can be answered. */
    [ST_RANGE_AT] =
        "SELECT key, value, create_revision, mod_revision FROM kv"
        " WHERE key >= ?1 AND mod_revision <= ?2"
        " UNION ALL"
        " SELECT c.key, " PREV_VALUE ", c.prev_create_revision, c.prev_mod_revision FROM changes c"
        " WHERE c.revision > ?2 AND +c.prev_mod_revision > 0 AND +c.prev_mod_revision <= ?2"
        "   AND c.key >= ?1"
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
    /* Compaction keeps a put that a later change still reads as its
     * previous value (PREV_VALUE), instead of copying the value into that
     * change. A kept row goes with the compaction that passes the change
     * citing it. */
    [ST_COMPACT] =
        "DELETE FROM changes WHERE revision <= ?1"
        " AND NOT (type = 1 AND EXISTS (SELECT 1 FROM changes n"
        "                               WHERE n.prev_mod_revision = changes.revision"
        "                               AND n.prev_mod_revision > 0 AND n.revision > ?1"
        "                               AND n.prev_value IS NULL))",
    [ST_LEASE_INSERT] = "INSERT INTO leases (ttl_ms, expires_at) VALUES (?1, ?2)",
    [ST_LEASE_GET] = "SELECT ttl_ms, expires_at FROM leases WHERE id = ?1",
    [ST_LEASE_TOUCH] = "UPDATE leases SET expires_at = ?2 WHERE id = ?1",
    [ST_LEASE_DELETE] = "DELETE FROM leases WHERE id = ?1",
    [ST_LEASE_EXPIRED] = "SELECT id FROM leases WHERE expires_at <= ?1 ORDER BY expires_at LIMIT 1",
    [ST_LEASE_KEYS] = "SELECT key FROM kv WHERE lease = ?1 ORDER BY key LIMIT 1",
};

/* Keys are bound as BLOBs so SQLite compares them with memcmp(): byte
 * order, whatever the bytes are. A rowid table, found by key through its
 * primary-key index: a WITHOUT ROWID table keeps rows of more than about a
 * quarter page (most objects) partly on overflow pages, which made every
 * write of the current state cost a third more. */
#define KV_TABLE(name)                                                  \
    "CREATE TABLE " name " (key BLOB PRIMARY KEY, value BLOB NOT NULL," \
    " create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL,"  \
    " lease INTEGER NOT NULL DEFAULT 0);"
#define KV_LEASE_INDEX "CREATE INDEX kv_lease ON kv (lease) WHERE lease != 0;"

/* Each change but a create cites the one before it: compaction asks whether
 * a put is still cited. Version 2 indexed (key, revision) instead, a larger
 * entry for every change. */
#define CHANGES_PREV_INDEX \
    "CREATE INDEX changes_prev ON changes (prev_mod_revision) WHERE prev_mod_revision > 0;"

static const char schema_sql[] =
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"
    KV_TABLE("kv")
    KV_LEASE_INDEX
    /* type: 1 put, 2 delete. prev_* hold the key's state before the change
     * (prev_mod_revision 0: there was none), which both feeds watch events
     * and lets range_at() undo later changes; prev_value is NULL while the
     * change at prev_mod_revision is still in the log (PREV_VALUE). */
    "CREATE TABLE changes (revision INTEGER PRIMARY KEY, key BLOB NOT NULL,"
    " type INTEGER NOT NULL, value BLOB, create_revision INTEGER NOT NULL,"
    " prev_value BLOB, prev_create_revision INTEGER NOT NULL,"
    " prev_mod_revision INTEGER NOT NULL);"
    CHANGES_PREV_INDEX
    /* AUTOINCREMENT: a revoked lease's id is never handed out again. */
    "CREATE TABLE leases (id INTEGER PRIMARY KEY AUTOINCREMENT, ttl_ms INTEGER NOT NULL,"
    " expires_at INTEGER NOT NULL);"
    "CREATE INDEX leases_expiry ON leases (expires_at);";

int sqlite_store_db_error(sqlite_store_t *s, kl_error_t *err, const char *doing)
{
    int code = sqlite3_extended_errcode(s->db);
    int kind = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_FULL
                       || (code & 0xff) == SQLITE_IOERR
                   ? KL_ERR_UNAVAILABLE
                   : KL_ERR_INTERNAL;
    return kl_error_set(err, kind, "sqlite store (%s): %s failed: %s", s->path, doing,
                        sqlite3_errmsg(s->db));
}

void sqlite_store_bind_key(sqlite3_stmt *st, int index, const char *key)
{
    sqlite3_bind_blob(st, index, key, (int)strlen(key), SQLITE_STATIC);
}

/* An empty value is bound as a zero-length BLOB, never as NULL. */
void sqlite_store_bind_value(sqlite3_stmt *st, int index, const void *value, size_t value_len)
{
    sqlite3_bind_blob64(st, index, value_len ? value : "", value_len, SQLITE_STATIC);
}

/* column_text() on a BLOB yields its bytes NUL-terminated: callers get keys
 * as C strings and values with a NUL after value_len bytes, as the memory
 * store gives them. */
const char *sqlite_store_column_bytes(sqlite3_stmt *st, int col, size_t *len)
{
    const char *text = (const char *)sqlite3_column_text(st, col);
    if (len)
        *len = (size_t)sqlite3_column_bytes(st, col);
    return text ? text : "";
}

sqlite3_stmt *sqlite_store_statement(sqlite_store_t *s, int which)
{
    sqlite3_stmt *st = s->stmt[which];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int sqlite_store_exec_sql(sqlite_store_t *s, const char *sql, kl_error_t *err)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return sqlite_store_db_error(s, err, sql);
    return 0;
}

int sqlite_store_run_prepared(sqlite_store_t *s, int which, kl_error_t *err)
{
    sqlite3_stmt *st = sqlite_store_statement(s, which);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sqlite_store_db_error(s, err, statement_sql[which]);
    sqlite3_reset(st);
    return rc;
}

int sqlite_store_read_meta(sqlite_store_t *s, const char *name, int64_t *value, kl_error_t *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name = ?1", -1, &st, NULL) != SQLITE_OK)
        return sqlite_store_db_error(s, err, "reading meta");
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
    return sqlite_store_db_error(s, err, "reading meta");
}

int sqlite_store_set_meta(sqlite_store_t *s, const char *name, int64_t value, kl_error_t *err)
{
    sqlite3_stmt *st = sqlite_store_statement(s, ST_SET_META);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    if (sqlite3_step(st) != SQLITE_DONE)
        return sqlite_store_db_error(s, err, "updating meta");
    return 0;
}

/* First thing that reads the file: reports a file that is not SQLite, or is
 * held by another process, with the path. */
int sqlite_store_set_pragmas(sqlite_store_t *s, const char *synchronous, int checkpoint_pages,
                             kl_error_t *err)
{
    /* EXCLUSIVE: this process owns the file (the store does not claim
     * KL_STORE_SHARED), and WAL then needs no shared-memory index. */
    char *msg = NULL;
    int rc = sqlite3_exec(s->db, "PRAGMA locking_mode = EXCLUSIVE", NULL, NULL, &msg);
    sqlite3_free(msg);
    if (rc != SQLITE_OK)
        return sqlite_store_db_error(s, err, "setting the locking mode");
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
        return sqlite_store_db_error(s, err, "opening the database");
    }
    /* FULL: in WAL mode SQLite then fsyncs the WAL at every commit, so a write
     * acknowledged after flush() survives power loss. NORMAL fsyncs only at
     * checkpoints: it survives a crash of the process but may lose the last
     * commits if the machine loses power. */
    char checkpoint[64];
    snprintf(checkpoint, sizeof checkpoint, "PRAGMA wal_autocheckpoint = %d", checkpoint_pages);
    if (sqlite_store_exec_sql(s, checkpoint, err) < 0)
        return -1;
    if (strcmp(synchronous, "full") == 0)
        return sqlite_store_exec_sql(s, "PRAGMA synchronous = FULL", err);
    return sqlite_store_exec_sql(s, "PRAGMA synchronous = NORMAL", err);
}

int sqlite_store_check_integrity(sqlite_store_t *s, kl_error_t *err)
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
        return sqlite_store_db_error(s, err, "reading the schema");
    int rc = sqlite3_step(st);
    *count = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : sqlite_store_db_error(s, err, "reading the schema");
}

static int create_schema(sqlite_store_t *s, kl_error_t *err)
{
    char sql[sizeof schema_sql + 256];
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE;%s"
             "INSERT INTO meta VALUES ('schema_version', %d), ('revision', 0), ('compacted_revision', 0);"
             "COMMIT;",
             schema_sql, SCHEMA_VERSION);
    if (sqlite_store_exec_sql(s, sql, err) < 0) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* Versions 1 and 2 kept kv WITHOUT ROWID; its rows move to a rowid table in
 * one transaction, and the change log's index changes. Version 1 copied
 * every previous value into the log, and version 2 copied it when
 * compaction removed the put it came from: their log reads the same under
 * version 3. The new number keeps older keelsond, whose compaction would
 * delete the puts version 3 keeps, off the file. */
static int upgrade_to_3(sqlite_store_t *s, int64_t version, kl_error_t *err)
{
    s->host->log(s->host, KL_LOG_INFO, "sqlite store %s: upgrading from schema version %lld to 3",
                 s->path, (long long)version);
    static const char upgrade_sql[] =
        "BEGIN IMMEDIATE;"
        KV_TABLE("kv_rows")
        "INSERT INTO kv_rows SELECT key, value, create_revision, mod_revision, lease FROM kv;"
        "DROP TABLE kv;"
        "ALTER TABLE kv_rows RENAME TO kv;"
        KV_LEASE_INDEX
        "DROP INDEX IF EXISTS changes_key;"
        CHANGES_PREV_INDEX
        "UPDATE meta SET value = 3 WHERE name = 'schema_version';"
        "COMMIT;";
    if (sqlite3_exec(s->db, upgrade_sql, NULL, NULL, NULL) != SQLITE_OK) {
        sqlite_store_db_error(s, err, "upgrading the schema to version 3");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int sqlite_store_load_schema(sqlite_store_t *s, kl_error_t *err)
{
    int64_t tables = 0;
    if (count_tables(s, &tables, err) < 0)
        return -1;
    if (tables == 0)
        return create_schema(s, err);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                           -1, &st, NULL) != SQLITE_OK)
        return sqlite_store_db_error(s, err, "reading the schema");
    int has_meta = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    if (!has_meta)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store (%s): an SQLite database but not a keelson store (it has no meta table); refusing to touch it",
                            s->path);
    int64_t version;
    if (sqlite_store_read_meta(s, "schema_version", &version, err) < 0)
        return -1;
    if (version > SCHEMA_VERSION)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store (%s): written by a newer keelson (schema version %lld; this plugin reads up to %d): upgrade keelsond",
                            s->path, (long long)version, SCHEMA_VERSION);
    if (version < 1)
        return kl_error_set(err, KL_ERR_INVALID, "sqlite store (%s): invalid schema version %lld",
                            s->path, (long long)version);
    if (version < SCHEMA_VERSION)
        return upgrade_to_3(s, version, err);
    return 0;
}


int sqlite_store_prepare(sqlite_store_t *s, kl_error_t *err)
{
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(s->db, statement_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[i],
                               NULL) != SQLITE_OK)
            return kl_error_set(err, KL_ERR_INVALID,
                                "sqlite store (%s): the database does not have the expected tables: %s",
                                s->path, sqlite3_errmsg(s->db));
    }
    return 0;
}
