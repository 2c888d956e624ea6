/* The sqlite store plugin, loaded through the loader as keelsond loads it:
 * every operation, durability across reopen, history, schema upgrades,
 * leases, group commit, checkpoints, odd keys and binary values. What goes
 * wrong (crashes, damaged files, a full disk) is in
 * test_store_sqlite_faults.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "sqlite_fixture.h"
#include "tap.h"

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct copy {
    char key[256];
    char value[512];
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int calls;
} copy_t;

static int copy_visit(const kl_store_kv_t *kv, void *arg)
{
    copy_t *c = arg;
    snprintf(c->key, sizeof c->key, "%s", kv->key);
    c->value_len = kv->value_len < sizeof c->value ? kv->value_len : sizeof c->value;
    memcpy(c->value, kv->value, c->value_len);
    c->create_revision = kv->create_revision;
    c->mod_revision = kv->mod_revision;
    c->calls++;
    return 0;
}

static int event_visit(const kl_store_event_t *ev, void *arg)
{
    listing_t *l = arg;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s %s@%lld", ev->type == KL_STORE_PUT ? "put" : "del",
             ev->kv.key, (long long)ev->kv.mod_revision);
    used = strlen(l->text);
    if (ev->type == KL_STORE_PUT)
        snprintf(l->text + used, sizeof l->text - used, "=%.*s", (int)ev->kv.value_len, ev->kv.value);
    else if (ev->kv.value)
        snprintf(l->text + used, sizeof l->text - used, "=VALUE-ON-DELETE");
    used = strlen(l->text);
    if (ev->prev)
        snprintf(l->text + used, sizeof l->text - used, " (was %.*s@%lld)", (int)ev->prev->value_len,
                 ev->prev->value, (long long)ev->prev->mod_revision);
    used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, ";");
    l->count++;
    return 0;
}

static void test_basic_ops(void)
{
    kl_error_t err = {0, ""};
    remove_db(db_path);
    opened_t *o = open_store(db_path, NULL, &err);
    ok(o != NULL, "a new store opens (%s)", o ? "ok" : err.text);
    if (!o)
        return;
    const kl_store_ops_t *ops = o->ops;
    void *s = o->s;
    int64_t rev = -1;
    copy_t c;
    is_int(ops->revision(s), 0, "a new store is at revision 0");
    is_int(ops->features(s), KL_STORE_DURABLE, "features: durable, not shared");
    is_int(ops->create(s, "/a/one", "v1", 2, &rev, &err), 0, "create");
    is_int(rev, 1, "the first write is revision 1");
    is_int(ops->create(s, "/a/one", "v2", 2, &rev, &err), -1, "create of an existing key fails");
    is_int(err.code, KL_ERR_EXISTS, "... with KL_ERR_EXISTS");
    is_int(ops->revision(s), 1, "a failed write does not advance the revision");
    memset(&c, 0, sizeof c);
    is_int(ops->get(s, "/a/one", copy_visit, &c, &err), 0, "get");
    ok(c.calls == 1 && c.value_len == 2 && memcmp(c.value, "v1", 2) == 0 && c.create_revision == 1
           && c.mod_revision == 1,
       "get returns value and revisions");
    is_int(ops->get(s, "/a/none", copy_visit, &c, &err), -1, "get of an absent key fails");
    is_int(err.code, KL_ERR_NOT_FOUND, "... with KL_ERR_NOT_FOUND");
    is_int(ops->get(s, "", copy_visit, &c, &err), -1, "an empty key is refused");
    is_int(err.code, KL_ERR_INVALID, "... as invalid");

    is_int(ops->update(s, "/a/one", "v3", 2, 7, &rev, &err), -1, "update with a stale revision");
    is_int(err.code, KL_ERR_CONFLICT, "... is a conflict");
    ok(strstr(err.text, "/a/one") != NULL, "... naming the key: %s", err.text);
    is_int(ops->update(s, "/a/one", "v3", 2, 1, &rev, &err), 0, "update with the right revision");
    is_int(rev, 2, "revision 2");
    is_int(ops->update(s, "/a/one", "v4", 2, 0, &rev, &err), 0, "unconditional update");
    memset(&c, 0, sizeof c);
    ops->get(s, "/a/one", copy_visit, &c, &err);
    ok(memcmp(c.value, "v4", 2) == 0 && c.create_revision == 1 && c.mod_revision == 3,
       "update keeps create_revision and moves mod_revision");
    is_int(ops->update(s, "/a/none", "x", 1, 0, &rev, &err), -1, "update of an absent key");
    is_int(err.code, KL_ERR_NOT_FOUND, "... is not found");
    is_int(ops->remove(s, "/a/one", 2, &rev, &err), -1, "remove with a stale revision");
    is_int(err.code, KL_ERR_CONFLICT, "... is a conflict");
    is_int(ops->remove(s, "/a/one", 3, &rev, &err), 0, "remove with the right revision");
    is_int(rev, 4, "remove advances the revision");
    is_int(ops->get(s, "/a/one", copy_visit, &c, &err), -1, "removed key is gone");
    is_int(ops->remove(s, "/a/one", 0, &rev, &err), -1, "remove of an absent key");
    is_int(err.code, KL_ERR_NOT_FOUND, "... is not found");
    is_int(ops->create(s, "/a/one", "again", 5, &rev, &err), 0, "a removed key can be created again");
    memset(&c, 0, sizeof c);
    ops->get(s, "/a/one", copy_visit, &c, &err);
    is_int(c.create_revision, 5, "... with a fresh create_revision");

    /* Binary values, and keys with bytes a careless binding or LIKE would
     * mangle: '%', '_', quotes, spaces, UTF-8 and 0xff. */
    static const char binary[] = {'a', '\0', 'b', '\xff', '\0', '\x01'};
    is_int(ops->create(s, "/b/bin", binary, sizeof binary, &rev, &err), 0, "binary value stored");
    memset(&c, 0, sizeof c);
    ops->get(s, "/b/bin", copy_visit, &c, &err);
    ok(c.value_len == sizeof binary && memcmp(c.value, binary, sizeof binary) == 0,
       "binary value comes back intact with its length");
    is_int(ops->create(s, "/b/empty", NULL, 0, &rev, &err), 0, "empty value stored");
    memset(&c, 0, sizeof c);
    ok(ops->get(s, "/b/empty", copy_visit, &c, &err) == 0 && c.calls == 1 && c.value_len == 0,
       "empty value comes back empty");
    const char *odd[] = {"/o/%", "/o/_x", "/o/it's \"quoted\"", "/o/caf\xc3\xa9", "/o/\xff\xfe", "/o/\x01", NULL};
    int stored = 1;
    for (int i = 0; odd[i]; i++)
        stored &= ops->create(s, odd[i], odd[i], strlen(odd[i]), &rev, &err) == 0;
    ok(stored, "odd keys stored");
    listing_t l = {"", 0};
    ops->range(s, "/o/", NULL, 0, list_visit, &l, &rev, &err);
    is_str(l.text,
           "/o/\x01=/o/\x01;/o/%=/o/%;/o/_x=/o/_x;/o/caf\xc3\xa9=/o/caf\xc3\xa9;"
           "/o/it's \"quoted\"=/o/it's \"quoted\";/o/\xff\xfe=/o/\xff\xfe;",
           "odd keys come back in byte order");
    memset(&l, 0, sizeof l);
    ops->range(s, "/o/_", NULL, 0, list_visit, &l, &rev, &err);
    is_str(l.text, "/o/_x=/o/_x;", "'_' in a prefix is literal");
    memset(&l, 0, sizeof l);
    ops->range(s, "/o/\xff", NULL, 0, list_visit, &l, &rev, &err);
    is_str(l.text, "/o/\xff\xfe=/o/\xff\xfe;", "a prefix ending in 0xff");

    /* Prefix ranges, paging with start_after and limit. */
    for (int i = 0; i < 5; i++) {
        char key[32], value[8];
        snprintf(key, sizeof key, "/p/k%d", i);
        snprintf(value, sizeof value, "%d", i);
        ops->create(s, key, value, strlen(value), &rev, &err);
    }
    ops->create(s, "/p", "parent", 6, &rev, &err);
    ops->create(s, "/q/k0", "other", 5, &rev, &err);
    memset(&l, 0, sizeof l);
    int64_t at = 0;
    ops->range(s, "/p/", NULL, 2, list_visit, &l, &at, &err);
    is_str(l.text, "/p/k0=0;/p/k1=1;", "range with a limit");
    is_int(at, ops->revision(s), "range reports the current revision");
    memset(&l, 0, sizeof l);
    ops->range(s, "/p/", "/p/k1", 2, list_visit, &l, &at, &err);
    is_str(l.text, "/p/k2=2;/p/k3=3;", "range after a key");
    memset(&l, 0, sizeof l);
    int more = -1;
    ops->range_at(s, "/p/", "/p/k3", 1, 0, list_visit, &l, &at, &more, &err);
    ok(strcmp(l.text, "/p/k4=4;") == 0 && more == 0, "last page: more is 0 (%s)", l.text);
    memset(&l, 0, sizeof l);
    ops->range_at(s, "/p/", "/p/k2", 1, 0, list_visit, &l, &at, &more, &err);
    ok(strcmp(l.text, "/p/k3=3;") == 0 && more == 1, "a cut page: more is 1");
    memset(&l, 0, sizeof l);
    ops->range(s, "/p/", "/a", 0, list_visit, &l, &at, &err);
    is_int(l.count, 5, "start_after before the prefix starts at the prefix");

    /* Writes are visible before flush, and flush makes them stay. */
    is_int(ops->flush(s, &err), 0, "flush");
    is_int(ops->flush(s, &err), 0, "flush with nothing pending");
    int64_t final = ops->revision(s);
    close_store(&o);
    o = open_store(db_path, NULL, &err);
    ok(o != NULL, "reopens");
    if (!o)
        return;
    is_int(o->ops->revision(o->s), final, "the revision survives close and reopen");
    memset(&c, 0, sizeof c);
    o->ops->get(o->s, "/b/bin", copy_visit, &c, &err);
    ok(c.value_len == sizeof binary && memcmp(c.value, binary, sizeof binary) == 0,
       "binary value survives reopen");
    o->ops->create(o->s, "/after", "x", 1, &rev, &err);
    is_int(rev, final + 1, "the next write after reopen continues the revision");
    close_store(&o);  /* close commits without flush */
    o = open_store(db_path, NULL, &err);
    is_int(o ? o->ops->revision(o->s) : -1, final + 1, "close commits pending writes");
    close_store(&o);
}

