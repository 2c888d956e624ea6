/* controllers/replicaset: the ReplicaSet's status. Counts its live owned
 * pods (ready, fully labeled) and writes them only when something changed. */
#include "replicaset.h"

int replicaset_update_status(rs_controller_t *self, const json_t *rs, const json_t *owned, kl_error_t *err)
{
    const json_t *template_labels =
        json_object_get(json_object_get(json_object_get(json_object_get(rs, "spec"), "template"),
                                        "metadata"), "labels");
    json_int_t replicas = 0, ready = 0, labeled = 0;
    size_t i;
    json_t *pod;
    json_array_foreach(owned, i, pod) {
        if (replicaset_pod_terminated(pod)
            || json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
            continue;
        replicas++;
        ready += replicaset_pod_ready(pod);
        if (!json_is_object(template_labels) || json_object_size(template_labels) == 0
            || kl_labels_match(template_labels, json_object_get(json_object_get(pod, "metadata"), "labels")))
            labeled++;
    }
    const json_t *generation = json_object_get(json_object_get(rs, "metadata"), "generation");
    json_t *status = json_pack("{s:I, s:I, s:I, s:I, s:I}", "replicas", replicas, "readyReplicas", ready,
                               "availableReplicas", ready, "fullyLabeledReplicas", labeled,
                               "observedGeneration",
                               json_is_integer(generation) ? json_integer_value(generation) : (json_int_t)0);
    const json_t *current = json_object_get(rs, "status");
    int same = 1;
    const char *key;
    json_t *value;
    json_object_foreach(status, key, value) {
        const json_t *have = json_object_get(current, key);
        if (!have || !json_equal(have, value))
            same = 0;
    }
    if (same) {
        json_decref(status);
        return 0;
    }
    json_t *object = json_deep_copy(rs);
    json_object_set_new(object, "status", status);
    json_t *payload = json_pack("{s:o}", "object", object);
    json_t *reply = self->host->request(self->host, "api.update_status", payload, RS_REQUEST_MS, err);
    json_decref(payload);
    if (!reply)
        return -1;
    json_decref(reply);
    return 0;
}
