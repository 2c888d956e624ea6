/* Cluster mode of the scheduler benchmark: pods sent to a real master, bindings timed by watch. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <czmq.h>

#include "bench_internal.h"
#include "bench_scheduler.h"
#include "bus.h"
#include "json_scan.h"
#include "objects.h"
#include "quantity.h"
#include "sched_cache.h"

static int count_ready_nodes(kl_bus_client_t *client, json_t **list_out, kl_error_t *err)
{
    json_t *payload = json_pack("{s:s}", "kind", "Node");
    json_t *list = kl_bus_request(client, "api.list", payload, 10000, err);
    json_decref(payload);
    if (!list)
        return -1;
    int ready = 0;
    size_t i, j;
    json_t *node, *condition;
    json_array_foreach(json_object_get(list, "items"), i, node)
        json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), j,
                           condition) {
            const char *type = json_string_value(json_object_get(condition, "type"));
            const char *status = json_string_value(json_object_get(condition, "status"));
            if (type && status && strcmp(type, "Ready") == 0 && strcmp(status, "True") == 0)
                ready++;
        }
    if (list_out)
        *list_out = list;
    else
        json_decref(list);
    return ready;
}

typedef struct pod_track {
    double sent_ms;
    double bound_ms;     /* 0 until the watch shows spec.nodeName */
    int unschedulable;   /* the scheduler said so (it may still bind later) */
    char *node;
} pod_track_t;

static int pod_index(const kl_json_scan_t *scan, int object, size_t pod_count)
{
    char buf[64];
    const char *name = kl_json_scan_string(scan, kl_json_scan_find(scan, object, "metadata",
                                                                   "name", NULL), buf, sizeof buf);
    unsigned long index;
    char tail;
    if (!name || sscanf(name, "bench-%lu%c", &index, &tail) != 1 || index >= pod_count)
        return -1;
    return (int)index;
}

/* The scheduler's message of a PodScheduled False condition, or NULL. */
static json_t *unschedulable_message(const kl_json_scan_t *scan, int object)
{
    int conditions = kl_json_scan_find(scan, object, "status", "conditions", NULL);
    for (int condition = kl_json_scan_first(scan, conditions); condition >= 0;
         condition = kl_json_scan_next(scan, conditions, condition)) {
        char type[32], status[16];
        if (kl_json_scan_string(scan, kl_json_scan_get(scan, condition, "type"), type, sizeof type)
            && kl_json_scan_string(scan, kl_json_scan_get(scan, condition, "status"), status,
                                   sizeof status)
            && strcmp(type, "PodScheduled") == 0 && strcmp(status, "False") == 0) {
            json_t *message = kl_json_scan_load(scan, kl_json_scan_get(scan, condition, "message"),
                                                NULL);
            return message ? message : json_string("");
        }
    }
    return NULL;
}

/* The benchmark client shares the machine with the cluster it measures:
 * it reads each event's few fields from the reply's tokens instead of
 * parsing the whole pod. */
static void watch_event(pod_track_t *pods, size_t pod_count, const kl_json_scan_t *scan,
                        int object, double now, size_t *bound, size_t *unschedulable, char *crash,
                        size_t crash_size)
{
    int index = pod_index(scan, object, pod_count);
    if (index < 0)
        return;
    pod_track_t *pod = &pods[index];
    char node[256];
    if (kl_json_scan_string(scan, kl_json_scan_find(scan, object, "spec", "nodeName", NULL), node,
                            sizeof node) && *node) {
        if (pod->bound_ms == 0) {
            pod->bound_ms = now;
            pod->node = strdup(node);
            (*bound)++;
            if (pod->unschedulable)
                (*unschedulable)--;
        }
        return;
    }
    if (pod->unschedulable || pod->bound_ms != 0)
        return;
    json_t *message = unschedulable_message(scan, object);
    if (!message)
        return;
    pod->unschedulable = 1;
    (*unschedulable)++;
    const char *text = json_string_value(message);
    if (text && strstr(text, KL_SCHED_CRASH_TAIL) && !crash[0])
        snprintf(crash, crash_size, "%s", text);
    json_decref(message);
}

/* Only unbound pods: a binding arrives as the pod leaving the selection
 * (with its node), and the kubelets' later status writes are not sent to a
 * benchmark client that shares the machine with the cluster it measures. */
