/* What a kubelet tells the API about its node: the machine's capacity and
 * the Node object it registers and keeps alive with heartbeats. */
#ifndef KL_CORE_NODE_INFO_H
#define KL_CORE_NODE_INFO_H

#include <stdint.h>
#include <jansson.h>
#include <keelson/error.h>

#define KL_NODE_DEFAULT_MAX_PODS 110

/* Online CPUs (in millicores) and MemTotal of /proc/meminfo (in bytes). */
int kl_node_capacity_detect(int64_t *cpu_milli, int64_t *memory_bytes, kl_error_t *err);

/* A Node named `name` with labels kubernetes.io/hostname=<name> plus
 * `labels` (a string map, borrowed, may be NULL), capacity = allocatable,
 * a Ready condition stamped now and nodeInfo. Caller owns; NULL with err
 * naming the bad label. */
json_t *kl_node_object_new(const char *name, const json_t *labels, int64_t cpu_milli,
                           int64_t memory_bytes, int64_t max_pods, const char *runtime_version,
                           int64_t now_ms, kl_error_t *err);

/* Stamps the Ready condition of `node` (a Node, modified in place) with a
 * heartbeat at now_ms. */
void kl_node_heartbeat(json_t *node, int64_t now_ms);

#endif
