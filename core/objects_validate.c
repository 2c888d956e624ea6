/* Validation's entry point and the checks every kind shares (apiVersion,
 * metadata, string maps, resource lists, taint effects); each kind's own checks are in
 * objects_validate_pod.c and objects_validate_kinds.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "objects_internal.h"
#include "quantity.h"

__attribute__((format(printf, 3, 4)))
int kl_obj_invalid(check_t *c, const char *path, const char *fmt, ...)
{
    char reason[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return kl_error_set(c->err, KL_ERR_INVALID, "%s \"%.100s\" is invalid: %s%s: %s", c->kind,
                        c->name ? c->name : "", c->prefix ? c->prefix : "", path, reason);
}

const char *kl_obj_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

int kl_obj_expect_type(check_t *c, const char *path, const json_t *v, json_type type,
                       const char *wanted)
{
    if (json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v)))
        return 0;
    return kl_obj_invalid(c, path, "Invalid value: %s: must be %s", kl_obj_type_name(v), wanted);
}

/* Optional field that must be a string when present. */
int kl_obj_optional_string(check_t *c, const json_t *parent, const char *field, const char *path)
{
    const json_t *v = json_object_get(parent, field);
    return v ? kl_obj_expect_type(c, path, v, JSON_STRING, "a string") : 0;
}

int kl_obj_string_map(check_t *c, const json_t *map, const char *path, int labels)
{
    if (kl_obj_expect_type(c, path, map, JSON_OBJECT, "an object of strings") < 0)
        return -1;
    const char *key;
    const json_t *value;
    char sub[400], why[256];
    json_object_foreach((json_t *)map, key, value) {
        if (kl_label_key_check(key, why, sizeof why) < 0)
            return kl_obj_invalid(c, path, "Invalid value: \"%.100s\": %s", key, why);
        if (!json_is_string(value))
            return kl_obj_invalid(c, PATH(sub, "%.200s[%.100s]", path, key),
                                  "Invalid value: %s: must be a string", kl_obj_type_name(value));
        if (labels && kl_label_value_check(json_string_value(value), why, sizeof why) < 0)
            return kl_obj_invalid(c, PATH(sub, "%.200s[%.100s]", path, key), "Invalid value: \"%.100s\": %s",
                                  json_string_value(value), why);
    }
    return 0;
}

/* ownerReferences: [{apiVersion, kind, name, uid, controller?}]; at most
 * one controller, and never the object itself. Longer cycles are caught by
 * the API server, which can look the owners up. */
static int check_owner_references(check_t *c, const json_t *metadata)
{
    const json_t *refs = json_object_get(metadata, "ownerReferences");
    if (!refs)
        return 0;
    if (kl_obj_expect_type(c, "metadata.ownerReferences", refs, JSON_ARRAY, "an array") < 0)
        return -1;
    const char *own_uid = json_string_value(json_object_get(metadata, "uid"));
    int controllers = 0;
    size_t i;
    const json_t *ref;
    char path[96];
    json_array_foreach(refs, i, ref) {
        snprintf(path, sizeof path, "metadata.ownerReferences[%zu]", i);
        if (kl_obj_expect_type(c, path, ref, JSON_OBJECT, "an object") < 0)
            return -1;
        static const char *const required[] = {"apiVersion", "kind", "name", "uid"};
        for (size_t k = 0; k < 4; k++) {
            const json_t *v = json_object_get(ref, required[k]);
            snprintf(path, sizeof path, "metadata.ownerReferences[%zu].%s", i, required[k]);
            if (!v || (json_is_string(v) && !*json_string_value(v)))
                return kl_obj_invalid(c, path, "Required value");
            if (kl_obj_expect_type(c, path, v, JSON_STRING, "a string") < 0)
                return -1;
        }
        const json_t *controller = json_object_get(ref, "controller");
        snprintf(path, sizeof path, "metadata.ownerReferences[%zu].controller", i);
        if (controller && kl_obj_expect_type(c, path, controller, JSON_TRUE, "a boolean") < 0)
            return -1;
        controllers += json_is_true(controller);
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (own_uid && strcmp(uid, own_uid) == 0) {
            snprintf(path, sizeof path, "metadata.ownerReferences[%zu].uid", i);
            return kl_obj_invalid(c, path, "Invalid value: \"%.60s\": an object cannot own itself",
                                  uid);
        }
    }
    if (controllers > 1)
        return kl_obj_invalid(c, "metadata.ownerReferences", "Invalid value: only one reference can have controller set to true");
    return 0;
}

