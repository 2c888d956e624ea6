/* Pods' containers through the runtime: pull, start, poll, restart, stop, kill, sync. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet_internal.h"
#include "log.h"

/* ---- containers ------------------------------------------------------- */

void kl_kubelet_container_remove(kubelet_t *self, const char *what, const char *id)
{
    kl_error_t err;
    kl_error_clear(&err);
    if (self->runtime->remove(self->runtime_state, id, &err) < 0 && err.code != KL_ERR_NOT_FOUND)
        kl_warn(COMPONENT, "%s: removing container %s failed: %s", what, id, err.text);
}

/* Stops and removes a container. With kill() this only sends SIGTERM and
 * leaves the rest to kl_kubelet_terminating_step(), so the loop never waits out a
 * grace period; without it, stop() blocks as a 1.0 runtime requires. */
void kl_kubelet_container_terminate(kubelet_t *self, const char *what, const char *id, int grace_ms)
{
    kl_error_t err;
    kl_error_clear(&err);
    if (grace_ms < 0) {
        kl_kubelet_container_remove(self, what, id);
        return;
    }
    if (!self->has_kill) {
        if (self->runtime->stop(self->runtime_state, id, grace_ms, &err) < 0)
            kl_debug(COMPONENT, "%s: stopping container %s: %s", what, id, err.text);
        kl_kubelet_container_remove(self, what, id);
        kl_kubelet_nodes_pump(self);
        return;
    }
    if (self->runtime->kill(self->runtime_state, id, SIGTERM, &err) < 0) {
        if (err.code != KL_ERR_NOT_FOUND)
            kl_debug(COMPONENT, "%s: SIGTERM to container %s: %s", what, id, err.text);
        kl_kubelet_container_remove(self, what, id);
        return;
    }
    kterm_t *term = calloc(1, sizeof *term);
    if (!term) {
        kl_kubelet_container_remove(self, what, id);
        return;
    }
    snprintf(term->id, sizeof term->id, "%s", id);
    snprintf(term->what, sizeof term->what, "%s", what);
    term->kill_at_ms = now_ms() + grace_ms;
    zlistx_add_end(self->terminating, term);
}

/* On the sync tick: removes what has exited, SIGKILLs what outlived its
 * grace period, and gives up on what even SIGKILL did not end. */
void kl_kubelet_terminating_step(kubelet_t *self, int64_t now)
{
    kterm_t *term = zlistx_first(self->terminating);
    while (term) {
        void *handle = zlistx_cursor(self->terminating);
        kl_container_status_t status;
        memset(&status, 0, sizeof status);
        kl_error_t err;
        kl_error_clear(&err);
        int rc = self->runtime->status(self->runtime_state, term->id, &status, &err);
        int done = (rc < 0 && err.code == KL_ERR_NOT_FOUND)
                   || (rc == 0 && status.state == KL_CONTAINER_EXITED);
        if (!done && term->give_up_ms && now >= term->give_up_ms) {
            kl_warn(COMPONENT, "%s: container %s outlived SIGKILL by %d ms; removing it anyway",
                    term->what, term->id, KILL_GIVE_UP_MS);
            done = 1;
        } else if (!done && !term->give_up_ms && now >= term->kill_at_ms) {
            kl_info(COMPONENT, "%s: container %s ignored SIGTERM for its grace period; "
                    "sending SIGKILL", term->what, term->id);
            kl_error_clear(&err);
            if (self->runtime->kill(self->runtime_state, term->id, SIGKILL, &err) < 0)
                kl_debug(COMPONENT, "%s: SIGKILL to container %s: %s", term->what, term->id,
                         err.text);
            term->give_up_ms = now + KILL_GIVE_UP_MS;
        }
        if (done)
            kl_kubelet_container_remove(self, term->what, term->id);
        term = zlistx_next(self->terminating);
        if (done)
            zlistx_delete(self->terminating, handle);
    }
}

/* "spec.containers{name}": where Kubernetes' container events point. */
static const char *field_path_of(const kl_container_track_t *c, char *buf, size_t size)
{
    snprintf(buf, size, "spec.containers{%.200s}", c->name);
    return buf;
}

