/* runtime/sim: a container runtime that runs nothing. Containers live in a hash
 * map and move CREATED -> RUNNING -> EXITED on a clock, for scale tests and
 * scheduler benchmarks where thousands of pods must cost almost nothing.
 * Images named in the missing_images setting fail to pull, so ErrImagePull
 * paths can be tested without a registry. One mutex guards the table, so
 * the kubelet may start containers from several threads at once; the
 * start_latency_ms setting makes each start() take as long as a real
 * engine's, to measure that. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keelson/keelson.h>

#define SIM_ANNOTATION_START_DELAY "sim.keelson.io/start-delay-ms"
#define SIM_ANNOTATION_RUN "sim.keelson.io/run-ms"
#define SIM_ANNOTATION_EXIT_CODE "sim.keelson.io/exit-code"

/* A day is far beyond any simulated container lifetime; a bigger value is a typo. */
#define SIM_MAX_DURATION_MS (24LL * 3600 * 1000)
#define SIM_EXIT_TERMINATED 143  /* 128 + SIGTERM, as a real runtime reports a stop */
#define SIM_REFERENCE_MAX 512

typedef struct sim_container {
    char *id;
    int64_t created_mono_ms;     /* clocks are read once at start: status is pure arithmetic */
    int64_t created_real_ms;
    int64_t start_delay_ms;
    int64_t run_ms;              /* 0: runs until stopped */
    int exit_code;
    int stopped;
    int stopped_code;            /* 128 + the signal that stopped it */
    int64_t stopped_mono_ms;
    char *pod_namespace;         /* what list() reports, copied at start */
    char *pod_name;
    char *pod_uid;
    char *container_name;
    char *image;
    struct sim_container *next;  /* hash chain */
} sim_container_t;

typedef struct sim_runtime {
    const kl_host_t *host;
    int64_t start_delay_ms;
    int64_t run_ms;
    int exit_code;
    int64_t start_latency_ms;
    int concurrent_starts;
    char **missing_images;       /* NULL-terminated copy of the setting */
    pthread_mutex_t lock;        /* the table, its count and next_serial */
    sim_container_t **buckets;
    size_t bucket_count;         /* a power of two */
    size_t count;
    uint64_t next_serial;
} sim_runtime_t;

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

/* The checks a registry would make, so a typo fails here as it would with a
 * real runtime: [host[:port]/]path[:tag], lower-case path components, a tag
 * of letters, digits, '_', '.' or '-'. Digests are not simulated. */
static int sim_reference_check(const char *reference, kl_error_t *err)
{
    if (!reference || reference[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "container image is empty");
    size_t length = strlen(reference);
    if (length > SIM_REFERENCE_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "image reference \"%.64s...\" is longer than %d characters",
                            reference, SIM_REFERENCE_MAX);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)reference[i];
        if (c <= ' ' || c >= 0x7f)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference has a space, control or non-ASCII character at position %zu",
                                i + 1);
    }
    const char *slash = strrchr(reference, '/');
    const char *colon = strrchr(slash ? slash : reference, ':');
    size_t path_length = colon ? (size_t)(colon - reference) : length;
    if (colon) {
        const char *tag = colon + 1;
        int good = tag[0] != '\0' && tag[0] != '.' && tag[0] != '-' && strlen(tag) < 128;
        for (const char *t = tag; good && *t; t++)
            good = (*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9')
                   || *t == '_' || *t == '.' || *t == '-';
        if (!good)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference \"%s\" has a bad tag \"%s\": a tag is up to 127 letters, digits, "
                                "'_', '.' or '-'", reference, tag);
    }
    /* The first component is a registry when more follow and it has '.' or ':'. */
    const char *first_slash = memchr(reference, '/', path_length);
    size_t head = first_slash ? (size_t)(first_slash - reference) : 0;
    int registry = first_slash && (memchr(reference, '.', head) || memchr(reference, ':', head));
    const char *end = reference + path_length;
    for (const char *start = registry ? first_slash + 1 : reference;;) {
        const char *next = memchr(start, '/', (size_t)(end - start));
        const char *stop = next ? next : end;
        int good = stop > start && *start != '.' && *start != '_' && *start != '-' && stop[-1] != '.'
                   && stop[-1] != '_' && stop[-1] != '-';
        for (const char *c = start; good && c < stop; c++)
            good = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-';
        if (!good)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference \"%s\" is not NAME[:TAG]: path component \"%.*s\" must be "
                                "lower-case letters and digits separated by '.', '_' or '-'",
                                reference, (int)(stop - start > 64 ? 64 : stop - start), start);
        if (!next)
            break;
        start = next + 1;
    }
    return 0;
}

