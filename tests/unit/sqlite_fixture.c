/* The sqlite store tests' shared fixture (see sqlite_fixture.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sqlite_fixture.h"

char dir[64];
char db_path[128];

int sqlite_fixture_start(void)
{
    /* make check sets the search path; a manual run from the build folder
     * finds the freshly built plugin. */
    setenv("KEELSON_PLUGIN_PATH", "plugins/store/sqlite/.libs", 0);
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/keelson-sqlite-XXXXXX", tmp && strlen(tmp) < 30 ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(db_path, sizeof db_path, "%s/store.db", dir);
    return 0;
}

void sqlite_fixture_stop(void)
{
    remove_db(db_path);
    rmdir(dir);
}

/* Opens the store at `path` with extra settings text; NULL with err filled
 * when the plugin refuses. */
opened_t *open_store(const char *path, const char *extra, kl_error_t *err)
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

void close_store(opened_t **op)
{
    opened_t *o = *op;
    if (!o)
        return;
    kl_plugin_destroy(&o->plugin);
    config_destroy(&o->cfg);
    free(o);
    *op = NULL;
}

void remove_db(const char *path)
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

/* Creates `count` keys under `prefix` with values of `size` bytes,
 * flushing after every `flush_every` (0: never). */
void create_keys(opened_t *o, const char *prefix, int count, size_t size, int flush_every)
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

int list_visit(const kl_store_kv_t *kv, void *arg)
{
    listing_t *l = arg;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s=%.*s;", kv->key, (int)kv->value_len, kv->value);
    l->count++;
    return 0;
}
