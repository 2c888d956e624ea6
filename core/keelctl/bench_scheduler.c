/* `keelctl bench scheduler`: the same synthetic cluster through each chosen
 * scheduler plugin, in process or as real keelsond processes, side by side.
 * This file holds the command and the in-process mode; the cluster mode is in
 * bench_cluster.c and bench_daemons.c. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_internal.h"
#include "bench_scheduler.h"
#include "loader.h"
#include "sched_cache.h"

#define MAX_PLUGINS 16

/* ---- in process --------------------------------------------------------- */

int kl_bench_run_inproc(const kl_bench_profile_t *profile, const kl_bench_cluster_t *cluster,
                        const char *plugin_name, kl_bench_result_t *result, kl_error_t *err)
{
    (void)profile;
    size_t node_count = json_array_size(cluster->nodes);
    size_t pod_count = json_array_size(cluster->pods);
    result->nodes = (int64_t)node_count;
    result->pods = (int64_t)pod_count;
    snprintf(result->mode, sizeof result->mode, "inproc");
    kl_error_t inner;
    kl_plugin_t *plugin = kl_plugin_load(KL_KIND_SCHEDULER, plugin_name, NULL, &inner);
    if (!plugin || kl_plugin_configure(plugin, NULL, NULL, NULL, &inner) < 0
        || kl_plugin_open(plugin, &inner) < 0) {
        snprintf(result->error, sizeof result->error, "%s", inner.text);
        kl_plugin_destroy(&plugin);
        return 0;
    }
    /* Only the operations the plugin's table reaches; the rest stay NULL. */
    kl_scheduler_ops_t ops = {0};
    if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, filter))
        ops.filter = ((const kl_scheduler_ops_t *)plugin->ops)->filter;
    if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, score))
        ops.score = ((const kl_scheduler_ops_t *)plugin->ops)->score;
    if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, select))
        ops.select = ((const kl_scheduler_ops_t *)plugin->ops)->select;
    kl_sched_policy_t policy = {.ops = &ops, .state = plugin->state, .label = plugin->label};

    int rc = -1;
    kl_sched_cache_t *cache = kl_sched_cache_new(0);
    double *latencies = malloc((pod_count ? pod_count : 1) * sizeof *latencies);
    kl_bench_node_usage_t *usage = calloc(node_count ? node_count : 1, sizeof *usage);
    if (!cache || !latencies || !usage) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory setting up the benchmark");
        goto done;
    }
    for (size_t i = 0; i < node_count; i++)
        if (kl_sched_cache_node_upsert(cache, json_array_get(cluster->nodes, i), 0, &inner) < 0) {
            kl_error_set(err, KL_ERR_INVALID, "generated node %zu: %s", i, inner.text);
            goto done;
        }
    /* Warm up on a throwaway cache: the first decisions otherwise pay for
     * lazy symbol binding and cold caches, and the first plugin run would
     * look slower than the ones after it. */
    kl_sched_cache_t *warm = kl_sched_cache_new(0);
    for (size_t i = 0; warm && i < node_count && i < 64; i++)
        kl_sched_cache_node_upsert(warm, json_array_get(cluster->nodes, i), 0, &inner);
    for (size_t i = 0; warm && i < pod_count && i < 64; i++) {
        char key[512], node[256], message[1024];
        if (kl_sched_cache_pod_upsert(warm, json_array_get(cluster->pods, i), 0, &inner) == 0
            && kl_sched_cache_next(warm, 0, key, sizeof key) == 0
            && kl_sched_cache_decide(warm, key, &policy, 0, node, sizeof node, message,
                                     sizeof message) == KL_SCHED_PLACED)
            kl_sched_cache_assume(warm, key, node);
    }
    const char *warm_crash = warm ? kl_sched_cache_plugin_crash(warm) : NULL;
    if (warm_crash) {
        kl_error_set(err, KL_ERR_INTERNAL, "%s", warm_crash);
        kl_sched_cache_destroy(&warm);
        goto done;
    }
    kl_sched_cache_destroy(&warm);
    /* The scheduler handles one pod at a time: a pod waits until both it has
     * arrived and the decisions before it are done. Decision costs are
     * measured; arrivals follow the profile, so latency = queueing + cost. */
    double busy_ms = 0, clock_ms = 0;
    size_t latency_count = 0;
    for (size_t i = 0; i < pod_count; i++) {
        char key[512], node[256], message[1024];
        double start = monotonic_ms();
        if (kl_sched_cache_pod_upsert(cache, json_array_get(cluster->pods, i), 0, &inner) < 0) {
            kl_error_set(err, KL_ERR_INVALID, "generated pod %zu: %s", i, inner.text);
            goto done;
        }
        if (kl_sched_cache_next(cache, 0, key, sizeof key) < 0)
            continue;
        kl_sched_outcome_t outcome = kl_sched_cache_decide(cache, key, &policy, 0, node,
                                                           sizeof node, message, sizeof message);
        int placed = outcome == KL_SCHED_PLACED && kl_sched_cache_assume(cache, key, node) == 0;
        double cost = monotonic_ms() - start;
        busy_ms += cost;
        double begin = clock_ms > cluster->arrival_ms[i] ? clock_ms : cluster->arrival_ms[i];
        clock_ms = begin + cost;
        if (placed) {
            result->bound++;
            latencies[latency_count++] = clock_ms - cluster->arrival_ms[i];
        } else {
            result->unschedulable++;
        }
    }
    for (size_t i = 0; i < node_count; i++) {
        kl_sched_node_t view;
        if (kl_sched_cache_node_view(cache, node_name_of(json_array_get(cluster->nodes, i)),
                                     &view) < 0)
            continue;
        usage[i] = (kl_bench_node_usage_t){
            .cpu_allocatable_milli = view.cpu_allocatable_milli,
            .memory_allocatable_bytes = view.memory_allocatable_bytes,
            .pods_allocatable = view.pods_allocatable,
            .cpu_requested_milli = view.cpu_requested_milli,
            .memory_requested_bytes = view.memory_requested_bytes,
            .pods_count = view.pods_count};
    }
    if (kl_sched_cache_plugin_crash(cache)) {
        kl_error_set(err, KL_ERR_INTERNAL, "%s", kl_sched_cache_plugin_crash(cache));
        goto done;
    }
    result->seconds = busy_ms / 1000.0;
    result->pods_per_second = busy_ms > 0 ? (double)result->bound * 1000.0 / busy_ms : 0;
    kl_bench_result_latencies(result, latencies, latency_count);
    kl_bench_result_placement(result, usage, node_count, cluster->median_cpu_milli,
                              cluster->median_memory_bytes);
    rc = 0;
