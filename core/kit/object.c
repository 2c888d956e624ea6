/* The kit's object helpers: the small questions every controller asks of a
 * Kubernetes-shaped object (its key, a metadata field, its resourceVersion,
 * its controlling owner, whether a selector matches its labels). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keelson/kit.h>

const char *kl_object_key(const json_t *object, char *buf, size_t size)
{
    const json_t *metadata = json_object_get(object, "metadata");
    const char *ns = json_string_value(json_object_get(metadata, "namespace"));
    const char *name = json_string_value(json_object_get(metadata, "name"));
    if (ns && *ns)
        snprintf(buf, size, "%s/%s", ns, name ? name : "");
    else
        snprintf(buf, size, "%s", name ? name : "");
    return buf;
}

void kl_object_key_split(const char *key, char *ns, size_t ns_size, char *name, size_t name_size)
{
    const char *slash = strchr(key, '/');
    snprintf(ns, ns_size, "%.*s", slash ? (int)(slash - key) : 0, key);
    snprintf(name, name_size, "%s", slash ? slash + 1 : key);
}

const char *kl_object_meta(const json_t *object, const char *field)
{
    return json_string_value(json_object_get(json_object_get(object, "metadata"), field));
}

int64_t kl_object_revision(const json_t *object)
{
    const char *rv = kl_object_meta(object, "resourceVersion");
    return rv ? strtoll(rv, NULL, 10) : 0;
}

const json_t *kl_object_controller_ref(const json_t *object)
{
    const json_t *refs = json_object_get(json_object_get(object, "metadata"), "ownerReferences");
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref)
        if (json_is_true(json_object_get(ref, "controller")))
            return ref;
    return NULL;
}

int kl_labels_match(const json_t *match_labels, const json_t *labels)
{
    if (!json_is_object(match_labels) || json_object_size(match_labels) == 0)
        return 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)match_labels, key, value) {
        const char *have = json_string_value(json_object_get(labels, key));
        if (!have || !json_is_string(value) || strcmp(have, json_string_value(value)) != 0)
            return 0;
    }
    return 1;
}
