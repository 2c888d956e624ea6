/* API objects: the kind table, the accessors the rest of the core reads
 * objects with, and the copy for write. Defaulting, validation, names, uids
 * and times live in the other objects_*.c files. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "objects.h"

static const kl_kind_info_t kinds[KL_KIND_COUNT] = {
    {KL_KIND_POD, "Pod", "pods", "PodList", "api.pod", 1, "v1"},
    {KL_KIND_NODE, "Node", "nodes", "NodeList", "api.node", 0, "v1"},
    {KL_KIND_REPLICASET, "ReplicaSet", "replicasets", "ReplicaSetList", "api.replicaset", 1, "apps/v1"},
    {KL_KIND_DEPLOYMENT, "Deployment", "deployments", "DeploymentList", "api.deployment", 1, "apps/v1"},
    {KL_KIND_EVENT, "Event", "events", "EventList", "api.event", 1, "v1"},
    {KL_KIND_LEASE, "Lease", "leases", "LeaseList", "api.lease", 1, "coordination.k8s.io/v1"},
};

const kl_kind_info_t *kl_kind_lookup(const char *kind)
{
    if (!kind)
        return NULL;
    for (int i = 0; i < KL_KIND_COUNT; i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return &kinds[i];
    return NULL;
}

/* ---- accessors ------------------------------------------------------- */

static const char *string_at(const json_t *object, const char *group, const char *field)
{
    const json_t *g = json_object_get(object, group);
    return json_string_value(json_object_get(g, field));
}

const char *kl_object_kind(const json_t *object)
{
    return json_string_value(json_object_get(object, "kind"));
}

const char *kl_object_name(const json_t *object)
{
    return string_at(object, "metadata", "name");
}

const char *kl_object_namespace(const json_t *object)
{
    return string_at(object, "metadata", "namespace");
}

const char *kl_object_uid(const json_t *object)
{
    return string_at(object, "metadata", "uid");
}

const char *kl_object_resource_version(const json_t *object)
{
    return string_at(object, "metadata", "resourceVersion");
}

const char *kl_object_label(const json_t *object, const char *key)
{
    const json_t *labels = json_object_get(json_object_get(object, "metadata"), "labels");
    return json_string_value(json_object_get(labels, key));
}

const char *kl_pod_node_name(const json_t *pod)
{
    return string_at(pod, "spec", "nodeName");
}

const char *kl_pod_phase(const json_t *pod)
{
    return string_at(pod, "status", "phase");
}

int64_t kl_object_revision(const json_t *object)
{
    const json_t *rv = json_object_get(json_object_get(object, "metadata"), "resourceVersion");
    if (!rv)
        return 0;
    /* Clients sometimes send a number; accept it as Kubernetes tolerates. */
    if (json_is_integer(rv))
        return json_integer_value(rv) >= 0 ? json_integer_value(rv) : -1;
    const char *text = json_string_value(rv);
    return text ? kl_revision_parse(text) : -1;
}

int64_t kl_revision_parse(const char *text)
{
    int64_t value = 0;
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p) || value > (INT64_MAX - 9) / 10)
            return -1;
        value = value * 10 + (*p - '0');
    }
    return value;
}

int kl_object_set_resource_version(json_t *object, int64_t revision)
{
    json_t *metadata = json_object_get(object, "metadata");
    if (!json_is_object(metadata)) {
        metadata = json_object();
        if (!metadata || json_object_set_new(object, "metadata", metadata) < 0)
            return -1;
    }
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, revision);
    return json_object_set_new(metadata, "resourceVersion", json_string(text));
}

/* ---- copy for write -------------------------------------------------- */

json_t *kl_object_copy_for_write(const json_t *object)
{
    json_t *copy = json_copy((json_t *)object);
    if (!json_is_object(copy))
        return copy;
    static const char *const fields[] = {"metadata", "spec", "status"};
    for (int i = 0; i < 3; i++) {
        json_t *child = json_object_get(copy, fields[i]);
        if (json_is_object(child) && json_object_set_new(copy, fields[i], json_copy(child)) < 0) {
            json_decref(copy);
            return NULL;
        }
    }
    return copy;
}
