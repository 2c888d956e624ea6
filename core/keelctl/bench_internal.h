/* Private to the scheduler benchmark: what its files share, and the keelsond
 * processes of a cluster run. */
#ifndef KL_KEELCTL_BENCH_INTERNAL_H
#define KL_KEELCTL_BENCH_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <jansson.h>
#include <keelson/error.h>

#include "bench_scheduler.h"

/* Without kubelet.node_count support each simulated node costs a process. */
#define SINGLE_NODE_PROCESSES_MAX 8

static inline double monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline const char *node_name_of(const json_t *object)
{
    return json_string_value(json_object_get(json_object_get(object, "metadata"), "name"));
}

/* A cluster run: its work folder, the master's endpoint and the keelsond
 * processes started, the master first. */
typedef struct cluster_run {
    char work[PATH_MAX];
    char endpoint[64];
    pid_t *pids;
    size_t pid_count;
    size_t pid_alloc;
    int keep_work;
} cluster_run_t;

/* bench_daemons.c. kl_bench_start_cluster() starts a master with `plugin` and
 * the worker keelsond processes that simulate `node_count` nodes, and says in
 * *process_count how many workers. */
int kl_bench_start_cluster(cluster_run_t *run, const kl_bench_profile_t *profile,
                           const kl_bench_options_t *options, const char *plugin,
                           int64_t node_count, size_t *process_count, kl_error_t *err);
int kl_bench_daemons_alive(cluster_run_t *run, kl_error_t *err);
void kl_bench_stop_daemons(cluster_run_t *run);
/* Removes the work folder, unless it is kept for its logs. */
void kl_bench_remove_work(cluster_run_t *run);
double kl_bench_process_cpu_ms(pid_t pid);
double kl_bench_process_peak_mib(pid_t pid);

#endif
