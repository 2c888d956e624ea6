/* The kubelet: a czmq actor that registers its Node(s), heartbeats (Node
 * status and a Lease per node), records Events, watches
 * the pods bound to them and runs their containers through the runtime
 * plugin, reporting each pod's status back to the API. */
#ifndef KL_CORE_KUBELET_H
#define KL_CORE_KUBELET_H

#include <stdint.h>
#include <czmq.h>
#include <jansson.h>
#include <keelson/error.h>
#include "loader.h"

#define KL_KUBELET_HEARTBEAT_MS 2000
#define KL_KUBELET_SYNC_MS 100
/* How often a running container's state is read from the runtime, as
 * Kubernetes' PLEG relists once a second: a sync tick still starts, restarts
 * and reports at once, and exits come sooner where the runtime notifies. */
#define KL_KUBELET_RELIST_MS 1000
#define KL_KUBELET_PERIOD_MAX_MS 3600000
/* Threads that pull and start containers at once, for a runtime that allows
 * it (KL_RUNTIME_CONCURRENT_STARTS): enough to overlap the engine's own
 * waits, few enough not to swamp a small host. */
#define KL_KUBELET_START_WORKERS 4
#define KL_KUBELET_START_WORKERS_MAX 64
/* leaseDurationSeconds of the node Leases, Kubernetes' default. */
#define KL_KUBELET_LEASE_DURATION_S 40

typedef struct kl_kubelet_config {
    const char *bus_endpoint;  /* borrowed; the broker's request endpoint */
    kl_plugin_t *runtime;      /* borrowed, runtime kind, configured but not opened (the
                                  actor opens it on its thread); the caller destroys it
                                  after the actor has ended */
    const char *node_name;     /* borrowed; NULL or "": the host name */
    int64_t cpu_milli;         /* capacity; 0 = from the machine */
    int64_t memory_bytes;      /* 0 = MemTotal of /proc/meminfo */
    int64_t max_pods;          /* 0 = 110 */
    const json_t *labels;      /* borrowed, string map, may be NULL */
    int heartbeat_ms;          /* 0 = 2000 */
    int sync_ms;               /* starts, restarts and reports; 0 = 100 */
    int relist_ms;             /* running containers' status poll; 0 = 1000 */
    int node_count;            /* simulated nodes served by this one kubelet; 0 or 1 = one */
    int lease_duration_s;      /* of each node's Lease in kube-node-lease; 0 = 40 */
    int start_workers;         /* pull+start threads; 0 = KL_KUBELET_START_WORKERS */
    int failed;                /* set by the actor before it signals readiness */
    kl_error_t error;
} kl_kubelet_config_t;

/* zactor_fn: zactor_new(kl_kubelet_actor, &config) returns once the actor
 * runs or has failed (config.failed, config.error). Ends on "$TERM"; with a
 * runtime that has list() its containers keep running for the next kubelet
 * to adopt, otherwise it stops and removes the containers it started. */
void kl_kubelet_actor(zsock_t *pipe, void *args);

#endif
