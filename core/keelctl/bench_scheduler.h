/* `keelctl bench scheduler`: runs scheduler plugins over the same synthetic
 * cluster, in process (the scheduling core alone) or as a real cluster of
 * keelsond processes, and reports them side by side. */
#ifndef KL_KEELCTL_BENCH_SCHEDULER_H
#define KL_KEELCTL_BENCH_SCHEDULER_H

#include <stdint.h>
#include <keelson/error.h>

#include "bench_profile.h"
#include "bench_report.h"

typedef struct kl_bench_options {
    int64_t nodes;             /* 0: the profile's */
    int64_t pods;              /* 0: the profile's */
    uint64_t seed;
    int cluster;               /* --mode cluster */
    int timeout_s;             /* cluster mode: give up on a run after this */
    int64_t nodes_per_process; /* cluster mode: simulated nodes per worker keelsond */
    const char *keelsond;      /* cluster mode: the daemon to start (NULL: found) */
    int master_normal;         /* cluster mode: the master's cpu_priority "normal", not "realtime" */
} kl_bench_options_t;

/* Runs `plugin` (a name or a path to a .so) in process over `cluster`.
 * Returns 0 with `result` filled; a plugin that cannot load gives 0 too,
 * with result->error saying why, so the other plugins still run. -1 only
 * when the benchmark itself cannot go on. */
int kl_bench_run_inproc(const kl_bench_profile_t *profile, const kl_bench_cluster_t *cluster,
                        const char *plugin, kl_bench_result_t *result, kl_error_t *err);

/* Starts a master with `plugin` and simulated workers, creates the pods
 * through the API and measures bindings from a watch. Every process it
 * started is stopped before it returns. */
int kl_bench_run_cluster(const kl_bench_profile_t *profile, const kl_bench_cluster_t *cluster,
                         const kl_bench_options_t *options, const char *plugin,
                         kl_bench_result_t *result, kl_error_t *err);

/* The command: `args[0]` is "bench". Returns the exit code. */
int kl_cmd_bench(int argc, char **args);

#endif
