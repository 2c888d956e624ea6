/* The kubelet actor: the watch of its nodes' pods, container
 * pull/start/poll/restart/stop through the runtime plugin (woken by its exit
 * notifications), Events, adoption after a restart and the
 * kubelet-<node>.logs service. Nodes live in kubelet_nodes.c, status writes
 * in kubelet_report.c, pod rules in pod_status.c. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "kubelet.h"
#include "kubelet_events.h"
#include "kubelet_service.h"
#include "list_watch.h"
#include "log.h"
#include "node_info.h"
#include "objects.h"
#include "pod_status.h"

#include "kubelet_internal.h"

/* A request that failed because the API is out of reach quiets status
 * writes for a moment, so hundreds of pods do not each wait for a timeout. */
json_t *kl_kubelet_api_request(kubelet_t *self, const char *method, json_t *payload, kl_error_t *err)
{
    json_t *reply = kl_bus_request(self->api, method, payload, API_TIMEOUT_MS, err);
    if (!reply && (err->code == KL_ERR_TIMEOUT || err->code == KL_ERR_UNAVAILABLE))
        self->api_quiet_until_ms = now_ms() + API_QUIET_MS;
    return reply;
}

/* ---- containers ------------------------------------------------------- */

static void container_remove(kubelet_t *self, const char *what, const char *id)
{
    kl_error_t err;
    kl_error_clear(&err);
    if (self->runtime->remove(self->runtime_state, id, &err) < 0 && err.code != KL_ERR_NOT_FOUND)
        kl_warn(COMPONENT, "%s: removing container %s failed: %s", what, id, err.text);
}

/* Stops and removes a container. With kill() this only sends SIGTERM and
 * leaves the rest to terminating_step(), so the loop never waits out a
 * grace period; without it, stop() blocks as a 1.0 runtime requires. */
static void container_terminate(kubelet_t *self, const char *what, const char *id, int grace_ms)
{
    kl_error_t err;
    kl_error_clear(&err);
    if (grace_ms < 0) {
        container_remove(self, what, id);
        return;
    }
    if (!self->has_kill) {
        if (self->runtime->stop(self->runtime_state, id, grace_ms, &err) < 0)
            kl_debug(COMPONENT, "%s: stopping container %s: %s", what, id, err.text);
        container_remove(self, what, id);
        kl_kubelet_nodes_pump(self);
        return;
    }
    if (self->runtime->kill(self->runtime_state, id, SIGTERM, &err) < 0) {
        if (err.code != KL_ERR_NOT_FOUND)
            kl_debug(COMPONENT, "%s: SIGTERM to container %s: %s", what, id, err.text);
        container_remove(self, what, id);
        return;
    }
    kterm_t *term = calloc(1, sizeof *term);
    if (!term) {
        container_remove(self, what, id);
        return;
    }
    snprintf(term->id, sizeof term->id, "%s", id);
    snprintf(term->what, sizeof term->what, "%s", what);
    term->kill_at_ms = now_ms() + grace_ms;
    zlistx_add_end(self->terminating, term);
}

/* On the sync tick: removes what has exited, SIGKILLs what outlived its
 * grace period, and gives up on what even SIGKILL did not end. */
static void terminating_step(kubelet_t *self, int64_t now)
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
            container_remove(self, term->what, term->id);
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

