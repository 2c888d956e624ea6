/* runtime/sim: a container runtime that runs nothing. Containers live in a hash
 * map and move CREATED -> RUNNING -> EXITED on a clock, for scale tests and
 * scheduler benchmarks where thousands of pods must cost almost nothing.
 * Images named in the missing_images setting fail to pull, so ErrImagePull
 * paths can be tested without a registry. One mutex guards the table, so
 * the kubelet may start containers from several threads at once; the
 * start_latency_ms setting makes each start() take as long as a real
 * engine's, to measure that. This file holds the settings, open and close,
 * and the ops table; the other files are listed in sim.h. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static const kl_setting_spec_t sim_settings[] = {
    { "start_delay_ms", KL_SETTING_INT, 0, "milliseconds a container stays CREATED before RUNNING (default 0)" },
    { "run_ms", KL_SETTING_INT, 0, "milliseconds a container runs before it exits; 0 runs until stopped (default 0)" },
    { "exit_code", KL_SETTING_INT, 0, "exit code of a container that ends by itself (default 0)" },
    { "missing_images", KL_SETTING_STRING_LIST, 0,
      "image references (NAME or NAME:TAG) whose pull fails with NotFound (default none)" },
    { "start_latency_ms", KL_SETTING_INT, 0,
      "milliseconds each start() takes before it returns, as a real engine's create and start do (default 0)" },
    { "concurrent_starts", KL_SETTING_BOOL, 0,
      "let the kubelet call start() from several threads at once (default: when start_latency_ms is set)" },
    KL_SETTINGS_END
};

static int sim_check_range(const char *what, long long value, long long max, kl_error_t *err)
{
    if (value < 0 || value > max)
        return kl_error_set(err, KL_ERR_INVALID, "%s is %lld: it must be between 0 and %lld", what,
                            value, max);
    return 0;
}

static void sim_close(void *runtime)
{
    sim_runtime_t *sim = runtime;
    if (!sim)
        return;
    for (size_t i = 0; sim->buckets && i < sim->bucket_count; i++) {
        sim_container_t *c = sim->buckets[i];
        while (c) {
            sim_container_t *next = c->next;
            sim_container_free(c);
            c = next;
        }
    }
    for (char **item = sim->missing_images; item && *item; item++)
        free(*item);
    free(sim->missing_images);
    free(sim->buckets);
    pthread_mutex_destroy(&sim->lock);
    free(sim);
}

static int sim_load_missing_images(sim_runtime_t *sim, const kl_host_t *host, kl_error_t *err)
{
    if (!host->setting_list_item || host->size < offsetof(kl_host_t, setting_list_item) + sizeof(void *))
        return 0;
    size_t count = 0;
    while (host->setting_list_item(host, "missing_images", count))
        count++;
    sim->missing_images = calloc(count + 1, sizeof *sim->missing_images);
    if (!sim->missing_images)
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/sim: out of memory");
    for (size_t i = 0; i < count; i++) {
        const char *item = host->setting_list_item(host, "missing_images", i);
        kl_error_t why;
        if (sim_reference_check(item, &why) < 0)
            return kl_error_set(err, KL_ERR_INVALID, "setting missing_images[%zu]: %s", i, why.text);
        sim->missing_images[i] = strdup(item);
        if (!sim->missing_images[i])
            return kl_error_set(err, KL_ERR_INTERNAL, "runtime/sim: out of memory");
    }
    return 0;
}

static void *sim_open(const kl_host_t *host, kl_error_t *err)
{
    if (!host || !host->setting_int || !host->monotonic_ms || !host->realtime_ms) {
        kl_error_set(err, KL_ERR_INVALID, "runtime/sim needs a host table with settings and clocks");
        return NULL;
    }
    long long delay = host->setting_int(host, "start_delay_ms", 0);
    long long run = host->setting_int(host, "run_ms", 0);
    long long code = host->setting_int(host, "exit_code", 0);
    long long latency = host->setting_int(host, "start_latency_ms", 0);
    if (sim_check_range("setting start_delay_ms", delay, SIM_MAX_DURATION_MS, err) < 0
        || sim_check_range("setting run_ms", run, SIM_MAX_DURATION_MS, err) < 0
        || sim_check_range("setting exit_code", code, 255, err) < 0
        || sim_check_range("setting start_latency_ms", latency, 60000, err) < 0)
        return NULL;

    sim_runtime_t *sim = calloc(1, sizeof *sim);
    if (sim)
        sim->buckets = calloc(64, sizeof *sim->buckets);
    if (!sim || !sim->buckets) {
        free(sim);
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/sim: out of memory");
        return NULL;
    }
    sim->bucket_count = 64;
    pthread_mutex_init(&sim->lock, NULL);
    sim->host = host;
    sim->start_delay_ms = delay;
    sim->run_ms = run;
    sim->exit_code = (int)code;
    sim->start_latency_ms = latency;
    /* A start that returns at once gains nothing from the kubelet's start
     * threads and pays their hand-offs: thousands of simulated nodes
     * would spend a tenth of their cpu on them. */
    int blocking = latency > 0;
    sim->concurrent_starts = host->setting_bool ? host->setting_bool(host, "concurrent_starts", blocking)
                                                : blocking;
    if (sim_load_missing_images(sim, host, err) < 0) {
        sim_close(sim);
        return NULL;
    }
    return sim;
}

static uint32_t sim_features(void *runtime)
{
    const sim_runtime_t *sim = runtime;
    return sim->concurrent_starts ? KL_RUNTIME_CONCURRENT_STARTS : 0;
}

static const kl_runtime_ops_t sim_ops = {
    .open = sim_open,
    .close = sim_close,
    .start = sim_start,
    .status = sim_status,
    .stop = sim_stop,
    .remove = sim_remove,
    .pull = sim_pull,
    .list = sim_list,
    .logs = sim_logs,
    .kill = sim_kill,
    .features = sim_features,
};

KL_RUNTIME_PLUGIN("sim", "0.1.0", "simulated containers: no processes, state on a clock", sim_settings, sim_ops);
