/* The sqlite store plugin, loaded through the loader as keelsond loads it:
 * every operation, durability across reopen and simulated crashes, history,
 * leases, group commit, odd keys and binary values, damaged files and a
 * full disk. */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "loader.h"
#include "log.h"
#include "tap.h"

static char dir[64];
static char db_path[128];

/* A loaded store and the parsed config its settings are borrowed from. */
typedef struct opened {
    config_t cfg;
    kl_plugin_t *plugin;
    const kl_store_ops_t *ops;
    void *s;
} opened_t;

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Opens the store at `path` with extra settings text; NULL with err filled
 * when the plugin refuses. */
static opened_t *open_store(const char *path, const char *extra, kl_error_t *err)
{
    char conf[160], text[1024];
    snprintf(conf, sizeof conf, "%s/store.conf", dir);
    snprintf(text, sizeof text, "s = { path = \"%s\"; %s };\n", path, extra ? extra : "");
    FILE *f = fopen(conf, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    opened_t *o = calloc(1, sizeof *o);
    config_init(&o->cfg);
    if (config_read_file(&o->cfg, conf) != CONFIG_TRUE) {
        kl_error_set(err, KL_ERR_INVALID, "test config: %s", config_error_text(&o->cfg));
        goto fail;
    }
    o->plugin = kl_plugin_load(KL_KIND_STORE, "sqlite", NULL, err);
    if (!o->plugin || kl_plugin_configure(o->plugin, config_lookup(&o->cfg, "s"), NULL, NULL, err) < 0
        || kl_plugin_open(o->plugin, err) < 0)
        goto fail;
    o->ops = o->plugin->ops;
    o->s = o->plugin->state;
    unlink(conf);
    return o;
fail:
    unlink(conf);
    kl_plugin_destroy(&o->plugin);
    config_destroy(&o->cfg);
    free(o);
    return NULL;
}

static void close_store(opened_t **op)
{
    opened_t *o = *op;
    if (!o)
        return;
    kl_plugin_destroy(&o->plugin);
    config_destroy(&o->cfg);
    free(o);
    *op = NULL;
}

static void remove_db(const char *path)
{
    char other[256];
    unlink(path);
    snprintf(other, sizeof other, "%s-wal", path);
    unlink(other);
    snprintf(other, sizeof other, "%s-shm", path);
    unlink(other);
    snprintf(other, sizeof other, "%s-journal", path);
    unlink(other);
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

/* Collects "key=value;" for each visited key (values printable in these tests). */
typedef struct listing {
    char text[2048];
    size_t count;
} listing_t;

static int list_visit(const kl_store_kv_t *kv, void *arg)
{
    listing_t *l = arg;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s=%.*s;", kv->key, (int)kv->value_len, kv->value);
    l->count++;
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
static void test_crash(void)
{
    kl_error_t err = {0, ""};
    remove_db(db_path);
    pid_t pid = fork();
    if (pid == 0) {
        opened_t *o = open_store(db_path, NULL, &err);
        if (!o)
            _exit(2);
        int64_t rev;
        char key[32];
        for (int i = 0; i < 10; i++) {
            snprintf(key, sizeof key, "/c/%02d", i);
            o->ops->create(o->s, key, "v", 1, &rev, &err);
        }
        if (o->ops->flush(o->s, &err) < 0)
            _exit(3);
        for (int i = 10; i < 15; i++) {
            snprintf(key, sizeof key, "/c/%02d", i);
            o->ops->create(o->s, key, "v", 1, &rev, &err);
        }
        _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    is_int(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0, "crash: the child wrote and died");
    opened_t *o = open_store(db_path, NULL, &err);
    if (!ok(o != NULL, "crash: reopens after the child died (%s)", o ? "ok" : err.text))
        return;
    listing_t l = {"", 0};
    int64_t at;
    o->ops->range(o->s, "/c/", NULL, 0, list_visit, &l, &at, &err);
    is_int(l.count, 10, "the flushed writes survive, the unflushed ones do not");
    is_int(o->ops->revision(o->s), 10, "the revision matches the flushed writes");
    int64_t rev;
    o->ops->create(o->s, "/c/next", "v", 1, &rev, &err);
    is_int(rev, 11, "the next write continues from there");
    close_store(&o);
}

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

/* Creates `count` keys under `prefix` with values of `size` bytes,
 * flushing after every `flush_every` (0: never). */
static void create_keys(opened_t *o, const char *prefix, int count, size_t size, int flush_every)
{
    char key[64];
    char *value = malloc(size);
    if (!value)
        return;
    memset(value, 'v', size);
    kl_error_t err;
    int64_t rev;
    for (int i = 0; i < count; i++) {
        snprintf(key, sizeof key, "%s%05d", prefix, i);
        o->ops->create(o->s, key, value, size, &rev, &err);
        if (flush_every && i % flush_every == flush_every - 1)
            o->ops->flush(o->s, &err);
    }
    free(value);
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

static void write_file(const char *path, const void *bytes, size_t len)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fwrite(bytes, 1, len, f);
        fclose(f);
    }
}

static void expect_refusal(const char *path, const char *extra, const char *needle, const char *what)
{
    kl_error_t err = {0, ""};
    opened_t *o = open_store(path, extra, &err);
    ok(!o && strstr(err.text, needle) && (!path || strstr(err.text, path) || !strchr(needle, '/')),
       "%s: %s", what, err.text);
    close_store(&o);
}

/* Fills a store so that its file has many pages, and closes it. */
static void fill_store(const char *path)
{
    kl_error_t err;
    remove_db(path);
    opened_t *o = open_store(path, NULL, &err);
    if (!o)
        return;
    create_keys(o, "/f/", 500, 300, 0);
    close_store(&o);
}

static void test_bad_files(void)
{
    char path[160];
    kl_error_t err;

    snprintf(path, sizeof path, "%s/no-such-folder/store.db", dir);
    expect_refusal(path, NULL, "does not exist", "a path in a missing folder");
    expect_refusal(dir, NULL, "not a regular file", "a folder as the path");

    snprintf(path, sizeof path, "%s/text.db", dir);
    static const char text[] = "this is not a database, just some text that is long enough to matter\n";
    char big[4096];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = text[i % (sizeof text - 1)];
    write_file(path, big, sizeof big);
    expect_refusal(path, NULL, "not an SQLite database", "a text file");
    FILE *f = fopen(path, "r");
    char first[16] = "";
    if (f) {
        if (!fgets(first, sizeof first, f))
            first[0] = '\0';
        fclose(f);
    }
    ok(strncmp(first, "this is not", 11) == 0, "the refused file is left untouched");
    unlink(path);

    /* An SQLite database that some other program owns. */
    snprintf(path, sizeof path, "%s/foreign.db", dir);
    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    sqlite3_exec(db, "CREATE TABLE accounts (id INTEGER, name TEXT)", NULL, NULL, NULL);
    sqlite3_close(db);
    expect_refusal(path, NULL, "not a keelson store", "someone else's SQLite database");
    remove_db(path);

    /* A store written by a newer keelson. */
    snprintf(path, sizeof path, "%s/future.db", dir);
    fill_store(path);
    sqlite3_open(path, &db);
    sqlite3_exec(db, "UPDATE meta SET value = 99 WHERE name = 'schema_version'", NULL, NULL, NULL);
    sqlite3_close(db);
    expect_refusal(path, NULL, "newer keelson (schema version 99", "a future schema version");
    remove_db(path);

    /* Truncated to half its size. */
    snprintf(path, sizeof path, "%s/truncated.db", dir);
    fill_store(path);
    struct stat st;
    stat(path, &st);
    ok(st.st_size > 8192, "filled store is %lld bytes", (long long)st.st_size);
    if (truncate(path, st.st_size / 2) == 0)
        expect_refusal(path, NULL, "corrupt", "a truncated database");
    remove_db(path);

    /* Garbage written over pages in the middle. */
    snprintf(path, sizeof path, "%s/corrupt.db", dir);
    fill_store(path);
    stat(path, &st);
    int fd = open(path, O_WRONLY);
    if (fd >= 0) {
        char junk[8192];
        for (size_t i = 0; i < sizeof junk; i++)
            junk[i] = (char)(i * 131 + 7);
        if (pwrite(fd, junk, sizeof junk, st.st_size / 2 - 4096) != (ssize_t)sizeof junk)
            diag("short write");
        close(fd);
    }
    expect_refusal(path, NULL, "corrupt", "a database with damaged pages");
    remove_db(path);

    /* Held by another open store: refused, not shared behind its back. */
    fill_store(db_path);
    opened_t *holder = open_store(db_path, NULL, &err);
    ok(holder != NULL, "first opener holds the file");
    expect_refusal(db_path, "busy_timeout_ms = 50;", "locked by another process", "a second opener");
    close_store(&holder);

    expect_refusal(db_path, "synchronous = \"sometimes\";", "\"synchronous\"", "a bad synchronous setting");
    expect_refusal(db_path, "history_revisions = 0;", "\"history_revisions\"", "a bad history setting");
    expect_refusal(db_path, "checkpoint_pages = 10;", "\"checkpoint_pages\" is 10", "too few checkpoint pages");
    expect_refusal(db_path, "colour = 1;", "\"colour\"", "an unknown setting");
    remove_db(db_path);
}

/* A disk that fills (a 160 KiB tmpfs). First a commit fails: its writes
 * are reported lost and the earlier commits stay. Then a transaction grows
 * past SQLite's page cache, whose spill to the full disk fails a write and
 * makes SQLite roll the whole transaction back: flush() must report the
 * writes before it lost rather than find nothing to commit and acknowledge
 * them. Whatever flush() acknowledged is in the file afterwards. */
static void test_disk_full(void)
{
    char full[128], path[192];
    snprintf(full, sizeof full, "%s/full", dir);
    snprintf(path, sizeof path, "%s/full.db", full);
    if (geteuid() != 0 || mkdir(full, 0700) < 0
        || mount("tmpfs", full, "tmpfs", 0, "size=160k") != 0) {
        diag("full disk: skipped, mounting a small tmpfs needs root");
        rmdir(full);
        return;
    }
    kl_error_t err = {0, ""};
    opened_t *o = open_store(path, NULL, &err);
    if (!ok(o != NULL, "a store on a 160 KiB disk opens %s", o ? "" : err.text))
        goto out;
    static char value[3000];
    memset(value, 'x', sizeof value);
    int acked = 0, failed_at = -1, i = 0;
    for (; i < 400 && failed_at < 0; i++) {
        char key[64];
        int64_t revision;
        snprintf(key, sizeof key, "/full/%04d", i);
        if (o->ops->create(o->s, key, value, sizeof value, &revision, &err) < 0
            || (i % 5 == 4 && o->ops->flush(o->s, &err) < 0))
            failed_at = i;
        else if (i % 5 == 4)
            acked = i + 1;
    }
    ok(failed_at >= 0, "the disk fills, at write %d: %s", failed_at, err.text);
    /* Past the page cache (2 MiB by default) with no commit. */
    int first = i, written = 0, write_failed = 0;
    for (; i < first + 2000 && !write_failed; i++) {
        char key[64];
        int64_t revision;
        snprintf(key, sizeof key, "/full/%04d", i);
        if (o->ops->create(o->s, key, value, sizeof value, &revision, &err) < 0)
            write_failed = 1;
        else
            written++;
    }
    ok(write_failed, "a write fails once the transaction spills to the full disk, after %d: %s",
       written, err.text);
    kl_error_t flush_err = {0, ""};
    int flushed = o->ops->flush(o->s, &flush_err) == 0;
    ok(!flushed, "flush() then reports the group commit lost: %s", flush_err.text);
    close_store(&o);
    if (!ok(mount("tmpfs", full, "tmpfs", MS_REMOUNT, "size=4m") == 0, "the disk grows to 4 MiB"))
        goto out;
    o = open_store(path, NULL, &err);
    if (!ok(o != NULL, "the store reopens %s", o ? "" : err.text))
        goto out;
    int kept_acked = 1, kept_since = 1;
    for (int k = 0; k < first + written; k++) {
        char key[64];
        snprintf(key, sizeof key, "/full/%04d", k);
        int present = o->ops->get(o->s, key, NULL, NULL, &err) == 0;
        if (k < acked)
            kept_acked &= present;
        else if (k >= first)
            kept_since &= present;
    }
    ok(kept_acked, "every write a flush acknowledged is kept (%d)", acked);
    ok(!flushed || kept_since, "no flush acknowledged a write the file lacks");
    close_store(&o);
out:
    umount(full);
    rmdir(full);
}

int main(void)
{
    kl_log_set_level(KL_LOG_ERROR);
    /* make check sets the search path; a manual run from the build folder
     * finds the freshly built plugin. */
    setenv("KEELSON_PLUGIN_PATH", "plugins/store/sqlite/.libs", 0);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/keelson-sqlite-XXXXXX", tmp && strlen(tmp) < 30 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP cannot create a temporary folder\n");
        return 0;
    }
    snprintf(db_path, sizeof db_path, "%s/store.db", dir);
    test_basic_ops();
    test_history();
    test_schema_upgrade();
    test_leases();
    test_crash();
    test_group_commit();
    test_checkpoints();
    test_bad_files();
    test_disk_full();
    remove_db(db_path);
    rmdir(dir);
    return done_testing();
}
