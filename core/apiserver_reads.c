/* The API server's reads, get and list: they change nothing, so they need
 * only the store access of apiserver_store.c, none of the writes' checks. */
#include <inttypes.h>
#include <stdio.h>

#include "apiserver_internal.h"

/* ---- methods --------------------------------------------------------- */

json_t *kl_api_get(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    target_t t;
    if (kl_api_request_target(payload, NULL, &t, err) < 0)
        return NULL;
    return kl_api_store_get(self, t.info, t.key, t.name, err);
}

typedef struct list_state {
    kl_apiserver_t *self;
    json_t *items;
    const kl_selector_t *selector;
    kl_error_t *err;
    int failed;
} list_state_t;

static int list_visit(const kl_store_kv_t *kv, void *arg)
{
    list_state_t *ls = arg;
    json_t *object = kl_api_object_for(ls->self, kv, ls->err);
    if (!object) {
        ls->failed = 1;
        return 1;
    }
    if (kl_selector_matches(ls->selector, object))
        json_array_append_new(ls->items, object);
    else
        json_decref(object);
    return 0;
}

json_t *kl_api_list(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    const kl_kind_info_t *info = kl_api_request_kind(payload, err);
    if (!info)
        return NULL;
    const char *ns = kl_api_request_namespace(payload, info, 1, err);
    if (!ns)
        return NULL;
    kl_selector_t *selector = kl_api_request_selector(payload, err);
    if (!selector)
        return NULL;
    char prefix[KEY_MAX];
    if (*ns)
        snprintf(prefix, sizeof prefix, "/registry/%s/%s/", info->resource, ns);
    else
        snprintf(prefix, sizeof prefix, "/registry/%s/", info->resource);
    list_state_t ls = {self, json_array(), selector, err, 0};
    int64_t revision = 0;
    kl_error_t serr = {0, ""};
    int rc = self->ops->range(self->store, prefix, NULL, 0, list_visit, &ls, &revision, &serr);
    kl_selector_destroy(&selector);
    if (rc < 0 || ls.failed) {
        if (rc < 0)
            kl_error_set(err, serr.code ? serr.code : KL_ERR_INTERNAL, "%s", serr.text);
        json_decref(ls.items);
        return NULL;
    }
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, revision);
    return json_pack("{s:s,s:s,s:{s:s},s:o}", "kind", info->list_kind, "apiVersion",
                     info->api_version, "metadata", "resourceVersion", text, "items", ls.items);
}
