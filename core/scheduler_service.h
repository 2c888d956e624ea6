/* The scheduler service: a czmq actor that lists and watches nodes and pods
 * through the API, places waiting pods with the configured scheduler plugin
 * and binds them. The decisions themselves live in sched_cache*.c. */
#ifndef KL_CORE_SCHEDULER_SERVICE_H
#define KL_CORE_SCHEDULER_SERVICE_H

#include <stdint.h>
#include <czmq.h>
#include <keelson/error.h>
#include "loader.h"

#define KL_SCHEDULER_NODE_TIMEOUT_MS 40000

typedef struct kl_scheduler_config {
    const char *bus_endpoint;  /* borrowed; the broker's request endpoint */
    kl_plugin_t *plugin;       /* borrowed, scheduler kind, loaded and configured but not
                                  opened (the actor opens it on its thread); may be NULL
                                  for "first feasible node"; the caller destroys it after
                                  the actor has ended */
    int64_t node_timeout_ms;   /* heartbeat older than this => node not ready; 0: default */
    int failed;                /* set by the actor before it signals readiness */
    kl_error_t error;
} kl_scheduler_config_t;

/* zactor_fn: zactor_new(kl_scheduler_actor, &config) returns once the actor
 * is running or has failed (then config.failed is non-zero and config.error
 * says why). Ends on "$TERM". */
void kl_scheduler_actor(zsock_t *pipe, void *args);

#endif
