/* controllers/replicaset: pod ownership. Sorts a namespace's pods into
 * those a ReplicaSet owns, orphans it may adopt and pods whose labels left
 * its selector; adopts and releases them, and ranks which to delete first. */
#include <string.h>

#include "replicaset.h"

static const char *pod_phase(const json_t *pod)
{
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
    return phase ? phase : "Pending";
}

int replicaset_pod_terminated(const json_t *pod)
{
    const char *phase = pod_phase(pod);
    return strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
}

int replicaset_pod_ready(const json_t *pod)
{
    const json_t *conditions = json_object_get(json_object_get(pod, "status"), "conditions");
    size_t i;
    json_t *condition;
    json_array_foreach(conditions, i, condition) {
        const char *type = json_string_value(json_object_get(condition, "type"));
        const char *status = json_string_value(json_object_get(condition, "status"));
        if (type && strcmp(type, "Ready") == 0)
            return status && strcmp(status, "True") == 0;
    }
    return 0;
}

int replicaset_sort_pods(const json_t *pod, void *arg)
{
    rs_pod_sets_t *sets = arg;
    const char *ns = kl_object_meta(pod, "namespace");
    if (!ns || strcmp(ns, sets->ns) != 0)
        return 0;
    const json_t *labels = json_object_get(json_object_get(pod, "metadata"), "labels");
    int matches = kl_labels_match(sets->match_labels, labels);
    const json_t *ref = kl_object_controller_ref(pod);
    if (ref) {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (!uid || strcmp(uid, sets->uid) != 0)
            return 0;
        json_array_append(matches ? sets->owned : sets->released, (json_t *)pod);
        return 0;
    }
    if (matches && !replicaset_pod_terminated(pod)
        && !json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
        json_array_append(sets->orphans, (json_t *)pod);
    return 0;
}

/* Writes `pod` (a fresh copy) back with its ownerReferences changed. */
static json_t *write_pod(rs_controller_t *self, json_t *pod, kl_error_t *err)
{
    json_t *payload = json_pack("{s:O}", "object", pod);
    json_t *reply = self->host->request(self->host, "api.update", payload, RS_REQUEST_MS, err);
    json_decref(payload);
    return reply;
}

/* Adopts an orphan: re-read it, check it is still an orphan that matches,
 * then add our controller reference against the revision read. */
json_t *replicaset_adopt(rs_controller_t *self, const rs_pod_sets_t *sets, const json_t *orphan,
                         kl_error_t *err)
{
    /* The owner must still be there: a delete with propagationPolicy Orphan
     * frees the pods just before it removes the ReplicaSet, and adopting
     * them back from a stale cache would let gc collect them. */
    json_t *owner_key = json_pack("{s:s, s:s, s:s}", "kind", "ReplicaSet", "namespace", sets->ns, "name",
                                  kl_object_meta(sets->rs, "name"));
    json_t *owner = self->host->request(self->host, "api.get", owner_key, RS_REQUEST_MS, err);
    json_decref(owner_key);
    const char *owner_uid = kl_object_meta(owner, "uid");
    int same = owner_uid && strcmp(owner_uid, sets->uid) == 0;
    json_decref(owner);
    if (!same) {
        kl_error_set(err, KL_ERR_NOT_FOUND, "ReplicaSet %s is gone: not adopting", kl_object_meta(sets->rs, "name"));
        return NULL;
    }
    json_t *payload = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", sets->ns, "name",
                                kl_object_meta(orphan, "name"));
    json_t *fresh = self->host->request(self->host, "api.get", payload, RS_REQUEST_MS, err);
    json_decref(payload);
    if (!fresh)
        return NULL;
    json_t *metadata = json_object_get(fresh, "metadata");
    if (kl_object_controller_ref(fresh) || replicaset_pod_terminated(fresh)
        || !kl_labels_match(sets->match_labels, json_object_get(metadata, "labels"))) {
        json_decref(fresh);
        kl_error_set(err, KL_ERR_CONFLICT, "pod %s changed before it could be adopted",
                     kl_object_meta(orphan, "name"));
        return NULL;
    }
    json_t *refs = json_object_get(metadata, "ownerReferences");
    if (!json_is_array(refs)) {
        refs = json_array();
        json_object_set_new(metadata, "ownerReferences", refs);
    }
    json_array_append_new(refs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", "apps/v1",
                                          "kind", "ReplicaSet", "name", kl_object_meta(sets->rs, "name"),
                                          "uid", sets->uid, "controller", 1, "blockOwnerDeletion", 1));
    json_t *reply = write_pod(self, fresh, err);
    json_decref(fresh);
    return reply;
}

/* Removes our reference from a pod whose labels left the selector. */
int replicaset_release(rs_controller_t *self, const rs_pod_sets_t *sets, const json_t *pod, int64_t *rv,
                       kl_error_t *err)
{
    json_t *copy = json_deep_copy(pod);
    json_t *refs = json_object_get(json_object_get(copy, "metadata"), "ownerReferences");
    for (size_t i = json_array_size(refs); i-- > 0;) {
        const char *uid = json_string_value(json_object_get(json_array_get(refs, i), "uid"));
        if (uid && strcmp(uid, sets->uid) == 0)
            json_array_remove(refs, i);
    }
    json_t *reply = write_pod(self, copy, err);
    json_decref(copy);
    if (!reply)
        return -1;
    if (kl_object_revision(reply) > *rv)
        *rv = kl_object_revision(reply);
    json_decref(reply);
    return 0;
}

/* Lower rank goes first when scaling down: unscheduled, then pending, then
 * not ready, then ready; the youngest first among equals. */
static int delete_rank(const json_t *pod)
{
    const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    if (!node || !*node)
        return 0;
    if (strcmp(pod_phase(pod), "Pending") == 0)
        return 1;
    return replicaset_pod_ready(pod) ? 3 : 2;
}

int replicaset_compare_for_delete(const void *a, const void *b)
{
    const json_t *pa = *(json_t *const *)a, *pb = *(json_t *const *)b;
    int ra = delete_rank(pa), rb = delete_rank(pb);
    if (ra != rb)
        return ra - rb;
    const char *ca = kl_object_meta(pa, "creationTimestamp"), *cb = kl_object_meta(pb, "creationTimestamp");
    int by_age = strcmp(cb ? cb : "", ca ? ca : "");
    if (by_age)
        return by_age;
    return strcmp(kl_object_meta(pa, "name") ? kl_object_meta(pa, "name") : "",
                  kl_object_meta(pb, "name") ? kl_object_meta(pb, "name") : "");
}
