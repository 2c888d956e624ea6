/* The API server's writes: validates, defaults and stores objects with
 * optimistic concurrency. Owner references are checked and dependents
 * orphaned in apiserver_owners.c. */
#include <stdlib.h>
#include <string.h>

#include "apiserver_internal.h"

/* ---- methods --------------------------------------------------------- */

int kl_api_conflict(kl_error_t *err, const kl_kind_info_t *info, const char *name)
{
    return kl_error_set(err, KL_ERR_CONFLICT,
                        "Operation cannot be fulfilled on %s \"%.253s\": the object has been "
                        "modified; please apply your changes to the latest version and try again",
                        info->resource, name);
}

static json_t *request_object(const json_t *payload, kl_error_t *err)
{
    const json_t *object = json_object_get(payload, "object");
    if (!json_is_object(object)) {
        kl_error_set(err, KL_ERR_INVALID, "request field \"object\" must be a JSON object");
        return NULL;
    }
    json_t *copy = kl_object_copy_for_write(object);
    if (!copy)
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory copying the request object");
    return copy;
}

json_t *kl_api_create(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    json_t *object = request_object(payload, err);
    if (!object)
        return NULL;
    char key[KEY_MAX];
    if (kl_object_prepare_create(object, err) < 0)
        goto fail;
    json_object_set_new(json_object_get(object, "metadata"), "generation", json_integer(1));
    const kl_kind_info_t *info = kl_kind_lookup(kl_object_kind(object));
    const char *name = kl_object_name(object);
    if (kl_api_make_key(key, info, kl_object_namespace(object), name) < 0) {
        kl_error_set(err, KL_ERR_INVALID, "%s \"%.253s\" has a name too long to store",
                     info->kind, name);
        goto fail;
    }
    kl_api_settle_key(self, key, 0);
    return kl_api_store_write(self, EVENT_ADDED, info, key, object, NULL, 0, err);
fail:
    json_decref(object);
    return NULL;
}

/* kind/namespace/name of the object carried by update/update_status. */
static int object_target(const json_t *object, target_t *t, kl_error_t *err)
{
    t->info = kl_kind_lookup(kl_object_kind(object));
    t->name = kl_object_name(object);
    t->namespace_name = t->info && t->info->namespaced ? kl_object_namespace(object) : "";
    if (!t->info || !t->name || !kl_name_is_dns1123_subdomain(t->name) || !t->namespace_name
        || (t->info->namespaced && !kl_name_is_dns1123_label(t->namespace_name))) {
        /* Let validation word the problem with its field path. */
        if (kl_object_validate(object, err) == 0)
            kl_error_set(err, KL_ERR_INVALID, "request object has no usable kind and name");
        return -1;
    }
    if (kl_api_make_key(t->key, t->info, t->namespace_name, t->name) < 0)
        return kl_error_set(err, KL_ERR_INVALID, "object name \"%.100s\" is too long", t->name);
    return 0;
}

/* Writes `object` over the key at mod_revision and records the change;
 * takes both references (`previous`: the state replaced). */
static json_t *store_update(kl_apiserver_t *self, const target_t *t, json_t *object,
                            json_t *previous, int64_t mod_revision, kl_error_t *err)
{
    return kl_api_store_write(self, EVENT_MODIFIED, t->info, t->key, object, previous, mod_revision,
                              err);
}

/* Loads the current object and applies an optional CAS check. */
static json_t *load_for_write(kl_apiserver_t *self, const target_t *t, int64_t expected,
                              int64_t *mod_revision, kl_error_t *err)
{
    json_t *current = kl_api_load_for_write(self, t->info, t->key, t->name, expected,
                                            mod_revision, err);
    if (current && expected > 0 && expected != *mod_revision) {
        kl_api_conflict(err, t->info, t->name);
        json_decref(current);
        return NULL;
    }
    return current;
}