/* The first column of the first row of a query on a closed store's file,
 * or -1. */
static int64_t count_rows(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t value = -1;
    if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK
        && sqlite3_step(st) == SQLITE_ROW)
        value = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return value;
}

static void test_history(void)
{
    kl_error_t err = {0, ""};
    remove_db(db_path);
    opened_t *o = open_store(db_path, NULL, &err);
    if (!ok(o != NULL, "history: opens"))
        return;
    const kl_store_ops_t *ops = o->ops;
    void *s = o->s;
    int64_t rev;
    ops->create(s, "/h/a", "a1", 2, &rev, &err);  /* 1 */
    ops->create(s, "/h/b", "b1", 2, &rev, &err);  /* 2 */
    ops->update(s, "/h/a", "a2", 2, 0, &rev, &err);  /* 3 */
    ops->remove(s, "/h/b", 0, &rev, &err);  /* 4 */
    ops->create(s, "/h/c", "c1", 2, &rev, &err);  /* 5 */
    ops->create(s, "/x/z", "z1", 2, &rev, &err);  /* 6 */
    ops->create(s, "/h/b", "b2", 2, &rev, &err);  /* 7 */
    ops->update(s, "/h/a", "a3", 2, 0, &rev, &err);  /* 8 */

    listing_t l = {"", 0};
    int64_t last = 0;
    is_int(ops->changes(s, "/h/", 0, 0, event_visit, &l, &last, &err), 0, "changes from the start");
    is_str(l.text,
           "put /h/a@1=a1;put /h/b@2=b1;put /h/a@3=a2 (was a1@1);del /h/b@4 (was b1@2);put /h/c@5=c1;"
           "put /h/b@7=b2;put /h/a@8=a3 (was a2@3);",
           "every change under the prefix, with prev, in order");
    is_int(last, 8, "last_revision is the last change delivered");
    memset(&l, 0, sizeof l);
    ops->changes(s, "/h/", 3, 2, event_visit, &l, &last, &err);
    ok(strcmp(l.text, "del /h/b@4 (was b1@2);put /h/c@5=c1;") == 0 && last == 5,
       "changes after a revision, limited (%s, last %lld)", l.text, (long long)last);
    memset(&l, 0, sizeof l);
    ops->changes(s, "/none/", 0, 0, event_visit, &l, &last, &err);
    ok(l.count == 0 && last == 8, "no changes: last_revision is the current revision");

    /* range_at rebuilds past states from the change log. */
    const char *expect[] = {"", "/h/a=a1;", "/h/a=a1;/h/b=b1;", "/h/a=a2;/h/b=b1;", "/h/a=a2;",
                            "/h/a=a2;/h/c=c1;", "/h/a=a2;/h/c=c1;", "/h/a=a2;/h/b=b2;/h/c=c1;",
                            "/h/a=a3;/h/b=b2;/h/c=c1;"};
    int all = 1;
    for (int r = 1; r <= 8; r++) {
        memset(&l, 0, sizeof l);
        int more = 0;
        int64_t at = 0;
        if (ops->range_at(s, "/h/", NULL, 0, r, list_visit, &l, &at, &more, &err) < 0 || at != r
            || strcmp(l.text, expect[r]) != 0) {
            diag("at %d: got \"%s\", expected \"%s\"", r, l.text, expect[r]);
            all = 0;
        }
    }
    ok(all, "range_at gives the state at every past revision");
    memset(&l, 0, sizeof l);
    int paged_more = 0;
    int64_t paged_at = 0;
    ops->range_at(s, "/h/", "/h/a", 1, 3, list_visit, &l, &paged_at, &paged_more, &err);
    ok(strcmp(l.text, "/h/b=b1;") == 0 && paged_more == 0 && paged_at == 3,
       "range_at pages from start_after at a past revision (%s)", l.text);
    memset(&l, 0, sizeof l);
    ops->range_at(s, "/h/", NULL, 1, 7, list_visit, &l, &paged_at, &paged_more, &err);
    ok(strcmp(l.text, "/h/a=a2;") == 0 && paged_more == 1, "range_at at a past revision sets more");
    int more = 0;
    is_int(ops->range_at(s, "/h/", NULL, 0, 9, list_visit, &l, &last, &more, &err), -1,
           "range_at a future revision is refused");

    is_int(ops->compact(s, 4, &err), 0, "compact to 4");
    is_int(ops->compacted_revision(s), 4, "compacted_revision is 4");
    is_int(ops->changes(s, "/h/", 2, 0, event_visit, &l, &last, &err), -1, "changes before it");
    ok(err.code == KL_ERR_EXPIRED && strstr(err.text, "compacted"), "... expired: %s", err.text);
    is_int(ops->range_at(s, "/h/", NULL, 0, 3, list_visit, &l, &last, &more, &err), -1,
           "range_at before it");
    is_int(err.code, KL_ERR_EXPIRED, "... expired");
    memset(&l, 0, sizeof l);
    ops->range_at(s, "/h/", NULL, 0, 4, list_visit, &l, &last, &more, &err);
    is_str(l.text, "/h/a=a2;", "range_at the compacted revision still works");
    memset(&l, 0, sizeof l);
    is_int(ops->changes(s, "/h/", 4, 0, event_visit, &l, &last, &err), 0, "changes from it work");
    is_int(l.count, 3, "... with the changes after it");
    is_str(l.text, "put /h/c@5=c1;put /h/b@7=b2;put /h/a@8=a3 (was a2@3);",
           "... and the previous value of a put that was compacted away");
    is_int(ops->compact(s, 99, &err), -1, "compact past the current revision is refused");
    ops->flush(s, &err);
    close_store(&o);
    o = open_store(db_path, NULL, &err);
    is_int(o ? o->ops->compacted_revision(o->s) : -1, 4, "compacted revision survives reopen");
    close_store(&o);
    is_int(count_rows(db_path, "SELECT count(*) FROM changes WHERE revision <= 4"), 1,
           "compaction kept only the put a later change reads as its previous value");
    is_int(count_rows(db_path, "SELECT count(*) FROM changes WHERE prev_value IS NOT NULL"), 0,
           "... and copied no value");
    o = open_store(db_path, NULL, &err);
    if (!ok(o != NULL, "reopens"))
        return;
    is_int(o->ops->compact(o->s, 8, &err), 0, "compact to the current revision");
    memset(&l, 0, sizeof l);
    o->ops->range_at(o->s, "/h/", NULL, 0, 8, list_visit, &l, &last, &more, &err);
    is_str(l.text, "/h/a=a3;/h/b=b2;/h/c=c1;", "range_at it reads the current keys");
    close_store(&o);
    is_int(count_rows(db_path, "SELECT count(*) FROM changes"), 0,
           "the kept put went with the change that cited it");

    /* tick() compacts on its own past history_revisions. */
    remove_db(db_path);
    o = open_store(db_path, "history_revisions = 10;", &err);
    if (!ok(o != NULL, "opens with history_revisions = 10"))
        return;
    for (int i = 0; i < 40; i++)
        o->ops->create(o->s, "/t/k", "v", 1, &rev, &err), o->ops->remove(o->s, "/t/k", 0, &rev, &err);
    is_int(o->ops->tick(o->s, &err), 0, "tick");
    is_int(o->ops->compacted_revision(o->s), 70, "tick compacted to keep the last 10 revisions");
    is_int(o->ops->changes(o->s, "", 0, 0, event_visit, &l, &last, &err), -1, "old changes are gone");
    memset(&l, 0, sizeof l);
    o->ops->changes(o->s, "", 70, 0, event_visit, &l, &last, &err);
    ok(l.count == 10 && last == 80, "the kept 10 are there under the empty prefix (%zu, last %lld)", l.count,
       (long long)last);
    close_store(&o);
}

