/* Owner references: an update may not make an object its own ancestor, and
 * an orphan deletion takes the owner out of its dependents' references. Both
 * read objects other than the one written, so they are apart from the writes. */
#include <stdio.h>
#include <string.h>

#include "apiserver_internal.h"
#include "log.h"

/* ---- owner references ------------------------------------------------ */

/* Follows owner references (same namespace) a bounded number of steps: an
 * update that would make an object its own ancestor is refused, so garbage
 * collection can never chase a cycle. */
int kl_api_check_owner_chain(kl_apiserver_t *self, const json_t *object, kl_error_t *err)
{
    const char *uid = kl_object_uid(object);
    const char *ns = kl_object_namespace(object);
    if (!uid || !json_array_size(json_object_get(json_object_get(object, "metadata"), "ownerReferences")))
        return 0;
    json_t *frontier = json_array();
    json_array_append(frontier, (json_t *)object);
    int rc = 0;
    for (int depth = 0; depth < 16 && json_array_size(frontier) && rc == 0; depth++) {
        json_t *next = json_array();
        size_t i;
        json_t *current;
        json_array_foreach(frontier, i, current) {
            const json_t *refs = json_object_get(json_object_get(current, "metadata"), "ownerReferences");
            size_t j;
            json_t *ref;
            json_array_foreach(refs, j, ref) {
                const kl_kind_info_t *info = kl_kind_lookup(json_string_value(json_object_get(ref, "kind")));
                const char *name = json_string_value(json_object_get(ref, "name"));
                char key[KEY_MAX];
                if (!info || !name || kl_api_make_key(key, info, ns ? ns : "", name) < 0)
                    continue;
                kl_error_t ignored;
                json_t *owner = kl_api_load(self, info, key, name, NULL, &ignored);
                if (!owner)
                    continue;  /* a missing owner is the garbage collector's business */
                const char *owner_uid = kl_object_uid(owner);
                if (owner_uid && strcmp(owner_uid, uid) == 0) {
                    rc = kl_error_set(err, KL_ERR_INVALID,
                                      "%s \"%.100s\" is invalid: metadata.ownerReferences: Invalid value: "
                                      "owner %s \"%.100s\" is already owned by it (an ownership cycle)",
                                      kl_object_kind(object), kl_object_name(object), info->kind, name);
                    json_decref(owner);
                    break;
                }
                if (json_array_size(next) < 64)
                    json_array_append_new(next, owner);
                else
                    json_decref(owner);
            }
            if (rc)
                break;
        }
        json_decref(frontier);
        frontier = next;
    }
    json_decref(frontier);
    return rc;
}

typedef struct dependents {
    kl_apiserver_t *self;
    const char *owner_uid;
    json_t *found;  /* objects that reference the owner */
} dependents_t;

static int dependents_visit(const kl_store_kv_t *kv, void *arg)
{
    dependents_t *d = arg;
    kl_error_t ignored;
    json_t *object = kl_api_object_for(d->self, kv, &ignored);
    if (!object)
        return 0;
    const json_t *refs = json_object_get(json_object_get(object, "metadata"), "ownerReferences");
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (uid && strcmp(uid, d->owner_uid) == 0) {
            json_array_append(d->found, object);
            break;
        }
    }
    json_decref(object);
    return 0;
}

/* Orphan deletion: dependents of `owner` lose their reference to it instead
 * of being collected with it (kubectl delete --cascade=orphan). */
void kl_api_orphan_dependents(kl_apiserver_t *self, const json_t *owner)
{
    const char *uid = kl_object_uid(owner);
    const char *ns = kl_object_namespace(owner);
    if (!uid || !ns)
        return;
    static const int dependent_kinds[] = {KL_KIND_POD, KL_KIND_REPLICASET};
    for (size_t k = 0; k < 2; k++) {
        const kl_kind_info_t *info = kl_kind_lookup(k == 0 ? "Pod" : "ReplicaSet");
        (void)dependent_kinds;
        char prefix[KEY_MAX];
        snprintf(prefix, sizeof prefix, "/registry/%s/%s/", info->resource, ns);
        dependents_t d = {self, uid, json_array()};
        int64_t at;
        kl_error_t serr = {0, ""};
        self->ops->range(self->store, prefix, NULL, 0, dependents_visit, &d, &at, &serr);
        size_t i;
        json_t *dependent;
        json_array_foreach(d.found, i, dependent) {
            json_t *copy = json_deep_copy(dependent);
            json_t *refs = json_object_get(json_object_get(copy, "metadata"), "ownerReferences");
            for (size_t j = json_array_size(refs); j-- > 0;)
                if (strcmp(json_string_value(json_object_get(json_array_get(refs, j), "uid")) ?
                           json_string_value(json_object_get(json_array_get(refs, j), "uid")) : "", uid) == 0)
                    json_array_remove(refs, j);
            json_t *payload = json_pack("{s:o}", "object", copy);
            kl_error_t uerr = {0, ""};
            json_t *updated = kl_api_update(self, payload, &uerr);
            if (!updated)
                kl_warn("api", "could not orphan %s %s/%s: %s", info->kind, ns,
                        kl_object_name(dependent), uerr.text);
            json_decref(updated);
            json_decref(payload);
        }
        json_decref(d.found);
    }
}
