/* controllers/replicaset: creating and deleting pods. New pods come from
 * the ReplicaSet's template under a random name suffix, owned by it. */
#include <stdio.h>

#include "replicaset.h"

static void random_suffix(rs_controller_t *self, char *buf)
{
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    for (int i = 0; i < 5; i++) {
        /* xorshift64: names need spread, not secrecy */
        self->random_state ^= self->random_state << 13;
        self->random_state ^= self->random_state >> 7;
        self->random_state ^= self->random_state << 17;
        buf[i] = alphabet[self->random_state % (sizeof alphabet - 1)];
    }
    buf[5] = '\0';
}

json_t *replicaset_create_pod(rs_controller_t *self, const rs_pod_sets_t *sets, kl_error_t *err)
{
    const json_t *template = json_object_get(json_object_get(sets->rs, "spec"), "template");
    const json_t *template_meta = json_object_get(template, "metadata");
    const char *rs_name = kl_object_meta(sets->rs, "name");
    for (int attempt = 0; attempt < 3; attempt++) {
        char suffix[6], name[320];
        random_suffix(self, suffix);
        snprintf(name, sizeof name, "%.250s-%s", rs_name, suffix);
        json_t *metadata = json_pack("{s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]}", "name", name,
                                     "namespace", sets->ns, "ownerReferences", "apiVersion",
                                     "apps/v1", "kind", "ReplicaSet", "name", rs_name, "uid",
                                     sets->uid, "controller", 1, "blockOwnerDeletion", 1);
        const json_t *labels = json_object_get(template_meta, "labels");
        const json_t *annotations = json_object_get(template_meta, "annotations");
        if (json_is_object(labels))
            json_object_set_new(metadata, "labels", json_deep_copy(labels));
        if (json_is_object(annotations))
            json_object_set_new(metadata, "annotations", json_deep_copy(annotations));
        json_t *pod = json_pack("{s:s, s:s, s:o, s:O}", "apiVersion", "v1", "kind", "Pod",
                                "metadata", metadata, "spec", json_object_get(template, "spec"));
        json_t *payload = json_pack("{s:o}", "object", pod);
        json_t *reply = self->host->request(self->host, "api.create", payload, RS_REQUEST_MS, err);
        json_decref(payload);
        if (reply || err->code != KL_ERR_EXISTS)
            return reply;
    }
    return NULL;
}

int replicaset_delete_pod(rs_controller_t *self, const char *ns, const char *name, int64_t *rv,
                          kl_error_t *err)
{
    json_t *payload = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", ns, "name", name);
    json_t *reply = self->host->request(self->host, "api.delete", payload, RS_REQUEST_MS, err);
    json_decref(payload);
    if (!reply)
        return err->code == KL_ERR_NOT_FOUND ? 0 : -1;  /* already gone is what we wanted */
    if (kl_object_revision(reply) > *rv)
        *rv = kl_object_revision(reply);
    json_decref(reply);
    return 0;
}
