/* Shared parts of keelson-runtime-conformance: the runtime under test, the
 * containers a group started (so every one is removed), and small helpers. */
#ifndef KL_RUNTIME_CONFORMANCE_H
#define KL_RUNTIME_CONFORMANCE_H

#include <libconfig.h>
#include "conformance_tap.h"
#include <stddef.h>
#include <stdint.h>

#include "loader.h"

typedef struct kl_rconf {
    const char *plugin_path;
    const char *config_path;
    const char *image;               /* REGISTRY/NAME:TAG every container runs */
    const char *skip;                /* comma-separated group names */
    config_t config;
    const config_setting_t *settings;
    kl_plugin_t *plugin;
    const kl_runtime_ops_t *ops;
    void *rt;
    char run_tag[32];                /* "<pid>": in pod names and uids */
    char group_name[32];
    int group;
    int serial;
    char (*ids)[KL_CONTAINER_ID_MAX]; /* started and not yet removed */
    size_t id_count, id_cap;
} kl_rconf_t;

#define KL_RCONF_HAS(c, field) KL_PLUGIN_HAS((c)->plugin, kl_runtime_ops_t, field)

/* ---- the runtime ---- */
/* Loads, configures and opens a fresh instance of the plugin under test
 * into c->plugin. 0, or -1 with `err` filled. */
int kl_rconf_open(kl_rconf_t *c, kl_error_t *err);
/* Closes the instance (the containers stay, as after a kubelet restart). */
void kl_rconf_close(kl_rconf_t *c);

/* Starts a group: returns 0 when it should be skipped (and reports the
 * skip), 1 when it runs. `needs` lists the optional operations it uses,
 * NULL-terminated, by field name ("logs", "kill", "list", "pull"), or
 * "events" for the ABI 1.2 pair events_fd and events_read, or "concurrent"
 * for the ABI 1.3 promise KL_RUNTIME_CONCURRENT_STARTS. */
int kl_rconf_begin(kl_rconf_t *c, const char *name, const char *const *needs);
/* Removes every container the group started and did not remove. */
void kl_rconf_end(kl_rconf_t *c);

/* What to run: a JSON array of strings for command (args may be NULL), env
 * as NAME=VALUE strings (NULL-terminated, may be NULL), a memory limit or
 * NULL, and the sim runtime's hints: run_ms (-1: runs until stopped) and
 * exit code. */
typedef struct kl_rconf_spec {
    const char *const *command;
    const char *const *args;
    const char *const *env;
    const char *memory_limit;
    long sim_run_ms;
    int sim_exit_code;
} kl_rconf_spec_t;

/* Starts a container named `name` in a pod of its own; the id goes to `id`
 * and to the group's list. Returns start()'s result. */
int kl_rconf_start(kl_rconf_t *c, const char *name, const kl_rconf_spec_t *spec, char id[KL_CONTAINER_ID_MAX],
                   kl_error_t *err);
/* The pod kl_rconf_start() runs `name` in (caller owns), and the request
 * for its one container, borrowing from it. */
json_t *kl_rconf_pod(const kl_rconf_t *c, const char *name, const kl_rconf_spec_t *spec);
kl_container_request_t kl_rconf_request(const json_t *pod);
/* Adds a started container to the group's list, so it is removed. */
int kl_rconf_track(kl_rconf_t *c, const char *id, kl_error_t *err);
/* The pod name and uid kl_rconf_start gave container `name`. */
void kl_rconf_pod_name(const kl_rconf_t *c, const char *name, char *out, size_t size);
void kl_rconf_pod_uid(const kl_rconf_t *c, const char *name, char *out, size_t size);
/* remove() and forget the id. */
int kl_rconf_remove(kl_rconf_t *c, const char *id, kl_error_t *err);
/* Polls status() until the container is EXITED (or RUNNING when
 * `running`), at most timeout_ms. 0 when reached, -1 otherwise; *status
 * holds the last status seen. */
int kl_rconf_wait(kl_rconf_t *c, const char *id, int running, int timeout_ms, kl_container_status_t *status);
/* The whole log from offset 0 (at most size-1 bytes, NUL-terminated) read
 * in `chunk`-byte pieces. 0 or -1 with `err`. */
int kl_rconf_logs(kl_rconf_t *c, const char *id, size_t chunk, char *out, size_t size, kl_error_t *err);
/* Waits until the log holds `text` (when logs are available and not
 * skipped), else only until RUNNING and a short settle. 1 when seen. */
int kl_rconf_wait_ready(kl_rconf_t *c, const char *id, const char *text, int timeout_ms);
int kl_rconf_skipped(const kl_rconf_t *c, const char *name);

int64_t kl_rconf_now_ms(void);
void kl_rconf_sleep_ms(int ms);
const char *kl_rconf_state_name(kl_container_state_t state);

/* The groups, in the order they run. */
void kl_group_complete(kl_rconf_t *c);
void kl_group_exit_code(kl_rconf_t *c);
void kl_group_env_args(kl_rconf_t *c);
void kl_group_logs(kl_rconf_t *c);
void kl_group_oom(kl_rconf_t *c);
void kl_group_stop(kl_rconf_t *c);
void kl_group_grace(kl_rconf_t *c);
void kl_group_kill(kl_rconf_t *c);
void kl_group_adoption(kl_rconf_t *c);
void kl_group_pull(kl_rconf_t *c);
void kl_group_many(kl_rconf_t *c);
void kl_group_parallel(kl_rconf_t *c);
void kl_group_remove(kl_rconf_t *c);
void kl_group_events(kl_rconf_t *c);

#endif
