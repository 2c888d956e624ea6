/* The kubelet's pod state machine: container life cycle, restart rules and
 * the Kubernetes-shaped pod status derived from them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pod_status.h"

int64_t kl_restart_backoff_ms(int attempts)
{
    int64_t ms = KL_RESTART_BACKOFF_MIN_MS;
    for (int i = 0; i < attempts && ms < KL_RESTART_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > KL_RESTART_BACKOFF_MAX_MS ? KL_RESTART_BACKOFF_MAX_MS : ms;
}

int kl_restart_policy_parse(const char *text, kl_restart_policy_t *policy, kl_error_t *err)
{
    if (!text || !*text || strcmp(text, "Always") == 0)
        *policy = KL_RESTART_ALWAYS;
    else if (strcmp(text, "OnFailure") == 0)
        *policy = KL_RESTART_ON_FAILURE;
    else if (strcmp(text, "Never") == 0)
        *policy = KL_RESTART_NEVER;
    else
        return kl_error_set(err, KL_ERR_INVALID,
                            "spec.restartPolicy: \"%s\" is not Always, OnFailure or Never", text);
    return 0;
}

int kl_restart_wanted(kl_restart_policy_t policy, int exit_code)
{
    switch (policy) {
    case KL_RESTART_ALWAYS: return 1;
    case KL_RESTART_ON_FAILURE: return exit_code != 0;
    default: return 0;
    }
}

void kl_time_format_rfc3339(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void kl_pod_track_clear(kl_pod_track_t *track)
{
    if (!track)
        return;
    for (size_t i = 0; i < track->count; i++) {
        free(track->containers[i].name);
        free(track->containers[i].image);
    }
    free(track->containers);
    memset(track, 0, sizeof *track);
}

int kl_pod_track_init(kl_pod_track_t *track, const json_t *pod, int64_t now_ms, kl_error_t *err)
{
    memset(track, 0, sizeof *track);
    json_t *spec = json_object_get(pod, "spec");
    if (kl_restart_policy_parse(json_string_value(json_object_get(spec, "restartPolicy")),
                                &track->policy, err) < 0)
        return -1;
    json_t *containers = json_object_get(spec, "containers");
    if (!json_is_array(containers) || json_array_size(containers) == 0)
        return kl_error_set(err, KL_ERR_INVALID, "spec.containers: must be a non-empty array");
    track->containers = calloc(json_array_size(containers), sizeof *track->containers);
    if (!track->containers)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory tracking a pod");
    size_t i;
    json_t *container;
    json_array_foreach(containers, i, container) {
        const char *name = json_string_value(json_object_get(container, "name"));
        const char *image = json_string_value(json_object_get(container, "image"));
        if (!name || !*name || !image || !*image) {
            kl_pod_track_clear(track);
            return kl_error_set(err, KL_ERR_INVALID, "spec.containers[%zu].%s: Required value",
                                i, !name || !*name ? "name" : "image");
        }
        kl_container_track_t *c = &track->containers[track->count++];
        c->name = strdup(name);
        c->image = strdup(image);
        if (!c->name || !c->image) {
            kl_pod_track_clear(track);
            return kl_error_set(err, KL_ERR_INTERNAL, "out of memory tracking a pod");
        }
        c->phase = KL_CONTAINER_WAITING;
        snprintf(c->reason, sizeof c->reason, "ContainerCreating");
    }
    track->created_ms = now_ms;
    track->start_time_ms = now_ms;
    track->ready_since_ms = now_ms;
    snprintf(track->phase, sizeof track->phase, "Pending");
    return 0;
}

int kl_pod_track_finished(const kl_pod_track_t *track)
{
    return strcmp(track->phase, "Succeeded") == 0 || strcmp(track->phase, "Failed") == 0;
}

void kl_container_started(kl_container_track_t *container, const char *id, int64_t now_ms)
{
    (void)now_ms;
    snprintf(container->id, sizeof container->id, "%s", id);
    container->phase = KL_CONTAINER_WAITING;
    snprintf(container->reason, sizeof container->reason, "ContainerCreating");
    container->message[0] = '\0';
    container->start_failures = 0;
    container->version++;
    if (container->restart_pending) {
        container->restart_count++;
        container->restart_pending = 0;
    }
}

void kl_container_start_failed(kl_container_track_t *container, const kl_error_t *err,
                               int64_t now_ms)
{
    container->id[0] = '\0';
    container->phase = KL_CONTAINER_WAITING;
    snprintf(container->reason, sizeof container->reason, "%s",
             err->code == KL_ERR_NOT_FOUND ? "ErrImagePull" : "CreateContainerError");
    snprintf(container->message, sizeof container->message, "%s", err->text);
    container->next_start_ms = now_ms + kl_restart_backoff_ms(container->start_failures);
    container->start_failures++;
    container->version++;
}

void kl_container_pull_failed(kl_container_track_t *container, const kl_error_t *err,
                               int64_t now_ms)
{
    container->id[0] = '\0';
    container->phase = KL_CONTAINER_WAITING;
    int first = container->start_failures == 0;
    snprintf(container->reason, sizeof container->reason, "%s",
             first ? "ErrImagePull" : "ImagePullBackOff");
    if (first)
        snprintf(container->message, sizeof container->message, "%s", err->text);
    else
        snprintf(container->message, sizeof container->message,
                 "Back-off pulling image \"%.200s\": %.250s", container->image, err->text);
    container->next_start_ms = now_ms + kl_restart_backoff_ms(container->start_failures);
    container->start_failures++;
    container->version++;
}

void kl_container_adopt(kl_container_track_t *container, const char *id, int restart_count)
{
    snprintf(container->id, sizeof container->id, "%s", id);
    container->phase = KL_CONTAINER_WAITING;
    snprintf(container->reason, sizeof container->reason, "ContainerCreating");
    container->message[0] = '\0';
    container->restart_count = restart_count > 0 ? restart_count : 0;
    container->restart_pending = 0;
    container->start_failures = 0;
    container->version++;
}

int kl_pull_policy_parse(const char *text, const char *image, kl_pull_policy_t *policy,
                         kl_error_t *err)
{
    if (text && strcmp(text, "Always") == 0) {
        *policy = KL_PULL_ALWAYS;
    } else if (text && strcmp(text, "IfNotPresent") == 0) {
        *policy = KL_PULL_IF_NOT_PRESENT;
    } else if (text && strcmp(text, "Never") == 0) {
        *policy = KL_PULL_NEVER;
    } else if (text) {
        return kl_error_set(err, KL_ERR_INVALID, "imagePullPolicy: \"%s\" is not Always, "
                            "IfNotPresent or Never", text);
    } else {
        /* The tag follows the last ':' after the last '/' (a registry's
         * port comes before it); a digest pins the image. */
        const char *name = image ? image : "";
        const char *slash = strrchr(name, '/');
        const char *last = slash ? slash + 1 : name;
        const char *colon = strrchr(last, ':');
        if (strchr(name, '@'))
            *policy = KL_PULL_IF_NOT_PRESENT;
        else if (!colon || strcmp(colon, ":latest") == 0)
            *policy = KL_PULL_ALWAYS;
        else
            *policy = KL_PULL_IF_NOT_PRESENT;
    }
    return 0;
}

