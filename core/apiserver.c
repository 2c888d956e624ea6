/* The API server's lifecycle, settings and info, and the dispatcher of its
 * methods: store access is in apiserver_store.c, the methods in
 * apiserver_reads.c, apiserver_writes.c and apiserver_owners.c, their
 * store calls made at once or kept in flight in apiserver_inflight.c, the watch
 * history in apiserver_history.c, the events read from the store's change
 * feed in apiserver_feed.c, the watchers in apiserver_watch.c, the bus actor
 * in apiserver_actor.c. */
#include <stdlib.h>
#include <string.h>

#include <keelson/version.h>

#include "apiserver.h"
#include "apiserver_internal.h"

/* ---- lifecycle ------------------------------------------------------- */

kl_apiserver_t *kl_apiserver_new(kl_plugin_t *store, size_t history, kl_error_t *err)
{
    if (!store || !store->ops || !store->desc || store->desc->kind != KL_KIND_STORE) {
        kl_error_set(err, KL_ERR_INVALID, "the API server needs a store plugin");
        return NULL;
    }
    const kl_store_ops_t *ops = store->ops;
    if (!KL_PLUGIN_HAS(store, kl_store_ops_t, get) || !KL_PLUGIN_HAS(store, kl_store_ops_t, range)
        || !KL_PLUGIN_HAS(store, kl_store_ops_t, create) || !KL_PLUGIN_HAS(store, kl_store_ops_t, update)
        || !KL_PLUGIN_HAS(store, kl_store_ops_t, remove) || !KL_PLUGIN_HAS(store, kl_store_ops_t, revision)) {
        kl_error_set(err, KL_ERR_INVALID,
                     "plugin %s lacks store operations the API server needs", store->label
                     ? store->label : "store");
        return NULL;
    }
    kl_apiserver_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory creating the API server");
        return NULL;
    }
    self->plugin = store;
    self->ops = ops;
    self->capacity = history ? history : KL_APISERVER_DEFAULT_HISTORY;
    self->ring = calloc(self->capacity, sizeof *self->ring);
    self->cache = kl_api_cache_new(KL_APISERVER_DEFAULT_CACHE);
    for (int i = 0; i < KL_KIND_COUNT; i++) {
        self->pinned[i] = zhashx_new();
        if (self->pinned[i])
            zhashx_set_destructor(self->pinned[i], kl_api_group_destroy);
    }
    if (!self->ring || !self->cache || !self->pinned[0] || !self->pinned[1]) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for %zu history events", self->capacity);
        kl_apiserver_destroy(&self);
        return NULL;
    }
    if (!store->state && kl_plugin_open(store, err) < 0) {
        kl_apiserver_destroy(&self);
        return NULL;
    }
    self->store = store->state;
    self->floor = ops->revision(self->store);
    self->ingested = self->floor;
    self->committed = self->floor;
    self->can_changes = KL_PLUGIN_HAS(store, kl_store_ops_t, changes);
    self->can_flush = KL_PLUGIN_HAS(store, kl_store_ops_t, flush);
    self->can_tick = KL_PLUGIN_HAS(store, kl_store_ops_t, tick);
    uint32_t features = KL_PLUGIN_HAS(store, kl_store_ops_t, features) ? ops->features(self->store) : 0;
    self->shared = (features & KL_STORE_SHARED) && self->can_changes;
    self->only_writer = !(features & KL_STORE_SHARED);
    self->can_submit = KL_PLUGIN_HAS(store, kl_store_ops_t, settle) && ops->submit && ops->settle;
    self->can_settle_fd = self->can_submit && KL_PLUGIN_HAS(store, kl_store_ops_t, settle_fd)
                          && ops->settle_fd;
    self->changes_fd = self->shared && KL_PLUGIN_HAS(store, kl_store_ops_t, changes_fd)
                           ? ops->changes_fd(self->store)
                           : -1;
    return self;
}

void kl_apiserver_destroy(kl_apiserver_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_apiserver_t *self = *self_p;
    kl_apiserver_settle(self);
    free(self->in_flight);
    /* A watcher must never be left without an answer. */
    while (self->all) {
        watcher_t *w = self->all;
        size_t length = 0;
        int64_t examined = self->store ? kl_api_examined_revision(self) : 0;
        char *reply = kl_api_empty_reply(w->revision > examined ? w->revision : examined, &length);
        kl_api_answer(self, w, reply, length);
    }
    for (size_t i = 0; self->ring && i < self->count; i++)
        kl_api_event_clear(kl_api_ring_at(self, i));
    kl_api_set_reply_object(self, NULL, NULL);
    kl_api_drop_unpublished(self);
    free(self->unpublished);
    free(self->ring);
    for (int i = 0; i < KL_KIND_COUNT; i++)
        zhashx_destroy(&self->pinned[i]);
    kl_api_cache_destroy(&self->cache);
    kl_api_watch_selectors_clear(self);
    free(self);
    *self_p = NULL;
}

void kl_apiserver_set_reply(kl_apiserver_t *self, kl_apiserver_reply_fn reply, void *arg)
{
    self->reply = reply;
    self->reply_arg = arg;
}

void kl_apiserver_set_reply_text(kl_apiserver_t *self, kl_apiserver_reply_text_fn reply, void *arg)
{
    self->reply_text = reply;
    self->reply_arg = arg;
}

