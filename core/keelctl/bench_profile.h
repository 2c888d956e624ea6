/* Scheduler benchmark profiles: a libconfig file describing a synthetic
 * cluster (node shapes) and workload (pod requests, selectors, tolerations,
 * arrival), and the seeded generation of its Node and Pod objects. */
#ifndef KL_KEELCTL_BENCH_PROFILE_H
#define KL_KEELCTL_BENCH_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/error.h>

#define KL_BENCH_MAX_SHAPES 32
#define KL_BENCH_MAX_CHOICES 32

typedef struct kl_bench_node_shape {
    char name[64];
    int64_t count;          /* fixed count, or 0 when `weight` is used */
    double weight;          /* share of the nodes (count acts as a weight when scaled) */
    int64_t cpu_milli;
    int64_t memory_bytes;
    int64_t max_pods;
    json_t *labels;         /* object of strings (owned) */
    json_t *taints;         /* array of {key,value,effect} (owned) */
} kl_bench_node_shape_t;

typedef struct kl_bench_request_choice {
    double weight;
    int64_t cpu_milli;
    int64_t memory_bytes;
} kl_bench_request_choice_t;

typedef enum kl_bench_arrival {
    KL_BENCH_ALL_AT_ONCE = 0,
    KL_BENCH_RATE = 1
} kl_bench_arrival_t;

typedef struct kl_bench_profile {
    char *path;
    char store[32];                 /* store plugin for cluster mode */
    char events_store[32];          /* the master's events_store plugin, "" for none */
    int64_t nodes;                  /* default node count */
    int64_t pods;                   /* default pod count */
    kl_bench_node_shape_t shapes[KL_BENCH_MAX_SHAPES];
    size_t shape_count;
    /* Pod requests: weighted choices, or uniform ranges when choice_count is 0. */
    kl_bench_request_choice_t choices[KL_BENCH_MAX_CHOICES];
    size_t choice_count;
    int64_t cpu_min_milli, cpu_max_milli;
    int64_t memory_min_bytes, memory_max_bytes;
    double selector_fraction;       /* pods given node_selector_labels */
    json_t *selector_labels;        /* object (owned) */
    double toleration_fraction;     /* pods given the tolerations */
    json_t *tolerations;            /* array of Kubernetes tolerations (owned) */
    kl_bench_arrival_t arrival;
    double rate;                    /* pods per second when arrival is KL_BENCH_RATE */
} kl_bench_profile_t;

/* Reads and checks `path`; every error names file:line. Caller owns. */
kl_bench_profile_t *kl_bench_profile_load(const char *path, kl_error_t *err);
/* The profile used without --profile: uniform nodes of 8 cpu / 32Gi. */
kl_bench_profile_t *kl_bench_profile_default(void);
void kl_bench_profile_destroy(kl_bench_profile_t **self_p);

/* A generated cluster: Node and Pod objects (owned arrays), plus for each pod
 * its arrival offset in milliseconds from the start. */
typedef struct kl_bench_cluster {
    json_t *nodes;
    json_t *pods;
    double *arrival_ms;
    size_t *node_shape;   /* index into profile->shapes for each node */
    int64_t median_cpu_milli;
    int64_t median_memory_bytes;
} kl_bench_cluster_t;

/* Same profile, counts and seed give the same objects. node_count and
 * pod_count > 0. Nodes are named "<shape>-NNNN" as a kubelet serving many
 * simulated nodes names them; pods "bench-NNNNNN" in namespace "bench". */
kl_bench_cluster_t *kl_bench_cluster_generate(const kl_bench_profile_t *profile,
                                              int64_t node_count, int64_t pod_count,
                                              uint64_t seed, kl_error_t *err);
void kl_bench_cluster_destroy(kl_bench_cluster_t **self_p);

/* How many nodes of each shape `node_count` nodes get (largest remainder
 * over the shapes' weights). counts has profile->shape_count entries. */
void kl_bench_profile_apportion(const kl_bench_profile_t *profile, int64_t node_count,
                                int64_t *counts);

#endif
