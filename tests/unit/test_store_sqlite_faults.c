/* The sqlite store where things go wrong: a process killed between a
 * write and its commit, damaged and foreign files refused with a clear
 * reason, and a disk that fills during a group commit. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "sqlite_fixture.h"
#include "tap.h"

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

/* Runs `sql` on the file with SQLite itself, as another program would. */
static void forge(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    if (sqlite3_open(path, &db) == SQLITE_OK)
        sqlite3_exec(db, sql, NULL, NULL, NULL);
    sqlite3_close(db);
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
    forge(path, "CREATE TABLE accounts (id INTEGER, name TEXT)");
    expect_refusal(path, NULL, "not a keelson store", "someone else's SQLite database");
    remove_db(path);

    /* A store written by a newer keelson. */
    snprintf(path, sizeof path, "%s/future.db", dir);
    fill_store(path);
    forge(path, "UPDATE meta SET value = 99 WHERE name = 'schema_version'");
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
    if (sqlite_fixture_start() < 0) {
        printf("1..0 # SKIP cannot create a temporary folder\n");
        return 0;
    }
    test_crash();
    test_bad_files();
    test_disk_full();
    sqlite_fixture_stop();
    return done_testing();
}