static void pod_kill(kubelet_t *self, kpod_t *pod, int grace_ms)
{
    char what[256];
    if (pod->leftovers) {
        snprintf(what, sizeof what, "pod %s", pod->key);
        for (char *id = zlistx_first(pod->leftovers); id; id = zlistx_next(pod->leftovers))
            container_terminate(self, what, id, -1);
        zlistx_purge(pod->leftovers);
    }
    if (!pod->valid)
        return;
    for (size_t i = 0; i < pod->track.count; i++) {
        kl_container_track_t *c = &pod->track.containers[i];
        const char *id = c->id[0] ? c->id : c->phase == KL_CONTAINER_TERMINATED ? c->exit.id : "";
        snprintf(what, sizeof what, "pod %.100s container %.50s", pod->key, c->name);
        if (id[0])
            container_terminate(self, what, id,
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
        container_remove(self, pod->key, old);
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
            container_remove(self, what, job->id);
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

static void start_results_take(kubelet_t *self, int stopping)
{
    kstart_job_t *job = kl_start_pool_take(self->starts);
    while (job) {
        kstart_job_t *next = job->next;
        start_result_apply(self, job, stopping);
        kl_start_job_free(&job);
        job = next;
    }
}

static void pod_sync(kubelet_t *self, kpod_t *pod, int64_t now)
{
    if (!pod->valid || pod->inert)
        return;
    for (size_t i = 0; i < pod->track.count; i++) {
        kl_container_track_t *c = &pod->track.containers[i];
        if (c->id[0] && c->phase != KL_CONTAINER_TERMINATED)
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
static void urgent_step(kubelet_t *self, int64_t now)
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
        pod_sync(self, pod, now);
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
static void runtime_events_read(kubelet_t *self)
{
    kl_error_t err;
    kl_error_clear(&err);
    if (self->runtime->events_read(self->runtime_state, on_container_changed, self, &err) < 0)
        kl_debug(COMPONENT, "reading the runtime's exit notifications: %s", err.text);
}

/* ---- the pod set ------------------------------------------------------ */

static void kpod_free(kpod_t **pod_p)
{
    kpod_t *pod = *pod_p;
    if (!pod)
        return;
    kl_pod_track_clear(&pod->track);
    json_decref(pod->object);
    json_decref(pod->reported);
    zlistx_destroy(&pod->leftovers);
    free(pod->start_serial);
    free(pod->key);
    free(pod->namespace_name);
    free(pod->name);
    free(pod->uid);
    free(pod);
    *pod_p = NULL;
}

static void kpod_destructor(void **item)
{
    kpod_free((kpod_t **)item);
}

static void free_destructor(void **item)
{
    free(*item);
    *item = NULL;
}

static void pod_forget(kubelet_t *self, kpod_t *pod, int grace_ms)
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
    pod_kill(self, pod, grace_ms);
    zhashx_delete(self->pods, pod->key);
}

static void pod_upsert(kubelet_t *self, json_t *object)
{
    json_t *metadata = json_object_get(object, "metadata");
    const char *name = json_string_value(json_object_get(metadata, "name"));
    const char *namespace_name = json_string_value(json_object_get(metadata, "namespace"));
    const char *uid = json_string_value(json_object_get(metadata, "uid"));
    const char *node_name = json_string_value(json_object_get(json_object_get(object, "spec"),
                                                              "nodeName"));
    if (!name || !*name) {
        kl_warn(COMPONENT, "ignoring a pod without metadata.name");
        return;
    }
    if (!namespace_name || !*namespace_name)
        namespace_name = "default";
    char key[512];
    snprintf(key, sizeof key, "%s/%s", namespace_name, name);
    kpod_t *pod = zhashx_lookup(self->pods, key);
    /* With several nodes the watch sees every pod: keep those of ours. */
    knode_t *node = node_name ? zhashx_lookup(self->node_by_name, node_name) : NULL;
    if (!node) {
        if (pod)
            pod_forget(self, pod, (int)pod->grace_ms);
        return;
    }
    if (pod && uid && pod->uid && strcmp(uid, pod->uid) != 0) {
        /* Same name, new pod: the old one was deleted meanwhile. */
        pod_forget(self, pod, (int)pod->grace_ms);
        pod = NULL;
    }
    int64_t resource_version = resource_version_of(object);
    if (pod) {
        pod->generation = self->generation;
        if (resource_version < pod->resource_version)
            return;
        json_decref(pod->object);
        pod->object = json_incref(object);
        pod->resource_version = resource_version;
        return;
    }
    pod = calloc(1, sizeof *pod);
    if (!pod || !(pod->key = strdup(key)) || !(pod->name = strdup(name))
        || !(pod->namespace_name = strdup(namespace_name)) || (uid && !(pod->uid = strdup(uid)))) {
        kl_error_log(COMPONENT, "out of memory taking pod %s", key);
        kpod_free(&pod);
        return;
    }
    pod->node = node;
    pod->object = json_incref(object);
    pod->resource_version = resource_version;
    pod->generation = self->generation;
    json_t *grace = json_object_get(json_object_get(object, "spec"),
                                    "terminationGracePeriodSeconds");
    pod->grace_ms = json_is_integer(grace) && json_integer_value(grace) >= 0
                        && json_integer_value(grace) <= 86400
                        ? json_integer_value(grace) * 1000 : DEFAULT_GRACE_MS;
    const char *phase = json_string_value(json_object_get(json_object_get(object, "status"),
                                                          "phase"));
    kl_error_t err;
    if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
        pod->inert = 1;
    } else if (kl_pod_track_init(&pod->track, object, now_ms(), &err) < 0) {
        kl_warn(COMPONENT, "cannot run pod %s: %s", key, err.text);
    } else {
        pod->valid = 1;
        kl_info(COMPONENT, "pod %s assigned to %s; %zu container(s)", key, node->name,
                pod->track.count);
    }
    zhashx_insert(self->pods, pod->key, pod);
    if (pod->valid)
        kl_kubelet_pod_mark_urgent(self, pod);  /* start it now, not on the next tick */
}

/* ---- adoption ----------------------------------------------------------- */

static void kfound_destructor(void **item)
{
    kfound_t *found = *item;
    if (!found)
        return;
    free(found->id);
    free(found->pod_key);
    free(found->pod_uid);
    free(found->container_name);
    free(found);
    *item = NULL;
}

static int on_container_found(const kl_container_info_t *info, void *arg)
{
    kubelet_t *self = arg;
    if (!info || !info->id || !info->id[0])
        return 0;
    kfound_t *found = calloc(1, sizeof *found);
    char key[512];
    snprintf(key, sizeof key, "%s/%s", info->pod_namespace && *info->pod_namespace
             ? info->pod_namespace : "default", info->pod_name ? info->pod_name : "");
    if (!found || !(found->id = strdup(info->id)) || !(found->pod_key = strdup(key))
        || !(found->pod_uid = strdup(info->pod_uid ? info->pod_uid : ""))
        || !(found->container_name = strdup(info->container_name ? info->container_name : ""))) {
        kfound_destructor((void **)&found);
        return 1;
    }
    found->status = info->status;
    found->status.reason[sizeof found->status.reason - 1] = '\0';
    found->status.message[sizeof found->status.message - 1] = '\0';
    zlistx_add_end(self->found, found);
    return 0;
}

static int restart_count_of(const json_t *pod, const char *container_name)
{
    size_t i;
    json_t *status;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "containerStatuses"), i,
                       status) {
        const char *name = json_string_value(json_object_get(status, "name"));
        json_t *count = json_object_get(status, "restartCount");
        if (name && strcmp(name, container_name) == 0 && json_is_integer(count))
            return (int)json_integer_value(count);
    }
    return 0;
}

/* After the first pod list: each container a previous kubelet left behind
 * either belongs to a pod still bound here (tracked again, not restarted)
 * or is stopped and removed. */
static void adopt_found(kubelet_t *self, int64_t now)
{
    size_t adopted = 0, removed = 0;
    for (kfound_t *found = zlistx_first(self->found); found; found = zlistx_next(self->found)) {
        kpod_t *pod = zhashx_lookup(self->pods, found->pod_key);
        int same_pod = pod && (!found->pod_uid[0] || !pod->uid
                               || strcmp(found->pod_uid, pod->uid) == 0);
        kl_container_track_t *c = NULL;
        for (size_t i = 0; same_pod && pod->valid && i < pod->track.count; i++)
            if (strcmp(pod->track.containers[i].name, found->container_name) == 0
                && !pod->track.containers[i].id[0])
                c = &pod->track.containers[i];
        if (c) {
            kl_container_adopt(c, found->id, restart_count_of(pod->object, c->name));
            if (kl_container_observe(c, pod->track.policy, &found->status, now)) {
                char old[KL_CONTAINER_ID_MAX];
                snprintf(old, sizeof old, "%s", c->id);
                c->id[0] = '\0';
                container_remove(self, pod->key, old);
            }
            kl_info(COMPONENT, "pod %s: adopted container %s (%s)", pod->key, c->name,
                    found->id);
            adopted++;
            continue;
        }
        if (same_pod && pod->inert) {
            /* A finished pod keeps its exited containers until it is deleted. */
            if (!pod->leftovers) {
                pod->leftovers = zlistx_new();
                zlistx_set_destructor(pod->leftovers, free_destructor);
            }
            char *id = strdup(found->id);
            if (pod->leftovers && id)
                zlistx_add_end(pod->leftovers, id);
            else
                free(id);
            continue;
        }
        char what[256];
        snprintf(what, sizeof what, "left-over container %.50s of pod %.100s",
                 found->container_name, found->pod_key);
        kl_info(COMPONENT, "%s (%s): its pod is gone or bound elsewhere; removing it", what,
                found->id);
        container_terminate(self, what, found->id,
                            found->status.state == KL_CONTAINER_EXITED ? -1 : ORPHAN_GRACE_MS);
        removed++;
    }
    if (zlistx_size(self->found) > 0)
        kl_info(COMPONENT, "adoption: %zu container(s) adopted, %zu removed", adopted, removed);
    zlistx_destroy(&self->found);
}

static void on_pod_list(json_t *items, void *arg)
{
    kubelet_t *self = arg;
    self->generation++;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
        pod_upsert(self, item);
    zlistx_t *gone = zlistx_new();
    for (kpod_t *pod = zhashx_first(self->pods); pod; pod = zhashx_next(self->pods))
        if (pod->generation != self->generation)
            zlistx_add_end(gone, pod);
    for (kpod_t *pod = zlistx_first(gone); pod; pod = zlistx_next(gone))
        pod_forget(self, pod, (int)pod->grace_ms);
    zlistx_destroy(&gone);
    if (self->found)
        adopt_found(self, now_ms());
}

static void on_pod_event(const char *type, json_t *object, void *arg)
{
    kubelet_t *self = arg;
    if (strcmp(type, "DELETED") != 0) {
        pod_upsert(self, object);
        return;
    }
    json_t *metadata = json_object_get(object, "metadata");
    const char *name = json_string_value(json_object_get(metadata, "name"));
    const char *namespace_name = json_string_value(json_object_get(metadata, "namespace"));
    const char *uid = json_string_value(json_object_get(metadata, "uid"));
    if (!name)
        return;
    char key[512];
    snprintf(key, sizeof key, "%s/%s", namespace_name && *namespace_name ? namespace_name
                                                                         : "default", name);
    kpod_t *pod = zhashx_lookup(self->pods, key);
    if (pod && (!uid || !pod->uid || strcmp(uid, pod->uid) == 0))
        pod_forget(self, pod, (int)pod->grace_ms);
}

/* ---- the kubelet service: logs ------------------------------------------ */

/* JSON strings must be UTF-8: bytes that are not become '?', and a
 * sequence cut by the end of the chunk is left for the next read. Returns
 * how many input bytes were consumed. */
static size_t utf8_clean(char *text, size_t length, int at_end)
{
    size_t i = 0;
    while (i < length) {
        unsigned char byte = (unsigned char)text[i];
        size_t need = byte < 0x80 ? 1 : (byte & 0xE0) == 0xC0 ? 2 : (byte & 0xF0) == 0xE0 ? 3
                      : (byte & 0xF8) == 0xF0 ? 4 : 0;
        if (need == 0 || byte == 0) {
            text[i++] = '?';
            continue;
        }
        if (i + need > length) {
            if (!at_end)
                return i;  /* complete it next time */
            for (; i < length; i++)
                text[i] = '?';
            return length;
        }
        size_t k = 1;
        while (k < need && ((unsigned char)text[i + k] & 0xC0) == 0x80)
            k++;
        if (k < need) {
            text[i++] = '?';
            continue;
        }
        i += need;
    }
    return length;
}

static json_t *serve_logs(kubelet_t *self, const json_t *payload, kl_error_t *err)
{
    const char *namespace_name = json_string_value(json_object_get(payload, "namespace"));
    const char *pod_name = json_string_value(json_object_get(payload, "pod"));
    const char *container_name = json_string_value(json_object_get(payload, "container"));
    json_t *offset_json = json_object_get(payload, "offset");
    json_t *limit_json = json_object_get(payload, "limitBytes");
    if (!pod_name || !*pod_name) {
        kl_error_set(err, KL_ERR_INVALID, "logs: \"pod\" must be a non-empty string");
        return NULL;
    }
    if ((offset_json && (!json_is_integer(offset_json) || json_integer_value(offset_json) < 0))
        || (limit_json && (!json_is_integer(limit_json) || json_integer_value(limit_json) <= 0))) {
        kl_error_set(err, KL_ERR_INVALID, "logs: \"offset\" must be an integer >= 0 and "
                     "\"limitBytes\" an integer > 0");
        return NULL;
    }
    if (!self->has_logs) {
        kl_error_set(err, KL_ERR_UNAVAILABLE, "runtime %s keeps no container logs",
                     self->plugin->label ? self->plugin->label : "(unnamed)");
        return NULL;
    }
    char key[512];
    snprintf(key, sizeof key, "%s/%s", namespace_name && *namespace_name ? namespace_name
                                                                         : "default", pod_name);
    kpod_t *pod = zhashx_lookup(self->pods, key);
    if (!pod || (!pod->valid && !pod->leftovers)) {
        kl_error_set(err, KL_ERR_NOT_FOUND, "pod \"%s\" is not running on %s", key,
                     self->node_name);
        return NULL;
    }
    if (!pod->valid) {
        /* Finished before this kubelet started: its one adopted container. */
        const char *id = zlistx_first(pod->leftovers);
        if (!id || (container_name && *container_name && pod->leftovers
                    && zlistx_size(pod->leftovers) > 1)) {
            kl_error_set(err, KL_ERR_NOT_FOUND, "pod \"%s\": its containers are gone", key);
            return NULL;
        }
        container_name = NULL;
    }
    kl_container_track_t *c = NULL;
    if (pod->valid) {
        if (!container_name || !*container_name) {
            if (pod->track.count != 1) {
                char names[256] = "";
                size_t used = 0;
                for (size_t i = 0; i < pod->track.count && used < sizeof names; i++)
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                             i ? " " : "", pod->track.containers[i].name);
                kl_error_set(err, KL_ERR_INVALID, "a container name must be specified for pod "
                             "%s, choose one of: [%s]", pod->name, names);
                return NULL;
            }
            c = &pod->track.containers[0];
        }
        for (size_t i = 0; !c && i < pod->track.count; i++)
            if (strcmp(pod->track.containers[i].name, container_name) == 0)
                c = &pod->track.containers[i];
        if (!c) {
            kl_error_set(err, KL_ERR_NOT_FOUND, "container \"%s\" is not in pod \"%s\"",
                         container_name, pod->name);
            return NULL;
        }
    }
    const char *id = !c ? zlistx_first(pod->leftovers)
                     : c->id[0] ? c->id
                     : c->phase == KL_CONTAINER_TERMINATED ? c->exit.id
                     : c->has_last ? c->last.id : "";
    if (!id || !id[0]) {
        kl_error_set(err, KL_ERR_INVALID, "container \"%s\" in pod \"%s\" is waiting to start: "
                     "%s", c->name, pod->name, c->reason[0] ? c->reason : "ContainerCreating");
        return NULL;
    }
    int64_t offset = offset_json ? json_integer_value(offset_json) : 0;
    size_t limit = limit_json ? (size_t)json_integer_value(limit_json) : LOGS_DEFAULT_BYTES;
    if (limit > LOGS_MAX_BYTES)
        limit = LOGS_MAX_BYTES;
    char *buffer = malloc(limit + 1);
    if (!buffer) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading logs of pod %s", key);
        return NULL;
    }
    size_t length = 0;
    if (self->runtime->logs(self->runtime_state, id, offset, buffer, limit, &length, err) < 0) {
        free(buffer);
        if (err->code == KL_OK)
            kl_error_set(err, KL_ERR_INTERNAL, "the runtime failed to read logs without "
                         "saying why");
        return NULL;
    }
    if (length > limit)
        length = limit;
    size_t used = utf8_clean(buffer, length, length < limit);
    json_t *reply = json_pack("{s:s%, s:I, s:s}", "text", buffer, used, "offset",
                              (json_int_t)(offset + (int64_t)used), "containerID", id);
    free(buffer);
    if (!reply)
        kl_error_set(err, KL_ERR_INTERNAL, "cannot encode the logs of pod %s", key);
    return reply;
}

