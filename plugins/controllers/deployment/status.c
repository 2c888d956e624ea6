/* controllers/deployment: the Deployment's status. Counts its ReplicaSets'
 * pods and sets the Available and Progressing conditions, written only when
 * something changed. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "deployment.h"

static void stamp_now(const dp_controller_t *self, char *buf, size_t size)
{
    time_t seconds = (time_t)(self->host->realtime_ms(self->host) / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static json_t *condition(const dp_controller_t *self, const json_t *old_status, const char *type,
                         int ok, const char *reason, const char *message)
{
    char stamp[32];
    stamp_now(self, stamp, sizeof stamp);
    const char *status = ok ? "True" : "False";
    const char *transition = stamp;
    const char *update = stamp;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(old_status, "conditions"), i, c) {
        const char *have_type = json_string_value(json_object_get(c, "type"));
        if (!have_type || strcmp(have_type, type) != 0)
            continue;
        const char *have_status = json_string_value(json_object_get(c, "status"));
        const char *have_reason = json_string_value(json_object_get(c, "reason"));
        if (have_status && strcmp(have_status, status) == 0 && json_string_value(json_object_get(c, "lastTransitionTime")))
            transition = json_string_value(json_object_get(c, "lastTransitionTime"));
        /* Keep the stamps when nothing changed, so the status stays equal. */
        if (have_status && strcmp(have_status, status) == 0 && have_reason && strcmp(have_reason, reason) == 0
            && json_string_value(json_object_get(c, "lastUpdateTime")))
            update = json_string_value(json_object_get(c, "lastUpdateTime"));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status, "reason", reason,
                     "message", message, "lastUpdateTime", update, "lastTransitionTime", transition);
}

int deployment_write_status(dp_pass_t *p, const json_t *new_set, int64_t replicas, int64_t max_unavailable,
                            kl_error_t *err)
{
    int64_t total = 0, ready = 0, available = 0, updated = 0;
    size_t i;
    json_t *rs;
    json_array_foreach(p->owned, i, rs) {
        total += deployment_int_field(rs, "status", "replicas", 0);
        ready += deployment_int_field(rs, "status", "readyReplicas", 0);
        available += deployment_int_field(rs, "status", "availableReplicas", 0);
    }
    if (new_set)
        updated = deployment_int_field(new_set, "status", "replicas", 0);
    const json_t *old_status = json_object_get(p->deployment, "status");
    const json_t *generation = json_object_get(json_object_get(p->deployment, "metadata"), "generation");
    int64_t min_available = replicas - max_unavailable;
    char message[400];
    snprintf(message, sizeof message, available >= min_available ? "Deployment has minimum availability."
                                                                  : "Deployment does not have minimum availability.");
    json_t *conditions = json_array();
    json_array_append_new(conditions, condition(p->self, old_status, "Available", available >= min_available,
                                                available >= min_available ? "MinimumReplicasAvailable"
                                                                           : "MinimumReplicasUnavailable",
                                                message));
    int complete = new_set && updated == replicas && total == replicas && available >= replicas;
    if (new_set)
        snprintf(message, sizeof message, complete ? "ReplicaSet \"%s\" has successfully progressed."
                                                   : "ReplicaSet \"%s\" is progressing.",
                 kl_object_meta(new_set, "name"));
    else  /* Recreate, while the old pods go: as Kubernetes words it */
        snprintf(message, sizeof message, "Deployment \"%s\" is progressing.",
                 kl_object_meta(p->deployment, "name"));
    json_array_append_new(conditions, condition(p->self, old_status, "Progressing", 1,
                                                complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                                                message));
    json_t *status = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "observedGeneration",
                               json_is_integer(generation) ? json_integer_value(generation) : (json_int_t)0,
                               "replicas", (json_int_t)total, "updatedReplicas", (json_int_t)updated,
                               "readyReplicas", (json_int_t)ready, "availableReplicas", (json_int_t)available,
                               "unavailableReplicas",
                               (json_int_t)(replicas - available > 0 ? replicas - available : 0),
                               "conditions", conditions);
    if (json_equal(status, old_status)) {
        json_decref(status);
        return 0;
    }
    json_t *object = json_deep_copy(p->deployment);
    json_object_set_new(object, "status", status);
    json_t *payload = json_pack("{s:o}", "object", object);
    json_t *reply = p->self->host->request(p->self->host, "api.update_status", payload, DP_REQUEST_MS, err);
    json_decref(payload);
    if (!reply)
        return -1;
    json_decref(reply);
    return 0;
}
