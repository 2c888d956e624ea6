/* The kit's informer: list, then long-poll watch from the list's revision,
 * keeping a cache of one kind; relists when the watch history expired. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <keelson/kit.h>

struct kl_informer {
    const kl_host_t *host;
    char *kind;
    char *label_selector;
    char *field_selector;
    char resource_version[32];
    int synced;
    json_t *cache;  /* "namespace/name" -> object */
    kl_informer_handler_fn handler;
    void *handler_arg;
};

kl_informer_t *kl_informer_new(const kl_host_t *host, const char *kind, const char *label_selector,
                               const char *field_selector, kl_error_t *err)
{
    if (!host || !kind || !*kind) {
        kl_error_set(err, KL_ERR_INVALID, "an informer needs a host and a kind");
        return NULL;
    }
    kl_informer_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for an informer of %s", kind);
        return NULL;
    }
    self->host = host;
    self->kind = strdup(kind);
    self->label_selector = label_selector ? strdup(label_selector) : NULL;
    self->field_selector = field_selector ? strdup(field_selector) : NULL;
    self->cache = json_object();
    return self;
}

void kl_informer_destroy(kl_informer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_informer_t *self = *self_p;
    free(self->kind);
    free(self->label_selector);
    free(self->field_selector);
    json_decref(self->cache);
    free(self);
    *self_p = NULL;
}

void kl_informer_set_handler(kl_informer_t *self, kl_informer_handler_fn handler, void *arg)
{
    self->handler = handler;
    self->handler_arg = arg;
}

static void deliver(kl_informer_t *self, const char *type, const json_t *object)
{
    if (self->handler)
        self->handler(type, object, self->handler_arg);
}

static json_t *request_payload(const kl_informer_t *self)
{
    json_t *payload = json_pack("{s:s}", "kind", self->kind);
    if (self->label_selector)
        json_object_set_new(payload, "labelSelector", json_string(self->label_selector));
    if (self->field_selector)
        json_object_set_new(payload, "fieldSelector", json_string(self->field_selector));
    return payload;
}

static int relist(kl_informer_t *self, kl_error_t *err)
{
    json_t *payload = request_payload(self);
    json_t *list = self->host->request(self->host, "api.list", payload, 10000, err);
    json_decref(payload);
    if (!list)
        return -1;
    const char *rv = json_string_value(json_object_get(json_object_get(list, "metadata"),
                                                       "resourceVersion"));
    json_t *items = json_object_get(list, "items");
    if (!rv || !json_is_array(items)) {
        json_decref(list);
        return kl_error_set(err, KL_ERR_INVALID, "api.list of %s returned no items or resourceVersion",
                            self->kind);
    }
    json_t *fresh = json_object();
    size_t i;
    json_t *item;
    char key[600];
    json_array_foreach(items, i, item)
        json_object_set(fresh, kl_object_key(item, key, sizeof key), item);
    json_t *old = self->cache;
    self->cache = fresh;
    snprintf(self->resource_version, sizeof self->resource_version, "%s", rv);
    self->synced = 1;
    const char *k;
    json_t *object;
    json_object_foreach(old, k, object)
        if (!json_object_get(fresh, k))
            deliver(self, "DELETED", object);
    json_object_foreach(fresh, k, object)
        deliver(self, "ADDED", object);
    json_decref(old);
    json_decref(list);
    return 0;
}

int kl_informer_poll(kl_informer_t *self, int wait_ms, kl_error_t *err)
{
    if (!self->synced)
        return relist(self, err);
    json_t *payload = request_payload(self);
    json_object_set_new(payload, "resourceVersion", json_string(self->resource_version));
    json_object_set_new(payload, "timeoutMs", json_integer(wait_ms > 0 ? wait_ms : 0));
    kl_error_t werr = {0, ""};
    json_t *reply = self->host->request(self->host, "api.watch", payload, wait_ms + 10000, &werr);
    json_decref(payload);
    if (!reply) {
        if (werr.code == KL_ERR_EXPIRED) {
            self->synced = 0;  /* fell out of the history window: relist */
            return relist(self, err);
        }
        if (err)
            *err = werr;
        return -1;
    }
    const char *rv = json_string_value(json_object_get(reply, "resourceVersion"));
    json_t *events = json_object_get(reply, "events");
    if (!rv || !json_is_array(events)) {
        json_decref(reply);
        self->synced = 0;
        return kl_error_set(err, KL_ERR_INVALID, "api.watch of %s returned no events or resourceVersion",
                            self->kind);
    }
    size_t i;
    json_t *event;
    char key[600];
    json_array_foreach(events, i, event) {
        const char *type = json_string_value(json_object_get(event, "type"));
        json_t *object = json_object_get(event, "object");
        if (!type || !json_is_object(object))
            continue;
        kl_object_key(object, key, sizeof key);
        if (strcmp(type, "DELETED") == 0) {
            deliver(self, type, object);
            json_object_del(self->cache, key);
        } else {
            json_object_set(self->cache, key, object);
            deliver(self, type, object);
        }
    }
    snprintf(self->resource_version, sizeof self->resource_version, "%s", rv);
    json_decref(reply);
    return 0;
}

int kl_informer_synced(const kl_informer_t *self)
{
    return self->synced;
}

const json_t *kl_informer_get(const kl_informer_t *self, const char *namespace_name, const char *name)
{
    char key[600];
    if (namespace_name && *namespace_name)
        snprintf(key, sizeof key, "%s/%s", namespace_name, name);
    else
        snprintf(key, sizeof key, "%s", name);
    return json_object_get(self->cache, key);
}

size_t kl_informer_each(const kl_informer_t *self, kl_informer_visit_fn visit, void *arg)
{
    size_t n = 0;
    const char *key;
    json_t *object;
    json_object_foreach(self->cache, key, object) {
        n++;
        if (visit(object, arg))
            break;
    }
    return n;
}