static json_t *serve_request(const char *method, const json_t *payload, void *arg,
                             kl_error_t *err)
{
    kubelet_t *self = arg;
    if (strcmp(method, "logs") == 0)
        return serve_logs(self, payload, err);
    kl_error_set(err, KL_ERR_INVALID, "%s has no method \"%s\" (it serves: logs)",
                 self->service_name, method);
    return NULL;
}

/* ---- the actor -------------------------------------------------------- */

static int kubelet_setup(kubelet_t *self, kl_kubelet_config_t *config, kl_error_t *err)
{
    kl_plugin_t *runtime = config->runtime;
    if (!config->bus_endpoint)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: no bus endpoint configured");
    if (!runtime)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: no runtime plugin configured");
    if (runtime->desc && runtime->desc->kind != KL_KIND_RUNTIME)
        return kl_error_set(err, KL_ERR_INVALID, "plugin %s is not a runtime plugin",
                            runtime->label ? runtime->label : "(unnamed)");
    if (!KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, start)
        || !KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, status))
        return kl_error_set(err, KL_ERR_INVALID, "plugin %s lacks start() or status()",
                            runtime->label ? runtime->label : "(unnamed)");
    if (!KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, stop)
        || !KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, remove))
        return kl_error_set(err, KL_ERR_INVALID, "plugin %s lacks stop() or remove()",
                            runtime->label ? runtime->label : "(unnamed)");
    if (config->node_count < 0 || config->node_count > 100000)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: node_count %d is not between 1 and "
                            "100000", config->node_count);
    if (config->start_workers < 0 || config->start_workers > KL_KUBELET_START_WORKERS_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: start_workers %d is not between 1 "
                            "and %d", config->start_workers, KL_KUBELET_START_WORKERS_MAX);
    self->plugin = runtime;
    self->has_pull = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, pull);
    self->has_list = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, list);
    self->has_logs = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, logs);
    self->has_kill = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, kill);
    if (config->node_name && *config->node_name) {
        snprintf(self->node_name, sizeof self->node_name, "%s", config->node_name);
    } else if (gethostname(self->node_name, sizeof self->node_name - 1) < 0
               || !self->node_name[0]) {
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: no node name configured and the host "
                            "name is unknown");
    }
    kl_kubelet_service_name(self->node_name, self->service_name, sizeof self->service_name);
    self->cpu_milli = config->cpu_milli;
    self->memory_bytes = config->memory_bytes;
    if (config->cpu_milli < 0 || config->memory_bytes < 0 || config->max_pods < 0)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: node capacity must not be negative");
    if (self->cpu_milli == 0 || self->memory_bytes == 0) {
        int64_t cpu, memory;
        if (kl_node_capacity_detect(&cpu, &memory, err) < 0)
            return -1;
        if (self->cpu_milli == 0)
            self->cpu_milli = cpu;
        if (self->memory_bytes == 0)
            self->memory_bytes = memory;
    }
    self->max_pods = config->max_pods > 0 ? config->max_pods : KL_NODE_DEFAULT_MAX_PODS;
    self->heartbeat_ms = config->heartbeat_ms > 0 ? config->heartbeat_ms : KL_KUBELET_HEARTBEAT_MS;
    self->sync_ms = config->sync_ms > 0 ? config->sync_ms : KL_KUBELET_SYNC_MS;
    if (config->lease_duration_s < 0)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: lease duration %d s must be positive",
                            config->lease_duration_s);
    self->lease_duration_s = config->lease_duration_s > 0 ? config->lease_duration_s
                                                          : KL_KUBELET_LEASE_DURATION_S;
    snprintf(self->runtime_version, sizeof self->runtime_version, "%s://%s",
             runtime->desc && runtime->desc->name ? runtime->desc->name : "unknown",
             runtime->desc && runtime->desc->version ? runtime->desc->version : "unknown");
    self->pods = zhashx_new();
    self->terminating = zlistx_new();
    self->urgent = zlistx_new();
    self->status_requests = zhashx_new();
    if (!self->pods || !self->terminating || !self->urgent || !self->status_requests)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory starting the kubelet");
    zhashx_set_destructor(self->pods, kpod_destructor);
    zlistx_set_destructor(self->terminating, free_destructor);
    zlistx_set_destructor(self->urgent, free_destructor);
    zhashx_set_destructor(self->status_requests, kl_kubelet_status_req_destructor);
    if (kl_kubelet_nodes_setup(self, config, err) < 0)
        return -1;
    if (kl_plugin_open(runtime, err) < 0)
        return -1;
    self->runtime = runtime->ops;
    self->runtime_state = runtime->state;
    self->events_fd = -1;
    if (KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, events_fd)
        && KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, events_read))
        self->events_fd = self->runtime->events_fd(self->runtime_state);
    uint32_t features = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, features)
                        ? self->runtime->features(self->runtime_state) : 0;
    if (features & KL_RUNTIME_CONCURRENT_STARTS) {
        self->start_workers = config->start_workers > 0 ? (size_t)config->start_workers
                                                        : KL_KUBELET_START_WORKERS;
        self->starts = kl_start_pool_new(self->runtime, self->runtime_state,
                                         self->start_workers, err);
        if (!self->starts)
            return -1;
        self->starts_fd = kl_start_pool_fd(self->starts);
    }
    if (self->has_list) {
        self->found = zlistx_new();
        if (!self->found)
            return kl_error_set(err, KL_ERR_INTERNAL, "out of memory starting the kubelet");
        zlistx_set_destructor(self->found, kfound_destructor);
        if (self->runtime->list(self->runtime_state, on_container_found, self, err) < 0) {
            kl_warn(COMPONENT, "cannot list the containers runtime %s holds (%s); adopting "
                    "none", runtime->label ? runtime->label : "", err->text);
            zlistx_purge(self->found);
            kl_error_clear(err);
        }
    }
    self->api = kl_bus_client_new(config->bus_endpoint, err);
    if (!self->api)
        return -1;
    self->node_api = kl_bus_client_new(config->bus_endpoint, err);
    if (!self->node_api)
        return -1;
    self->events = kl_kubelet_events_new(self->node_api, self->node_name);
    if (!self->events)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the kubelet's events");
    self->service = kl_kubelet_service_new(config->bus_endpoint, self->service_name, err);
    if (!self->service)
        return -1;
    self->next_hello_ms = now_ms() + SERVICE_HELLO_MS;
    /* The API filters for us: one node by equality, several by a set, so
     * the master never sends this process pods bound to other workers. */
    size_t selector_size = 64;
    for (size_t i = 0; i < self->node_count; i++)
        selector_size += strlen(self->nodes[i].name) + 1;
    char *selector = malloc(selector_size);
    if (!selector)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the pod selector");
    if (self->node_count == 1) {
        snprintf(selector, selector_size, "spec.nodeName=%s", self->nodes[0].name);
    } else {
        size_t used = (size_t)snprintf(selector, selector_size, "spec.nodeName in (");
        for (size_t i = 0; i < self->node_count; i++)
            used += (size_t)snprintf(selector + used, selector_size - used, "%s%s", i ? "," : "",
                                     self->nodes[i].name);
        snprintf(selector + used, selector_size - used, ")");
    }
    self->watch = kl_list_watch_new(config->bus_endpoint, COMPONENT, "Pod", selector, on_pod_list,
                                    on_pod_event, self, err);
    free(selector);
    if (!self->watch)
        return -1;
    return 0;
}

