/* Reading Node and Pod objects into the cache's terms (quantities, taints,
 * tolerations, heartbeat times): every check of their JSON, kept apart from
 * the bookkeeping that uses the results. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objects.h"
#include "quantity.h"
#include "sched_cache_internal.h"

static int count_from_json(const json_t *value, int64_t *out, const char *where, kl_error_t *err)
{
    if (json_is_integer(value)) {
        *out = json_integer_value(value);
    } else if (json_is_string(value)) {
        const char *s = json_string_value(value);
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end)
            return kl_error_set(err, KL_ERR_INVALID, "%s: \"%s\" is not a whole number", where, s);
        *out = v;
    } else {
        return kl_error_set(err, KL_ERR_INVALID, "%s: must be a whole number", where);
    }
    if (*out < 0)
        return kl_error_set(err, KL_ERR_INVALID, "%s: must not be negative", where);
    return 0;
}

/* NULL or "" gives TAINT_EFFECT_ANY; -1 for a name Kubernetes does not know. */
static int taint_effect_parse(const char *text, taint_effect_t *effect)
{
    if (!text || !*text)
        *effect = TAINT_EFFECT_ANY;
    else if (strcmp(text, "NoSchedule") == 0)
        *effect = TAINT_EFFECT_NO_SCHEDULE;
    else if (strcmp(text, "PreferNoSchedule") == 0)
        *effect = TAINT_EFFECT_PREFER_NO_SCHEDULE;
    else if (strcmp(text, "NoExecute") == 0)
        *effect = TAINT_EFFECT_NO_EXECUTE;
    else
        return -1;
    return 0;
}

/* Reads spec.taints into a new array (caller owns *taints_p; NULL when the
 * node has none). Strings stay borrowed from `object`. */
static int parse_taints(const json_t *object, const char *name, taint_t **taints_p,
                        size_t *count_p, size_t *prefer_p, kl_error_t *err)
{
    *taints_p = NULL;
    *count_p = *prefer_p = 0;
    json_t *list = json_object_get(json_object_get(object, "spec"), "taints");
    if (!list || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0))
        return 0;
    if (!json_is_array(list))
        return kl_error_set(err, KL_ERR_INVALID, "Node \"%s\": spec.taints: must be an array", name);
    taint_t *taints = calloc(json_array_size(list), sizeof *taints);
    if (!taints)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading Node \"%s\" taints", name);
    size_t i, prefer = 0;
    json_t *item;
    json_array_foreach(list, i, item) {
        const char *key = json_string_value(json_object_get(item, "key"));
        json_t *value = json_object_get(item, "value");
        const char *effect = json_string_value(json_object_get(item, "effect"));
        const char *problem = NULL;
        if (!key || !*key)
            problem = "key: must be a non-empty string";
        else if (value && !json_is_string(value))
            problem = "value: must be a string";
        else if (!effect || taint_effect_parse(effect, &taints[i].effect) < 0
                 || taints[i].effect == TAINT_EFFECT_ANY)
            problem = "effect: must be NoSchedule, PreferNoSchedule or NoExecute";
        if (problem) {
            free(taints);
            return kl_error_set(err, KL_ERR_INVALID, "Node \"%s\": spec.taints[%zu].%s", name, i,
                                problem);
        }
        taints[i].key = key;
        taints[i].value = value ? json_string_value(value) : "";
        prefer += taints[i].effect == TAINT_EFFECT_PREFER_NO_SCHEDULE;
    }
    *taints_p = taints;
    *count_p = json_array_size(list);
    *prefer_p = prefer;
    return 0;
}

/* Reads spec.tolerations and spec.nodeSelector of a pod (caller owns
 * *tolerations_p). Strings and the selector stay borrowed from `object`. */