static int keep_immutable(json_t *object, const json_t *current, const char *field,
                          kl_error_t *err)
{
    json_t *metadata = json_object_get(object, "metadata");
    const json_t *old = json_object_get(json_object_get(current, "metadata"), field);
    const json_t *given = json_object_get(metadata, field);
    if (given && old && !json_equal(given, old)) {
        return kl_error_set(err, KL_ERR_INVALID,
                            "%s \"%.253s\" is invalid: metadata.%s: Invalid value: \"%.100s\": "
                            "field is immutable", kl_object_kind(object), kl_object_name(object),
                            field, json_is_string(given) ? json_string_value(given) : "?");
    }
    if (old)
        json_object_set(metadata, field, (json_t *)old);
    return 0;
}

json_t *kl_api_update(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    json_t *object = request_object(payload, err);
    if (!object)
        return NULL;
    target_t t;
    int64_t mod_revision = 0;
    json_t *current = NULL;
    if (kl_object_set_defaults(object, err) < 0 || object_target(object, &t, err) < 0)
        goto fail;
    int64_t expected = kl_object_revision(object);
    if (expected < 0) {
        kl_object_validate(object, err);
        goto fail;
    }
    current = load_for_write(self, &t, expected, &mod_revision, err);
    if (!current)
        goto fail;
    if (keep_immutable(object, current, "uid", err) < 0
        || keep_immutable(object, current, "creationTimestamp", err) < 0)
        goto fail;
    json_t *status = json_object_get(current, "status");
    if (status)
        json_object_set(object, "status", status);
    else
        json_object_del(object, "status");
    json_object_del(json_object_get(object, "metadata"), "resourceVersion");
    /* generation counts changes of the desired state (spec), as in
     * Kubernetes, so controllers can report observedGeneration. */
    json_int_t generation = json_integer_value(json_object_get(json_object_get(current, "metadata"),
                                                               "generation"));
    if (generation < 1)
        generation = 1;
    if (!json_equal(json_object_get(object, "spec"), json_object_get(current, "spec")))
        generation++;
    json_object_set_new(json_object_get(object, "metadata"), "generation", json_integer(generation));
    if (kl_object_validate(object, err) < 0 || kl_api_check_owner_chain(self, object, err) < 0)
        goto fail;
    return store_update(self, &t, object, current, mod_revision, err);
fail:
    json_decref(current);
    json_decref(object);
    return NULL;
}

/* kind, apiVersion, identifying metadata and status of `given`: shared, not
 * copied, except status, which defaulting may add a phase to. */
static json_t *status_probe(const json_t *given)
{
    json_t *probe = json_object(), *metadata = json_object();
    const json_t *given_metadata = json_object_get(given, "metadata");
    static const char *const top[] = {"apiVersion", "kind"};
    static const char *const fields[] = {"name", "namespace", "resourceVersion"};
    int failed = !probe || !metadata;
    for (size_t i = 0; !failed && i < sizeof top / sizeof *top; i++) {
        json_t *value = json_object_get(given, top[i]);
        failed = value && json_object_set(probe, top[i], value) < 0;
    }
    json_t *status = json_object_get(given, "status");
    if (!failed && status)
        failed = json_object_set_new(probe, "status", json_copy(status)) < 0;
    for (size_t i = 0; !failed && json_is_object(given_metadata) && i < sizeof fields / sizeof *fields;
         i++) {
        json_t *value = json_object_get(given_metadata, fields[i]);
        failed = value && json_object_set(metadata, fields[i], value) < 0;
    }
    if (!failed && given_metadata && !json_is_object(given_metadata))
        failed = json_object_set(probe, "metadata", (json_t *)given_metadata) < 0;
    else if (!failed)
        failed = json_object_set(probe, "metadata", metadata) < 0;
    json_decref(metadata);
    if (failed) {
        json_decref(probe);
        return NULL;
    }
    return probe;
}