void kl_kubelet_pod_kill(kubelet_t *self, kpod_t *pod, int grace_ms)
{
    char what[256];
    if (pod->leftovers) {
        snprintf(what, sizeof what, "pod %s", pod->key);
        for (char *id = zlistx_first(pod->leftovers); id; id = zlistx_next(pod->leftovers))
            kl_kubelet_container_terminate(self, what, id, -1);
        zlistx_purge(pod->leftovers);
    }
    if (!pod->valid)
        return;
    for (size_t i = 0; i < pod->track.count; i++) {
        kl_container_track_t *c = &pod->track.containers[i];
        const char *id = c->id[0] ? c->id : c->phase == KL_CONTAINER_TERMINATED ? c->exit.id : "";
        snprintf(what, sizeof what, "pod %.100s container %.50s", pod->key, c->name);
        if (id[0])
            kl_kubelet_container_terminate(self, what, id,
                                c->phase == KL_CONTAINER_TERMINATED ? -1 : grace_ms);
        c->id[0] = '\0';
        c->exit.id[0] = '\0';
    }
}

/* The container's imagePullPolicy, checked. */
static int pull_policy_of(const kl_container_track_t *c, const json_t *spec,
                          kl_pull_policy_t *policy, kl_error_t *err)
{
    json_t *policy_text = json_object_get(spec, "imagePullPolicy");
    if (policy_text && !json_is_string(policy_text))
        return kl_error_set(err, KL_ERR_INVALID, "spec.containers[%s].imagePullPolicy: must be "
                            "a string", c->name);
    return kl_pull_policy_parse(json_string_value(policy_text), c->image, policy, err);
}

/* A pull that failed (or could not be tried): its Event, and the back-off. */
static int pull_failed(kubelet_t *self, kpod_t *pod, kl_container_track_t *c, kl_error_t *err,
                       int64_t now)
{
    char field_path[256];
    field_path_of(c, field_path, sizeof field_path);
    if (c->start_failures == 0)
        kl_kubelet_events_record(self->events, pod->object, field_path, "Warning", "Failed", now,
                                 "Failed to pull image \"%s\": %s", c->image,
                                 err->code == KL_OK ? "the runtime did not say why" : err->text);
    else
        kl_kubelet_events_record(self->events, pod->object, field_path, "Normal", "BackOff", now,
                                 "Back-off pulling image \"%s\"", c->image);
    if (err->code == KL_OK)
        kl_error_set(err, KL_ERR_INTERNAL, "the runtime failed to pull without saying why");
    if (c->start_failures == 0)
        kl_warn(COMPONENT, "pod %s: image %s of container %s did not pull: %s", pod->key,
                c->image, c->name, err->text);
    kl_container_pull_failed(c, err, now);
    return -1;
}

/* What pull() returned, called at `began` and back at `ended`, as Events and
 * container state, wherever it ran. 0 to go on with start(). */
static int pull_outcome(kubelet_t *self, kpod_t *pod, kl_container_track_t *c, int rc,
                        kl_error_t *err, int64_t began, int64_t ended)
{
    char field_path[256];
    field_path_of(c, field_path, sizeof field_path);
    if (rc == KL_PULL_PRESENT) {
        /* One event, as Kubernetes records for an image it had. */
        kl_kubelet_events_record(self->events, pod->object, field_path, "Normal", "Pulled", began,
                                 "Container image \"%s\" already present on machine", c->image);
        return 0;
    }
    if (c->start_failures == 0 || rc == 0)
        kl_kubelet_events_record(self->events, pod->object, field_path, "Normal", "Pulling",
                                 began, "Pulling image \"%s\"", c->image);
    if (rc == 0) {
        kl_kubelet_events_record(self->events, pod->object, field_path, "Normal", "Pulled", ended,
                                 "Successfully pulled image \"%s\" in %" PRId64 " ms", c->image,
                                 ended - began);
        return 0;
    }
    if (rc > 0 && err->code == KL_OK)
        kl_error_set(err, KL_ERR_INTERNAL, "the runtime's pull returned %d, which is no result "
                     "of runtime ABI %d.%d", rc, KL_RUNTIME_ABI_MAJOR, KL_RUNTIME_ABI_MINOR);
    return pull_failed(self, pod, c, err, began);
}

/* Pulls the container's image as its imagePullPolicy says, when the
 * runtime can. 0 to go on with start(). */
