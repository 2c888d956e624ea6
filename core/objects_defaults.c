/* Defaulting of created and updated objects, and the preparation of a create:
 * what the API server fills in before validation judges the object. */
#include <string.h>

#include "objects.h"

static json_t *ensure_object(json_t *parent, const char *field)
{
    json_t *child = json_object_get(parent, field);
    if (child)
        return json_is_object(child) ? child : NULL;
    child = json_object();
    if (json_object_set_new(parent, field, child) < 0)
        return NULL;
    return child;
}

int kl_object_set_defaults(json_t *object, kl_error_t *err)
{
    if (!json_is_object(object))
        return kl_error_set(err, KL_ERR_INVALID, "object must be a JSON object");
    const kl_kind_info_t *info = kl_kind_lookup(kl_object_kind(object));
    if (!info)
        return 0;  /* validation names the problem */
    json_t *metadata = ensure_object(object, "metadata");
    if (!metadata)
        return 0;
    if (info->namespaced) {
        const char *ns = kl_object_namespace(object);
        if (!json_object_get(metadata, "namespace") || (ns && !*ns))
            json_object_set_new(metadata, "namespace", json_string(KL_DEFAULT_NAMESPACE));
    } else {
        const char *ns = kl_object_namespace(object);
        if (ns && !*ns)
            json_object_del(metadata, "namespace");
    }
    if (strcmp(info->kind, "Pod") == 0) {
        json_t *spec = json_object_get(object, "spec");
        if (json_is_object(spec)) {
            if (!json_object_get(spec, "restartPolicy"))
                json_object_set_new(spec, "restartPolicy", json_string("Always"));
            if (!json_object_get(spec, "terminationGracePeriodSeconds"))
                json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
        }
        json_t *status = ensure_object(object, "status");
        if (status && !json_object_get(status, "phase"))
            json_object_set_new(status, "phase", json_string("Pending"));
    } else if (info->index == KL_KIND_REPLICASET || info->index == KL_KIND_DEPLOYMENT) {
        json_t *spec = json_object_get(object, "spec");
        if (json_is_object(spec) && !json_object_get(spec, "replicas"))
            json_object_set_new(spec, "replicas", json_integer(1));
        if (info->index == KL_KIND_DEPLOYMENT && json_is_object(spec)) {
            if (!json_object_get(spec, "revisionHistoryLimit"))
                json_object_set_new(spec, "revisionHistoryLimit", json_integer(10));
            json_t *strategy = ensure_object(spec, "strategy");
            if (strategy && !json_object_get(strategy, "type"))
                json_object_set_new(strategy, "type", json_string("RollingUpdate"));
            if (strategy && strcmp(json_string_value(json_object_get(strategy, "type")) ?
                                   json_string_value(json_object_get(strategy, "type")) : "",
                                   "RollingUpdate") == 0) {
                json_t *rolling = ensure_object(strategy, "rollingUpdate");
                if (rolling && !json_object_get(rolling, "maxSurge"))
                    json_object_set_new(rolling, "maxSurge", json_string("25%"));
                if (rolling && !json_object_get(rolling, "maxUnavailable"))
                    json_object_set_new(rolling, "maxUnavailable", json_string("25%"));
            }
        }
        ensure_object(object, "status");
    }
    return 0;
}

int kl_object_prepare_create(json_t *object, kl_error_t *err)
{
    if (kl_object_set_defaults(object, err) < 0)
        return -1;
    json_t *metadata = json_object_get(object, "metadata");
    if (json_is_object(metadata)) {
        char uid[KL_UUID_SIZE];
        char now[KL_TIMESTAMP_SIZE];
        if (kl_uuid_generate(uid, err) < 0)
            return -1;
        kl_timestamp_now(now);
        json_object_set_new(metadata, "uid", json_string(uid));
        json_object_set_new(metadata, "creationTimestamp", json_string(now));
        json_object_del(metadata, "resourceVersion");
    }
    return kl_object_validate(object, err);
}