static int send_watch(kl_bus_client_t *client, const char *resource_version, kl_error_t *err)
{
    json_t *payload = json_pack("{s:s, s:s, s:s, s:s, s:i}", "kind", "Pod", "namespace", "bench",
                                "fieldSelector", "spec.nodeName=", "resourceVersion",
                                resource_version, "timeoutMs", 500);
    uint64_t id;
    int rc = kl_bus_send(client, "api.watch", payload, &id, err);
    json_decref(payload);
    return rc;
}

/* Creates every pod (pipelined, paced by the profile's arrival) and follows
 * the watch until each pod is bound or reported unschedulable. */
static int drive_pods(cluster_run_t *run, const kl_bench_cluster_t *cluster, int timeout_s,
                      pod_track_t *pods, double *first_sent, double *last_bound,
                      char *crash, size_t crash_size, kl_error_t *err)
{
    size_t pod_count = json_array_size(cluster->pods);
    int rc = -1;
    kl_bus_client_t *creator = kl_bus_client_new(run->endpoint, err);
    kl_bus_client_t *watcher = creator ? kl_bus_client_new(run->endpoint, err) : NULL;
    zpoller_t *poller = NULL;
    json_t *list = NULL;
    kl_json_scan_t *scan = NULL;
    if (!watcher)
        goto done;
    if (!(scan = kl_json_scan_new())) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading the watch");
        goto done;
    }
    json_t *payload = json_pack("{s:s, s:s}", "kind", "Pod", "namespace", "bench");
    list = kl_bus_request(watcher, "api.list", payload, 10000, err);
    json_decref(payload);
    if (!list)
        goto done;
    char resource_version[32];
    snprintf(resource_version, sizeof resource_version, "%s",
             json_string_value(json_object_get(json_object_get(list, "metadata"),
                                               "resourceVersion")) ?: "0");
    if (send_watch(watcher, resource_version, err) < 0)
        goto done;
    poller = zpoller_new(kl_bus_client_socket(creator), kl_bus_client_socket(watcher), NULL);
    if (!poller) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory polling the bus");
        goto done;
    }
    const size_t window = 256;
    size_t sent = 0, replied = 0, bound = 0, unschedulable = 0, failed = 0;
    char first_failure[256] = "";
    double start = monotonic_ms(), deadline = start + timeout_s * 1000.0;
    *first_sent = start;
    while (bound + unschedulable < pod_count || replied < sent) {
        double now = monotonic_ms();
        if (now > deadline) {
            kl_error_set(err, KL_ERR_TIMEOUT, "after %d s, %zu of %zu pods were bound and %zu "
                         "reported unschedulable", timeout_s, bound, pod_count, unschedulable);
            goto done;
        }
        while (sent < pod_count && sent - replied < window
               && now - start >= cluster->arrival_ms[sent]) {
            json_t *create = json_pack("{s:O}", "object", json_array_get(cluster->pods, sent));
            uint64_t id;
            int sent_rc = kl_bus_send_ack(creator, "api.create", create, &id, err);
            json_decref(create);
            if (sent_rc < 0)
                goto done;
            pods[sent++].sent_ms = monotonic_ms();
        }
        int wait_ms = 100;
        if (sent < pod_count && sent - replied < window) {
            double due = cluster->arrival_ms[sent] - (now - start);
            wait_ms = due < 1 ? 0 : due < 100 ? (int)due : 100;
        }
        zsock_t *which = zpoller_wait(poller, wait_ms);
        if (zpoller_terminated(poller)) {
            kl_error_set(err, KL_ERR_UNAVAILABLE, "interrupted");
            goto done;
        }
        if (which == kl_bus_client_socket(creator)) {
            for (;;) {
                uint64_t id = 0;
                kl_error_t reply_err;
                kl_error_clear(&reply_err);
                json_t *reply = kl_bus_recv(creator, &id, 0, &reply_err);
                if (!reply && id == 0)
                    break;
                replied++;
                if (!reply) {
                    if (!failed++)
                        snprintf(first_failure, sizeof first_failure, "%s", reply_err.text);
                    unschedulable++;  /* never created, so never bound */
                }
                json_decref(reply);
            }
        } else if (which == kl_bus_client_socket(watcher)) {
            uint64_t id = 0;
            size_t len = 0;
            char *reply = kl_bus_recv_text(watcher, &id, 0, &len, err);
            if (!reply && id == 0)
                continue;
            if (!reply || kl_json_scan_parse(scan, reply, len, err) < 0) {
                free(reply);
                goto done;  /* an expired watch would hide bindings: give up */
            }
            double received = monotonic_ms();
            int events = kl_json_scan_get(scan, 0, "events");
            for (int event = kl_json_scan_first(scan, events); event >= 0;
                 event = kl_json_scan_next(scan, events, event)) {
                watch_event(pods, pod_count, scan, kl_json_scan_get(scan, event, "object"),
                            received, &bound, &unschedulable, crash, crash_size);
                if (received > *last_bound && bound > 0)
                    *last_bound = received;
            }
            kl_json_scan_string(scan, kl_json_scan_get(scan, 0, "resourceVersion"),
                                resource_version, sizeof resource_version);
            free(reply);
            if (send_watch(watcher, resource_version, err) < 0)
                goto done;
        } else if (kl_bench_daemons_alive(run, err) < 0) {
            goto done;
        }
    }
    if (failed)
        fprintf(stderr, "warning: %zu pod creations failed, the first with: %s\n", failed,
                first_failure);
    rc = 0;