done:
    free(latencies);
    free(usage);
    kl_sched_cache_destroy(&cache);
    kl_plugin_destroy(&plugin);
    return rc;
}

/* ---- the command -------------------------------------------------------- */

static const char bench_usage[] =
    "Usage: keelctl bench scheduler --plugins NAME[,NAME...] [--nodes N] [--pods M]\n"
    "         [--profile FILE] [--mode inproc|cluster] [--format table|csv|json]\n"
    "         [--svg FILE] [--seed S] [--timeout SECONDS] [--keelsond PATH]\n"
    "         [--nodes-per-process K] [--repeat R] [--master-priority realtime|normal]\n"
    "\n"
    "Runs each scheduler plugin over the same synthetic cluster and workload and\n"
    "prints them side by side: throughput, latency from creation to binding,\n"
    "pods left unschedulable, nodes used, utilisation and fragmentation.\n"
    "  --mode inproc    the scheduling core and the plugin alone, no bus (default)\n"
    "  --mode cluster   a real master and simulated workers on loopback\n"
    "  --master-priority  the master's cpu_priority (default realtime, as on a\n"
    "                   dedicated master: the simulated nodes share its machine)\n"
    "  --repeat R       run every plugin R times, taking turns, and report each\n"
    "                   plugin's run of median throughput with the range of all\n"
    "                   runs: a machine whose speed drifts slows every plugin alike\n"
    "A plugin is a name found on the plugin path or a path to a .so.\n";

static int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bench_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nSee 'keelctl bench scheduler --help'.\n", stderr);
    return 1;
}

