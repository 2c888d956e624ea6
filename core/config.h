/* The daemon's configuration: one libconfig file naming the roles this
 * process plays, the plugin for each component and the bus endpoints. Every
 * key is checked: unknown keys, wrong types and missing settings are errors
 * naming file and line. */
#ifndef KL_CORE_CONFIG_H
#define KL_CORE_CONFIG_H

/* API server replicas: each holds one store connection, so a shared store
 * like etcd sees as many requests at once as clients keep in flight. */
#define KL_API_WORKERS_MAX 64

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <libconfig.h>
#include <keelson/keelson.h>

typedef struct kl_plugin_choice {
    const char *name;                  /* borrowed from the config */
    const config_setting_t *settings;  /* its `settings` group, or NULL */
} kl_plugin_choice_t;

typedef struct kl_config {
    config_t cfg;            /* owns every string and setting below */
    char *path;
    const char *node_name;
    kl_log_level_t log_level;
    int master;              /* API server + store + scheduler + controllers */
    int worker;              /* kubelet + runtime */
    const char **plugin_path;         /* NULL-terminated */
    const char **listen;              /* request endpoints to bind (master) */
    const char **events;              /* event endpoints to bind (master) */
    const char *master_endpoint;      /* where a worker-only process connects */
    kl_plugin_choice_t store;
    /* Where Events live when not in `store` (name NULL: in `store`), as
     * large Kubernetes clusters give events an etcd of their own. */
    kl_plugin_choice_t events_store;
    kl_plugin_choice_t scheduler;
    kl_plugin_choice_t runtime;
    kl_plugin_choice_t *controllers;
    size_t controller_count;
    int64_t api_history;
    int64_t api_cache_objects;  /* parsed objects the API server keeps */
    /* API server replicas on a shared store, at most KL_API_WORKERS_MAX; 0
     * when unset: one, which keeps many etcd requests in flight by itself
     * (store ABI 1.3) and measured as fast as eight, with a third less cpu
     * per request. */
    int64_t api_workers;
    int64_t node_timeout_ms;
    /* The control plane's threads at real-time priorities (threads.h). */
    int cpu_realtime;
    /* kubelet */
    int64_t cpu_milli;       /* 0: from the machine */
    int64_t memory_bytes;    /* 0: from the machine */
    int64_t max_pods;
    int64_t heartbeat_ms;
    int64_t sync_ms;
    int64_t relist_ms;
    int64_t node_count;      /* simulated nodes this kubelet serves (default 1) */
    int64_t start_workers;   /* pull+start threads, at most KL_KUBELET_START_WORKERS_MAX */
    json_t *node_labels;     /* string map; owned */
} kl_config_t;

/* Loads and checks `path`. Returns NULL with err naming file:line. */
kl_config_t *kl_config_load(const char *path, kl_error_t *err);
void kl_config_destroy(kl_config_t **self_p);

#endif
