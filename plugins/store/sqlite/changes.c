/* store/sqlite: the change log behind watches and past reads, and the
 * compaction that bounds it. */
#include <string.h>

#include "sqlite_store.h"

int sqlite_store_log_change(sqlite_store_t *s, int64_t revision, const char *key, int type,
                            const void *value, size_t value_len, int64_t create_revision,
                            const row_kv_t *prev, kl_error_t *err)
{
    sqlite3_stmt *st = sqlite_store_statement(s, ST_INSERT_CHANGE);
    sqlite3_bind_int64(st, 1, revision);
    sqlite_store_bind_key(st, 2, key);
    sqlite3_bind_int(st, 3, type);
    if (type == KL_STORE_PUT)
        sqlite_store_bind_value(st, 4, value, value_len);
    sqlite3_bind_int64(st, 5, create_revision);
    if (prev && prev->mod_revision <= s->compacted)
        sqlite_store_bind_value(st, 6, prev->value, prev->value_len);
    sqlite3_bind_int64(st, 7, prev ? prev->create_revision : 0);
    sqlite3_bind_int64(st, 8, prev ? prev->mod_revision : 0);
    if (sqlite3_step(st) != SQLITE_DONE)
        return sqlite_store_db_error(s, err, "appending to the change log");
    sqlite3_reset(st);
    return 0;
}

int sqlite_store_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
                         kl_store_event_fn visit, void *arg, int64_t *last_revision, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (!prefix)
        prefix = "";
    if (after_revision < s->compacted)
        return kl_error_set(err, KL_ERR_EXPIRED,
                            "sqlite store: changes after revision %lld were compacted away (history starts after %lld)",
                            (long long)after_revision, (long long)s->compacted);
    sqlite3_stmt *st = sqlite_store_statement(s, ST_CHANGES);
    size_t prefix_len = strlen(prefix);
    sqlite3_bind_int64(st, 1, after_revision);
    sqlite3_bind_int64(st, 2, (int64_t)prefix_len);
    sqlite_store_bind_value(st, 3, prefix, prefix_len);
    sqlite3_bind_int64(st, 4, limit ? (int64_t)limit : -1);
    int64_t last = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kl_store_event_t event = {0};
        kl_store_kv_t prev;
        last = sqlite3_column_int64(st, 0);
        event.type = sqlite3_column_int(st, 2) == KL_STORE_DELETE ? KL_STORE_DELETE : KL_STORE_PUT;
        event.kv.key = sqlite_store_column_bytes(st, 1, NULL);
        if (event.type == KL_STORE_PUT)
            event.kv.value = sqlite_store_column_bytes(st, 3, &event.kv.value_len);
        event.kv.create_revision = sqlite3_column_int64(st, 4);
        event.kv.mod_revision = last;
        if (sqlite3_column_int64(st, 7) > 0) {
            prev.key = event.kv.key;
            prev.value = sqlite_store_column_bytes(st, 5, &prev.value_len);
            prev.create_revision = sqlite3_column_int64(st, 6);
            prev.mod_revision = sqlite3_column_int64(st, 7);
            event.prev = &prev;
        }
        if (visit && visit(&event, arg))
            break;
    }
    int failed = rc != SQLITE_ROW && rc != SQLITE_DONE;
    if (failed)
        sqlite_store_db_error(s, err, "reading the change log");
    sqlite3_reset(st);
    if (failed)
        return -1;
    if (last_revision)
        *last_revision = last ? last : s->revision;
    return 0;
}

static int compact_to(sqlite_store_t *s, int64_t revision, kl_error_t *err)
{
    sqlite3_stmt *st = sqlite_store_statement(s, ST_COMPACT);
    sqlite3_bind_int64(st, 1, revision);
    if (sqlite3_step(st) != SQLITE_DONE)
        return sqlite_store_db_error(s, err, "compacting the change log");
    sqlite3_reset(st);
    return sqlite_store_set_meta(s, "compacted_revision", revision, err);
}

int sqlite_store_compact(void *store, int64_t revision, kl_error_t *err)
{
    sqlite_store_t *s = store;
    if (revision < 0 || revision > s->revision)
        return kl_error_set(err, KL_ERR_INVALID,
                            "sqlite store: cannot compact to revision %lld: it is not between 0 and the current revision %lld",
                            (long long)revision, (long long)s->revision);
    if (revision <= s->compacted)
        return 0;
    int64_t before = s->revision;
    if (sqlite_store_begin_write(s, err) < 0)
        return -1;
    int failed = compact_to(s, revision, err) < 0;
    if (sqlite_store_end_write(s, failed, before, err) < 0)
        return -1;
    s->compacted = revision;
    return 0;
}

int64_t sqlite_store_compacted_revision(void *store)
{
    return ((sqlite_store_t *)store)->compacted;
}