void kl_apiserver_set_publish_filter(kl_apiserver_t *self, kl_apiserver_wanted_fn wanted)
{
    self->publish_wanted = wanted;
}

void kl_apiserver_set_publish(kl_apiserver_t *self, kl_apiserver_publish_fn publish, void *arg)
{
    self->publish = publish;
    self->publish_arg = arg;
}

void kl_apiserver_set_cache_objects(kl_apiserver_t *self, size_t objects)
{
    kl_api_cache_set_capacity(self->cache, objects);
}

void kl_apiserver_set_controllers(kl_apiserver_t *self, const char *const *controllers)
{
    self->controllers = controllers;
}

static json_t *do_info(kl_apiserver_t *self)
{
    json_t *controllers = json_array();
    for (size_t i = 0; self->controllers && self->controllers[i]; i++)
        json_array_append_new(controllers, json_string(self->controllers[i]));
    json_t *kinds = json_array();
    static const char *const served[] = {"Pod", "Node", "ReplicaSet", "Deployment", "Event",
                                         "Lease"};
    for (size_t i = 0; i < sizeof served / sizeof *served; i++)
        json_array_append_new(kinds, json_string(served[i]));
    return json_pack("{s:s, s:o, s:o, s:s, s:{s:I, s:I}}", "version", KL_VERSION_STRING,
                     "controllers", controllers, "kinds", kinds, "store",
                     self->plugin && self->plugin->label ? self->plugin->label : "", "writes",
                     "fromCache", (json_int_t)self->writes_from_cache, "runAgain",
                     (json_int_t)self->writes_run_again);
}

size_t kl_apiserver_pending_watches(const kl_apiserver_t *self)
{
    return self ? self->pending : 0;
}

int kl_apiserver_changes_fd(const kl_apiserver_t *self)
{
    return self->changes_fd;
}

int64_t kl_apiserver_revision(const kl_apiserver_t *self)
{
    return self->ops->revision(self->store);
}

/* ---- dispatch -------------------------------------------------------- */

/* Requests that may stay in flight while later ones are handled. */
/* Requests that may wait in flight. An orphaning delete may not: its
 * dependents must lose their owner before it goes, or the garbage collector
 * could take them for orphans of a deleted owner, so it runs with nothing
 * in flight, its own writes included. */
static int deferrable(const char *method, const json_t *payload)
{
    if (method && strcmp(method, "delete") == 0) {
        const char *policy = json_string_value(json_object_get(payload, "propagationPolicy"));
        return !policy || strcmp(policy, "Orphan") != 0;
    }
    return method
           && (strcmp(method, "get") == 0 || strcmp(method, "create") == 0
               || strcmp(method, "update") == 0 || strcmp(method, "update_status") == 0
               || strcmp(method, "bind") == 0);
}

json_t *kl_apiserver_handle_token(kl_apiserver_t *self, const char *method, const json_t *payload,
                                  void *token, int *deferred, kl_error_t *err)
{
    int defer = token && self->in_flight && self->done && deferrable(method, payload);
    if (!defer)
        kl_apiserver_settle(self);
    self->request = (request_context_t){.token = defer ? token : NULL, .method = method,
                                        .payload = payload};
    json_t *reply = kl_apiserver_handle(self, method, payload, err);
    if (!reply && !self->request.deferred && self->request.cache_served) {
        /* Refused on the cache's copy (a check of the object, before any
         * write): the copy may be out of date, so the answer comes from a
         * fresh read. */
        kl_error_clear(err);
        self->writes_run_again++;
        self->fresh_reads++;
        reply = kl_apiserver_handle(self, method, payload, err);
        self->fresh_reads--;
    }
    if (deferred)
        *deferred = self->request.deferred;
    self->request = (request_context_t){0};
    return reply;
}

json_t *kl_apiserver_handle(kl_apiserver_t *self, const char *method, const json_t *payload,
                            kl_error_t *err)
{
    if (!json_is_object(payload)) {
        kl_error_set(err, KL_ERR_INVALID, "api.%.50s payload must be a JSON object",
                     method ? method : "");
        return NULL;
    }
    if (!method)
        method = "";
    kl_api_set_reply_object(self, NULL, NULL);
    switch (method[0]) {
    case 'c':
        if (strcmp(method, "create") == 0)
            return kl_api_create(self, payload, err);
        break;
    case 'g':
        if (strcmp(method, "get") == 0)
            return kl_api_get(self, payload, err);
        break;
    case 'l':
        if (strcmp(method, "list") == 0)
            return kl_api_list(self, payload, err);
        break;
    case 'u':
        if (strcmp(method, "update") == 0)
            return kl_api_update(self, payload, err);
        if (strcmp(method, "update_status") == 0)
            return kl_api_update_status(self, payload, err);
        break;
    case 'b':
        if (strcmp(method, "bind") == 0)
            return kl_api_bind(self, payload, err);
        break;
    case 'd':
        if (strcmp(method, "delete") == 0)
            return kl_api_delete(self, payload, err);
        break;
    case 'w':
        if (strcmp(method, "watch") == 0)
            return kl_api_watch_now(self, payload, err);
        break;
    case 'i':
        if (strcmp(method, "info") == 0)
            return do_info(self);
        break;
    }
    kl_error_set(err, KL_ERR_INVALID,
                 "api has no method \"%.50s\" (create, get, list, update, update_status, bind, "
                 "delete, watch, info)", method);
    return NULL;
}
