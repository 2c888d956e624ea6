/* Validation of the kinds other than Pod: Node, ReplicaSet and Deployment,
 * Event and Lease. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objects_internal.h"

int kl_obj_check_node(check_t *c, const json_t *node)
{
    const json_t *spec = json_object_get(node, "spec");
    if (spec) {
        if (kl_obj_expect_type(c, "spec", spec, JSON_OBJECT, "an object") < 0)
            return -1;
        const json_t *unsched = json_object_get(spec, "unschedulable");
        if (unsched && kl_obj_expect_type(c, "spec.unschedulable", unsched, JSON_TRUE,
                                          "a boolean") < 0)
            return -1;
        const json_t *taints = json_object_get(spec, "taints");
        if (taints) {
            if (kl_obj_expect_type(c, "spec.taints", taints, JSON_ARRAY, "an array") < 0)
                return -1;
            size_t i;
            const json_t *taint;
            char path[64], why[256];
            json_array_foreach(taints, i, taint) {
                snprintf(path, sizeof path, "spec.taints[%zu]", i);
                if (kl_obj_expect_type(c, path, taint, JSON_OBJECT, "an object") < 0)
                    return -1;
                const char *key = json_string_value(json_object_get(taint, "key"));
                snprintf(path, sizeof path, "spec.taints[%zu].key", i);
                if (!key || !*key)
                    return kl_obj_invalid(c, path, "Required value");
                if (kl_label_key_check(key, why, sizeof why) < 0)
                    return kl_obj_invalid(c, path, "Invalid value: \"%.100s\": %s", key, why);
                snprintf(path, sizeof path, "spec.taints[%zu].value", i);
                if (kl_obj_optional_string(c, taint, "value", path) < 0)
                    return -1;
                /* Unlike a toleration's, a taint's effect may not be empty. */
                const json_t *effect = json_object_get(taint, "effect");
                snprintf(path, sizeof path, "spec.taints[%zu].effect", i);
                if (!json_is_string(effect) || !*json_string_value(effect))
                    return kl_obj_invalid(c, path, "Required value");
                if (kl_obj_check_taint_effect(c, effect, path) < 0)
                    return -1;
            }
        }
    }
    const json_t *status = json_object_get(node, "status");
    if (status) {
        if (kl_obj_expect_type(c, "status", status, JSON_OBJECT, "an object") < 0)
            return -1;
        static const char *const lists[] = {"capacity", "allocatable"};
        for (int i = 0; i < 2; i++) {
            const json_t *list = json_object_get(status, lists[i]);
            char path[64];
            int64_t parsed[3];
            snprintf(path, sizeof path, "status.%s", lists[i]);
            if (list && kl_obj_resource_list(c, list, path, parsed) < 0)
                return -1;
        }
    }
    return 0;
}

/* An int or a percentage string ("25%"), as maxSurge/maxUnavailable take. */
static int int_or_percent(check_t *c, const json_t *v, const char *path)
{
    if (json_is_integer(v))
        return json_integer_value(v) < 0 ? kl_obj_invalid(c, path,
                                                          "Invalid value: %" JSON_INTEGER_FORMAT
                                                          ": must be greater than or equal to 0",
                                                          json_integer_value(v)) : 0;
    const char *text = json_string_value(v);
    if (text) {
        char *end;
        long n = strtol(text, &end, 10);
        if (end != text && n >= 0 && n <= 100 && strcmp(end, "%") == 0)
            return 0;
    }
    return kl_obj_invalid(c, path, "Invalid value: must be a non-negative integer or a percentage such as \"25%%\"");
}

