/* Validation of a Pod (and of a pod template's spec): containers, tolerations,
 * restart policy and phase. Apart because a pod is by far the largest kind. */
#include <stdio.h>
#include <string.h>

#include "objects_internal.h"
#include "quantity.h"

static int check_string_array(check_t *c, const json_t *array, const char *path)
{
    if (kl_obj_expect_type(c, path, array, JSON_ARRAY, "an array of strings") < 0)
        return -1;
    size_t i;
    const json_t *item;
    char sub[400];
    json_array_foreach(array, i, item) {
        if (!json_is_string(item))
            return kl_obj_invalid(c, PATH(sub, "%.200s[%zu]", path, i),
                                  "Invalid value: %s: must be a string", kl_obj_type_name(item));
    }
    return 0;
}

static int empty_string(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) == 0;
}

static int check_container(check_t *c, const json_t *container, size_t index)
{
    char sub[400];
    if (!json_is_object(container))
        return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu]", index), container,
                                  JSON_OBJECT,
                                  "an object");
    const json_t *name = json_object_get(container, "name");
    if (!name || empty_string(name))
        return kl_obj_invalid(c, PATH(sub, "spec.containers[%zu].name", index), "Required value");
    if (!json_is_string(name))
        return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu].name", index), name,
                                  JSON_STRING,
                                  "a string");
    if (!kl_name_is_dns1123_label(json_string_value(name)))
        return kl_obj_invalid(c, PATH(sub, "spec.containers[%zu].name", index),
                              "Invalid value: \"%.100s\": a lowercase RFC 1123 label must consist "
                              "of lower case alphanumeric characters or '-', must start and end "
                              "with an alphanumeric character and be at most 63 characters",
                              json_string_value(name));
    const json_t *image = json_object_get(container, "image");
    if (!image || empty_string(image))
        return kl_obj_invalid(c, PATH(sub, "spec.containers[%zu].image", index), "Required value");
    if (!json_is_string(image))
        return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu].image", index), image,
                                  JSON_STRING,
                                  "a string");
    static const char *const arrays[] = {"command", "args"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(container, arrays[i]);
        if (v && check_string_array(c, v, PATH(sub, "spec.containers[%zu].%s", index, arrays[i])) < 0)
            return -1;
    }
    const json_t *dir = json_object_get(container, "workingDir");
    if (dir && !json_is_string(dir))
        return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu].workingDir", index), dir,
                                  JSON_STRING, "a string");
    const json_t *env = json_object_get(container, "env");
    if (env) {
        if (!json_is_array(env))
            return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu].env", index), env,
                                      JSON_ARRAY,
                                      "an array of {name, value}");
        size_t i;
        const json_t *var;
        json_array_foreach(env, i, var) {
            if (!json_is_object(var))
                return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu].env[%zu]", index, i),
                                          var,
                                          JSON_OBJECT, "an object with name and value");
            const json_t *var_name = json_object_get(var, "name");
            if (!var_name || empty_string(var_name))
                return kl_obj_invalid(c, PATH(sub, "spec.containers[%zu].env[%zu].name", index, i),
                                      "Required value");
            if (!json_is_string(var_name))
                return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu].env[%zu].name", index,
                                                  i),
                                          var_name, JSON_STRING, "a string");
            if (strchr(json_string_value(var_name), '='))
                return kl_obj_invalid(c, PATH(sub, "spec.containers[%zu].env[%zu].name", index, i),
                                      "Invalid value: \"%.100s\": must not contain '='",
                                      json_string_value(var_name));
            const json_t *var_value = json_object_get(var, "value");
            if (var_value && !json_is_string(var_value))
                return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu].env[%zu].value", index,
                                                  i),
                                          var_value, JSON_STRING, "a string");
        }
    }
    const json_t *resources = json_object_get(container, "resources");
    if (resources) {
        if (!json_is_object(resources))
            return kl_obj_expect_type(c, PATH(sub, "spec.containers[%zu].resources", index),
                                      resources,
                                      JSON_OBJECT, "an object");
        int64_t requests[3] = {-1, -1, -1}, limits[3] = {-1, -1, -1};
        const json_t *r = json_object_get(resources, "requests");
        if (r && kl_obj_resource_list(c, r, PATH(sub, "spec.containers[%zu].resources.requests",
                                                 index),
                                      requests) < 0)
            return -1;
        const json_t *l = json_object_get(resources, "limits");
        if (l && kl_obj_resource_list(c, l, PATH(sub, "spec.containers[%zu].resources.limits",
                                                 index),
                                      limits) < 0)
            return -1;
        static const char *const names[] = {"cpu", "memory"};
        for (int i = 0; i < 2; i++) {
            if (requests[i] >= 0 && limits[i] >= 0 && requests[i] > limits[i]) {
                char request_buf[64], limit_buf[64];
                return kl_obj_invalid(c, PATH(sub, "spec.containers[%zu].resources.requests",
                                              index),
                                      "Invalid value: \"%s\": must be less than or equal to %s limit of %s",
                                      kl_quantity_json_text(json_object_get(r, names[i]),
                                                           request_buf,
                                                           sizeof request_buf),
                                      names[i],
                                      kl_quantity_json_text(json_object_get(l, names[i]), limit_buf,
                                                           sizeof limit_buf));
            }
        }
    }
    return 0;
}

