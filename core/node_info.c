/* The Node object a kubelet registers: capacity from the machine or the
 * config, labels, the Ready condition and its heartbeat. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <keelson/version.h>

#include "node_info.h"
#include "pod_status.h"
#include "quantity.h"

int kl_node_capacity_detect(int64_t *cpu_milli, int64_t *memory_bytes, kl_error_t *err)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot count the online CPUs (sysconf)");
    *cpu_milli = (int64_t)cpus * 1000;
    FILE *meminfo = fopen("/proc/meminfo", "r");
    if (!meminfo)
        return kl_error_set(err, KL_ERR_INTERNAL,
                            "cannot read /proc/meminfo; set the node's memory in the config");
    char line[256];
    long long kib = -1;
    while (fgets(line, sizeof line, meminfo))
        if (sscanf(line, "MemTotal: %lld kB", &kib) == 1)
            break;
    fclose(meminfo);
    if (kib <= 0)
        return kl_error_set(err, KL_ERR_INTERNAL,
                            "/proc/meminfo has no MemTotal; set the node's memory in the config");
    *memory_bytes = (int64_t)kib * 1024;
    return 0;
}

json_t *kl_node_object_new(const char *name, const json_t *labels, int64_t cpu_milli,
                           int64_t memory_bytes, int64_t max_pods, const char *runtime_version,
                           int64_t now_ms, kl_error_t *err)
{
    if (labels && !json_is_object(labels)) {
        kl_error_set(err, KL_ERR_INVALID, "node labels must be a map of strings");
        return NULL;
    }
    json_t *all_labels = json_pack("{s:s}", "kubernetes.io/hostname", name);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)labels, key, value) {
        if (!json_is_string(value)) {
            kl_error_set(err, KL_ERR_INVALID, "node label \"%s\" must be a string", key);
            json_decref(all_labels);
            return NULL;
        }
        json_object_set(all_labels, key, value);
    }
    char cpu[32], memory[32], pods[32], now[32], kubelet_version[64];
    kl_quantity_format_cpu(cpu_milli, cpu, sizeof cpu);
    kl_quantity_format_memory(memory_bytes, memory, sizeof memory);
    snprintf(pods, sizeof pods, "%" PRId64, max_pods);
    kl_time_format_rfc3339(now_ms, now, sizeof now);
    snprintf(kubelet_version, sizeof kubelet_version, "keelson-%s", KL_VERSION_STRING);
    json_t *node = json_pack(
        "{s:s, s:s, s:{s:s, s:o}, s:{},"
        " s:{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s},"
        "    s:[{s:s, s:s, s:s, s:s, s:s, s:s}],"
        "    s:[{s:s, s:s}],"
        "    s:{s:s, s:s, s:s}}}",
        "apiVersion", "v1", "kind", "Node",
        "metadata", "name", name, "labels", all_labels,
        "spec",
        "status",
        "capacity", "cpu", cpu, "memory", memory, "pods", pods,
        "allocatable", "cpu", cpu, "memory", memory, "pods", pods,
        "conditions", "type", "Ready", "status", "True", "reason", "KubeletReady",
        "message", "kubelet is posting ready status", "lastHeartbeatTime", now,
        "lastTransitionTime", now,
        "addresses", "type", "Hostname", "address", name,
        "nodeInfo", "kubeletVersion", kubelet_version, "containerRuntimeVersion",
        runtime_version ? runtime_version : "unknown", "operatingSystem", "linux");
    if (!node)
        kl_error_set(err, KL_ERR_INTERNAL, "cannot build the Node object for \"%s\"", name);
    return node;
}

void kl_node_heartbeat(json_t *node, int64_t now_ms)
{
    char now[32];
    kl_time_format_rfc3339(now_ms, now, sizeof now);
    size_t i;
    json_t *condition;
    json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i,
                       condition) {
        const char *type = json_string_value(json_object_get(condition, "type"));
        if (type && strcmp(type, "Ready") == 0)
            json_object_set_new(condition, "lastHeartbeatTime", json_string(now));
    }
}
