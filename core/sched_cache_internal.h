/* What the sched_cache*.c files share: the cache's state, its node and pod
 * entries, and the steps one file takes for another. Internal to the core;
 * sched_cache.h is the interface. */
#ifndef KL_CORE_SCHED_CACHE_INTERNAL_H
#define KL_CORE_SCHED_CACHE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <jansson.h>
#include <keelson/error.h>
#include <keelson/scheduler.h>

#include "sched_cache.h"

#define COMPONENT "scheduler"

/* What pods bound (or assumed) to one node request. Kept apart from the node
 * object so that pods bound to a node the cache has not seen yet still count
 * once it appears. */
typedef struct usage {
    int64_t cpu_milli;
    int64_t memory_bytes;
    int64_t pods;
} usage_t;

/* Taint effects; TAINT_EFFECT_ANY stands for a toleration without one. */
typedef enum taint_effect {
    TAINT_EFFECT_ANY = 0,
    TAINT_EFFECT_NO_SCHEDULE,
    TAINT_EFFECT_PREFER_NO_SCHEDULE,
    TAINT_EFFECT_NO_EXECUTE
} taint_effect_t;

/* Strings borrowed from the node object the entry holds a reference to. */
typedef struct taint {
    const char *key;
    const char *value;  /* "" when absent */
    taint_effect_t effect;
} taint_t;

/* Strings borrowed from the pod object the entry holds a reference to. */
typedef struct toleration {
    const char *key;    /* "" matches every key (operator Exists only) */
    const char *value;  /* "" when absent */
    int exists;         /* operator Exists: any value matches */
    taint_effect_t effect;
} toleration_t;

typedef struct node_entry {
    char *name;
    json_t *object;
    int64_t resource_version;
    int64_t cpu_allocatable;
    int64_t memory_allocatable;
    int64_t pods_allocatable;
    int unschedulable;
    int ready_condition;   /* Ready condition is "True" */
    int64_t heartbeat_ms;  /* 0 when the node reports none */
    const json_t *labels;  /* metadata.labels, borrowed from object; may be NULL */
    taint_t *taints;       /* spec.taints, owned; NULL when none */
    size_t taint_count;
    size_t prefer_taint_count;  /* of them PreferNoSchedule, for scoring */
    uint64_t generation;   /* relist sweep */
    usage_t *usage;        /* borrowed from the cache's usage table */
} node_entry_t;

typedef enum queue_state { QUEUE_NONE = 0, QUEUE_ACTIVE, QUEUE_BACKOFF } queue_state_t;

typedef struct pod_entry {
    char *key;  /* "namespace/name" */
    char *namespace_name;
    char *name;
    json_t *object;
    int64_t resource_version;
    int64_t cpu_milli;
    int64_t memory_bytes;
    char *node_name;     /* spec.nodeName, NULL when unbound */
    char *assumed_node;  /* chosen here, bind not yet seen back */
    const json_t *node_selector;  /* spec.nodeSelector, borrowed; NULL when empty */
    toleration_t *tolerations;    /* spec.tolerations, owned; NULL when none */
    size_t toleration_count;
    int terminal;        /* Succeeded or Failed */
    int waiting;         /* unbound, Pending, not being deleted */
    usage_t *counted;    /* where its requests are counted now */
    int64_t counted_cpu;
    int64_t counted_memory;
    queue_state_t queue;
    void *queue_handle;
    int attempts;
    int64_t due_ms;
    uint64_t generation;     /* the cache's list generation that saw it */
    int64_t spec_generation; /* metadata.generation of the spec it holds */
} pod_entry_t;

/* One reason and how many nodes gave it, for the "0/N nodes" message. */
typedef struct reason_count {
    char text[320];  /* room for a taint's longest key and value */
    int count;
} reason_count_t;

struct kl_sched_cache {
    int64_t node_timeout_ms;
    node_entry_t **nodes;  /* sorted by name */
    size_t node_count;
    size_t node_alloc;
    zhashx_t *pods;        /* key -> pod_entry_t (owned) */
    zhashx_t *usage;       /* node name -> usage_t (owned) */
    zlistx_t *active;      /* pod_entry_t, arrival order */
    zlistx_t *backoff;     /* pod_entry_t whose retry is due at due_ms */
    int64_t backoff_due_ms; /* no backed-off pod is due before this */
    uint64_t generation;
    unsigned plugin_complaints;  /* garbage answers logged so far */
    /* Scratch space reused by every decision so a decision allocates nothing. */
    kl_sched_node_t *views;
    const kl_sched_node_t **feasible;
    node_entry_t **feasible_entries;  /* the cache's entry behind each feasible view */
    size_t scratch_alloc;
    int sample_percent;   /* of nodes a scoring decision looks for; 0: adaptive */
    size_t next_start;    /* where the next sampled search begins */
    /* Why the plugin is no longer called: it crashed in a decision. */
    char plugin_crash[256];
};