static void kubelet_cleanup(kubelet_t *self)
{
    if (self->starts) {
        /* Starts under way finish; what they started is then tracked, and
         * so stopped below or left for adoption like the rest, or removed
         * when its pod is gone. */
        kl_start_pool_stop(self->starts);
        start_results_take(self, 1);
        kl_start_pool_destroy(&self->starts);
    }
    if (self->pods && self->runtime) {
        /* A runtime that can list() lets the next kubelet adopt what runs;
         * without it nobody could find these containers again. */
        if (!self->has_list)
            for (kpod_t *pod = zhashx_first(self->pods); pod; pod = zhashx_next(self->pods))
                pod_kill(self, pod, SHUTDOWN_GRACE_MS);
        for (kterm_t *term = zlistx_first(self->terminating); term;
             term = zlistx_next(self->terminating)) {
            kl_error_t err;
            if (self->runtime->kill(self->runtime_state, term->id, SIGKILL, &err) < 0)
                kl_debug(COMPONENT, "%s: SIGKILL: %s", term->what, err.text);
            container_remove(self, term->what, term->id);
        }
    }
    zhashx_destroy(&self->pods);
    zlistx_destroy(&self->terminating);
    zlistx_destroy(&self->urgent);
    zhashx_destroy(&self->status_requests);
    zlistx_destroy(&self->found);
    kl_list_watch_destroy(&self->watch);
    kl_kubelet_service_destroy(&self->service);
    kl_kubelet_events_destroy(&self->events);
    kl_bus_client_destroy(&self->api);
    kl_bus_client_destroy(&self->node_api);
    zhashx_destroy(&self->node_by_name);
    zhashx_destroy(&self->node_requests);
    zhashx_destroy(&self->lease_requests);
    for (size_t i = 0; self->nodes && i < self->node_count; i++) {
        free(self->nodes[i].name);
        json_decref(self->nodes[i].object);
    }
    free(self->nodes);
    self->nodes = NULL;
}