static int container_pull(kubelet_t *self, kpod_t *pod, kl_container_track_t *c,
                          const json_t *spec, int64_t now)
{
    if (!self->has_pull)
        return 0;
    kl_pull_policy_t policy;
    kl_error_t err;
    kl_error_clear(&err);
    if (pull_policy_of(c, spec, &policy, &err) < 0)
        return pull_failed(self, pod, c, &err, now);
    int rc = self->runtime->pull(self->runtime_state, c->image, policy, &err);
    return pull_outcome(self, pod, c, rc, &err, now, now_ms());
}

/* What start() returned, as Events and container state, wherever it ran. */
static void start_outcome(kubelet_t *self, kpod_t *pod, kl_container_track_t *c, int rc,
                          kl_error_t *err, const char *id, int64_t now)
{
    char field_path[256];
    field_path_of(c, field_path, sizeof field_path);
    if (rc < 0) {
        if (err->code == KL_OK)
            kl_error_set(err, KL_ERR_INTERNAL, "the runtime failed without saying why");
        if (c->start_failures == 0)
            kl_warn(COMPONENT, "pod %s: container %s did not start: %s", pod->key, c->name,
                    err->text);
        kl_kubelet_events_record(self->events, pod->object, field_path, "Warning", "Failed", now,
                                 "Error: %s", err->text);
        kl_container_start_failed(c, err, now);
        return;
    }
    if (!id[0]) {
        kl_error_set(err, KL_ERR_INTERNAL, "the runtime returned an empty container id");
        kl_container_start_failed(c, err, now);
        return;
    }
    kl_container_started(c, id, now);
    kl_kubelet_events_record(self->events, pod->object, field_path, "Normal", "Created", now,
                             "Created container %s", c->name);
}

static void container_start(kubelet_t *self, kpod_t *pod, size_t index, int64_t now)
{
    kl_container_track_t *c = &pod->track.containers[index];
    kl_container_request_t request = {
        .pod_namespace = pod->namespace_name, .pod_name = pod->name,
        .pod_uid = pod->uid ? pod->uid : "", .container_name = c->name,
        .container = json_array_get(json_object_get(json_object_get(pod->object, "spec"),
                                                    "containers"), index),
        .pod = pod->object,
    };
    if (container_pull(self, pod, c, request.container, now) < 0)
        return;
    char id[KL_CONTAINER_ID_MAX] = "";
    kl_error_t err;
    kl_error_clear(&err);
    int rc = self->runtime->start(self->runtime_state, &request, id, &err);
    id[KL_CONTAINER_ID_MAX - 1] = '\0';
    start_outcome(self, pod, c, rc, &err, id, now);
}

/* What status() returned for a tracked container, wherever it ran. */
static void container_observe(kubelet_t *self, kpod_t *pod, kl_container_track_t *c, int rc,
                              kl_container_status_t *status, const kl_error_t *err, int64_t now)
{
    if (rc < 0) {
        if (err->code != KL_ERR_NOT_FOUND) {
            kl_debug(COMPONENT, "pod %s: status of container %s: %s", pod->key, c->name,
                     err->text);
            return;
        }
        /* The runtime lost it: report it as Kubernetes does a vanished one. */
        memset(status, 0, sizeof *status);
        status->state = KL_CONTAINER_EXITED;
        status->exit_code = 137;
        snprintf(status->reason, sizeof status->reason, "ContainerStatusUnknown");
        snprintf(status->message, sizeof status->message, "%.*s",
                 (int)sizeof status->message - 1, err->text);
    }
    if (status->state > KL_CONTAINER_UNKNOWN) {
        kl_debug(COMPONENT, "pod %s: the runtime reported state %d for container %s", pod->key,
                 (int)status->state, c->name);
        return;
    }
    status->reason[sizeof status->reason - 1] = '\0';
    status->message[sizeof status->message - 1] = '\0';
    kl_container_phase_t before = c->phase;
    int restart = kl_container_observe(c, pod->track.policy, status, now);
    char field_path[256];
    if (before != KL_CONTAINER_STARTED && c->phase == KL_CONTAINER_STARTED)
        kl_kubelet_events_record(self->events, pod->object, field_path_of(c, field_path,
                                                                          sizeof field_path),
                                 "Normal", "Started", now, "Started container %s", c->name);
    if (restart && strcmp(c->reason, "CrashLoopBackOff") == 0)
        kl_kubelet_events_record(self->events, pod->object, field_path_of(c, field_path,
                                                                          sizeof field_path),
                                 "Warning", "BackOff", now, "Back-off restarting failed "
                                 "container %s in pod %s", c->name, pod->name);
    if (restart) {
        char old[KL_CONTAINER_ID_MAX];
        snprintf(old, sizeof old, "%s", c->id);
        c->id[0] = '\0';
        kl_kubelet_container_remove(self, pod->key, old);
    }
}