/* ReplicaSet and Deployment share replicas, selector and template. */
int kl_obj_check_replicaset(check_t *c, const json_t *object, int deployment)
{
    const json_t *spec = json_object_get(object, "spec");
    if (!spec)
        return kl_obj_invalid(c, "spec.selector", "Required value");
    if (kl_obj_expect_type(c, "spec", spec, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *replicas = json_object_get(spec, "replicas");
    if (replicas) {
        if (kl_obj_expect_type(c, "spec.replicas", replicas, JSON_INTEGER, "an integer") < 0)
            return -1;
        if (json_integer_value(replicas) < 0)
            return kl_obj_invalid(c, "spec.replicas", "Invalid value: %" JSON_INTEGER_FORMAT
                                  ": must be greater than or equal to 0",
                                  json_integer_value(replicas));
    }
    const json_t *selector = json_object_get(spec, "selector");
    if (!selector)
        return kl_obj_invalid(c, "spec.selector", "Required value");
    if (kl_obj_expect_type(c, "spec.selector", selector, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *match = json_object_get(selector, "matchLabels");
    if (!match || json_is_null(match) || (json_is_object(match) && json_object_size(match) == 0))
        return kl_obj_invalid(c, "spec.selector.matchLabels",
                              "Required value: empty selector is invalid");
    if (kl_obj_string_map(c, match, "spec.selector.matchLabels", 1) < 0)
        return -1;
    const json_t *template = json_object_get(spec, "template");
    if (!template)
        return kl_obj_invalid(c, "spec.template", "Required value");
    if (kl_obj_expect_type(c, "spec.template", template, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *labels = json_object_get(json_object_get(template, "metadata"), "labels");
    if (labels && kl_obj_string_map(c, labels, "spec.template.metadata.labels", 1) < 0)
        return -1;
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)match, key, value) {
        const char *have = json_string_value(json_object_get(labels, key));
        if (!have || strcmp(have, json_string_value(value)) != 0)
            return kl_obj_invalid(c, "spec.template.metadata.labels",
                                  "Invalid value: `selector` does not match template `labels` (%.100s=%.100s)",
                                  key, json_string_value(value));
    }
    /* The template's spec is a pod spec: check it as one, with paths under
     * spec.template. */
    json_t *pod = json_pack("{s:O?}", "spec", json_object_get(template, "spec"));
    check_t inner = *c;
    inner.prefix = "spec.template.";
    int rc = kl_obj_check_pod(&inner, pod);
    json_decref(pod);
    if (rc < 0)
        return -1;
    if (!deployment)
        return 0;
    const json_t *strategy = json_object_get(spec, "strategy");
    if (strategy) {
        if (kl_obj_expect_type(c, "spec.strategy", strategy, JSON_OBJECT, "an object") < 0)
            return -1;
        const char *type = json_string_value(json_object_get(strategy, "type"));
        if (type && strcmp(type, "RollingUpdate") != 0 && strcmp(type, "Recreate") != 0)
            return kl_obj_invalid(c, "spec.strategy.type", "Unsupported value: \"%.60s\": supported values: "
                                  "\"Recreate\", \"RollingUpdate\"", type);
        const json_t *rolling = json_object_get(strategy, "rollingUpdate");
        if (rolling) {
            const json_t *surge = json_object_get(rolling, "maxSurge");
            const json_t *unavailable = json_object_get(rolling, "maxUnavailable");
            if ((surge && int_or_percent(c, surge, "spec.strategy.rollingUpdate.maxSurge") < 0)
                || (unavailable && int_or_percent(c, unavailable,
                                                  "spec.strategy.rollingUpdate.maxUnavailable") < 0))
                return -1;
            int zero_surge = surge && ((json_is_integer(surge) && json_integer_value(surge) == 0)
                                       || (json_is_string(surge) && strcmp(json_string_value(surge), "0%") == 0));
            int zero_unavailable = unavailable && ((json_is_integer(unavailable) && json_integer_value(unavailable) == 0)
                                       || (json_is_string(unavailable) && strcmp(json_string_value(unavailable), "0%") == 0));
            if (zero_surge && zero_unavailable)
                return kl_obj_invalid(c, "spec.strategy.rollingUpdate.maxUnavailable",
                                      "Invalid value: may not be 0 when maxSurge is 0");
        }
    }
    const json_t *history = json_object_get(spec, "revisionHistoryLimit");
    if (history && (!json_is_integer(history) || json_integer_value(history) < 0))
        return kl_obj_invalid(c, "spec.revisionHistoryLimit", "Invalid value: must be a non-negative integer");
    return 0;
}

int kl_obj_check_event(check_t *c, const json_t *object)
{
    const json_t *involved = json_object_get(object, "involvedObject");
    if (!involved)
        return kl_obj_invalid(c, "involvedObject", "Required value");
    if (kl_obj_expect_type(c, "involvedObject", involved, JSON_OBJECT, "an object") < 0)
        return -1;
    static const char *const strings[] = {"reason", "message", "type"};
    for (size_t i = 0; i < 3; i++)
        if (kl_obj_optional_string(c, object, strings[i], strings[i]) < 0)
            return -1;
    return 0;
}

/* coordination.k8s.io/v1 Lease: who holds it, for how long, last renewed
 * when. Every spec field is optional, as in Kubernetes; present ones must
 * be well formed. */
int kl_obj_check_lease(check_t *c, const json_t *object)
{
    const json_t *spec = json_object_get(object, "spec");
    if (!spec)
        return 0;
    if (kl_obj_expect_type(c, "spec", spec, JSON_OBJECT, "an object") < 0)
        return -1;
    if (kl_obj_optional_string(c, spec, "holderIdentity", "spec.holderIdentity") < 0)
        return -1;
    const json_t *duration = json_object_get(spec, "leaseDurationSeconds");
    if (duration) {
        if (kl_obj_expect_type(c, "spec.leaseDurationSeconds", duration, JSON_INTEGER,
                               "an integer") < 0)
            return -1;
        if (json_integer_value(duration) <= 0)
            return kl_obj_invalid(c, "spec.leaseDurationSeconds",
                                  "Invalid value: %" JSON_INTEGER_FORMAT
                                  ": must be greater than 0", json_integer_value(duration));
    }
    static const char *const times[] = {"renewTime", "acquireTime"};
    char path[64];
    for (size_t i = 0; i < 2; i++) {
        const json_t *when = json_object_get(spec, times[i]);
        if (!when)
            continue;
        snprintf(path, sizeof path, "spec.%s", times[i]);
        if (kl_obj_expect_type(c, path, when, JSON_STRING, "a string") < 0)
            return -1;
        if (!kl_timestamp_is_valid(json_string_value(when)))
            return kl_obj_invalid(c, path,
                                  "Invalid value: \"%.64s\": must be an RFC 3339 time such as "
                                  "\"2006-01-02T15:04:05.000000Z\"", json_string_value(when));
    }
    const json_t *transitions = json_object_get(spec, "leaseTransitions");
    if (transitions) {
        if (kl_obj_expect_type(c, "spec.leaseTransitions", transitions, JSON_INTEGER,
                               "an integer") < 0)
            return -1;
        if (json_integer_value(transitions) < 0)
            return kl_obj_invalid(c, "spec.leaseTransitions", "Invalid value: %" JSON_INTEGER_FORMAT
                                  ": must be greater than or equal to 0",
                                  json_integer_value(transitions));
    }
    return 0;
}
