/* Reading a bus payload: keelson's tree built from jsmn's tokens
 * (kl_json_parse_object) against jansson's own parser (json_loadb) as the
 * baseline, on a pod as the API server receives it in a create and on a
 * running pod as a watcher receives it. Both build the same jansson tree.
 * usage: json_parse [ROUNDS] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "json_scan.h"

static const char *const CREATE =
    "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bench-000123\","
    "\"namespace\":\"default\",\"labels\":{\"app\":\"bench\",\"keelson.io/bench\":\"run-1\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"busybox:latest\",\"command\":"
    "[\"sleep\",\"3600\"],\"resources\":{\"requests\":{\"cpu\":\"200m\",\"memory\":\"512Mi\"},"
    "\"limits\":{\"cpu\":\"200m\",\"memory\":\"512Mi\"}}}],\"restartPolicy\":\"Always\","
    "\"terminationGracePeriodSeconds\":30,\"schedulerName\":\"default-scheduler\",\"tolerations\":"
    "[{\"key\":\"node.kubernetes.io/not-ready\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
    "\"tolerationSeconds\":300}]}}}";

static const char *const RUNNING =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bench-000123\",\"namespace\":"
    "\"default\",\"uid\":\"5f0c8a3e-3b1d-4c7a-9d2e-1a2b3c4d5e6f\",\"resourceVersion\":\"412345\","
    "\"generation\":1,\"creationTimestamp\":\"2026-11-29T22:00:00Z\",\"labels\":{\"app\":\"bench\"}},"
    "\"spec\":{\"nodeName\":\"node-01234\",\"containers\":[{\"name\":\"main\",\"image\":"
    "\"busybox:latest\",\"imagePullPolicy\":\"IfNotPresent\",\"resources\":{\"requests\":{\"cpu\":"
    "\"200m\",\"memory\":\"512Mi\"}}}],\"restartPolicy\":\"Always\",\"schedulerName\":"
    "\"default-scheduler\",\"terminationGracePeriodSeconds\":30,\"dnsPolicy\":\"ClusterFirst\"},"
    "\"status\":{\"phase\":\"Running\",\"hostIP\":\"127.0.0.1\",\"startTime\":"
    "\"2026-11-29T22:00:01Z\",\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"True\","
    "\"lastTransitionTime\":\"2026-11-29T22:00:00Z\"},{\"type\":\"Initialized\",\"status\":\"True\","
    "\"lastTransitionTime\":\"2026-11-29T22:00:01Z\"},{\"type\":\"Ready\",\"status\":\"True\","
    "\"lastTransitionTime\":\"2026-11-29T22:00:01Z\"}],\"containerStatuses\":[{\"name\":\"main\","
    "\"ready\":true,\"restartCount\":0,\"image\":\"busybox:latest\",\"containerID\":"
    "\"sim://bench-000123-main\",\"started\":true,\"state\":{\"running\":{\"startedAt\":"
    "\"2026-11-29T22:00:01Z\"}}}]}}";

/* ns per parse of `text`, the tree freed each time. */
static double time_parse(const char *text, int tokens, long rounds)
{
    size_t len = strlen(text);
    int64_t began = bench_now_ns();
    for (long i = 0; i < rounds; i++) {
        kl_error_t err;
        json_t *tree = tokens ? kl_json_parse_object(text, len, &err) : json_loadb(text, len, 0, NULL);
        if (!tree) {
            fprintf(stderr, "json_parse: the sample did not parse\n");
            exit(1);
        }
        json_decref(tree);
    }
    return (double)(bench_now_ns() - began) / (double)rounds;
}

int main(int argc, char **argv)
{
    long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
    if (rounds < 1000) {
        fprintf(stderr, "usage: json_parse [ROUNDS >= 1000]\n");
        return 2;
    }
    const struct { const char *name, *text; } samples[] = {{"create request", CREATE},
                                                           {"running pod", RUNNING}};
    printf("%-16s %8s %14s %14s %8s\n", "payload", "bytes", "jansson ns", "tokens ns", "ratio");
    for (size_t s = 0; s < 2; s++) {
        /* Alternating rounds, the median of three, as the machine's speed drifts. */
        double jansson[3], ours[3];
        for (int r = 0; r < 3; r++) {
            jansson[r] = time_parse(samples[s].text, 0, rounds / 3);
            ours[r] = time_parse(samples[s].text, 1, rounds / 3);
        }
        int64_t j[3] = {(int64_t)jansson[0], (int64_t)jansson[1], (int64_t)jansson[2]};
        int64_t o[3] = {(int64_t)ours[0], (int64_t)ours[1], (int64_t)ours[2]};
        int64_t jm = bench_percentile(j, 3, 50), om = bench_percentile(o, 3, 50);
        printf("%-16s %8zu %14lld %14lld %7.2fx\n", samples[s].name, strlen(samples[s].text),
               (long long)jm, (long long)om, (double)jm / (double)om);
    }
    return 0;
}