static void container_poll(kubelet_t *self, kpod_t *pod, kl_container_track_t *c, int64_t now)
{
    kl_container_status_t status;
    memset(&status, 0, sizeof status);
    kl_error_t err;
    kl_error_clear(&err);
    int rc = self->runtime->status(self->runtime_state, c->id, &status, &err);
    container_observe(self, pod, c, rc, &status, &err, now);
}

/* Recomputes the pod's phase and writes its status, unless a start on a
 * worker is about to change it: that result writes it, so a pod costs one
 * status write as when starts ran on this thread. */
static void pod_refresh(kubelet_t *self, kpod_t *pod, int64_t now)
{
    char previous[16];
    snprintf(previous, sizeof previous, "%s", pod->track.phase[0] ? pod->track.phase : "Pending");
    kl_pod_track_refresh(&pod->track, now);
    if (strcmp(previous, pod->track.phase) != 0)
        kl_info(COMPONENT, "pod %s is %s", pod->key, pod->track.phase);
    if (pod->starts_in_flight == 0)
        kl_kubelet_pod_report(self, pod, now);
}

/* ---- starts on the worker threads ------------------------------------- */

/* Hands container `index` to a start worker, after the checks that need no
 * runtime. 0 when handled (queued, or failed here), -1 when it could not be
 * queued and must start on this thread. */
static int start_submit(kubelet_t *self, kpod_t *pod, size_t index, int64_t now)
{
    kl_container_track_t *c = &pod->track.containers[index];
    kl_pull_policy_t policy = KL_PULL_IF_NOT_PRESENT;
    if (self->has_pull) {
        kl_error_t err;
        kl_error_clear(&err);
        const json_t *spec = json_array_get(json_object_get(json_object_get(pod->object, "spec"),
                                                            "containers"), index);
        if (pull_policy_of(c, spec, &policy, &err) < 0) {
            pull_failed(self, pod, c, &err, now);
            return 0;
        }
    }
    if (!pod->start_serial && !(pod->start_serial = calloc(pod->track.count,
                                                            sizeof *pod->start_serial)))
        return -1;
    kstart_job_t *job = kl_start_job_new(pod, index);
    if (!job)
        return -1;
    job->pull = self->has_pull;
    job->policy = policy;
    job->serial = ++self->start_serial_last;
    pod->start_serial[index] = job->serial;
    pod->starts_in_flight++;
    kl_start_pool_submit(self->starts, job);
    return 0;
}

static int start_in_flight(const kpod_t *pod, size_t index)
{
    return pod->start_serial && pod->start_serial[index] != 0;
}

/* A worker's pull+start, applied as container_start() and the
 * container_poll() after it would have, with the times the calls were
 * made. A container whose pod went meanwhile is removed. */
static void start_result_apply(kubelet_t *self, kstart_job_t *job, int stopping)
{
    kpod_t *pod = zhashx_lookup(self->pods, job->pod_key);
    if (pod && (!pod->valid || !start_in_flight(pod, job->index)
                || pod->start_serial[job->index] != job->serial))
        pod = NULL;
    if (!pod) {
        if (job->start_called && job->start_rc == 0 && job->id[0]) {
            char what[256];
            snprintf(what, sizeof what, "pod %.100s container %.50s", job->pod_key,
                     job->container_name);
            kl_info(COMPONENT, "%s: its pod went while it started; removing container %s",
                    what, job->id);
            kl_kubelet_container_remove(self, what, job->id);
        }
        return;
    }
    pod->start_serial[job->index] = 0;
    pod->starts_in_flight--;
    kl_container_track_t *c = &pod->track.containers[job->index];
    int pulled = !job->pull || pull_outcome(self, pod, c, job->pull_rc, &job->pull_err,
                                            job->pull_began_ms, job->pull_ended_ms) == 0;
    if (pulled && job->start_called) {
        start_outcome(self, pod, c, job->start_rc, &job->start_err, job->id,
                      job->start_began_ms);
        if (c->id[0] && job->status_called && strcmp(c->id, job->id) == 0)
            container_observe(self, pod, c, job->status_rc, &job->status, &job->status_err,
                              job->status_ms);
        /* An exit notification read before this result named an id not
         * yet known, and was dropped: ask once more rather than wait for
         * the tick. */
        if (c->id[0] && self->events_fd >= 0 && !stopping)
            kl_kubelet_pod_mark_urgent(self, pod);
    }
    if (!stopping)
        pod_refresh(self, pod, now_ms());
}