static int check_metadata(check_t *c, const json_t *object, const kl_kind_info_t *info)
{
    const json_t *metadata = json_object_get(object, "metadata");
    if (!metadata)
        return kl_obj_invalid(c, "metadata.name", "Required value");
    if (kl_obj_expect_type(c, "metadata", metadata, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *name = json_object_get(metadata, "name");
    if (!name || (json_is_string(name) && !*json_string_value(name)))
        return kl_obj_invalid(c, "metadata.name", "Required value");
    if (kl_obj_expect_type(c, "metadata.name", name, JSON_STRING, "a string") < 0)
        return -1;
    if (!kl_name_is_dns1123_subdomain(json_string_value(name)))
        return kl_obj_invalid(c, "metadata.name",
                              "Invalid value: \"%.100s\": a lowercase RFC 1123 subdomain must "
                              "consist of lower case alphanumeric characters, '-' or '.', must "
                              "start and end with an alphanumeric character and be at most 253 "
                              "characters",
                              json_string_value(name));
    const json_t *ns = json_object_get(metadata, "namespace");
    if (info->namespaced) {
        if (!ns || (json_is_string(ns) && !*json_string_value(ns)))
            return kl_obj_invalid(c, "metadata.namespace", "Required value");
        if (kl_obj_expect_type(c, "metadata.namespace", ns, JSON_STRING, "a string") < 0)
            return -1;
        if (!kl_name_is_dns1123_label(json_string_value(ns)))
            return kl_obj_invalid(c, "metadata.namespace",
                                  "Invalid value: \"%.100s\": a lowercase RFC 1123 label must "
                                  "consist of lower case alphanumeric characters or '-', must "
                                  "start and end with an alphanumeric character and be at most 63 "
                                  "characters",
                                  json_string_value(ns));
    } else if (ns && !(json_is_string(ns) && !*json_string_value(ns))) {
        return kl_obj_invalid(c, "metadata.namespace", "Forbidden: not allowed on this type");
    }
    if (kl_obj_optional_string(c, metadata, "uid", "metadata.uid") < 0
        || kl_obj_optional_string(c, metadata, "creationTimestamp",
                                  "metadata.creationTimestamp") < 0)
        return -1;
    const json_t *rv = json_object_get(metadata, "resourceVersion");
    if (rv && kl_object_revision(object) < 0)
        return kl_obj_invalid(c, "metadata.resourceVersion",
                              "Invalid value: must be a decimal revision such as \"42\"");
    const json_t *labels = json_object_get(metadata, "labels");
    if (labels && kl_obj_string_map(c, labels, "metadata.labels", 1) < 0)
        return -1;
    const json_t *annotations = json_object_get(metadata, "annotations");
    if (annotations && kl_obj_string_map(c, annotations, "metadata.annotations", 0) < 0)
        return -1;
    return check_owner_references(c, metadata);
}

/* Checks one resource list (requests or limits); cpu/memory/pods parsed into
 * out[0..2] (-1 when absent). */
int kl_obj_resource_list(check_t *c, const json_t *list, const char *path, int64_t out[3])
{
    out[0] = out[1] = out[2] = -1;
    if (kl_obj_expect_type(c, path, list, JSON_OBJECT, "an object of quantities") < 0)
        return -1;
    const char *key;
    const json_t *value;
    char sub[400];
    json_object_foreach((json_t *)list, key, value) {
        int slot = strcmp(key, "cpu") == 0 ? 0 : strcmp(key, "memory") == 0 ? 1
                 : strcmp(key, "pods") == 0 ? 2 : -1;
        kl_error_t qerr;
        int64_t parsed;
        char buf[64];
        const char *text = kl_quantity_json_text(value, buf, sizeof buf);
        if (!text)
            return kl_obj_invalid(c, PATH(sub, "%.200s.%.100s", path, key),
                                  "Invalid value: %s: must be a quantity string",
                                  kl_obj_type_name(value));
        if (slot < 0)
            continue;  /* extended resources pass through unchecked */
        if (kl_quantity_from_json(value, slot == 0, &parsed, NULL, &qerr) < 0)
            return kl_obj_invalid(c, PATH(sub, "%.200s.%.100s", path, key),
                                  "Invalid value: \"%.64s\": %s",
                                  text, qerr.text);
        out[slot] = parsed;
    }
    return 0;
}

int kl_obj_check_taint_effect(check_t *c, const json_t *effect, const char *path)
{
    if (kl_obj_expect_type(c, path, effect, JSON_STRING, "a string") < 0)
        return -1;
    const char *e = json_string_value(effect);
    if (*e && strcmp(e, "NoSchedule") && strcmp(e, "PreferNoSchedule") && strcmp(e, "NoExecute"))
        return kl_obj_invalid(c, path, "Unsupported value: \"%.100s\": supported values: "
                              "\"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"", e);
    return 0;
}

int kl_object_validate(const json_t *object, kl_error_t *err)
{
    if (!json_is_object(object))
        return kl_error_set(err, KL_ERR_INVALID, "object must be a JSON object, not %s",
                            object ? kl_obj_type_name(object) : "nothing");
    const json_t *kind_value = json_object_get(object, "kind");
    const char *kind = json_string_value(kind_value);
    if (!kind_value || (kind && !*kind))
        return kl_error_set(err, KL_ERR_INVALID,
                            "object has no kind: keelson serves " KL_KINDS_SERVED);
    if (!kind)
        return kl_error_set(err, KL_ERR_INVALID, "object kind must be a string, not %s",
                            kl_obj_type_name(kind_value));
    const kl_kind_info_t *info = kl_kind_lookup(kind);
    if (!info)
        return kl_error_set(err, KL_ERR_INVALID, "unknown kind \"%.100s\": keelson serves " KL_KINDS_SERVED,
                            kind);
    check_t c = {info->kind, NULL, err, NULL};
    const json_t *metadata = json_object_get(object, "metadata");
    c.name = json_string_value(json_object_get(metadata, "name"));
    const json_t *api = json_object_get(object, "apiVersion");
    if (!api || (json_is_string(api) && !*json_string_value(api)))
        return kl_obj_invalid(&c, "apiVersion", "Required value");
    if (!json_is_string(api) || strcmp(json_string_value(api), info->api_version) != 0)
        return kl_obj_invalid(&c, "apiVersion",
                              "Unsupported value: \"%.100s\": supported values: \"%s\"",
                              json_is_string(api) ? json_string_value(api) : kl_obj_type_name(api),
                              info->api_version);
    if (check_metadata(&c, object, info) < 0)
        return -1;
    switch (info->index) {
    case KL_KIND_POD: return kl_obj_check_pod(&c, object);
    case KL_KIND_NODE: return kl_obj_check_node(&c, object);
    case KL_KIND_REPLICASET: return kl_obj_check_replicaset(&c, object, 0);
    case KL_KIND_DEPLOYMENT: return kl_obj_check_replicaset(&c, object, 1);
    case KL_KIND_LEASE: return kl_obj_check_lease(&c, object);
    default: return kl_obj_check_event(&c, object);
    }
}