static int parse_count(const char *flag, const char *text, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > max) {
        bench_fail("%s \"%s\" must be a whole number from 1 to %lld", flag, text, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

enum { OPT_NODES = 256, OPT_PODS, OPT_PROFILE, OPT_PLUGINS, OPT_MODE, OPT_FORMAT, OPT_SVG,
       OPT_SEED, OPT_TIMEOUT, OPT_KEELSOND, OPT_PER_PROCESS, OPT_REPEAT,
       OPT_MASTER_PRIORITY };

int kl_cmd_bench(int argc, char **args)
{
    static const struct option options_table[] = {
        {"nodes", required_argument, NULL, OPT_NODES},
        {"pods", required_argument, NULL, OPT_PODS},
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"plugins", required_argument, NULL, OPT_PLUGINS},
        {"mode", required_argument, NULL, OPT_MODE},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"svg", required_argument, NULL, OPT_SVG},
        {"seed", required_argument, NULL, OPT_SEED},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"keelsond", required_argument, NULL, OPT_KEELSOND},
        {"nodes-per-process", required_argument, NULL, OPT_PER_PROCESS},
        {"repeat", required_argument, NULL, OPT_REPEAT},
        {"master-priority", required_argument, NULL, OPT_MASTER_PRIORITY},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kl_bench_options_t options = {.seed = 1, .timeout_s = 0};
    const char *profile_path = NULL, *plugins_text = "firstfit", *svg_path = NULL;
    const char *format_text = NULL;
    int64_t value, repeat = 1;
    int opt;
    optind = 0;  /* glibc: restart scanning on a fresh argument vector */
    opterr = 0;
    while ((opt = getopt_long(argc, args, ":h", options_table, NULL)) != -1) {
        switch (opt) {
        case OPT_NODES:
            if (parse_count("--nodes", optarg, 1000000, &options.nodes) < 0)
                return 1;
            break;
        case OPT_PODS:
            if (parse_count("--pods", optarg, 10000000, &options.pods) < 0)
                return 1;
            break;
        case OPT_PROFILE: profile_path = optarg; break;
        case OPT_PLUGINS: plugins_text = optarg; break;
        case OPT_MODE:
            if (strcmp(optarg, "inproc") != 0 && strcmp(optarg, "cluster") != 0)
                return bench_fail("--mode \"%s\" must be inproc or cluster", optarg);
            options.cluster = strcmp(optarg, "cluster") == 0;
            break;
        case OPT_FORMAT: format_text = optarg; break;
        case OPT_SVG: svg_path = optarg; break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return bench_fail("--seed \"%s\" must be a whole number", optarg);
            options.seed = seed;
            break;
        }
        case OPT_TIMEOUT:
            if (parse_count("--timeout", optarg, 86400, &value) < 0)
                return 1;
            options.timeout_s = (int)value;
            break;
        case OPT_KEELSOND: options.keelsond = optarg; break;
        case OPT_PER_PROCESS:
            if (parse_count("--nodes-per-process", optarg, 100000, &options.nodes_per_process) < 0)
                return 1;
            break;
        case OPT_REPEAT:
            if (parse_count("--repeat", optarg, 100, &repeat) < 0)
                return 1;
            break;
        case OPT_MASTER_PRIORITY:
            if (strcmp(optarg, "realtime") != 0 && strcmp(optarg, "normal") != 0)
                return bench_fail("--master-priority \"%s\" must be realtime or normal", optarg);
            options.master_normal = strcmp(optarg, "normal") == 0;
            break;
        case 'h': fputs(bench_usage, stdout); return 0;
        case ':': return bench_fail("flag %s needs a value", args[optind - 1]);
        default: return bench_fail("unknown flag %s", args[optind - 1]);
        }
    }
    /* Flags may come before or after the benchmark's name (getopt permutes). */
    if (optind >= argc)
        return bench_fail("say what to benchmark: keelctl bench scheduler ...");
    if (strcmp(args[optind], "scheduler") != 0)
        return bench_fail("unknown benchmark \"%s\" (known: scheduler)", args[optind]);
    if (optind + 1 < argc)
        return bench_fail("unexpected argument \"%s\"", args[optind + 1]);
    kl_bench_format_t format;
    if (kl_bench_format_parse(format_text, &format) < 0)
        return bench_fail("--format \"%s\" must be table, csv or json", format_text);

    char *plugin_list = strdup(plugins_text);
    const char *plugins[MAX_PLUGINS];
    size_t plugin_count = 0;
    for (char *save = NULL, *item = strtok_r(plugin_list, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        if (plugin_count == MAX_PLUGINS) {
            free(plugin_list);
            return bench_fail("--plugins names more than %d plugins", MAX_PLUGINS);
        }
        plugins[plugin_count++] = item;
    }
    if (plugin_count == 0) {
        free(plugin_list);
        return bench_fail("--plugins \"%s\" names no plugin", plugins_text);
    }

    int exit_code = 1;
    kl_error_t err;
    kl_bench_cluster_t *cluster = NULL;
    kl_bench_result_t *results = calloc(plugin_count, sizeof *results);
    /* runs[i * repeat + r]: plugin i's run in round r. */
    kl_bench_result_t *runs = calloc(plugin_count * (size_t)repeat, sizeof *runs);
    kl_bench_profile_t *profile = profile_path ? kl_bench_profile_load(profile_path, &err)
                                               : kl_bench_profile_default();
    if (!profile) {
        fprintf(stderr, "error: %s\n", profile_path ? err.text : "out of memory");
        goto done;
    }
    int64_t node_count = options.nodes ? options.nodes : profile->nodes;
    int64_t pod_count = options.pods ? options.pods : profile->pods;
    if (options.timeout_s == 0)
        options.timeout_s = 60 + (int)(pod_count / 100);
    if (!results || !runs || !(cluster = kl_bench_cluster_generate(profile, node_count, pod_count,
                                                          options.seed, &err))) {
        fprintf(stderr, "error: %s\n", results && runs ? err.text : "out of memory");
        goto done;
    }
    char title[512], rounds[64] = "";
    if (repeat > 1)
        snprintf(rounds, sizeof rounds, ", median of %" PRId64 " runs", repeat);
    const char *profile_name = profile_path ? strrchr(profile_path, '/') : NULL;
    snprintf(title, sizeof title, "keelson scheduler benchmark: %s, %" PRId64 " nodes, %" PRId64
             " pods, profile %s, seed %" PRIu64 "%s", options.cluster ? "cluster" : "inproc",
             node_count, pod_count,
             profile_name ? profile_name + 1 : profile_path ? profile_path : "built-in",
             options.seed, rounds);
    int failures = 0;
    /* Rounds, not one plugin's runs in a row, so drift is shared. */
    for (int64_t round = 0; round < repeat; round++) {
        for (size_t i = 0; i < plugin_count; i++) {
            kl_bench_result_t *run = &runs[i * (size_t)repeat + (size_t)round];
            snprintf(run->plugin, sizeof run->plugin, "%s", plugins[i]);
            if (round > 0 && runs[i * (size_t)repeat].error[0]) {
                *run = runs[i * (size_t)repeat];  /* a plugin that failed once is not run again */
                continue;
            }
            kl_error_clear(&err);
            int rc = options.cluster
                         ? kl_bench_run_cluster(profile, cluster, &options, plugins[i], run, &err)
                         : kl_bench_run_inproc(profile, cluster, plugins[i], run, &err);
            if (rc < 0)
                snprintf(run->error, sizeof run->error, "%s", err.text);
            if (run->error[0])
                fprintf(stderr, "error: %s: %s\n", plugins[i], run->error);
        }
    }
    for (size_t i = 0; i < plugin_count; i++) {
        kl_bench_result_median(&runs[i * (size_t)repeat], (size_t)repeat, &results[i]);
        failures += results[i].error[0] != 0;
    }
    kl_bench_report_print(stdout, format, results, plugin_count, title);
    if (svg_path) {
        FILE *svg = fopen(svg_path, "w");
        if (!svg) {
            fprintf(stderr, "error: cannot write --svg \"%s\": %s\n", svg_path, strerror(errno));
            goto done;
        }
        kl_bench_report_svg(svg, results, plugin_count, title);
        if (fclose(svg) != 0) {
            fprintf(stderr, "error: cannot write --svg \"%s\": %s\n", svg_path, strerror(errno));
            goto done;
        }
    }
    exit_code = failures ? 1 : 0;
done:
    kl_bench_cluster_destroy(&cluster);
    kl_bench_profile_destroy(&profile);
    free(results);
    free(runs);
    free(plugin_list);
    return exit_code;
}
