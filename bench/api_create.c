/* API create throughput: pods created through the bus and the API server on
 * the memory store, with a window of requests in flight, over inproc and tcp.
 * Baseline: the same pod JSON written straight into the store plugin, with no
 * bus, validation or API server in between. */
#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apiserver.h"
#include "bench_util.h"
#include "bus.h"
#include "loader.h"
#include "log.h"

static json_t *make_pod(int i)
{
    char name[64];
    snprintf(name, sizeof name, "bench-%07d", i);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:s, s:{s:{s:s, s:s}}}]}}",
                     "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace",
                     "default", "labels", "app", "bench", "spec", "restartPolicy", "Never",
                     "containers", "name", "main", "image", "busybox:1.35", "resources",
                     "requests", "cpu", "100m", "memory", "64Mi");
}

/* Creates `count` pods starting at index `first`; returns pods/s. */
static double run_api(const char *endpoint, int first, int count, int window, int64_t *latencies)
{
    kl_error_t err;
    kl_bus_client_t *c = kl_bus_client_new(endpoint, &err);
    int64_t *sent_at = calloc((size_t)count + 1, sizeof *sent_at);
    uint64_t first_id = 0;
    int sent = 0, done = 0, failed = 0;
    int64_t t0 = bench_now_ns();
    while (done < count) {
        while (sent < count && sent - done < window) {
            json_t *pod = make_pod(first + sent);
            json_t *req = json_pack("{s:o}", "object", pod);
            uint64_t id;
            kl_bus_send(c, "api.create", req, &id, &err);
            if (sent == 0)
                first_id = id;
            sent_at[sent++] = bench_now_ns();
            json_decref(req);
        }
        uint64_t id = 0;
        json_t *reply = kl_bus_recv(c, &id, 10000, &err);
        if (!reply) {
            if (err.code == KL_ERR_TIMEOUT) {
                fprintf(stderr, "api_create: %s\n", err.text);
                break;
            }
            if (failed++ < 3)
                fprintf(stderr, "api_create: create failed: %s\n", err.text);
        }
        if (latencies && id >= first_id && id < first_id + (uint64_t)count)
            latencies[done] = bench_now_ns() - sent_at[id - first_id];
        json_decref(reply);
        done++;
    }
    double rate = done / ((bench_now_ns() - t0) / 1e9);
    free(sent_at);
    kl_bus_client_destroy(&c);
    return failed ? -rate : rate;
}

static double run_direct(kl_plugin_t *store, int count)
{
    const kl_store_ops_t *ops = store->ops;
    kl_error_t err;
    int64_t t0 = bench_now_ns();
    for (int i = 0; i < count; i++) {
        json_t *pod = make_pod(i);
        char key[128];
        snprintf(key, sizeof key, "/registry/pods/default/bench-%07d", i);
        char *text = json_dumps(pod, JSON_COMPACT);
        int64_t rev;
        ops->create(store->state, key, text, strlen(text), &rev, &err);
        free(text);
        json_decref(pod);
    }
    return count / ((bench_now_ns() - t0) / 1e9);
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    kl_log_set_level(KL_LOG_ERROR);
    int count = argc > 1 ? atoi(argv[1]) : 50000;
    kl_error_t err;
    char tcp[64];
    snprintf(tcp, sizeof tcp, "tcp://127.0.0.1:%d", 41000 + (int)(getpid() % 10000));
    kl_broker_t *broker = kl_broker_new((const char *[]){"inproc://bench-api", tcp, NULL}, NULL, &err);
    kl_plugin_t *store = kl_plugin_load(KL_KIND_STORE, "memory", NULL, &err);
    if (!broker || !store || kl_plugin_configure(store, NULL, NULL, NULL, &err) < 0) {
        fprintf(stderr, "api_create: %s\n", err.text);
        return 1;
    }
    kl_apiserver_config_t config = {.bus_endpoint = "inproc://bench-api", .store = store, .history = 100000};
    zactor_t *api = zactor_new(kl_apiserver_actor, &config);
    if (config.failed) {
        fprintf(stderr, "api_create: %s\n", config.error.text);
        return 1;
    }
    int64_t *lat = calloc((size_t)count, sizeof *lat);
    double inproc = run_api("inproc://bench-api", 0, count, 512, lat);
    int64_t p50 = bench_percentile(lat, (size_t)count, 50), p99 = bench_percentile(lat, (size_t)count, 99);
    double over_tcp = run_api(tcp, count, count, 512, NULL);
    zactor_destroy(&api);
    kl_plugin_destroy(&store);

    kl_plugin_t *direct = kl_plugin_load(KL_KIND_STORE, "memory", NULL, &err);
    kl_plugin_configure(direct, NULL, NULL, NULL, &err);
    kl_plugin_open(direct, &err);
    double baseline = run_direct(direct, count);
    kl_plugin_destroy(&direct);

    printf("pod creates, memory store, %d pods per run, 512 in flight\n", count);
    printf("%-40s %10.0f pods/s  (p50 %.0f us, p99 %.0f us under load)\n", "keelson API over inproc bus", inproc,
           p50 / 1000.0, p99 / 1000.0);
    printf("%-40s %10.0f pods/s\n", "keelson API over tcp loopback", over_tcp);
    printf("%-40s %10.0f pods/s\n", "baseline: direct store writes", baseline);
    printf("API/direct ratio: %.2f (inproc), %.2f (tcp)\n", inproc / baseline, over_tcp / baseline);
    free(lat);
    kl_broker_destroy(&broker);
    return inproc < 0 || over_tcp < 0;
}