/* Kubernetes' toleration rules: Equal (the default) compares a label value,
 * Exists takes no value, and an empty key means every key, with Exists. */
static int check_toleration(check_t *c, const json_t *toleration, size_t i)
{
    char path[64], why[256];
    if (kl_obj_expect_type(c, PATH(path, "spec.tolerations[%zu]", i), toleration, JSON_OBJECT,
                           "an object") < 0)
        return -1;
    const json_t *key = json_object_get(toleration, "key");
    const json_t *operator = json_object_get(toleration, "operator");
    const json_t *value = json_object_get(toleration, "value");
    const json_t *effect = json_object_get(toleration, "effect");
    const json_t *seconds = json_object_get(toleration, "tolerationSeconds");
    if (key && kl_obj_expect_type(c, PATH(path, "spec.tolerations[%zu].key", i), key, JSON_STRING,
                                  "a string") < 0)
        return -1;
    if (value && kl_obj_expect_type(c, PATH(path, "spec.tolerations[%zu].value", i), value,
                                    JSON_STRING,
                                    "a string") < 0)
        return -1;
    if (operator && kl_obj_expect_type(c, PATH(path, "spec.tolerations[%zu].operator", i), operator,
                                       JSON_STRING, "a string") < 0)
        return -1;
    const char *k = key ? json_string_value(key) : "";
    const char *op = operator ? json_string_value(operator) : "";
    const char *v = value ? json_string_value(value) : "";
    if (*k && kl_label_key_check(k, why, sizeof why) < 0)
        return kl_obj_invalid(c, PATH(path, "spec.tolerations[%zu].key", i), "Invalid value: \"%.100s\": %s",
                              k, why);
    if (!*op || strcmp(op, "Equal") == 0) {
        if (!*k)
            return kl_obj_invalid(c, PATH(path, "spec.tolerations[%zu].operator", i),
                                  "Invalid value: \"%.20s\": operator must be Exists when `key` is "
                                  "empty, which means \"match all values and all keys\"", op);
        if (kl_label_value_check(v, why, sizeof why) < 0)
            return kl_obj_invalid(c, PATH(path, "spec.tolerations[%zu].value", i),
                                  "Invalid value: \"%.100s\": %s", v, why);
    } else if (strcmp(op, "Exists") == 0) {
        if (*v)
            return kl_obj_invalid(c, PATH(path, "spec.tolerations[%zu].value", i),
                                  "Invalid value: \"%.100s\": value must be empty when `operator` "
                                  "is 'Exists'", v);
    } else {
        return kl_obj_invalid(c, PATH(path, "spec.tolerations[%zu].operator", i),
                              "Unsupported value: \"%.100s\": supported values: \"Equal\", "
                              "\"Exists\"",
                              op);
    }
    if (effect && kl_obj_check_taint_effect(c, effect,
                                            PATH(path, "spec.tolerations[%zu].effect", i)) < 0)
        return -1;
    if (seconds) {
        if (!json_is_integer(seconds))
            return kl_obj_invalid(c, PATH(path, "spec.tolerations[%zu].tolerationSeconds", i),
                                  "Invalid value: %s: must be an integer",
                                  kl_obj_type_name(seconds));
        if (!effect || strcmp(json_string_value(effect), "NoExecute") != 0)
            return kl_obj_invalid(c, PATH(path, "spec.tolerations[%zu].effect", i),
                                  "Invalid value: \"%.20s\": effect must be 'NoExecute' when "
                                  "`tolerationSeconds` is set",
                                  effect ? json_string_value(effect) : "");
    }
    return 0;
}