int kl_container_observe(kl_container_track_t *container, kl_restart_policy_t policy,
                         const kl_container_status_t *status, int64_t now_ms)
{
    switch (status->state) {
    case KL_CONTAINER_RUNNING:
        if (container->phase != KL_CONTAINER_STARTED) {
            container->phase = KL_CONTAINER_STARTED;
            container->started_ms = status->started_at_ms > 0 ? status->started_at_ms : now_ms;
            container->reason[0] = container->message[0] = '\0';
            container->version++;
        }
        return 0;
    case KL_CONTAINER_EXITED: {
        container->version++;
        kl_container_exit_t exit = {0};
        exit.exit_code = status->exit_code;
        exit.started_ms = status->started_at_ms > 0 ? status->started_at_ms
                                                    : container->started_ms;
        exit.finished_ms = status->finished_at_ms > 0 ? status->finished_at_ms : now_ms;
        if (status->oom_killed)
            snprintf(exit.reason, sizeof exit.reason, "OOMKilled");
        else if (status->reason[0])
            snprintf(exit.reason, sizeof exit.reason, "%.*s", (int)sizeof exit.reason - 1,
                     status->reason);
        else
            snprintf(exit.reason, sizeof exit.reason, "%s",
                     status->exit_code == 0 ? "Completed" : "Error");
        snprintf(exit.message, sizeof exit.message, "%.*s", (int)sizeof exit.message - 1,
                 status->message);
        snprintf(exit.id, sizeof exit.id, "%s", container->id);
        if (kl_restart_wanted(policy, status->exit_code)) {
            container->last = exit;
            container->has_last = 1;
            container->phase = KL_CONTAINER_WAITING;
            int64_t delay = kl_restart_backoff_ms(container->restart_count);
            snprintf(container->reason, sizeof container->reason, "CrashLoopBackOff");
            snprintf(container->message, sizeof container->message,
                     "back-off %llds restarting failed container=%s", (long long)(delay / 1000),
                     container->name);
            container->next_start_ms = now_ms + delay;
            container->restart_pending = 1;
            return 1;
        }
        container->exit = exit;
        container->phase = KL_CONTAINER_TERMINATED;
        container->reason[0] = container->message[0] = '\0';
        return 0;
    }
    case KL_CONTAINER_CREATED:
    default:
        return 0;
    }
}

