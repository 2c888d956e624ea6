/* runtime/sim: the ops on containers. A container's state is never stored:
 * it follows from the clock, its start time and its annotations, so it moves
 * CREATED -> RUNNING -> EXITED with no timer or thread. Every access to the
 * table is under sim->lock. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim.h"

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

int sim_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
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

int sim_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
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

int sim_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
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

int sim_remove(void *runtime, const char *id, kl_error_t *err)
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

int sim_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
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
int sim_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
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

int sim_kill(void *runtime, const char *id, int signal_number, kl_error_t *err)
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