void kl_kubelet_start_results_take(kubelet_t *self, int stopping)
{
    kstart_job_t *job = kl_start_pool_take(self->starts);
    while (job) {
        kstart_job_t *next = job->next;
        start_result_apply(self, job, stopping);
        kl_start_job_free(&job);
        job = next;
    }
}

void kl_kubelet_pod_sync(kubelet_t *self, kpod_t *pod, int64_t now, int relist)
{
    if (!pod->valid || pod->inert)
        return;
    if (relist || now >= pod->next_relist_ms) {
        relist = 1;
        pod->next_relist_ms = now + self->relist_ms;
    }
    for (size_t i = 0; i < pod->track.count; i++) {
        kl_container_track_t *c = &pod->track.containers[i];
        /* One not yet running is watched every tick: starting is when a
         * pod's status changes most. */
        if (c->id[0] && c->phase != KL_CONTAINER_TERMINATED
            && (relist || c->phase != KL_CONTAINER_STARTED))
            container_poll(self, pod, c, now);
        if (kl_container_start_due(c, &pod->track, now) && !start_in_flight(pod, i)) {
            if (self->starts && start_submit(self, pod, i, now) == 0)
                continue;
            container_start(self, pod, i, now);
            if (c->id[0])
                container_poll(self, pod, c, now);
        }
    }
    pod_refresh(self, pod, now);
}

/* Syncs the pods queued by kl_kubelet_pod_mark_urgent(), while status writes have
 * room (a full pipeline leaves them queued until replies come). */
void kl_kubelet_urgent_step(kubelet_t *self, int64_t now)
{
    size_t budget = zlistx_size(self->urgent);
    while (budget-- > 0 && zhashx_size(self->status_requests) < STATUS_IN_FLIGHT_MAX) {
        char *key = zlistx_first(self->urgent);
        if (!key)
            break;
        kpod_t *pod = zhashx_lookup(self->pods, key);
        zlistx_delete(self->urgent, zlistx_cursor(self->urgent));
        if (!pod)
            continue;
        pod->urgent = 0;
        kl_kubelet_pod_sync(self, pod, now, 1);
    }
}

static void on_container_changed(const char *id, void *arg)
{
    kubelet_t *self = arg;
    if (!id || !*id)
        return;
    for (kpod_t *pod = zhashx_first(self->pods); pod; pod = zhashx_next(self->pods))
        for (size_t i = 0; pod->valid && i < pod->track.count; i++)
            if (strcmp(pod->track.containers[i].id, id) == 0) {
                kl_kubelet_pod_mark_urgent(self, pod);
                return;
            }
}

/* The runtime says containers changed: their pods sync now. */
void kl_kubelet_runtime_events_read(kubelet_t *self)
{
    kl_error_t err;
    kl_error_clear(&err);
    if (self->runtime->events_read(self->runtime_state, on_container_changed, self, &err) < 0)
        kl_debug(COMPONENT, "reading the runtime's exit notifications: %s", err.text);
}

/* ---- pods that are gone ---------------------------------------------- */

void kl_kubelet_pod_forget(kubelet_t *self, kpod_t *pod, int grace_ms)
{
    kl_info(COMPONENT, "pod %s is gone; removing its containers", pod->key);
    int64_t now = now_ms();
    char field_path[256];
    for (size_t i = 0; pod->valid && i < pod->track.count; i++) {
        kl_container_track_t *c = &pod->track.containers[i];
        if (c->id[0] && c->phase != KL_CONTAINER_TERMINATED)
            kl_kubelet_events_record(self->events, pod->object,
                                     field_path_of(c, field_path, sizeof field_path), "Normal",
                                     "Killing", now, "Stopping container %s", c->name);
    }
    kl_kubelet_pod_kill(self, pod, grace_ms);
    zhashx_delete(self->pods, pod->key);
}
