/* controllers/deployment: the Deployment's ReplicaSets. Each is named by
 * the hash of its pod template, carries its revision in an annotation, and
 * is found, adopted, created and scaled here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deployment.h"

#define DP_REVISION "deployment.kubernetes.io/revision"

int64_t deployment_int_field(const json_t *object, const char *section, const char *key, int64_t fallback)
{
    const json_t *value = json_object_get(json_object_get(object, section), key);
    return json_is_integer(value) ? json_integer_value(value) : fallback;
}

int64_t deployment_set_revision(const json_t *rs)
{
    const char *text = json_string_value(
        json_object_get(json_object_get(json_object_get(rs, "metadata"), "annotations"), DP_REVISION));
    return text ? strtoll(text, NULL, 10) : 0;
}

/* The pass's ReplicaSet requests go through here: the newest revision it
 * wrote is what the next pass waits for its informer to have seen. */
json_t *deployment_request(dp_pass_t *p, const char *method, json_t *payload, kl_error_t *err)
{
    json_t *reply = p->self->host->request(p->self->host, method, payload, DP_REQUEST_MS, err);
    json_decref(payload);
    if (reply && kl_object_revision(reply) > p->written_rv)
        p->written_rv = kl_object_revision(reply);
    return reply;
}

/* Scales `rs` (and optionally sets its revision) against the revision cached. */
int deployment_scale_set(dp_pass_t *p, json_t *rs, int64_t replicas, int64_t revision, kl_error_t *err)
{
    int64_t current = deployment_int_field(rs, "spec", "replicas", 1);
    if (current == replicas && (revision == 0 || deployment_set_revision(rs) == revision))
        return 0;
    json_t *copy = json_deep_copy(rs);
    json_object_set_new(json_object_get(copy, "spec"), "replicas", json_integer(replicas));
    if (revision > 0) {
        json_t *metadata = json_object_get(copy, "metadata");
        json_t *annotations = json_object_get(metadata, "annotations");
        if (!json_is_object(annotations)) {
            annotations = json_object();
            json_object_set_new(metadata, "annotations", annotations);
        }
        char text[32];
        snprintf(text, sizeof text, "%lld", (long long)revision);
        json_object_set_new(annotations, DP_REVISION, json_string(text));
    }
    json_t *reply = deployment_request(p, "api.update", json_pack("{s:o}", "object", copy), err);
    if (!reply)
        return -1;
    /* Later steps of this pass read the ReplicaSet as written. */
    json_object_update(rs, reply);
    json_decref(reply);
    if (current != replicas)
        kl_event_record(p->self->host, p->deployment, "Normal", "ScalingReplicaSet",
                        "Scaled %s replica set %s to %lld", replicas > current ? "up" : "down",
                        kl_object_meta(rs, "name"), (long long)replicas);
    return 0;
}

json_t *deployment_create_set(dp_pass_t *p, const char *hash, int64_t replicas, int64_t revision,
                              kl_error_t *err)
{
    const json_t *spec = json_object_get(p->deployment, "spec");
    json_t *template = json_deep_copy(json_object_get(spec, "template"));
    json_t *template_meta = json_object_get(template, "metadata");
    if (!json_is_object(template_meta)) {
        template_meta = json_object();
        json_object_set_new(template, "metadata", template_meta);
    }
    json_t *labels = json_object_get(template_meta, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(template_meta, "labels", labels);
    }
    json_object_set_new(labels, DP_HASH_LABEL, json_string(hash));
    json_t *match = json_deep_copy(json_object_get(json_object_get(spec, "selector"), "matchLabels"));
    json_object_set_new(match, DP_HASH_LABEL, json_string(hash));
    char name[320], revision_text[32];
    snprintf(name, sizeof name, "%.240s-%s", kl_object_meta(p->deployment, "name"), hash);
    snprintf(revision_text, sizeof revision_text, "%lld", (long long)revision);
    json_t *rs = json_pack("{s:s, s:s, s:{s:s, s:s, s:O, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]},"
                           " s:{s:I, s:{s:o}, s:o}}",
                           "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", name,
                           "namespace", p->ns, "labels", labels, "annotations", DP_REVISION, revision_text,
                           "ownerReferences", "apiVersion", "apps/v1", "kind", "Deployment", "name",
                           kl_object_meta(p->deployment, "name"), "uid", p->uid, "controller", 1,
                           "blockOwnerDeletion", 1, "spec", "replicas", (json_int_t)replicas, "selector",
                           "matchLabels", match, "template", template);
    if (!rs) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot build ReplicaSet %s", name);
        return NULL;
    }
    json_t *reply = deployment_request(p, "api.create", json_pack("{s:o}", "object", rs), err);
    if (reply)
        kl_event_record(p->self->host, p->deployment, "Normal", "ScalingReplicaSet",
                        "Scaled up replica set %s to %lld", name, (long long)replicas);
    return reply;
}

