/* What the sqlite store's test programs share: a temporary folder, the
 * plugin opened through the loader as keelsond opens it, and a few ways to
 * fill and read it. No TAP output here: each program reports its own. */
#ifndef KL_TESTS_SQLITE_FIXTURE_H
#define KL_TESTS_SQLITE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <libconfig.h>

#include "loader.h"

extern char dir[64];       /* the program's temporary folder */
extern char db_path[128];  /* dir/store.db */

/* A loaded store and the parsed config its settings are borrowed from. */
typedef struct opened {
    config_t cfg;
    kl_plugin_t *plugin;
    const kl_store_ops_t *ops;
    void *s;
} opened_t;

/* Makes the temporary folder and points the loader at the built plugin;
 * -1 when the folder cannot be made. */
int sqlite_fixture_start(void);
/* Removes the database and the folder. */
void sqlite_fixture_stop(void);

/* Opens the store at `path` with extra settings text; NULL with err filled
 * when the plugin refuses. */
opened_t *open_store(const char *path, const char *extra, kl_error_t *err);
void close_store(opened_t **op);
/* Removes a database file and its WAL, shared-memory and journal files. */
void remove_db(const char *path);
/* Creates `count` keys under `prefix` with values of `size` bytes,
 * flushing after every `flush_every` (0: never). */
void create_keys(opened_t *o, const char *prefix, int count, size_t size, int flush_every);

/* Collects "key=value;" for each visited key (values printable in these tests). */
typedef struct listing {
    char text[2048];
    size_t count;
} listing_t;
int list_visit(const kl_store_kv_t *kv, void *arg);

#endif