static int64_t schema_version(const char *path)
{
    return count_rows(path, "SELECT value FROM meta WHERE name = 'schema_version'");
}

/* A store written by version 1 of the schema, which copied every previous
 * value into the log, opens, reads the same and goes on under version 3. */
static void test_schema_upgrade(void)
{
    kl_error_t err = {0, ""};
    remove_db(db_path);
    opened_t *o = open_store(db_path, NULL, &err);
    if (!ok(o != NULL, "upgrade: opens"))
        return;
    int64_t rev;
    o->ops->create(o->s, "/u/a", "a1", 2, &rev, &err);     /* 1 */
    o->ops->update(o->s, "/u/a", "a2", 2, 0, &rev, &err);  /* 2 */
    o->ops->flush(o->s, &err);
    close_store(&o);
    is_int(schema_version(db_path), 3, "a new store is at schema version 3");
    sqlite3 *db = NULL;
    sqlite3_open(db_path, &db);
    int rc = sqlite3_exec(db,
                          "UPDATE changes SET prev_value = (SELECT p.value FROM changes p"
                          " WHERE p.revision = changes.prev_mod_revision) WHERE prev_mod_revision > 0;"
                          "DELETE FROM changes WHERE revision = 1;"
                          /* kv as versions 1 and 2 kept it */
                          "CREATE TABLE kv_old (key BLOB PRIMARY KEY, value BLOB NOT NULL,"
                          " create_revision INTEGER NOT NULL, mod_revision INTEGER NOT NULL,"
                          " lease INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
                          "INSERT INTO kv_old SELECT * FROM kv;"
                          "DROP TABLE kv;"
                          "ALTER TABLE kv_old RENAME TO kv;"
                          "CREATE INDEX kv_lease ON kv (lease) WHERE lease != 0;"
                          /* and the change log's index */
                          "DROP INDEX changes_prev;"
                          "CREATE INDEX changes_key ON changes (key, revision);"
                          "UPDATE meta SET value = 1 WHERE name = 'schema_version';"
                          "UPDATE meta SET value = 1 WHERE name = 'compacted_revision';",
                          NULL, NULL, NULL);
    sqlite3_close(db);
    is_int(rc, SQLITE_OK, "rewritten as version 1 would have left it, compacted to 1");
    o = open_store(db_path, NULL, &err);
    if (!ok(o != NULL, "the version 1 store opens"))
        return;
    listing_t l = {"", 0};
    int64_t last = 0;
    o->ops->changes(o->s, "/u/", 1, 0, event_visit, &l, &last, &err);
    is_str(l.text, "put /u/a@2=a2 (was a1@1);", "its copied previous value still reads");
    copy_t c = {0};
    ok(o->ops->get(o->s, "/u/a", copy_visit, &c, &err) == 0 && c.value_len == 2
           && memcmp(c.value, "a2", 2) == 0 && c.mod_revision == 2,
       "its keys moved to the new kv table with their values and revisions");
    o->ops->update(o->s, "/u/a", "a3", 2, 0, &rev, &err);  /* 3 */
    o->ops->compact(o->s, 2, &err);
    memset(&l, 0, sizeof l);
    o->ops->changes(o->s, "/u/", 2, 0, event_visit, &l, &last, &err);
    is_str(l.text, "put /u/a@3=a3 (was a2@2);", "a new change after a compaction reads its previous value");
    o->ops->flush(o->s, &err);
    close_store(&o);
    is_int(schema_version(db_path), 3, "the store is now at schema version 3");
    is_int(count_rows(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'kv'"
                               " AND sql LIKE '%WITHOUT ROWID%'"), 0, "... with kv a rowid table");
    is_int(count_rows(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'kv_lease'"), 1,
           "... and its lease index");
    is_int(count_rows(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'changes_prev'"), 1,
           "... and the change log indexed by the change each change follows");
    is_int(count_rows(db_path, "SELECT count(*) FROM sqlite_master WHERE name = 'changes_key'"), 0,
           "... not by key");
    remove_db(db_path);
}

static int wait_for_deletion(opened_t *o, const char *key, double limit_s)
{
    kl_error_t err;
    double end = seconds() + limit_s;
    while (seconds() < end) {
        o->ops->tick(o->s, &err);
        if (o->ops->get(o->s, key, NULL, NULL, &err) < 0 && err.code == KL_ERR_NOT_FOUND)
            return 1;
        usleep(20000);
    }
    return 0;
}

static void test_leases(void)
{
    kl_error_t err = {0, ""};
    remove_db(db_path);
    opened_t *o = open_store(db_path, NULL, &err);
    if (!ok(o != NULL, "leases: opens"))
        return;
    const kl_store_ops_t *ops = o->ops;
    void *s = o->s;
    int64_t rev, lease = 0, other = 0;
    is_int(ops->lease_grant(s, 0, &lease, &err), -1, "a zero TTL is refused");
    double granted = seconds();
    is_int(ops->lease_grant(s, 300, &lease, &err), 0, "grant a 300 ms lease");
    ok(lease > 0, "lease id is positive");
    is_int(ops->put_with_lease(s, "/l/a", "a", 1, -1, lease, &rev, &err), 0, "create with the lease");
    is_int(ops->put_with_lease(s, "/l/a", "a", 1, -1, lease, &rev, &err), -1, "create twice");
    is_int(err.code, KL_ERR_EXISTS, "... exists");
    is_int(ops->put_with_lease(s, "/l/b", "b", 1, -1, lease + 100, &rev, &err), -1,
           "an unknown lease is refused");
    is_int(err.code, KL_ERR_NOT_FOUND, "... not found");
    is_int(ops->put_with_lease(s, "/l/none", "b", 1, 0, 0, &rev, &err), -1, "update of an absent key");
    is_int(err.code, KL_ERR_NOT_FOUND, "... not found");
    ops->create(s, "/l/plain", "p", 1, &rev, &err);
    is_int(ops->lease_keepalive(s, lease, &err), 0, "keepalive");
    is_int(ops->lease_keepalive(s, 9999, &err), -1, "keepalive of an unknown lease");
    is_int(err.code, KL_ERR_NOT_FOUND, "... not found");
    ops->flush(s, &err);
    /* The lease lives in the file: it still expires after a reopen. */
    close_store(&o);
    o = open_store(db_path, NULL, &err);
    if (!ok(o != NULL, "reopens with a live lease"))
        return;
    ops = o->ops;
    s = o->s;
    int64_t before = ops->revision(s);
    ops->tick(s, &err);
    double elapsed = seconds() - granted;
    ok(ops->get(s, "/l/a", NULL, NULL, &err) == 0 || elapsed >= 0.3,
       "the leased key outlives a tick before its TTL (%.3f s after the grant)", elapsed);
    int deleted = wait_for_deletion(o, "/l/a", 3.0);
    elapsed = seconds() - granted;
    ok(deleted && elapsed >= 0.29, "the leased key is deleted once the lease expires (%.2f s after the grant)",
       elapsed);
    ok(ops->get(s, "/l/plain", NULL, NULL, &err) == 0, "a key without a lease stays");
    is_int(ops->revision(s), before + 1, "the expiry is one DELETE with its own revision");
    listing_t l = {"", 0};
    int64_t last;
    ops->changes(s, "/l/", before, 0, event_visit, &l, &last, &err);
    is_str(l.text, "del /l/a@3 (was a@1);", "... visible in changes()");
    is_int(ops->lease_keepalive(s, lease, &err), -1, "keepalive of an expired lease");
    is_int(err.code, KL_ERR_NOT_FOUND, "... not found");

    ops->lease_grant(s, 60000, &other, &err);
    ops->put_with_lease(s, "/l/x", "x", 1, -1, other, &rev, &err);
    ops->put_with_lease(s, "/l/y", "y", 1, -1, other, &rev, &err);
    ops->put_with_lease(s, "/l/plain", "p2", 2, 0, other, &rev, &err);
    ops->update(s, "/l/plain", "p3", 2, 0, &rev, &err);  /* a plain put detaches it */
    before = ops->revision(s);
    is_int(ops->lease_revoke(s, other, &err), 0, "revoke");
    is_int(ops->revision(s), before + 2, "each key of the revoked lease is its own DELETE");
    ok(ops->get(s, "/l/x", NULL, NULL, &err) < 0 && ops->get(s, "/l/y", NULL, NULL, &err) < 0,
       "the revoked lease's keys are gone");
    ok(ops->get(s, "/l/plain", NULL, NULL, &err) == 0, "a key updated without the lease stays");
    is_int(ops->lease_revoke(s, other, &err), -1, "revoking twice");
    is_int(err.code, KL_ERR_NOT_FOUND, "... not found");
    close_store(&o);
}

/* A child writes, flushes, writes more and dies without closing: the flushed
 * writes are there, the rest is not, and the revision is consistent. */
static double write_rate(opened_t *o, const char *prefix, int writes, int flush_every)
{
    kl_error_t err;
    char key[64], value[256];
    memset(value, 'x', sizeof value);
    int64_t rev;
    double t0 = seconds();
    for (int i = 0; i < writes; i++) {
        snprintf(key, sizeof key, "%s/pod-%05d", prefix, i);
        o->ops->create(o->s, key, value, sizeof value, &rev, &err);
        if ((i + 1) % flush_every == 0)
            o->ops->flush(o->s, &err);
    }
    o->ops->flush(o->s, &err);
    return writes / (seconds() - t0);
}

static void test_group_commit(void)
{
    kl_error_t err = {0, ""};
    remove_db(db_path);
    opened_t *o = open_store(db_path, NULL, &err);
    if (!ok(o != NULL, "group commit: opens"))
        return;
    int64_t rev;
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof key, "/g/%05d", i);
        o->ops->create(o->s, key, "{}", 2, &rev, &err);
    }
    listing_t l = {"", 0};
    int64_t at;
    o->ops->range(o->s, "/g/", "/g/01990", 0, list_visit, &l, &at, &err);
    is_int(l.count, 9, "unflushed writes are visible to reads");
    is_int(o->ops->flush(o->s, &err), 0, "one flush commits 2000 writes");
    close_store(&o);
    o = open_store(db_path, NULL, &err);
    is_int(o ? o->ops->revision(o->s) : -1, 2000, "reopen shows all 2000");
    close_store(&o);

    /* Throughput with synchronous = full: one fsync per flush. */
    remove_db(db_path);
    o = open_store(db_path, NULL, &err);
    if (!o)
        return;
    double each = write_rate(o, "/each", 300, 1);
    double grouped = write_rate(o, "/grouped", 3000, 100);
    ok(grouped > each, "grouping writes is faster: %.0f writes/s flushing every write, %.0f every 100",
       each, grouped);
    close_store(&o);
}