int kl_container_start_due(const kl_container_track_t *container, const kl_pod_track_t *pod,
                           int64_t now_ms)
{
    return container->phase == KL_CONTAINER_WAITING && container->id[0] == '\0'
           && now_ms >= container->next_start_ms && !kl_pod_track_finished(pod);
}

const char *kl_pod_phase_of(const kl_pod_track_t *track)
{
    int waiting = 0, running = 0, stopped = 0, succeeded = 0;
    for (size_t i = 0; i < track->count; i++) {
        const kl_container_track_t *c = &track->containers[i];
        switch (c->phase) {
        case KL_CONTAINER_STARTED:
            running++;
            break;
        case KL_CONTAINER_TERMINATED:
            stopped++;
            succeeded += c->exit.exit_code == 0;
            break;
        default:
            /* A container waiting to restart has run: Kubernetes counts it
             * as stopped, not as never started. */
            if (c->has_last)
                stopped++;
            else
                waiting++;
        }
    }
    if (track->count == 0 || waiting > 0)
        return "Pending";
    if (running > 0)
        return "Running";
    if (stopped > 0) {
        if (track->policy == KL_RESTART_ALWAYS)
            return "Running";
        if (stopped == succeeded)
            return "Succeeded";
        if (track->policy == KL_RESTART_NEVER)
            return "Failed";
        return "Running";
    }
    return "Pending";
}

void kl_pod_track_refresh(kl_pod_track_t *track, int64_t now_ms)
{
    /* A finished pod stays finished: its containers never run again. */
    if (!kl_pod_track_finished(track)) {
        const char *phase = kl_pod_phase_of(track);
        if (strcmp(phase, track->phase) != 0) {
            snprintf(track->phase, sizeof track->phase, "%s", phase);
            track->version++;
        }
    }
    int ready = track->count > 0 && !kl_pod_track_finished(track);
    for (size_t i = 0; ready && i < track->count; i++)
        ready = track->containers[i].phase == KL_CONTAINER_STARTED;
    if (ready != track->ready) {
        track->ready = ready;
        track->ready_since_ms = now_ms;
        track->version++;
    }
}

uint64_t kl_pod_track_version(const kl_pod_track_t *track)
{
    uint64_t version = track->version;
    for (size_t i = 0; i < track->count; i++)
        version += track->containers[i].version;
    return version;
}

static json_t *exit_json(const kl_container_exit_t *exit)
{
    char started[32], finished[32];
    kl_time_format_rfc3339(exit->started_ms, started, sizeof started);
    kl_time_format_rfc3339(exit->finished_ms, finished, sizeof finished);
    json_t *terminated = json_pack("{s:i, s:s, s:s, s:s}", "exitCode", exit->exit_code,
                                   "reason", exit->reason, "startedAt", started,
                                   "finishedAt", finished);
    if (terminated && exit->message[0])
        json_object_set_new(terminated, "message", json_string(exit->message));
    if (terminated && exit->id[0]) {
        char id[KL_CONTAINER_ID_MAX + 16];
        snprintf(id, sizeof id, "keelson://%s", exit->id);
        json_object_set_new(terminated, "containerID", json_string(id));
    }
    return json_pack("{s:o}", "terminated", terminated);
}

