/* runtime/sim: a container runtime that runs nothing. Containers live in a hash
 * map and move CREATED -> RUNNING -> EXITED on a clock, for scale tests and
 * scheduler benchmarks where thousands of pods must cost almost nothing. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keelson/keelson.h>

#define SIM_ANNOTATION_START_DELAY "sim.keelson.io/start-delay-ms"
#define SIM_ANNOTATION_RUN "sim.keelson.io/run-ms"
#define SIM_ANNOTATION_EXIT_CODE "sim.keelson.io/exit-code"

/* A day is far beyond any simulated container lifetime; a bigger value is a typo. */
#define SIM_MAX_DURATION_MS (24LL * 3600 * 1000)
#define SIM_EXIT_TERMINATED 143  /* 128 + SIGTERM, as a real runtime reports a stop */

typedef struct sim_container {
    char *id;
    int64_t created_mono_ms;     /* clocks are read once at start: status is pure arithmetic */
    int64_t created_real_ms;
    int64_t start_delay_ms;
    int64_t run_ms;              /* 0: runs until stopped */
    int exit_code;
    int stopped;
    int64_t stopped_mono_ms;
    struct sim_container *next;  /* hash chain */
} sim_container_t;

typedef struct sim_runtime {
    const kl_host_t *host;
    int64_t start_delay_ms;
    int64_t run_ms;
    int exit_code;
    sim_container_t **buckets;
    size_t bucket_count;         /* a power of two */
    size_t count;
    uint64_t next_serial;
} sim_runtime_t;

static const kl_setting_spec_t sim_settings[] = {
    { "start_delay_ms", KL_SETTING_INT, 0, "milliseconds a container stays CREATED before RUNNING (default 0)" },
    { "run_ms", KL_SETTING_INT, 0, "milliseconds a container runs before it exits; 0 runs until stopped (default 0)" },
    { "exit_code", KL_SETTING_INT, 0, "exit code of a container that ends by itself (default 0)" },
    KL_SETTINGS_END
};

static uint64_t sim_hash(const char *text)
{
    uint64_t hash = 1469598103934665603ULL;  /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        hash ^= *p;
        hash *= 1099511628211ULL;
    }
    return hash;
}

static sim_container_t **sim_slot(sim_runtime_t *sim, const char *id)
{
    sim_container_t **slot = &sim->buckets[sim_hash(id) & (sim->bucket_count - 1)];
    while (*slot && strcmp((*slot)->id, id) != 0)
        slot = &(*slot)->next;
    return slot;
}

/* Doubles the table when it averages more than one container per bucket, so
 * lookups stay O(1) however many pods a benchmark starts. */
static int sim_grow(sim_runtime_t *sim)
{
    size_t new_count = sim->bucket_count * 2;
    sim_container_t **fresh = calloc(new_count, sizeof *fresh);
    if (!fresh)
        return -1;
    for (size_t i = 0; i < sim->bucket_count; i++) {
        sim_container_t *c = sim->buckets[i];
        while (c) {
            sim_container_t *next = c->next;
            size_t b = sim_hash(c->id) & (new_count - 1);
            c->next = fresh[b];
            fresh[b] = c;
            c = next;
        }
    }
    free(sim->buckets);
    sim->buckets = fresh;
    sim->bucket_count = new_count;
    return 0;
}

static int sim_check_range(const char *what, long long value, long long max, kl_error_t *err)
{
    if (value < 0 || value > max)
        return kl_error_set(err, KL_ERR_INVALID, "%s is %lld: it must be between 0 and %lld", what,
                            value, max);
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
    if (sim_check_range("setting start_delay_ms", delay, SIM_MAX_DURATION_MS, err) < 0
        || sim_check_range("setting run_ms", run, SIM_MAX_DURATION_MS, err) < 0
        || sim_check_range("setting exit_code", code, 255, err) < 0)
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
    sim->host = host;
    sim->start_delay_ms = delay;
    sim->run_ms = run;
    sim->exit_code = (int)code;
    return sim;
}

static void sim_close(void *runtime)
{
    sim_runtime_t *sim = runtime;
    if (!sim)
        return;
    for (size_t i = 0; i < sim->bucket_count; i++) {
        sim_container_t *c = sim->buckets[i];
        while (c) {
            sim_container_t *next = c->next;
            free(c->id);
            free(c);
            c = next;
        }
    }
    free(sim->buckets);
    free(sim);
}

/* Reads one integer annotation of the pod into *value, leaving it alone when
 * the annotation is absent. Annotations are strings in Kubernetes. */
static int sim_annotation_int(const json_t *pod, const char *key, long long max, int64_t *value,
                              kl_error_t *err)
{
    const json_t *annotations = json_object_get(json_object_get(pod, "metadata"), "annotations");
    const json_t *item = json_object_get(annotations, key);
    if (!item)
        return 0;
    if (!json_is_string(item))
        return kl_error_set(err, KL_ERR_INVALID, "pod annotation %s must be a string holding an integer",
                            key);
    const char *text = json_string_value(item);
    char *end = NULL;
    errno = 0;
    long long parsed = strtoll(text, &end, 10);
    if (text[0] == '\0' || *end != '\0' || errno == ERANGE || parsed < 0 || parsed > max)
        return kl_error_set(err, KL_ERR_INVALID,
                            "pod annotation %s is \"%.64s\": it must be an integer between 0 and %lld",
                            key, text, max);
    *value = parsed;
    return 0;
}

