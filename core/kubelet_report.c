/* Pod status reports: each pod's status written when it changes, on the
 * pipelined client with a bounded number in flight, re-read after a
 * conflict, and pods queued for an early sync. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kubelet_internal.h"
#include "log.h"

/* ---- pod status ------------------------------------------------------- */

/* The API server reads only the identity, resourceVersion and status of a
 * status write (as Kubernetes' status subresource ignores the rest), so the
 * spec is not sent for the master to parse and throw away. */
static json_t *status_payload(const kpod_t *pod, json_t *status)
{
    const json_t *metadata = json_object_get(pod->object, "metadata");
    json_t *identity = json_object();
    static const char *const fields[] = {"name", "namespace", "uid", "resourceVersion"};
    for (size_t i = 0; identity && i < sizeof fields / sizeof *fields; i++) {
        json_t *value = json_object_get(metadata, fields[i]);
        if (value)
            json_object_set(identity, fields[i], value);
    }
    return json_pack("{s:{s:s,s:s,s:o,s:O}}", "object", "apiVersion", "v1", "kind", "Pod",
                     "metadata", identity, "status", status);
}

/* Queues a pod to sync before the next tick: it was just assigned, its
 * container changed state, or its status write has news to follow up. */
void kl_kubelet_pod_mark_urgent(kubelet_t *self, kpod_t *pod)
{
    if (pod->urgent)
        return;
    char *key = strdup(pod->key);
    if (key && zlistx_add_end(self->urgent, key))
        pod->urgent = 1;
    else
        free(key);
}

void kl_kubelet_status_req_destructor(void **item)
{
    kstatus_req_t *req = *item;
    if (!req)
        return;
    free(req->key);
    free(req->uid);
    json_decref(req->status);
    free(req);
    *item = NULL;
}

/* Status writes go out on the pipelined client, so the loop does not wait
 * for their round trip; at most STATUS_IN_FLIGHT_MAX at once, the rest of
 * the pods queued in `urgent` until a reply frees a slot. */
void kl_kubelet_pod_report(kubelet_t *self, kpod_t *pod, int64_t now)
{
    if (pod->status_in_flight)
        return;  /* its reply brings the pod back here */
    /* Most pods change nothing most ticks: skip building their status. */
    uint64_t version = kl_pod_track_version(&pod->track);
    if (pod->reported && version == pod->reported_version && !pod->refetch)
        return;
    if (now < self->api_quiet_until_ms)
        return;  /* the API is away: the next tick tries again */
    if (zhashx_size(self->status_requests) >= STATUS_IN_FLIGHT_MAX) {
        kl_kubelet_pod_mark_urgent(self, pod);  /* once a reply frees a slot */
        return;
    }
    json_t *status = kl_pod_status_build(&pod->track);
    if (!status || (pod->reported && json_equal(status, pod->reported) && !pod->refetch)) {
        if (status)
            pod->reported_version = version;
        json_decref(status);
        return;
    }
    kl_error_t err;
    if (pod->refetch) {
        /* Someone else wrote the pod: write on top of the fresh object. */
        json_t *payload = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace",
                                    pod->namespace_name, "name", pod->name);
        json_t *fresh = kl_kubelet_api_request(self, "api.get", payload, &err);
        json_decref(payload);
        if (!fresh) {
            if (err.code == KL_ERR_NOT_FOUND)
                pod->refetch = 0;  /* deleted: the watch brings the DELETED event */
            json_decref(status);
            return;
        }
        pod->refetch = 0;
        json_decref(pod->object);
        pod->object = fresh;
        pod->resource_version = resource_version_of(fresh);
    }
    kstatus_req_t *req = calloc(1, sizeof *req);
    json_t *payload = status_payload(pod, status);
    uint64_t id = 0;
    if (!req || !(req->key = strdup(pod->key)) || !(req->uid = strdup(pod->uid ? pod->uid : ""))
        || kl_bus_send(self->node_api, "api.update_status", payload, &id, &err) < 0) {
        json_decref(payload);
        json_decref(status);
        kl_kubelet_status_req_destructor((void **)&req);
        kl_debug(COMPONENT, "pod %s: cannot send its status; will retry", pod->key);
        return;
    }
    json_decref(payload);
    req->status = status;
    req->version = version;
    req->sent_ms = now;
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%" PRIu64, id);
    zhashx_insert(self->status_requests, id_text, req);
    pod->status_in_flight = 1;
}

/* The reply to a status write: 1 when `id` was one (then `reply` is
 * released here), 0 otherwise. */
int kl_kubelet_status_reply(kubelet_t *self, const char *id_text, json_t *reply, const kl_error_t *err)
{
    kstatus_req_t *req = zhashx_lookup(self->status_requests, id_text);
    if (!req)
        return 0;
    kpod_t *pod = zhashx_lookup(self->pods, req->key);
    if (pod && strcmp(pod->uid ? pod->uid : "", req->uid) != 0)
        pod = NULL;  /* same name, another pod: this reply is not about it */
    if (pod) {
        pod->status_in_flight = 0;
        if (reply) {
            if (resource_version_of(reply) >= pod->resource_version) {
                json_decref(pod->object);
                pod->object = json_incref(reply);
                pod->resource_version = resource_version_of(reply);
            }
            json_decref(pod->reported);
            pod->reported = json_incref(req->status);
            pod->reported_version = req->version;
        } else if (err->code == KL_ERR_CONFLICT) {
            pod->refetch = 1;
        } else if (err->code == KL_ERR_NOT_FOUND) {
            /* Deleted: the watch brings the DELETED event; stop writing. */
            json_decref(pod->reported);
            pod->reported = json_incref(req->status);
            pod->reported_version = req->version;
        } else {
            if (err->code == KL_ERR_TIMEOUT || err->code == KL_ERR_UNAVAILABLE)
                self->api_quiet_until_ms = now_ms() + API_QUIET_MS;
            kl_warn(COMPONENT, "pod %s: status update failed (%s); will retry", pod->key,
                    err->text);
        }
        /* Changed meanwhile, or must retry: go again now, not a tick later. */
        if (pod->refetch || kl_pod_track_version(&pod->track) != pod->reported_version)
            kl_kubelet_pod_mark_urgent(self, pod);
    }
    json_decref(reply);
    zhashx_delete(self->status_requests, id_text);
    return 1;
}

/* Gives up on status writes without a reply, so their pods write again. */
void kl_kubelet_status_expire(kubelet_t *self, int64_t now)
{
    zlistx_t *late = NULL;
    for (kstatus_req_t *req = zhashx_first(self->status_requests); req;
         req = zhashx_next(self->status_requests)) {
        if (now - req->sent_ms < NODE_REPLY_TIMEOUT_MS)
            continue;
        if (!late && !(late = zlistx_new()))
            return;
        zlistx_add_end(late, (void *)zhashx_cursor(self->status_requests));
    }
    if (!late)
        return;
    kl_error_t err;
    kl_error_set(&err, KL_ERR_TIMEOUT, "no reply within %d ms", NODE_REPLY_TIMEOUT_MS);
    for (const char *id = zlistx_first(late); id; id = zlistx_next(late)) {
        char id_text[32];
        snprintf(id_text, sizeof id_text, "%s", id);  /* the key dies with its entry */
        kl_kubelet_status_reply(self, id_text, NULL, &err);
    }
    zlistx_destroy(&late);
}