int kl_obj_check_pod(check_t *c, const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    if (!spec)
        return kl_obj_invalid(c, "spec.containers", "Required value");
    if (kl_obj_expect_type(c, "spec", spec, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *containers = json_object_get(spec, "containers");
    if (!containers || (json_is_array(containers) && json_array_size(containers) == 0))
        return kl_obj_invalid(c, "spec.containers", "Required value");
    if (kl_obj_expect_type(c, "spec.containers", containers, JSON_ARRAY, "an array") < 0)
        return -1;
    size_t i;
    const json_t *container;
    char path[64];
    json_array_foreach(containers, i, container) {
        if (check_container(c, container, i) < 0)
            return -1;
        const char *name = json_string_value(json_object_get(container, "name"));
        for (size_t j = 0; j < i; j++) {
            const char *other = json_string_value(json_object_get(json_array_get(containers, j), "name"));
            if (strcmp(name, other) == 0) {
                snprintf(path, sizeof path, "spec.containers[%zu].name", i);
                return kl_obj_invalid(c, path, "Duplicate value: \"%.100s\"", name);
            }
        }
    }
    const json_t *policy = json_object_get(spec, "restartPolicy");
    if (policy) {
        const char *p = json_string_value(policy);
        if (!p || (strcmp(p, "Always") && strcmp(p, "OnFailure") && strcmp(p, "Never")))
            return kl_obj_invalid(c, "spec.restartPolicy",
                                  "Unsupported value: \"%.100s\": supported values: \"Always\", "
                                  "\"OnFailure\", \"Never\"", p ? p : kl_obj_type_name(policy));
    }
    const json_t *node = json_object_get(spec, "nodeName");
    if (node) {
        if (kl_obj_expect_type(c, "spec.nodeName", node, JSON_STRING, "a string") < 0)
            return -1;
        const char *n = json_string_value(node);
        if (*n && !kl_name_is_dns1123_subdomain(n))
            return kl_obj_invalid(c, "spec.nodeName",
                                  "Invalid value: \"%.100s\": must be a lowercase RFC 1123 "
                                  "subdomain", n);
    }
    const json_t *selector = json_object_get(spec, "nodeSelector");
    if (selector && kl_obj_string_map(c, selector, "spec.nodeSelector", 1) < 0)
        return -1;
    const json_t *tolerations = json_object_get(spec, "tolerations");
    if (tolerations) {
        if (kl_obj_expect_type(c, "spec.tolerations", tolerations, JSON_ARRAY, "an array") < 0)
            return -1;
        const json_t *toleration;
        json_array_foreach(tolerations, i, toleration)
            if (check_toleration(c, toleration, i) < 0)
                return -1;
    }
    const json_t *grace = json_object_get(spec, "terminationGracePeriodSeconds");
    if (grace) {
        if (!json_is_integer(grace))
            return kl_obj_invalid(c, "spec.terminationGracePeriodSeconds",
                                  "Invalid value: %s: must be an integer", kl_obj_type_name(grace));
        if (json_integer_value(grace) < 0)
            return kl_obj_invalid(c, "spec.terminationGracePeriodSeconds",
                                  "Invalid value: %" JSON_INTEGER_FORMAT
                                  ": must be greater than or equal to 0",
                                  json_integer_value(grace));
    }
    const json_t *status = json_object_get(pod, "status");
    if (status) {
        if (kl_obj_expect_type(c, "status", status, JSON_OBJECT, "an object") < 0)
            return -1;
        const json_t *phase = json_object_get(status, "phase");
        if (phase) {
            const char *p = json_string_value(phase);
            static const char *const phases[] = {"Pending", "Running", "Succeeded", "Failed",
                                                 "Unknown"};
            int known = 0;
            for (int k = 0; p && k < 5; k++)
                known |= strcmp(p, phases[k]) == 0;
            if (!known)
                return kl_obj_invalid(c, "status.phase",
                                      "Unsupported value: \"%.100s\": supported values: "
                                      "\"Pending\", \"Running\", \"Succeeded\", \"Failed\", "
                                      "\"Unknown\"",
                                      p ? p : kl_obj_type_name(phase));
        }
    }
    return 0;
}