int kl_sched_parse_placement(const json_t *object, toleration_t **tolerations_p, size_t *count_p,
                             const json_t **selector_p, kl_error_t *err)
{
    *tolerations_p = NULL;
    *count_p = 0;
    *selector_p = NULL;
    json_t *spec = json_object_get(object, "spec");
    json_t *selector = json_object_get(spec, "nodeSelector");
    if (selector && !json_is_null(selector)) {
        if (!json_is_object(selector))
            return kl_error_set(err, KL_ERR_INVALID, "spec.nodeSelector: must be a map of strings");
        const char *key;
        json_t *value;
        json_object_foreach(selector, key, value)
            if (!json_is_string(value))
                return kl_error_set(err, KL_ERR_INVALID, "spec.nodeSelector[%s]: must be a string",
                                    key);
        if (json_object_size(selector) > 0)
            *selector_p = selector;
    }
    json_t *list = json_object_get(spec, "tolerations");
    if (!list || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0))
        return 0;
    if (!json_is_array(list))
        return kl_error_set(err, KL_ERR_INVALID, "spec.tolerations: must be an array");
    toleration_t *tolerations = calloc(json_array_size(list), sizeof *tolerations);
    if (!tolerations)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading tolerations");
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        json_t *key = json_object_get(item, "key");
        json_t *value = json_object_get(item, "value");
        json_t *operator = json_object_get(item, "operator");
        json_t *effect = json_object_get(item, "effect");
        const char *op = operator ? json_string_value(operator) : "Equal";
        const char *problem = NULL;
        if (!json_is_object(item))
            problem = ": must be an object";
        else if ((key && !json_is_string(key)) || (value && !json_is_string(value)))
            problem = ": key and value must be strings";
        else if (!op || (strcmp(op, "Equal") && strcmp(op, "Exists")))
            problem = ".operator: must be Equal or Exists";
        else if ((effect && !json_is_string(effect))
                 || taint_effect_parse(json_string_value(effect), &tolerations[i].effect) < 0)
            problem = ".effect: must be NoSchedule, PreferNoSchedule or NoExecute";
        if (problem) {
            free(tolerations);
            return kl_error_set(err, KL_ERR_INVALID, "spec.tolerations[%zu]%s", i, problem);
        }
        tolerations[i].key = key ? json_string_value(key) : "";
        tolerations[i].value = value ? json_string_value(value) : "";
        tolerations[i].exists = strcmp(op, "Exists") == 0;
        if (!*tolerations[i].key && !tolerations[i].exists) {
            free(tolerations);
            return kl_error_set(err, KL_ERR_INVALID,
                                "spec.tolerations[%zu].operator: must be Exists when key is empty",
                                i);
        }
    }
    *tolerations_p = tolerations;
    *count_p = json_array_size(list);
    return 0;
}

int kl_sched_parse_node(const json_t *object, node_entry_t *out, kl_error_t *err)
{
    const char *name = json_string_value(json_object_get(json_object_get(object, "metadata"),
                                                         "name"));
    if (!name || !*name)
        return kl_error_set(err, KL_ERR_INVALID, "Node: metadata.name is missing");
    json_t *status = json_object_get(object, "status");
    json_t *amounts = json_object_get(status, "allocatable");
    const char *group = "allocatable";
    if (!json_is_object(amounts) || json_object_size(amounts) == 0) {
        amounts = json_object_get(status, "capacity");
        group = "capacity";
    }
    char where[96];
    json_t *value;
    out->cpu_allocatable = out->memory_allocatable = out->pods_allocatable = 0;
    if ((value = json_object_get(amounts, "cpu"))) {
        snprintf(where, sizeof where, "Node \"%s\": status.%s.cpu", name, group);
        if (kl_quantity_from_json(value, 1, &out->cpu_allocatable, where, err) < 0)
            return -1;
    }
    if ((value = json_object_get(amounts, "memory"))) {
        snprintf(where, sizeof where, "Node \"%s\": status.%s.memory", name, group);
        if (kl_quantity_from_json(value, 0, &out->memory_allocatable, where, err) < 0)
            return -1;
    }
    if ((value = json_object_get(amounts, "pods"))) {
        snprintf(where, sizeof where, "Node \"%s\": status.%s.pods", name, group);
        if (count_from_json(value, &out->pods_allocatable, where, err) < 0)
            return -1;
    }
    out->unschedulable = json_is_true(json_object_get(json_object_get(object, "spec"),
                                                      "unschedulable"));
    out->ready_condition = 0;
    out->heartbeat_ms = 0;
    size_t i;
    json_t *condition;
    json_array_foreach(json_object_get(status, "conditions"), i, condition) {
        const char *type = json_string_value(json_object_get(condition, "type"));
        if (!type || strcmp(type, "Ready") != 0)
            continue;
        const char *state = json_string_value(json_object_get(condition, "status"));
        out->ready_condition = state && strcmp(state, "True") == 0;
        const char *beat = json_string_value(json_object_get(condition, "lastHeartbeatTime"));
        if (!beat)
            beat = json_string_value(json_object_get(condition, "lastTransitionTime"));
        if (beat) {
            kl_error_t inner;
            if (kl_time_parse_rfc3339(beat, &out->heartbeat_ms, &inner) < 0)
                return kl_error_set(err, KL_ERR_INVALID,
                                    "Node \"%s\": status.conditions[%zu].lastHeartbeatTime: %s",
                                    name, i, inner.text);
        }
    }
    out->labels = json_object_get(json_object_get(object, "metadata"), "labels");
    if (out->labels && !json_is_object(out->labels))
        return kl_error_set(err, KL_ERR_INVALID, "Node \"%s\": metadata.labels: must be a map",
                            name);
    /* Last, so that no failure above leaves the array to free. */
    if (parse_taints(object, name, &out->taints, &out->taint_count, &out->prefer_taint_count,
                     err) < 0)
        return -1;
    out->name = (char *)name;  /* borrowed until the caller copies it */
    out->resource_version = kl_object_revision(object);
    return 0;
}