/* Most distinct reasons one decision keeps for its message. */
#define MAX_REASONS 16

/* ---- parsing (sched_cache_parse.c) -------------------------------------- */

/* Reads a Node into `out`'s parsed fields; out->name and out->labels stay
 * borrowed from `object`, out->taints is the caller's to free. */
int kl_sched_parse_node(const json_t *object, node_entry_t *out, kl_error_t *err);
/* Reads spec.tolerations and spec.nodeSelector of a pod (caller owns
 * *tolerations_p). Strings and the selector stay borrowed from `object`. */
int kl_sched_parse_placement(const json_t *object, toleration_t **tolerations_p,
                             size_t *count_p, const json_t **selector_p, kl_error_t *err);

/* Upserts each object of a relist (a bad one is logged and counted, not
 * fatal); returns how many were bad. In sched_cache.c. */
int kl_sched_upsert_listed(kl_sched_cache_t *self, json_t *items, int64_t now_ms,
                           int (*upsert)(kl_sched_cache_t *, json_t *, int64_t, kl_error_t *),
                           const char *what);

/* ---- nodes (sched_cache_nodes.c) ---------------------------------------- */

node_entry_t *kl_sched_node_find(kl_sched_cache_t *self, const char *name);
void kl_sched_node_entry_free(node_entry_t *node);
/* The usage record of a node, by name, created empty on first use: pods can
 * be bound to a node the cache has not seen yet. */
usage_t *kl_sched_usage_for(kl_sched_cache_t *self, const char *node_name);
int kl_sched_node_is_ready(const kl_sched_cache_t *self, const node_entry_t *node,
                           int64_t now_ms);
/* Fills the plugin's view of `node`; its strings and object stay borrowed.
 * Inline: the decision loop fills one view per node it looks at. */
static inline void kl_sched_fill_node_view(const node_entry_t *node, kl_sched_node_t *view)
{
    view->name = node->name;
    view->cpu_allocatable_milli = node->cpu_allocatable;
    view->memory_allocatable_bytes = node->memory_allocatable;
    view->pods_allocatable = node->pods_allocatable;
    view->cpu_requested_milli = node->usage->cpu_milli;
    view->memory_requested_bytes = node->usage->memory_bytes;
    view->pods_count = node->usage->pods;
    view->object = node->object;
}

/* ---- the queue (sched_cache_queue.c) ------------------------------------ */

void kl_sched_queue_remove(kl_sched_cache_t *self, pod_entry_t *pod);
void kl_sched_queue_push_active(kl_sched_cache_t *self, pod_entry_t *pod);
/* Counts an attempt and queues the pod for when its back-off ends. */
void kl_sched_queue_push_backoff(kl_sched_cache_t *self, pod_entry_t *pod, int64_t now_ms);
/* Something may make waiting pods fit now: every backed-off pod retries. */
void kl_sched_queue_wake_all(kl_sched_cache_t *self);

/* ---- filters and reasons (sched_cache_filters.c, sched_cache_reasons.c) -- */

/* 1 when every filter lets the pod on `node`; else 0 with the reasons counted. */
int kl_sched_node_feasible(kl_sched_cache_t *self, const pod_entry_t *pod,
                           const kl_sched_pod_t *pod_view, const node_entry_t *node,
                           const kl_sched_node_t *view, const kl_scheduler_ops_t *ops,
                           void *state, int64_t now_ms, reason_count_t *reasons,
                           size_t *reason_count);
/* What scoring takes off a node for the PreferNoSchedule taints the pod
 * does not tolerate. */
int64_t kl_sched_prefer_no_schedule_penalty(const pod_entry_t *pod, const node_entry_t *node);
/* Adds one to `text`'s count; past `max` reasons, to the last one's. */
void kl_sched_reason_add(reason_count_t *reasons, size_t *count, size_t max, const char *text);
/* "0/N nodes are available: <count> <reason>, ...", most frequent first
 * (sorts `reasons`). */
void kl_sched_format_reasons(reason_count_t *reasons, size_t count, size_t node_count,
                             char *message, size_t size);

#endif
