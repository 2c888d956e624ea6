/* The scheduler's pure core: a cache of nodes and pods fed from list+watch,
 * resource accounting, the queue of pods to place, built-in filters and the
 * choice of a node. No bus here, so every decision is unit-testable. */
#ifndef KL_CORE_SCHED_CACHE_H
#define KL_CORE_SCHED_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/error.h>
#include <keelson/scheduler.h>

typedef struct kl_sched_cache kl_sched_cache_t;

/* The policy a decision consults. `ops` may be NULL; its filter, score and
 * select fields are used when non-NULL (the caller zeroes the ones a plugin's
 * ops table does not reach). Borrowed. */
typedef struct kl_sched_policy {
    const kl_scheduler_ops_t *ops;
    void *state;
    const char *label;  /* "scheduler/firstfit", for messages */
} kl_sched_policy_t;

/* Outcome of kl_sched_cache_decide(). */
typedef enum kl_sched_outcome {
    KL_SCHED_PLACED = 0,        /* node_name holds the choice */
    KL_SCHED_UNSCHEDULABLE = 1, /* message holds the Kubernetes-style reason */
    KL_SCHED_SKIPPED = 2        /* the pod is no longer waiting; nothing to do */
} kl_sched_outcome_t;

/* Back-off for unschedulable pods: 1s doubling up to 60s. */
#define KL_SCHED_BACKOFF_MIN_MS 1000
#define KL_SCHED_BACKOFF_MAX_MS 60000
int64_t kl_sched_backoff_ms(int attempts);

/* Caller owns. node_timeout_ms: a Ready heartbeat older than this makes a
 * node not ready (<= 0: heartbeats are not checked). */
kl_sched_cache_t *kl_sched_cache_new(int64_t node_timeout_ms);
void kl_sched_cache_destroy(kl_sched_cache_t **self_p);

/* ---- feeding the cache (objects borrowed; the cache keeps references) -- */

/* Adds or replaces a Node. An object older (lower resourceVersion) than the
 * cached one is ignored. -1 with err naming the field when malformed. */
int kl_sched_cache_node_upsert(kl_sched_cache_t *self, json_t *node, int64_t now_ms,
                               kl_error_t *err);
void kl_sched_cache_node_remove(kl_sched_cache_t *self, const char *name);

/* Adds or replaces a Pod: accounts its requests on its node and queues it
 * when it waits for a node. -1 with err when malformed (the pod is then
 * dropped from the cache). */
int kl_sched_cache_pod_upsert(kl_sched_cache_t *self, json_t *pod, int64_t now_ms,
                              kl_error_t *err);
/* A change of a bound pod read from a few of its fields. */
typedef struct kl_sched_pod_refresh {
    const char *namespace_name;
    const char *name;
    int64_t resource_version;
    int64_t spec_generation;  /* metadata.generation */
    const char *node_name;    /* spec.nodeName */
    const char *phase;        /* status.phase */
} kl_sched_pod_refresh_t;
/* Applies `update` when the cache holds the pod's spec at that generation
 * (returns 1); returns 0 when it needs the whole object (upsert). Bound
 * pods count by requests, node and phase alone, so the bind's echo and
 * status writes need nothing more. */
int kl_sched_cache_pod_refresh(kl_sched_cache_t *self, const kl_sched_pod_refresh_t *update);
void kl_sched_cache_pod_remove(kl_sched_cache_t *self, const char *namespace_name,
                               const char *name);

/* Relist: replaces every node (or pod) with `items` (a JSON array).
 * Malformed items are skipped and counted in the return value. */
int kl_sched_cache_nodes_replace(kl_sched_cache_t *self, json_t *items, int64_t now_ms);
int kl_sched_cache_pods_replace(kl_sched_cache_t *self, json_t *items, int64_t now_ms);

/* ---- the queue ---------------------------------------------------------- */

/* Copies the key ("namespace/name") of the next pod to place into `key` and
 * takes it off the queue; 0 when one is due, -1 when none is. */
int kl_sched_cache_next(kl_sched_cache_t *self, int64_t now_ms, char *key, size_t key_size);
/* Milliseconds until the next pod is due (0: now, -1: queue empty). */
int64_t kl_sched_cache_next_due_ms(kl_sched_cache_t *self, int64_t now_ms);
size_t kl_sched_cache_queue_length(kl_sched_cache_t *self);

/* A scoring decision stops filtering once it has found this many feasible
 * nodes, or the share set below of a bigger cluster. */
#define KL_SCHED_MIN_FEASIBLE_NODES 100
/* Points a score loses per PreferNoSchedule taint the pod does not
 * tolerate: enough to break near-ties, not to override a clear preference. */
#define KL_SCHED_PREFER_NO_SCHEDULE_PENALTY 10

/* Share (1..100) of the nodes of a cluster bigger than
 * KL_SCHED_MIN_FEASIBLE_NODES that a scoring decision looks for; 0 (the
 * default) shrinks it with the cluster size like Kubernetes does: 50% minus
 * 1% per 125 nodes, never under 5%. */
void kl_sched_cache_set_sample_percent(kl_sched_cache_t *self, int percent);

/* Runs the built-in filters (ready, cordon, taints, nodeSelector, resources,
 * pod count), the plugin's filter, then its select() over every feasible
 * node or its score() over a sample of them (see above; ties go to the first
 * name), or without either the first feasible node in name order. */
kl_sched_outcome_t kl_sched_cache_decide(kl_sched_cache_t *self, const char *key,
                                         const kl_sched_policy_t *policy, int64_t now_ms,
                                         char *node_name, size_t node_name_size,
                                         char *message, size_t message_size);
/* Decisions that call the plugin run guarded: if it crashes (SIGSEGV and
 * the like), the decision is abandoned, the plugin is never called again
 * and every later decision reports it as the reason pods wait. This says
 * why, or NULL while the plugin has not crashed. */
const char *kl_sched_cache_plugin_crash(const kl_sched_cache_t *self);
/* How that reason ends, so a benchmark client can tell it in a pod's
 * PodScheduled condition. */
#define KL_SCHED_CRASH_TAIL " and is not called again"

/* Reserves the pod's requests on `node_name` while its bind is in flight and
 * until the watch shows it bound. -1 when the pod or node is unknown. */
int kl_sched_cache_assume(kl_sched_cache_t *self, const char *key, const char *node_name);
/* Bind failed: releases the reservation; with `retry` the pod goes back on
 * the queue after its back-off. */
void kl_sched_cache_forget(kl_sched_cache_t *self, const char *key, int retry, int64_t now_ms);
/* No node fits: back on the queue after the pod's next back-off. */
void kl_sched_cache_backoff(kl_sched_cache_t *self, const char *key, int64_t now_ms);

/* The pod's object while it waits to be placed (borrowed); NULL when
 * unknown or no longer waiting (a placed pod is kept by its requests only). */
const json_t *kl_sched_cache_pod_object(kl_sched_cache_t *self, const char *key);

/* ---- introspection (tests, logs) ---------------------------------------- */
size_t kl_sched_cache_node_count(kl_sched_cache_t *self);
size_t kl_sched_cache_pod_count(kl_sched_cache_t *self);
/* Fills `view` with the node's accounting; -1 when unknown. */
int kl_sched_cache_node_view(kl_sched_cache_t *self, const char *name, kl_sched_node_t *view);

#endif