/* A missing_images entry matches the reference itself or, without a tag,
 * every tag of that name. */
static int sim_image_missing(const sim_runtime_t *sim, const char *reference)
{
    for (char **item = sim->missing_images; item && *item; item++) {
        size_t length = strlen(*item);
        if (strcmp(*item, reference) == 0)
            return 1;
        const char *slash = strrchr(*item, '/');
        int has_tag = strchr(slash ? slash : *item, ':') != NULL;
        if (!has_tag && strncmp(*item, reference, length) == 0 && reference[length] == ':'
            && !strchr(reference + length + 1, '/'))
            return 1;
    }
    return 0;
}

static void sim_container_free(sim_container_t *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->pod_namespace);
    free(c->pod_name);
    free(c->pod_uid);
    free(c->container_name);
    free(c->image);
    free(c);
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
    const char *image = json_string_value(json_object_get(request->container, "image"));
    if (!image)
        return kl_error_set(err, KL_ERR_INVALID, "container \"%.64s\" has no image", request->container_name);
    if (sim_reference_check(image, err) < 0)
        return -1;
    if (sim_image_missing(sim, image))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" not found (listed in runtime/sim missing_images)",
                            image);
    if (sim_annotation_int(request->pod, SIM_ANNOTATION_START_DELAY, SIM_MAX_DURATION_MS, &delay, err) < 0
        || sim_annotation_int(request->pod, SIM_ANNOTATION_RUN, SIM_MAX_DURATION_MS, &run, err) < 0
        || sim_annotation_int(request->pod, SIM_ANNOTATION_EXIT_CODE, 255, &code, err) < 0)
        return -1;

    if (sim->start_latency_ms > 0) {
        struct timespec wait = { (time_t)(sim->start_latency_ms / 1000),
                                 (long)(sim->start_latency_ms % 1000) * 1000000L };
        while (nanosleep(&wait, &wait) < 0 && errno == EINTR) {
        }
    }

    sim_container_t *c = calloc(1, sizeof *c);
    if (c) {
        c->pod_namespace = strdup(request->pod_namespace ? request->pod_namespace : "");
        c->pod_name = strdup(request->pod_name ? request->pod_name : "");
        c->pod_uid = strdup(request->pod_uid ? request->pod_uid : "");
        c->container_name = strdup(request->container_name);
        c->image = strdup(image);
    }
    if (!c || !c->pod_namespace || !c->pod_name || !c->pod_uid || !c->container_name || !c->image) {
        sim_container_free(c);
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/sim: out of memory starting container %s",
                            request->container_name);
    }
    c->start_delay_ms = delay;
    c->run_ms = run;
    c->exit_code = (int)code;

    pthread_mutex_lock(&sim->lock);
    /* The serial alone makes ids unique; the name only helps a reader. */
    char new_id[KL_CONTAINER_ID_MAX];
    snprintf(new_id, sizeof new_id, "sim-%" PRIu64 "-%.64s", ++sim->next_serial, request->container_name);
    for (char *p = new_id; *p; p++)
        if (*p == '/' || *p == '.')
            *p = '_';
    c->id = strdup(new_id);
    if (!c->id || (sim->count >= sim->bucket_count && sim_grow(sim) < 0)) {
        pthread_mutex_unlock(&sim->lock);
        sim_container_free(c);
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/sim: out of memory starting container %s",
                            request->container_name);
    }
    c->created_mono_ms = sim->host->monotonic_ms(sim->host);
    c->created_real_ms = sim->host->realtime_ms(sim->host);
    sim_container_t **slot = sim_slot(sim, c->id);
    *slot = c;
    sim->count++;
    pthread_mutex_unlock(&sim->lock);
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

/* The container's state now; sim->lock held. */
static void sim_state_of(sim_runtime_t *sim, const sim_container_t *c, kl_container_status_t *status)
{
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
            status->exit_code = c->stopped_code;
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
}

static int sim_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    pthread_mutex_lock(&sim->lock);
    sim_container_t *c = sim_find(sim, id, err);
    if (c)
        sim_state_of(sim, c, status);
    pthread_mutex_unlock(&sim->lock);
    return c ? 0 : -1;
}

/* Ends the container now with 128 + signal, unless it already ended: one
 * that did keeps its own exit code, as with a real process. */
