/* Shared parts of keelson-store-conformance: the TAP reporter, the store
 * under test and small helpers every test group uses. */
#ifndef KL_STORE_CONFORMANCE_H
#define KL_STORE_CONFORMANCE_H

#include <libconfig.h>
#include "conformance_tap.h"
#include <stddef.h>
#include <stdint.h>

#include "loader.h"

typedef struct kl_conformance {
    const char *plugin_path;
    const char *config_path;
    config_t config;                 /* the optional CONFIG file */
    const config_setting_t *settings;
    kl_plugin_t *plugin;
    const kl_store_ops_t *ops;
    void *store;
    uint32_t features;
    char run_prefix[96];             /* /conformance/<pid>-<time>/ */
    char prefix[160];                /* the current group's clean prefix */
    int group;
} kl_conformance_t;

/* Which optional operation a group needs. */
#define KL_CONFORMANCE_HAS(c, field) KL_PLUGIN_HAS((c)->plugin, kl_store_ops_t, field)

/* ---- the store ---- */
/* Loads, configures and opens another instance of the plugin under test
 * on the calling thread. NULL with `err` filled on failure. */
kl_plugin_t *kl_conformance_open(kl_conformance_t *c, kl_error_t *err);
/* Starts a group: picks a fresh key prefix. */
void kl_conformance_begin(kl_conformance_t *c, const char *name);
/* Removes every key under the group's prefix (a courtesy on shared stores). */
void kl_conformance_end(kl_conformance_t *c);
/* c->prefix + suffix, in `out`. */
const char *kl_conformance_key(const kl_conformance_t *c, char *out, size_t size,
                               const char *suffix);
int kl_conformance_shared(const kl_conformance_t *c);
int64_t kl_conformance_now_ms(void);
void kl_conformance_sleep_ms(int ms);

/* A copy of one kv, owned. */
typedef struct kl_kv_copy {
    char *key;
    char *value;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
} kl_kv_copy_t;

/* get() into `out` (previous contents freed). Returns the get's result. */
int kl_conformance_get(kl_conformance_t *c, const char *key, kl_kv_copy_t *out, kl_error_t *err);
void kl_kv_copy_clear(kl_kv_copy_t *kv);

/* A range's results, owned. */
typedef struct kl_kv_list {
    kl_kv_copy_t *items;
    size_t count, cap;
} kl_kv_list_t;
int kl_kv_list_visit(const kl_store_kv_t *kv, void *arg);  /* appends */
void kl_kv_list_clear(kl_kv_list_t *list);

/* The groups, in the order they run. */
void kl_group_ordering(kl_conformance_t *c);
void kl_group_cas(kl_conformance_t *c);
void kl_group_paging(kl_conformance_t *c);
void kl_group_values(kl_conformance_t *c);
void kl_group_keys(kl_conformance_t *c);
void kl_group_range_at(kl_conformance_t *c);
void kl_group_changes(kl_conformance_t *c);
void kl_group_leases(kl_conformance_t *c);
void kl_group_concurrency(kl_conformance_t *c);
void kl_group_compaction(kl_conformance_t *c);
void kl_group_notify(kl_conformance_t *c);
void kl_group_inflight(kl_conformance_t *c);
void kl_group_flush(kl_conformance_t *c);
void kl_group_persistence(kl_conformance_t *c);

#endif