static json_t *container_status_json(const kl_container_track_t *c)
{
    json_t *state;
    if (c->phase == KL_CONTAINER_STARTED) {
        char started[32];
        kl_time_format_rfc3339(c->started_ms, started, sizeof started);
        state = json_pack("{s:{s:s}}", "running", "startedAt", started);
    } else if (c->phase == KL_CONTAINER_TERMINATED) {
        state = exit_json(&c->exit);
    } else {
        json_t *waiting = json_pack("{s:s}", "reason", c->reason[0] ? c->reason
                                                                  : "ContainerCreating");
        if (waiting && c->message[0])
            json_object_set_new(waiting, "message", json_string(c->message));
        state = json_pack("{s:o}", "waiting", waiting);
    }
    json_t *status = json_pack("{s:s, s:s, s:b, s:b, s:i, s:o, s:o}", "name", c->name,
                               "image", c->image, "ready", c->phase == KL_CONTAINER_STARTED,
                               "started", c->phase == KL_CONTAINER_STARTED,
                               "restartCount", c->restart_count, "state", state, "lastState",
                               c->has_last ? exit_json(&c->last) : json_object());
    const char *id = c->id[0] ? c->id
                     : c->phase == KL_CONTAINER_TERMINATED ? c->exit.id
                     : c->has_last ? c->last.id : "";
    if (status && id[0]) {
        char text[KL_CONTAINER_ID_MAX + 16];
        snprintf(text, sizeof text, "keelson://%s", id);
        json_object_set_new(status, "containerID", json_string(text));
    }
    return status;
}

static json_t *condition_json(const char *type, int status, int64_t since_ms, const char *reason,
                              const char *message)
{
    char since[32];
    kl_time_format_rfc3339(since_ms, since, sizeof since);
    json_t *condition = json_pack("{s:s, s:s, s:n, s:s}", "type", type, "status",
                                  status ? "True" : "False", "lastProbeTime",
                                  "lastTransitionTime", since);
    if (condition && reason)
        json_object_set_new(condition, "reason", json_string(reason));
    if (condition && message)
        json_object_set_new(condition, "message", json_string(message));
    return condition;
}

json_t *kl_pod_status_build(const kl_pod_track_t *track)
{
    const char *reason = NULL;
    char message[512] = "";
    if (!track->ready) {
        if (kl_pod_track_finished(track)) {
            reason = "PodCompleted";
        } else {
            reason = "ContainersNotReady";
            size_t used = (size_t)snprintf(message, sizeof message,
                                           "containers with unready status: [");
            int first = 1;
            for (size_t i = 0; i < track->count && used < sizeof message; i++) {
                if (track->containers[i].phase == KL_CONTAINER_STARTED)
                    continue;
                used += (size_t)snprintf(message + used, sizeof message - used, "%s%s",
                                         first ? "" : " ", track->containers[i].name);
                first = 0;
            }
            if (used < sizeof message)
                snprintf(message + used, sizeof message - used, "]");
        }
    }
    json_t *conditions = json_array();
    json_array_append_new(conditions, condition_json("Initialized", 1, track->created_ms, NULL,
                                                     NULL));
    json_array_append_new(conditions, condition_json("Ready", track->ready, track->ready_since_ms,
                                                     reason, message[0] ? message : NULL));
    json_array_append_new(conditions, condition_json("ContainersReady", track->ready,
                                                     track->ready_since_ms, reason,
                                                     message[0] ? message : NULL));
    json_array_append_new(conditions, condition_json("PodScheduled", 1, track->created_ms, NULL,
                                                     NULL));
    json_t *statuses = json_array();
    for (size_t i = 0; i < track->count; i++)
        json_array_append_new(statuses, container_status_json(&track->containers[i]));
    char start[32];
    kl_time_format_rfc3339(track->start_time_ms, start, sizeof start);
    return json_pack("{s:s, s:o, s:o, s:s}", "phase", track->phase, "conditions", conditions,
                     "containerStatuses", statuses, "startTime", start);
}