static void sim_end(sim_runtime_t *sim, sim_container_t *c, int signal_number)
{
    int64_t now = sim->host->monotonic_ms(sim->host);
    int64_t end = sim_natural_end(c);
    if (!c->stopped && (end < 0 || now < end)) {
        c->stopped = 1;
        c->stopped_code = 128 + signal_number;
        c->stopped_mono_ms = now;
    }
}

static int sim_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
{
    (void)grace_ms;  /* nothing runs, so nothing needs time to shut down */
    sim_runtime_t *sim = runtime;
    pthread_mutex_lock(&sim->lock);
    sim_container_t *c = sim_find(sim, id, err);
    if (c)
        sim_end(sim, c, SIM_EXIT_TERMINATED - 128);
    pthread_mutex_unlock(&sim->lock);
    return c ? 0 : -1;
}

static int sim_remove(void *runtime, const char *id, kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    pthread_mutex_lock(&sim->lock);
    sim_container_t *c = sim_find(sim, id, err);
    if (c) {
        sim_container_t **slot = sim_slot(sim, id);
        *slot = c->next;
        sim->count--;
        sim_container_free(c);
    }
    pthread_mutex_unlock(&sim->lock);
    return c ? 0 : -1;
}

static int sim_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    if (policy != KL_PULL_IF_NOT_PRESENT && policy != KL_PULL_ALWAYS && policy != KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_INVALID, "pull policy %d of image \"%.64s\" is not one of "
                            "IfNotPresent, Always, Never", (int)policy, image ? image : "");
    if (sim_reference_check(image, err) < 0)
        return -1;
    if (sim_image_missing(sim, image))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" not found (listed in runtime/sim missing_images)",
                            image);
    /* Every other image is on the simulated machine; Always still "pulls". */
    return policy == KL_PULL_ALWAYS ? 0 : KL_PULL_PRESENT;
}

static int sim_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    if (!visit)
        return kl_error_set(err, KL_ERR_INVALID, "list needs a visit function");
    /* Visits under the lock: a visitor must not call back into the runtime. */
    pthread_mutex_lock(&sim->lock);
    int stop = 0;
    for (size_t i = 0; i < sim->bucket_count && !stop; i++) {
        for (sim_container_t *c = sim->buckets[i]; c && !stop; c = c->next) {
            kl_container_info_t info = {
                .id = c->id, .pod_namespace = c->pod_namespace, .pod_name = c->pod_name,
                .pod_uid = c->pod_uid, .container_name = c->container_name, .image = c->image,
            };
            sim_state_of(sim, c, &info.status);
            stop = visit(&info, arg) != 0;
        }
    }
    pthread_mutex_unlock(&sim->lock);
    return 0;
}

/* The log is made up from the state, one line per change, so it costs no
 * memory however long a container runs. */
static int sim_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                    kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    if (offset < 0 || !length || (!buffer && size > 0))
        return kl_error_set(err, KL_ERR_INVALID, "logs of container %.128s: offset %lld or buffer is invalid",
                            id ? id : "", (long long)offset);
    pthread_mutex_lock(&sim->lock);
    sim_container_t *c = sim_find(sim, id, err);
    if (!c) {
        pthread_mutex_unlock(&sim->lock);
        return -1;
    }
    kl_container_status_t st;
    sim_state_of(sim, c, &st);
    char text[512];
    int used = snprintf(text, sizeof text, "sim container %s created\n", c->container_name);
    if (st.state == KL_CONTAINER_RUNNING || (st.state == KL_CONTAINER_EXITED && st.started_at_ms > 0))
        used += snprintf(text + used, sizeof text - (size_t)used, "sim container %s running\n", c->container_name);
    if (st.state == KL_CONTAINER_EXITED)
        used += snprintf(text + used, sizeof text - (size_t)used, "sim container %s exited with code %d\n",
                         c->container_name, st.exit_code);
    pthread_mutex_unlock(&sim->lock);
    size_t total = strlen(text);
    size_t from = (uint64_t)offset < total ? (size_t)offset : total;
    size_t count = total - from < size ? total - from : size;
    if (count)
        memcpy(buffer, text + from, count);
    *length = count;
    return 0;
}

static int sim_kill(void *runtime, const char *id, int signal_number, kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    pthread_mutex_lock(&sim->lock);
    sim_container_t *c = sim_find(sim, id, err);
    int rc = c ? 0 : -1;
    if (c && (signal_number <= 0 || signal_number > 64))
        rc = kl_error_set(err, KL_ERR_INVALID, "signal %d sent to container %s is not between 1 and 64",
                          signal_number, id);
    else if (c)
        sim_end(sim, c, signal_number);
    pthread_mutex_unlock(&sim->lock);
    return rc;
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
