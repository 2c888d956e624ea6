/* Results of a scheduler benchmark, the measures computed from a placement
 * and a latency sample, and their output as a table, CSV, JSON or an SVG chart. */
#ifndef KL_KEELCTL_BENCH_REPORT_H
#define KL_KEELCTL_BENCH_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

/* One node's capacity and what the placed pods request on it. */
typedef struct kl_bench_node_usage {
    int64_t cpu_allocatable_milli;
    int64_t memory_allocatable_bytes;
    int64_t pods_allocatable;
    int64_t cpu_requested_milli;
    int64_t memory_requested_bytes;
    int64_t pods_count;
} kl_bench_node_usage_t;

typedef struct kl_bench_result {
    char plugin[128];
    char mode[16];              /* "inproc" or "cluster" */
    int64_t nodes;
    int64_t pods;
    int64_t bound;
    int64_t unschedulable;      /* pods left without a node */
    double seconds;             /* scheduling time measured */
    double pods_per_second;     /* bound / seconds */
    double latency_p50_ms;      /* create (arrival) to bind */
    double latency_p99_ms;
    double latency_max_ms;
    int64_t nodes_used;         /* nodes holding at least one pod */
    double cpu_utilisation_mean;      /* requested / allocatable over all nodes, 0..1 */
    double cpu_utilisation_stddev;
    double memory_utilisation_mean;
    double memory_utilisation_stddev;
    double fragmentation;       /* free cpu on nodes that cannot fit the median pod / all free cpu */
    /* Cluster mode only (0 in process): the master keelsond's cpu time
     * while pods were scheduled, per bound pod, and its peak resident set. */
    double master_cpu_ms_per_pod;
    double master_peak_mib;
    /* With --repeat, the numbers are those of the run with the median
     * throughput, and these tell the spread over all runs. */
    int64_t runs;
    double pods_per_second_min;
    double pods_per_second_max;
    char error[512];            /* non-empty: the run failed and the numbers mean nothing */
} kl_bench_result_t;

/* Fills the latency fields from `latencies_ms` (sorted in place). */
void kl_bench_result_latencies(kl_bench_result_t *result, double *latencies_ms, size_t count);

/* Fills nodes_used, utilisation and fragmentation. The median pod's
 * requests decide which nodes' free cpu counts as stranded. */
void kl_bench_result_placement(kl_bench_result_t *result, const kl_bench_node_usage_t *nodes,
                               size_t count, int64_t median_cpu_milli,
                               int64_t median_memory_bytes);

/* Reduces `count` runs of one plugin (reordered in place) to the run with
 * the median throughput, with runs and the throughput's range filled in. A
 * failed run makes the whole result a failure with its error. */
void kl_bench_result_median(kl_bench_result_t *runs, size_t count, kl_bench_result_t *out);

typedef enum kl_bench_format {
    KL_BENCH_TABLE = 0,
    KL_BENCH_CSV = 1,
    KL_BENCH_JSON = 2
} kl_bench_format_t;

/* 0, or -1 when `text` names no format. */
int kl_bench_format_parse(const char *text, kl_bench_format_t *format);

/* Plugins side by side, one per column (table) or row (CSV, JSON). */
void kl_bench_report_print(FILE *out, kl_bench_format_t format, const kl_bench_result_t *results,
                           size_t count, const char *title);
/* JSON form (caller owns). */
json_t *kl_bench_report_json(const kl_bench_result_t *results, size_t count, const char *title);
/* A chart: one panel of bars per measure, one bar per plugin. */
void kl_bench_report_svg(FILE *out, const kl_bench_result_t *results, size_t count,
                         const char *title);

#endif