done:
    zpoller_destroy(&poller);
    kl_json_scan_destroy(&scan);
    json_decref(list);
    kl_bus_client_destroy(&watcher);
    kl_bus_client_destroy(&creator);
    return rc;
}

static int measure_cluster(cluster_run_t *run, const kl_bench_cluster_t *cluster,
                           const pod_track_t *pods, kl_bench_result_t *result, kl_error_t *err)
{
    size_t pod_count = json_array_size(cluster->pods);
    kl_bus_client_t *client = kl_bus_client_new(run->endpoint, err);
    json_t *list = NULL;
    kl_bench_node_usage_t *usage = NULL;
    zhashx_t *by_name = zhashx_new();
    int rc = -1;
    if (!client || !by_name || count_ready_nodes(client, &list, err) < 0)
        goto done;
    json_t *items = json_object_get(list, "items");
    size_t node_count = json_array_size(items);
    usage = calloc(node_count ? node_count : 1, sizeof *usage);
    if (!usage)
        goto done;
    size_t i;
    json_t *node;
    json_array_foreach(items, i, node) {
        json_t *allocatable = json_object_get(json_object_get(node, "status"), "allocatable");
        kl_error_t inner;
        const char *cpu = json_string_value(json_object_get(allocatable, "cpu"));
        const char *memory = json_string_value(json_object_get(allocatable, "memory"));
        const char *max_pods = json_string_value(json_object_get(allocatable, "pods"));
        if (cpu)
            kl_quantity_parse_cpu(cpu, &usage[i].cpu_allocatable_milli, &inner);
        if (memory)
            kl_quantity_parse_memory(memory, &usage[i].memory_allocatable_bytes, &inner);
        usage[i].pods_allocatable = max_pods ? strtoll(max_pods, NULL, 10)
                                             : json_integer_value(json_object_get(allocatable,
                                                                                  "pods"));
        zhashx_insert(by_name, node_name_of(node), &usage[i]);
    }
    for (size_t p = 0; p < pod_count; p++) {
        if (!pods[p].node)
            continue;
        kl_bench_node_usage_t *n = zhashx_lookup(by_name, pods[p].node);
        int64_t cpu, memory;
        kl_error_t inner;
        if (!n || kl_pod_requests(json_array_get(cluster->pods, p), &cpu, &memory, &inner) < 0)
            continue;
        n->cpu_requested_milli += cpu;
        n->memory_requested_bytes += memory;
        n->pods_count++;
    }
    kl_bench_result_placement(result, usage, node_count, cluster->median_cpu_milli,
                              cluster->median_memory_bytes);
    rc = 0;
done:
    free(usage);
    zhashx_destroy(&by_name);
    json_decref(list);
    kl_bus_client_destroy(&client);
    return rc;
}