/* The WAL file's size after 2,000 flushed writes of 2 KiB. */
static long wal_size_after_writes(const char *extra)
{
    kl_error_t err = {0, ""};
    remove_db(db_path);
    opened_t *o = open_store(db_path, extra, &err);
    if (!o) {
        diag("%s", err.text);
        return -1;
    }
    create_keys(o, "/w/", 2000, 2048, 50);
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", db_path);
    struct stat st;
    long size = stat(wal, &st) == 0 ? (long)st.st_size : -1;
    close_store(&o);
    return size;
}

/* checkpoint_pages bounds the WAL: checkpoints copy it into the database
 * and the WAL starts over. */
static void test_checkpoints(void)
{
    long small = wal_size_after_writes("checkpoint_pages = 100;");
    long large = wal_size_after_writes(NULL);
    ok(small > 0 && small < 2 * 1024 * 1024,
       "with checkpoint_pages = 100 the WAL stays small (%ld bytes)", small);
    ok(large > 8 * 1024 * 1024,
       "with the default it holds the 2,000 writes until its checkpoint (%ld bytes)", large);
}

int main(void)
{
    kl_log_set_level(KL_LOG_ERROR);
    if (sqlite_fixture_start() < 0) {
        printf("1..0 # SKIP cannot create a temporary folder\n");
        return 0;
    }
    test_basic_ops();
    test_history();
    test_schema_upgrade();
    test_leases();
    test_group_commit();
    test_checkpoints();
    sqlite_fixture_stop();
    return done_testing();
}
