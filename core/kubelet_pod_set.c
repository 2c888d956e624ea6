/* The kubelet's pod set as its watch reports it; adoption of containers a former kubelet left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet_internal.h"
#include "log.h"

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

void kl_kubelet_pod_destructor(void **item)
{
    kpod_free((kpod_t **)item);
}

void kl_kubelet_free_destructor(void **item)
{
    free(*item);
    *item = NULL;
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
            kl_kubelet_pod_forget(self, pod, (int)pod->grace_ms);
        return;
    }
    if (pod && uid && pod->uid && strcmp(uid, pod->uid) != 0) {
        /* Same name, new pod: the old one was deleted meanwhile. */
        kl_kubelet_pod_forget(self, pod, (int)pod->grace_ms);
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

void kl_kubelet_found_destructor(void **item)
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

int kl_kubelet_on_container_found(const kl_container_info_t *info, void *arg)
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
        kl_kubelet_found_destructor((void **)&found);
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
                kl_kubelet_container_remove(self, pod->key, old);
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
                zlistx_set_destructor(pod->leftovers, kl_kubelet_free_destructor);
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
        kl_kubelet_container_terminate(self, what, found->id,
                            found->status.state == KL_CONTAINER_EXITED ? -1 : ORPHAN_GRACE_MS);
        removed++;
    }
    if (zlistx_size(self->found) > 0)
        kl_info(COMPONENT, "adoption: %zu container(s) adopted, %zu removed", adopted, removed);
    zlistx_destroy(&self->found);
}

void kl_kubelet_on_pod_list(json_t *items, void *arg)
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
        kl_kubelet_pod_forget(self, pod, (int)pod->grace_ms);
    zlistx_destroy(&gone);
    if (self->found)
        adopt_found(self, now_ms());
}

void kl_kubelet_on_pod_event(const char *type, json_t *object, void *arg)
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
        kl_kubelet_pod_forget(self, pod, (int)pod->grace_ms);
}
