/* Scheduler plugin ABI: a plugin writes only its policy. The core scheduler
 * service owns the queue, the node/pod cache, resource accounting, binding and
 * retries; it calls the plugin from its own thread only. */
#ifndef KEELSON_SCHEDULER_H
#define KEELSON_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>
#include <keelson/plugin.h>

/* A node as the scheduler cache sees it. Borrowed for the duration of a call. */
typedef struct kl_sched_node {
    const char *name;
    int64_t cpu_allocatable_milli;
    int64_t memory_allocatable_bytes;
    int64_t pods_allocatable;
    int64_t cpu_requested_milli;     /* sum over pods already bound or assumed */
    int64_t memory_requested_bytes;
    int64_t pods_count;
    const json_t *object;            /* the whole Node object */
} kl_sched_node_t;

/* The pod being placed, with requests already summed over its containers. */
typedef struct kl_sched_pod {
    const char *namespace_name;
    const char *name;
    int64_t cpu_request_milli;
    int64_t memory_request_bytes;
    const json_t *object;            /* the whole Pod object */
} kl_sched_pod_t;

/* Every operation but open/close is optional (NULL). The core first applies
 * its built-in filters (ready, resources fit, pod count), then the plugin's
 * filter, then either select() over the feasible nodes or, without select(),
 * the highest score() (ties: first in name order; no score: first feasible). */
typedef struct kl_scheduler_ops {
    void *(*open)(const kl_host_t *host, kl_error_t *err);
    void (*close)(void *state);

    /* 0 when the pod may go on the node; otherwise non-zero with a short
     * reason ("node(s) had no GPU") written to `reason`. */
    int (*filter)(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node,
                  char *reason, size_t reason_size);

    /* Higher is better; the core clamps to 0..100. */
    int64_t (*score)(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node);

    /* Whole-decision hook: index into `nodes` (the feasible ones), or -1 with
     * err filled when none is acceptable. */
    int (*select)(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *const *nodes,
                  size_t node_count, kl_error_t *err);
} kl_scheduler_ops_t;

#define KL_SCHEDULER_PLUGIN(NAME, VERSION, DESCRIPTION, SETTINGS, OPS)                     \
    KL_DEFINE_PLUGIN_(KL_KIND_SCHEDULER, KL_SCHEDULER_ABI_MAJOR, KL_SCHEDULER_ABI_MINOR,  \
                      NAME, VERSION, DESCRIPTION, SETTINGS, OPS)

#endif