int kl_bench_run_cluster(const kl_bench_profile_t *profile, const kl_bench_cluster_t *cluster,
                         const kl_bench_options_t *options, const char *plugin,
                         kl_bench_result_t *result, kl_error_t *err)
{
    size_t node_count = json_array_size(cluster->nodes);
    size_t pod_count = json_array_size(cluster->pods);
    result->nodes = (int64_t)node_count;
    result->pods = (int64_t)pod_count;
    snprintf(result->mode, sizeof result->mode, "cluster");
    cluster_run_t run = {0};
    const char *tmp = getenv("TMPDIR");
    snprintf(run.work, sizeof run.work, "%s/keelson-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(run.work)) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot make a work folder \"%s\": %s", run.work,
                     strerror(errno));
        return -1;
    }
    pod_track_t *pods = calloc(pod_count, sizeof *pods);
    double *latencies = malloc(pod_count * sizeof *latencies);
    kl_bus_client_t *client = NULL;
    int rc = -1;
    size_t processes = 0;
    if (!pods || !latencies) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for %zu pods", pod_count);
        goto done;
    }
    if (kl_bench_start_cluster(&run, profile, options, plugin, (int64_t)node_count, &processes,
                               err) < 0)
        goto done;
    if (!(client = kl_bus_client_new(run.endpoint, err)))
        goto done;
    /* Registration is waited for by polling; bindings are measured from the watch. */
    double deadline = monotonic_ms() + 30000 + (double)node_count * 5;
    int ready = 0, stalled_polls = 0, last_ready = -1;
    kl_error_t inner;
    while ((size_t)ready < node_count) {
        if (kl_bench_daemons_alive(&run, err) < 0)
            goto done;
        if (monotonic_ms() > deadline) {
            run.keep_work = 1;
            if ((size_t)ready == processes && processes < node_count)
                kl_error_set(err, KL_ERR_UNAVAILABLE, "each worker keelsond registered one node, "
                             "not kubelet.node_count of them: this keelsond cannot simulate many "
                             "nodes per process; use --nodes %d or fewer",
                             SINGLE_NODE_PROCESSES_MAX);
            else
                kl_error_set(err, KL_ERR_TIMEOUT, "only %d of %zu nodes became Ready; logs are "
                             "in %s", ready, node_count, run.work);
            goto done;
        }
        usleep(200000);
        ready = count_ready_nodes(client, NULL, &inner);
        if (ready < 0)
            ready = 0;
        /* A steady count equal to the process count means node_count is ignored. */
        stalled_polls = ready == last_ready ? stalled_polls + 1 : 0;
        last_ready = ready;
        if (stalled_polls > 50 && (size_t)ready == processes && processes < node_count)
            deadline = 0;
    }
    double first_sent = 0, last_bound = 0;
    double master_cpu_before = kl_bench_process_cpu_ms(run.pids[0]);
    char crash[512] = "";
    if (drive_pods(&run, cluster, options->timeout_s, pods, &first_sent, &last_bound, crash,
                   sizeof crash, err) < 0)
        goto done;
    if (crash[0]) {
        kl_error_set(err, KL_ERR_INTERNAL, "the master's scheduler reports: %s", crash);
        goto done;
    }
    double master_cpu_after = kl_bench_process_cpu_ms(run.pids[0]);
    size_t latency_count = 0;
    for (size_t i = 0; i < pod_count; i++)
        if (pods[i].bound_ms > 0)
            latencies[latency_count++] = pods[i].bound_ms - pods[i].sent_ms;
    result->bound = (int64_t)latency_count;
    result->unschedulable = (int64_t)(pod_count - latency_count);
    result->seconds = last_bound > first_sent ? (last_bound - first_sent) / 1000.0 : 0;
    result->pods_per_second = result->seconds > 0 ? (double)result->bound / result->seconds : 0;
    kl_bench_result_latencies(result, latencies, latency_count);
    if (latency_count && master_cpu_before >= 0 && master_cpu_after >= master_cpu_before)
        result->master_cpu_ms_per_pod = (master_cpu_after - master_cpu_before) / (double)latency_count;
    if (measure_cluster(&run, cluster, pods, result, err) < 0)
        goto done;
    result->master_peak_mib = kl_bench_process_peak_mib(run.pids[0]);
    rc = 0;
done:
    kl_bus_client_destroy(&client);
    kl_bench_stop_daemons(&run);
    if (rc < 0 && run.keep_work)
        fprintf(stderr, "keelsond logs kept in %s\n", run.work);
    kl_bench_remove_work(&run);
    for (size_t i = 0; pods && i < pod_count; i++)
        free(pods[i].node);
    free(pods);
    free(latencies);
    free(run.pids);
    return rc;
}