json_t *kl_api_update_status(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    const json_t *given = json_object_get(payload, "object");
    if (!json_is_object(given)) {
        kl_error_set(err, KL_ERR_INVALID, "request field \"object\" must be a JSON object");
        return NULL;
    }
    /* Only kind, name, namespace, resourceVersion and status are read, so
     * they are all the probe holds: copying and defaulting the whole object
     * was work thrown away. */
    json_t *probe = status_probe(given);
    target_t t;
    int64_t mod_revision = 0;
    json_t *current = NULL, *next = NULL;
    if (!probe) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory updating a status");
        goto fail;
    }
    if (kl_object_set_defaults(probe, err) < 0 || object_target(probe, &t, err) < 0)
        goto fail;
    int64_t expected = kl_object_revision(probe);
    if (expected < 0) {
        kl_error_set(err, KL_ERR_INVALID,
                     "%s \"%.253s\" is invalid: metadata.resourceVersion: Invalid value: must be "
                     "a decimal revision such as \"42\"", t.info->kind, t.name);
        goto fail;
    }
    json_t *status = json_object_get(probe, "status");
    if (!status) {
        kl_error_set(err, KL_ERR_INVALID, "%s \"%.253s\" is invalid: status: Required value",
                     t.info->kind, t.name);
        goto fail;
    }
    current = load_for_write(self, &t, expected, &mod_revision, err);
    if (!current)
        goto fail;
    next = kl_object_copy_for_write(current);
    if (!next) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory updating a status");
        goto fail;
    }
    json_object_set(next, "status", status);
    json_decref(probe);
    probe = NULL;
    json_object_del(json_object_get(next, "metadata"), "resourceVersion");
    if (kl_object_validate(next, err) < 0)
        goto fail;
    return store_update(self, &t, next, current, mod_revision, err);
fail:
    json_decref(next);
    json_decref(current);
    json_decref(probe);
    return NULL;
}

json_t *kl_api_bind(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    target_t t;
    if (kl_api_request_target(payload, kl_kind_lookup("Pod"), &t, err) < 0)
        return NULL;
    const char *node = json_string_value(json_object_get(payload, "nodeName"));
    if (!node || !*node || !kl_name_is_dns1123_subdomain(node)) {
        kl_error_set(err, KL_ERR_INVALID,
                     "binding of pod \"%.253s\": nodeName must be a valid node name", t.name);
        return NULL;
    }
    int64_t mod_revision = 0;
    json_t *pod = kl_api_load_for_write(self, t.info, t.key, t.name, 0, &mod_revision, err);
    if (!pod)
        return NULL;
    const char *bound = kl_pod_node_name(pod);
    if (bound && *bound) {
        if (strcmp(bound, node) == 0)
            return pod;  /* already where asked: nothing to write */
        kl_error_set(err, KL_ERR_CONFLICT,
                     "Operation cannot be fulfilled on pods/binding \"%.253s\": pod %.253s is "
                     "already assigned to node \"%.253s\"", t.name, t.name, bound);
        json_decref(pod);
        return NULL;
    }
    json_t *next = kl_object_copy_for_write(pod);
    json_t *spec = json_object_get(next, "spec");
    if (!json_is_object(spec)) {
        kl_error_set(err, KL_ERR_INTERNAL, "stored pod \"%.253s\" has no spec", t.name);
        json_decref(next);
        json_decref(pod);
        return NULL;
    }
    json_object_set_new(spec, "nodeName", json_string(node));
    return store_update(self, &t, next, pod, mod_revision, err);
}

json_t *kl_api_delete(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    target_t t;
    if (kl_api_request_target(payload, NULL, &t, err) < 0)
        return NULL;
    int64_t expected = kl_api_request_revision(payload, err);
    if (expected < 0)
        return NULL;
    const char *policy = json_string_value(json_object_get(payload, "propagationPolicy"));
    if (policy && strcmp(policy, "Orphan") != 0 && strcmp(policy, "Background") != 0
        && strcmp(policy, "Foreground") != 0) {
        kl_error_set(err, KL_ERR_INVALID,
                     "propagationPolicy \"%.60s\" is not Orphan, Background or Foreground", policy);
        return NULL;
    }
    int64_t mod_revision = 0;
    json_t *object = load_for_write(self, &t, expected, &mod_revision, err);
    if (!object)
        return NULL;
    /* Never in flight (see deferrable()): the dependents' updates are made
     * before the delete. */
    if (policy && strcmp(policy, "Orphan") == 0)
        kl_api_orphan_dependents(self, object);
    return kl_api_store_remove(self, t.info, t.key, object, mod_revision, err);
}