void kl_kubelet_actor(zsock_t *pipe, void *args)
{
    kl_kubelet_config_t *config = args;
    kubelet_t self;
    memset(&self, 0, sizeof self);
    self.config = config;
    kl_error_clear(&config->error);
    config->failed = 0;
    if (kubelet_setup(&self, config, &config->error) < 0) {
        if (config->error.code == KL_OK)
            kl_error_set(&config->error, KL_ERR_INTERNAL, "kubelet: setup failed");
        config->failed = 1;
        kubelet_cleanup(&self);
        zsock_signal(pipe, 0);
        return;
    }
    zpoller_t *poller = zpoller_new(pipe, kl_list_watch_socket(self.watch),
                                    kl_bus_client_socket(self.node_api),
                                    kl_kubelet_service_socket(self.service), NULL);
    if (poller && self.events_fd >= 0 && zpoller_add(poller, &self.events_fd) < 0) {
        kl_warn(COMPONENT, "cannot poll the runtime's exit notifications; exits are seen on "
                "the sync tick");
        self.events_fd = -1;
    }
    if (poller && self.starts && zpoller_add(poller, &self.starts_fd) < 0) {
        kl_warn(COMPONENT, "cannot poll the start workers; containers start on the kubelet's "
                "thread");
        kl_start_pool_destroy(&self.starts);
    }
    zsock_signal(pipe, 0);
    if (!poller) {
        kl_error_log(COMPONENT, "cannot create a poller; the kubelet is not running");
        kubelet_cleanup(&self);
        return;
    }
    char parallel[32] = "no";
    if (self.starts)
        snprintf(parallel, sizeof parallel, "%zu", self.start_workers);
    kl_info(COMPONENT, "%zu node(s) %s%s: %" PRId64 "m cpu, %" PRId64 " bytes memory, %" PRId64
            " pods each, runtime %s (pull %s, list %s, logs %s, kill %s, events %s, parallel "
            "starts %s), service %s",
            self.node_count, self.nodes[0].name, self.node_count > 1 ? ".." : "",
            self.cpu_milli, self.memory_bytes, self.max_pods, self.runtime_version,
            self.has_pull ? "yes" : "no", self.has_list ? "yes" : "no",
            self.has_logs ? "yes" : "no", self.has_kill ? "yes" : "no",
            self.events_fd >= 0 ? "yes" : "no", parallel, self.service_name);
    for (;;) {
        int64_t now = now_ms();
        kl_kubelet_nodes_receive(&self);
        int64_t wait = kl_kubelet_nodes_step(&self, now);
        int64_t watch_wait = kl_list_watch_step(self.watch, now);
        if (watch_wait < wait)
            wait = watch_wait;
        now = now_ms();
        if (now >= self.next_sync_ms) {
            for (kpod_t *pod = zhashx_first(self.pods); pod; pod = zhashx_next(self.pods))
                pod_sync(&self, pod, now);
            if (zlistx_size(self.terminating) > 0)
                terminating_step(&self, now);
            kl_kubelet_status_expire(&self, now);
            self.next_sync_ms = now + self.sync_ms;
        }
        urgent_step(&self, now);
        if (now >= self.next_hello_ms) {
            kl_kubelet_service_hello(self.service);
            self.next_hello_ms = now + SERVICE_HELLO_MS;
        }
        kl_kubelet_service_drain(self.service, 100, serve_request, &self);
        now = now_ms();
        kl_kubelet_events_step(self.events, now);
        int64_t until = self.next_sync_ms - now;
        if (until < wait)
            wait = until;
        if (zlistx_size(self.urgent) > 0
            && zhashx_size(self.status_requests) < STATUS_IN_FLIGHT_MAX)
            wait = 0;
        if (wait < 0)
            wait = 0;
        void *which = zpoller_wait(poller, (int)wait);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            int stop = !command || strcmp(command, "$TERM") == 0;
            zstr_free(&command);
            if (stop)
                break;
            continue;
        }
        if (zpoller_terminated(poller))
            break;
        if (which == kl_list_watch_socket(self.watch))
            kl_list_watch_receive(self.watch, now_ms());
        else if (which == &self.events_fd)
            runtime_events_read(&self);
        else if (self.starts && which == &self.starts_fd)
            start_results_take(&self, 0);
    }
    kl_info(COMPONENT, "stopping; %s the containers of %zu pod(s)",
            self.has_list ? "leaving (for the next kubelet to adopt)" : "removing",
            zhashx_size(self.pods));
    zpoller_destroy(&poller);
    kubelet_cleanup(&self);
}
