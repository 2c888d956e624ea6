/* The host API: the callback table the core hands to every plugin. Plugins
 * call the core only through it, so a plugin never links against daemon
 * symbols and never sees a ZeroMQ type. */
#ifndef KEELSON_HOST_H
#define KEELSON_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/error.h>
#include <keelson/version.h>

typedef enum kl_log_level {
    KL_LOG_ERROR = 0,
    KL_LOG_WARN = 1,
    KL_LOG_INFO = 2,
    KL_LOG_DEBUG = 3
} kl_log_level_t;

typedef struct kl_host kl_host_t;

/* Every field may be used from the plugin's own thread. The table stays valid
 * until the plugin's close() returns. New fields only ever go at the end; a
 * plugin that needs one checks `size` first. */
struct kl_host {
    uint32_t size;         /* sizeof(kl_host_t) as the core was built */
    uint32_t abi_version;  /* KL_HOST_ABI_VERSION of the core */
    void *opaque;          /* the core's; plugins must not touch it */
    const char *plugin_name;  /* "kind/name", for messages */
    const char *node_name;    /* this process's node name (may be "") */

    void (*log)(const kl_host_t *host, kl_log_level_t level, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* The plugin's own `settings` group from the config file, already checked
     * against the plugin's declared kl_setting_spec_t list: a setting of the
     * wrong type or an unknown one never reaches the plugin. Each returns
     * `fallback` when the setting is absent. Strings are borrowed and live as
     * long as the host table. */
    const char *(*setting_string)(const kl_host_t *host, const char *name, const char *fallback);
    long long (*setting_int)(const kl_host_t *host, const char *name, long long fallback);
    double (*setting_float)(const kl_host_t *host, const char *name, double fallback);
    int (*setting_bool)(const kl_host_t *host, const char *name, int fallback);
    /* Item `index` of a string-list setting, or NULL past its end. */
    const char *(*setting_list_item)(const kl_host_t *host, const char *name, size_t index);

    /* Request/reply over the bus to "<service>.<method>", e.g. "api.get".
     * `payload` is borrowed. Returns the reply body (caller owns) or NULL with
     * `err` filled (an error reply from the service keeps its code). */
    json_t *(*request)(const kl_host_t *host, const char *service_method,
                       const json_t *payload, int timeout_ms, kl_error_t *err);

    int64_t (*monotonic_ms)(const kl_host_t *host);
    int64_t (*realtime_ms)(const kl_host_t *host);

    /* Non-zero once the daemon is shutting down: long-running plugin loops
     * (controllers) return when they see it. */
    int (*stopping)(const kl_host_t *host);
};

#endif
