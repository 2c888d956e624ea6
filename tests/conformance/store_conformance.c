/* keelson-store-conformance: loads any store plugin by path, configures it
 * from an optional libconfig file and checks it against the store ABI, as TAP. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store_conformance.h"

int64_t kl_conformance_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kl_conformance_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

int kl_conformance_shared(const kl_conformance_t *c)
{
    return (c->features & KL_STORE_SHARED) != 0;
}

kl_plugin_t *kl_conformance_open(kl_conformance_t *c, kl_error_t *err)
{
    kl_plugin_t *p = kl_plugin_load(KL_KIND_STORE, c->plugin_path, NULL, err);
    if (!p)
        return NULL;
    if (kl_plugin_configure(p, c->settings, NULL, NULL, err) < 0 || kl_plugin_open(p, err) < 0) {
        kl_plugin_destroy(&p);
        return NULL;
    }
    return p;
}

void kl_conformance_begin(kl_conformance_t *c, const char *name)
{
    c->group++;
    snprintf(c->prefix, sizeof c->prefix, "%s%02d-%s/", c->run_prefix, c->group, name);
    kl_tap_diag("---- %s (keys under %s)", name, c->prefix);
}

const char *kl_conformance_key(const kl_conformance_t *c, char *out, size_t size,
                               const char *suffix)
{
    snprintf(out, size, "%s%s", c->prefix, suffix);
    return out;
}

void kl_kv_copy_clear(kl_kv_copy_t *kv)
{
    free(kv->key);
    free(kv->value);
    memset(kv, 0, sizeof *kv);
}

static int copy_kv(kl_kv_copy_t *out, const kl_store_kv_t *kv)
{
    kl_kv_copy_clear(out);
    out->key = strdup(kv->key ? kv->key : "");
    out->value = malloc(kv->value_len + 1);
    if (!out->key || !out->value)
        return 1;
    if (kv->value_len)
        memcpy(out->value, kv->value, kv->value_len);
    out->value[kv->value_len] = '\0';
    out->value_len = kv->value_len;
    out->create_revision = kv->create_revision;
    out->mod_revision = kv->mod_revision;
    return 0;
}

static int copy_visit(const kl_store_kv_t *kv, void *arg)
{
    return copy_kv(arg, kv);
}

int kl_conformance_get(kl_conformance_t *c, const char *key, kl_kv_copy_t *out, kl_error_t *err)
{
    kl_kv_copy_clear(out);
    kl_error_clear(err);
    return c->ops->get(c->store, key, copy_visit, out, err);
}

int kl_kv_list_visit(const kl_store_kv_t *kv, void *arg)
{
    kl_kv_list_t *list = arg;
    if (list->count == list->cap) {
        size_t cap = list->cap ? list->cap * 2 : 16;
        kl_kv_copy_t *items = realloc(list->items, cap * sizeof *items);
        if (!items)
            return 1;
        list->items = items;
        list->cap = cap;
    }
    memset(&list->items[list->count], 0, sizeof *list->items);
    return copy_kv(&list->items[list->count++], kv);
}

void kl_kv_list_clear(kl_kv_list_t *list)
{
    for (size_t i = 0; i < list->count; i++)
        kl_kv_copy_clear(&list->items[i]);
    free(list->items);
    memset(list, 0, sizeof *list);
}

void kl_conformance_end(kl_conformance_t *c)
{
    kl_kv_list_t list = {0};
    kl_error_t err;
    kl_error_clear(&err);
    if (c->ops->range(c->store, c->prefix, NULL, 0, kl_kv_list_visit, &list, NULL, &err) < 0)
        kl_tap_diag("cleaning up %s: range failed: %s", c->prefix, err.text);
    for (size_t i = 0; i < list.count; i++)
        c->ops->remove(c->store, list.items[i].key, 0, NULL, &err);
    kl_kv_list_clear(&list);
}

static int usage(FILE *out)
{
    fprintf(out,
            "usage: keelson-store-conformance PLUGIN.so [CONFIG]\n"
            "Checks a keelson store plugin against the store ABI and prints TAP.\n"
            "CONFIG is a libconfig file whose top-level `settings` group configures\n"
            "the plugin, e.g. settings = { path = \"/tmp/x.db\"; };\n"
            "Keys are written under /conformance/<pid>-<time>/ and removed afterwards.\n");
    return out == stdout ? 0 : 2;
}

static int load_config(kl_conformance_t *c)
{
    config_init(&c->config);
    if (!c->config_path)
        return 0;
    if (!config_read_file(&c->config, c->config_path)) {
        if (config_error_type(&c->config) == CONFIG_ERR_FILE_IO)
            printf("Bail out! cannot read config file %s: %s\n", c->config_path, strerror(errno));
        else
            printf("Bail out! %s:%d: %s\n", config_error_file(&c->config) ? config_error_file(&c->config) : c->config_path,
                   config_error_line(&c->config), config_error_text(&c->config));
        return -1;
    }
    for (int i = 0; i < config_setting_length(config_root_setting(&c->config)); i++) {
        const config_setting_t *s = config_setting_get_elem(config_root_setting(&c->config), (unsigned)i);
        if (strcmp(config_setting_name(s), "settings") != 0) {
            printf("Bail out! %s:%u: unknown top-level setting \"%s\" (only `settings` is read)\n",
                   c->config_path, config_setting_source_line(s), config_setting_name(s));
            return -1;
        }
        if (!config_setting_is_group(s)) {
            printf("Bail out! %s:%u: `settings` must be a group, e.g. settings = { path = \"x.db\"; };\n",
                   c->config_path, config_setting_source_line(s));
            return -1;
        }
        c->settings = s;
    }
    return 0;
}

static void describe(kl_conformance_t *c)
{
    const kl_plugin_descriptor_t *d = c->plugin->desc;
    kl_tap_diag("store plugin %s %s (ABI %u.%u) from %s: %s", d->name, d->version ? d->version : "?",
                d->abi_major, d->abi_minor, c->plugin->path, d->description ? d->description : "");
    if (KL_CONFORMANCE_HAS(c, features))
        c->features = c->ops->features(c->store);
    kl_tap_diag("features:%s%s%s", c->features & KL_STORE_DURABLE ? " durable" : "",
                c->features & KL_STORE_SHARED ? " shared" : "",
                c->features & (KL_STORE_DURABLE | KL_STORE_SHARED) ? "" : " none (volatile, private)");
}

int main(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
        return usage(stdout);
    if (argc < 2 || argc > 3)
        return usage(stderr);
    kl_conformance_t c;
    memset(&c, 0, sizeof c);
    /* A bare file name would be searched for by plugin name; the suite tests
     * exactly the file it was given. */
    char path[4096];
    if (strchr(argv[1], '/'))
        snprintf(path, sizeof path, "%s", argv[1]);
    else
        snprintf(path, sizeof path, "./%s", argv[1]);
    c.plugin_path = path;
    c.config_path = argc == 3 ? argv[2] : NULL;
    if (load_config(&c) < 0) {
        config_destroy(&c.config);
        return 2;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    snprintf(c.run_prefix, sizeof c.run_prefix, "/conformance/%ld-%lld/", (long)getpid(),
             (long long)now.tv_sec);

    kl_error_t err;
    kl_error_clear(&err);
    c.plugin = kl_conformance_open(&c, &err);
    if (!kl_tap_ok(c.plugin != NULL, "the plugin loads, configures and opens")) {
        kl_tap_diag("%s", err.text);
        printf("1..%d\n", kl_tap_count());
        config_destroy(&c.config);
        return 1;
    }
    c.ops = c.plugin->ops;
    c.store = c.plugin->state;
    describe(&c);

    kl_group_ordering(&c);
    kl_group_cas(&c);
    kl_group_paging(&c);
    kl_group_values(&c);
    kl_group_keys(&c);
    kl_group_range_at(&c);
    kl_group_changes(&c);
    kl_group_leases(&c);
    kl_group_concurrency(&c);
    kl_group_notify(&c);
    kl_group_inflight(&c);
    kl_group_compaction(&c);  /* after the history groups: it forgets history */
    kl_group_flush(&c);
    kl_group_persistence(&c);

    kl_plugin_destroy(&c.plugin);
    config_destroy(&c.config);
    printf("1..%d\n", kl_tap_count());
    kl_tap_diag("store %s: %d passed, %d failed, %d skipped", c.plugin_path,
                kl_tap_count() - kl_tap_failed() - kl_tap_skipped(), kl_tap_failed(), kl_tap_skipped());
    return kl_tap_failed() ? 1 : 0;
}