static int sim_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                     kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    if (!request || !request->container_name || request->container_name[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "container request has no container name");

    int64_t delay = sim->start_delay_ms, run = sim->run_ms, code = sim->exit_code;
    if (request->pod && !json_is_object(request->pod))
        return kl_error_set(err, KL_ERR_INVALID, "pod of container %s is not a JSON object",
                            request->container_name);
    if (sim_annotation_int(request->pod, SIM_ANNOTATION_START_DELAY, SIM_MAX_DURATION_MS, &delay, err) < 0
        || sim_annotation_int(request->pod, SIM_ANNOTATION_RUN, SIM_MAX_DURATION_MS, &run, err) < 0
        || sim_annotation_int(request->pod, SIM_ANNOTATION_EXIT_CODE, 255, &code, err) < 0)
        return -1;

    /* The serial alone makes ids unique; the name only helps a reader. */
    char new_id[KL_CONTAINER_ID_MAX];
    snprintf(new_id, sizeof new_id, "sim-%" PRIu64 "-%.64s", ++sim->next_serial, request->container_name);
    for (char *p = new_id; *p; p++)
        if (*p == '/' || *p == '.')
            *p = '_';

    if (sim->count >= sim->bucket_count && sim_grow(sim) < 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/sim: out of memory growing the container table");
    sim_container_t *c = calloc(1, sizeof *c);
    if (c)
        c->id = strdup(new_id);
    if (!c || !c->id) {
        free(c);
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/sim: out of memory starting container %s",
                            request->container_name);
    }
    c->created_mono_ms = sim->host->monotonic_ms(sim->host);
    c->created_real_ms = sim->host->realtime_ms(sim->host);
    c->start_delay_ms = delay;
    c->run_ms = run;
    c->exit_code = (int)code;
    sim_container_t **slot = sim_slot(sim, c->id);
    *slot = c;
    sim->count++;
    memcpy(id, new_id, strlen(new_id) + 1);
    return 0;
}

static sim_container_t *sim_find(sim_runtime_t *sim, const char *id, kl_error_t *err)
{
    if (!id) {
        kl_error_set(err, KL_ERR_INVALID, "container id is missing");
        return NULL;
    }
    sim_container_t *c = *sim_slot(sim, id);
    if (!c)
        kl_error_set(err, KL_ERR_NOT_FOUND, "container %.128s not found in runtime/sim", id);
    return c;
}

/* The time the container ends by itself, or -1 when it runs until stopped. */
static int64_t sim_natural_end(const sim_container_t *c)
{
    return c->run_ms > 0 ? c->created_mono_ms + c->start_delay_ms + c->run_ms : -1;
}

static int sim_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    sim_container_t *c = sim_find(sim, id, err);
    if (!c)
        return -1;
    memset(status, 0, sizeof *status);
    int64_t now = sim->host->monotonic_ms(sim->host);
    int64_t running_at = c->created_mono_ms + c->start_delay_ms;
    int64_t end = c->stopped ? c->stopped_mono_ms : sim_natural_end(c);
    int64_t to_real = c->created_real_ms - c->created_mono_ms;

    if (end >= 0 && now >= end) {
        status->state = KL_CONTAINER_EXITED;
        /* A container stopped before it ever ran never started. */
        status->started_at_ms = end > running_at ? running_at + to_real : 0;
        status->finished_at_ms = end + to_real;
        if (c->stopped) {
            status->exit_code = SIM_EXIT_TERMINATED;
            snprintf(status->reason, sizeof status->reason, "Terminated");
        } else {
            status->exit_code = c->exit_code;
            snprintf(status->reason, sizeof status->reason, "%s", c->exit_code == 0 ? "Completed" : "Error");
        }
    } else if (now >= running_at) {
        status->state = KL_CONTAINER_RUNNING;
        status->started_at_ms = running_at + to_real;
    } else {
        status->state = KL_CONTAINER_CREATED;
    }
    return 0;
}

static int sim_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
{
    (void)grace_ms;  /* nothing runs, so nothing needs time to shut down */
    sim_runtime_t *sim = runtime;
    sim_container_t *c = sim_find(sim, id, err);
    if (!c)
        return -1;
    int64_t now = sim->host->monotonic_ms(sim->host);
    int64_t end = sim_natural_end(c);
    /* One that already ended keeps its own exit code, as with a real process. */
    if (!c->stopped && (end < 0 || now < end)) {
        c->stopped = 1;
        c->stopped_mono_ms = now;
    }
    return 0;
}

static int sim_remove(void *runtime, const char *id, kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    if (!sim_find(sim, id, err))
        return -1;
    sim_container_t **slot = sim_slot(sim, id);
    sim_container_t *c = *slot;
    *slot = c->next;
    sim->count--;
    free(c->id);
    free(c);
    return 0;
}

static const kl_runtime_ops_t sim_ops = {
    .open = sim_open,
    .close = sim_close,
    .start = sim_start,
    .status = sim_status,
    .stop = sim_stop,
    .remove = sim_remove,
};

KL_RUNTIME_PLUGIN("sim", "0.1.0", "simulated containers: no processes, state on a clock", sim_settings, sim_ops);