int deployment_adopt_set(dp_pass_t *p, const json_t *orphan, kl_error_t *err)
{
    /* As for pods: a Deployment being deleted with Orphan must not take its
     * freed ReplicaSets back from a stale cache. */
    json_t *owner_key = json_pack("{s:s, s:s, s:s}", "kind", "Deployment", "namespace", p->ns, "name",
                                  kl_object_meta(p->deployment, "name"));
    json_t *owner = p->self->host->request(p->self->host, "api.get", owner_key, DP_REQUEST_MS, err);
    json_decref(owner_key);
    const char *owner_uid = kl_object_meta(owner, "uid");
    int same = owner_uid && strcmp(owner_uid, p->uid) == 0;
    json_decref(owner);
    if (!same)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "Deployment %s is gone: not adopting",
                            kl_object_meta(p->deployment, "name"));
    json_t *fresh = deployment_request(p, "api.get",
                                       json_pack("{s:s, s:s, s:s}", "kind", "ReplicaSet", "namespace",
                                                 p->ns, "name", kl_object_meta(orphan, "name")),
                                       err);
    if (!fresh)
        return -1;
    json_t *metadata = json_object_get(fresh, "metadata");
    const json_t *match = json_object_get(json_object_get(json_object_get(p->deployment, "spec"), "selector"),
                                          "matchLabels");
    if (kl_object_controller_ref(fresh) || !kl_labels_match(match, json_object_get(metadata, "labels"))) {
        json_decref(fresh);
        return 0;
    }
    json_t *refs = json_object_get(metadata, "ownerReferences");
    if (!json_is_array(refs)) {
        refs = json_array();
        json_object_set_new(metadata, "ownerReferences", refs);
    }
    json_array_append_new(refs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", "apps/v1",
                                          "kind", "Deployment", "name", kl_object_meta(p->deployment, "name"),
                                          "uid", p->uid, "controller", 1, "blockOwnerDeletion", 1));
    json_t *reply = deployment_request(p, "api.update", json_pack("{s:o}", "object", fresh), err);
    if (!reply)
        return -1;
    json_array_append_new(p->owned, reply);
    return 0;
}

int deployment_collect_set(const json_t *rs, void *arg)
{
    dp_pass_t *p = arg;
    const char *ns = kl_object_meta(rs, "namespace");
    if (!ns || strcmp(ns, p->ns) != 0)
        return 0;
    const json_t *ref = kl_object_controller_ref(rs);
    if (ref) {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (uid && strcmp(uid, p->uid) == 0)
            json_array_append_new(p->owned, json_deep_copy(rs));
        return 0;
    }
    const json_t *match = json_object_get(json_object_get(json_object_get(p->deployment, "spec"), "selector"),
                                          "matchLabels");
    if (kl_labels_match(match, json_object_get(json_object_get(rs, "metadata"), "labels")))
        json_array_append(p->orphans, (json_t *)rs);
    return 0;
}
