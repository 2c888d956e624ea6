/* The API server's methods: validates, defaults and stores objects with
 * optimistic concurrency, ownerReferences and cascading deletion. The watch
 * history is in apiserver_watch.c, the bus actor in apiserver_actor.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <keelson/version.h>

#include "apiserver.h"
#include "bus.h"
#include "json_encode.h"
#include "log.h"
#include "objects.h"
#include "selector.h"
#include "apiserver_internal.h"

/* ---- small helpers --------------------------------------------------- */

static int make_key(char *key, const kl_kind_info_t *info, const char *namespace_name,
                    const char *name)
{
    int n = info->namespaced
                ? snprintf(key, KEY_MAX, "/registry/%s/%s/%s", info->resource, namespace_name, name)
                : snprintf(key, KEY_MAX, "/registry/%s/%s", info->resource, name);
    return n > 0 && n < KEY_MAX ? 0 : -1;
}

static int not_found(kl_error_t *err, const kl_kind_info_t *info, const char *name)
{
    return kl_error_set(err, KL_ERR_NOT_FOUND, "%s \"%.253s\" not found", info->resource, name);
}

static int conflict(kl_error_t *err, const kl_kind_info_t *info, const char *name)
{
    return kl_error_set(err, KL_ERR_CONFLICT,
                        "Operation cannot be fulfilled on %s \"%.253s\": the object has been "
                        "modified; please apply your changes to the latest version and try again",
                        info->resource, name);
}

const kl_kind_info_t *kl_api_request_kind(const json_t *payload, kl_error_t *err)
{
    const json_t *kind = json_object_get(payload, "kind");
    if (!kind) {
        kl_error_set(err, KL_ERR_INVALID, "request has no kind: keelson serves Pod and Node");
        return NULL;
    }
    const kl_kind_info_t *info = kl_kind_lookup(json_string_value(kind));
    if (!info)
        kl_error_set(err, KL_ERR_INVALID, "unknown kind \"%.100s\": keelson serves Pod and Node",
                     json_is_string(kind) ? json_string_value(kind) : "(not a string)");
    return info;
}

/* The namespace a request names: "default" when absent for namespaced kinds,
 * ignored for cluster-scoped ones. NULL with err set when malformed. */
const char *kl_api_request_namespace(const json_t *payload, const kl_kind_info_t *info,
                                     int absent_means_all, kl_error_t *err)
{
    if (!info->namespaced)
        return "";
    const json_t *ns = json_object_get(payload, "namespace");
    if (!ns || (json_is_string(ns) && !*json_string_value(ns)))
        return absent_means_all ? "" : KL_DEFAULT_NAMESPACE;
    const char *text = json_string_value(ns);
    if (!text || !kl_name_is_dns1123_label(text)) {
        kl_error_set(err, KL_ERR_INVALID, "request namespace %s%.100s%s is not a valid namespace name",
                     text ? "\"" : "", text ? text : "(not a string)", text ? "\"" : "");
        return NULL;
    }
    return text;
}

static const char *request_name(const json_t *payload, kl_error_t *err)
{
    const json_t *name = json_object_get(payload, "name");
    const char *text = json_string_value(name);
    if (!text || !*text) {
        kl_error_set(err, KL_ERR_INVALID, "request name is required (a non-empty string)");
        return NULL;
    }
    if (!kl_name_is_dns1123_subdomain(text)) {
        kl_error_set(err, KL_ERR_INVALID, "request name \"%.100s\" is not a valid object name", text);
        return NULL;
    }
    return text;
}

/* Revision from a request's "resourceVersion" (string or integer): 0 when
 * absent, -1 with err when malformed. */
int64_t kl_api_request_revision(const json_t *payload, kl_error_t *err)
{
    const json_t *rv = json_object_get(payload, "resourceVersion");
    if (!rv)
        return 0;
    json_t *probe = json_pack("{s:{s:O}}", "metadata", "resourceVersion", rv);
    int64_t revision = probe ? kl_object_revision(probe) : -1;
    json_decref(probe);
    if (revision < 0)
        kl_error_set(err, KL_ERR_INVALID,
                     "request resourceVersion must be a decimal revision such as \"42\"");
    return revision;
}

/* ---- store access ---------------------------------------------------- */

/* Remembers `object` (borrowed; must no longer change) as the key's state.
 * Events are written once and seldom read (three or more per pod): caching
 * them would only push out the objects that are read again. */
static void cache_put(kl_apiserver_t *self, const char *key, json_t *object, int64_t mod_revision)
{
    static const char events_prefix[] = "/registry/events/";
    if (strncmp(key, events_prefix, sizeof events_prefix - 1) == 0)
        return;
    kl_api_cache_put(self->cache, key, object, mod_revision);
}

/* Remembers what the request being handled returns, with its text. */
static void set_reply_object(kl_apiserver_t *self, json_t *object, api_text_t *text)
{
    json_decref(self->reply_object);
    kl_api_text_unref(&self->reply_object_text);
    self->reply_object = text ? json_incref(object) : NULL;
    self->reply_object_text = kl_api_text_ref(text);
}

char *kl_apiserver_reply_text(kl_apiserver_t *self, const json_t *reply, size_t *length)
{
    const api_text_t *text = self->reply_object_text;
    if (!reply || reply != self->reply_object || !text)
        return NULL;
    char *copy = malloc(text->length + 1);
    if (!copy)
        return NULL;
    memcpy(copy, text->data, text->length + 1);
    *length = text->length;
    return copy;
}

/* The parsed object for a store entry (caller owns a shared reference). */
static json_t *object_for(kl_apiserver_t *self, const kl_store_kv_t *kv, kl_error_t *err)
{
    json_t *cached = kl_api_cache_get(self->cache, kv->key, kv->mod_revision);
    if (cached)
        return cached;
    json_error_t jerr;
    json_t *object = json_loadb(kv->value, kv->value_len, 0, &jerr);
    if (!json_is_object(object)) {
        json_decref(object);
        kl_error_set(err, KL_ERR_INTERNAL, "stored value of %.300s is not a JSON object: %s",
                     kv->key, jerr.text);
        return NULL;
    }
    kl_object_set_resource_version(object, kv->mod_revision);
    cache_put(self, kv->key, object, kv->mod_revision);
    return object;
}

typedef struct loaded {
    kl_apiserver_t *self;
    json_t *object;
    int64_t mod_revision;
    kl_error_t *err;
} loaded_t;

static int load_visit(const kl_store_kv_t *kv, void *arg)
{
    loaded_t *l = arg;
    l->object = object_for(l->self, kv, l->err);
    l->mod_revision = kv->mod_revision;
    return l->object ? 0 : 1;
}

/* One object with resourceVersion set (caller owns a reference; shared with
 * the cache, so copy with kl_object_copy_for_write before changing it). */
static json_t *load(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                    const char *name, int64_t *mod_revision, kl_error_t *err)
{
    loaded_t l = {self, NULL, 0, err};
    kl_error_t serr = {0, ""};
    if (self->ops->get(self->store, key, load_visit, &l, &serr) < 0) {
        kl_api_cache_remove(self->cache, key);
        if (serr.code == KL_ERR_NOT_FOUND)
            not_found(err, info, name);
        else
            kl_error_set(err, serr.code ? serr.code : KL_ERR_INTERNAL, "%s", serr.text);
        return NULL;
    }
    if (l.object && mod_revision)
        *mod_revision = l.mod_revision;
    return l.object;
}

/* Serializes without resourceVersion: the store's mod_revision is the truth.
 * *mark: where metadata's fields begin, to splice the revision in later. */
static char *dump_for_store(json_t *object, size_t *len, size_t *mark, kl_error_t *err)
{
    json_t *metadata = json_object_get(object, "metadata");
    json_object_del(metadata, "resourceVersion");
    char *text = kl_json_encode_marked(object, "metadata", len, mark);
    if (!text)
        kl_error_set(err, KL_ERR_INTERNAL, "cannot serialize %s \"%.253s\"",
                     kl_object_kind(object), kl_object_name(object));
    return text;
}

int kl_apiserver_flush(kl_apiserver_t *self, kl_error_t *err)
{
    if (!self->can_flush)
        return 0;
    kl_error_t serr = {0, ""};
    if (self->ops->flush(self->store, &serr) < 0)
        return kl_error_set(err, serr.code ? serr.code : KL_ERR_UNAVAILABLE,
                            "the store could not make writes durable: %s", serr.text);
    return 0;
}

int kl_apiserver_shared(const kl_apiserver_t *self)
{
    return self->shared;
}

int kl_apiserver_needs_flush(const kl_apiserver_t *self)
{
    return self->can_flush;
}

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
    self->can_changes = KL_PLUGIN_HAS(store, kl_store_ops_t, changes);
    self->can_flush = KL_PLUGIN_HAS(store, kl_store_ops_t, flush);
    self->can_tick = KL_PLUGIN_HAS(store, kl_store_ops_t, tick);
    uint32_t features = KL_PLUGIN_HAS(store, kl_store_ops_t, features) ? ops->features(self->store) : 0;
    self->shared = (features & KL_STORE_SHARED) && self->can_changes;
    return self;
}

void kl_apiserver_destroy(kl_apiserver_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_apiserver_t *self = *self_p;
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
    set_reply_object(self, NULL, NULL);
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
    return json_pack("{s:s, s:o, s:o, s:s}", "version", KL_VERSION_STRING, "controllers", controllers,
                     "kinds", kinds, "store", self->plugin && self->plugin->label ? self->plugin->label : "");
}

size_t kl_apiserver_pending_watches(const kl_apiserver_t *self)
{
    return self ? self->pending : 0;
}

int64_t kl_apiserver_revision(const kl_apiserver_t *self)
{
    return self->ops->revision(self->store);
}

/* ---- methods --------------------------------------------------------- */

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

static json_t *do_create(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    json_t *object = request_object(payload, err);
    if (!object)
        return NULL;
    char key[KEY_MAX];
    size_t len, mark;
    char *text = NULL;
    int64_t revision;
    kl_error_t serr = {0, ""};
    if (kl_object_prepare_create(object, err) < 0)
        goto fail;
    json_object_set_new(json_object_get(object, "metadata"), "generation", json_integer(1));
    const kl_kind_info_t *info = kl_kind_lookup(kl_object_kind(object));
    const char *name = kl_object_name(object);
    if (make_key(key, info, kl_object_namespace(object), name) < 0) {
        kl_error_set(err, KL_ERR_INVALID, "%s \"%.253s\" has a name too long to store",
                     info->kind, name);
        goto fail;
    }
    text = dump_for_store(object, &len, &mark, err);
    if (!text)
        goto fail;
    if (self->ops->create(self->store, key, text, len, &revision, &serr) < 0) {
        if (serr.code == KL_ERR_EXISTS)
            kl_error_set(err, KL_ERR_EXISTS, "%s \"%.253s\" already exists", info->resource, name);
        else
            kl_error_set(err, serr.code ? serr.code : KL_ERR_INTERNAL, "%s", serr.text);
        goto fail;
    }
    api_text_t *written = kl_api_text_with_revision(text, len, mark, revision);
    free(text);
    kl_object_set_resource_version(object, revision);
    cache_put(self, key, object, revision);
    kl_api_record(self, EVENT_ADDED, info, object, NULL, revision, written);
    set_reply_object(self, object, written);
    kl_api_text_unref(&written);
    return object;
fail:
    free(text);
    json_decref(object);
    return NULL;
}

typedef struct target {
    const kl_kind_info_t *info;
    const char *namespace_name;
    const char *name;
    char key[KEY_MAX];
} target_t;

/* kind/namespace/name of a get, delete or bind request. */
static int request_target(const json_t *payload, const kl_kind_info_t *info, target_t *t,
                          kl_error_t *err)
{
    t->info = info ? info : kl_api_request_kind(payload, err);
    if (!t->info)
        return -1;
    t->namespace_name = kl_api_request_namespace(payload, t->info, 0, err);
    if (!t->namespace_name)
        return -1;
    t->name = request_name(payload, err);
    if (!t->name)
        return -1;
    if (make_key(t->key, t->info, t->namespace_name, t->name) < 0)
        return kl_error_set(err, KL_ERR_INVALID, "request name \"%.100s\" is too long", t->name);
    return 0;
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
    if (make_key(t->key, t->info, t->namespace_name, t->name) < 0)
        return kl_error_set(err, KL_ERR_INVALID, "object name \"%.100s\" is too long", t->name);
    return 0;
}

static json_t *do_get(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    target_t t;
    if (request_target(payload, NULL, &t, err) < 0)
        return NULL;
    return load(self, t.info, t.key, t.name, NULL, err);
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
    json_t *object = object_for(ls->self, kv, ls->err);
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

kl_selector_t *kl_api_request_selector(const json_t *payload, kl_error_t *err)
{
    const json_t *label = json_object_get(payload, "labelSelector");
    const json_t *field = json_object_get(payload, "fieldSelector");
    if ((label && !json_is_string(label)) || (field && !json_is_string(field))) {
        kl_error_set(err, KL_ERR_INVALID, "request %s must be a string",
                     label && !json_is_string(label) ? "labelSelector" : "fieldSelector");
        return NULL;
    }
    return kl_selector_new(json_string_value(label), json_string_value(field), err);
}

static json_t *do_list(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
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

/* Writes `object` over the key at mod_revision and records the change;
 * takes both references (`previous`: the state replaced). */
static json_t *store_update(kl_apiserver_t *self, const target_t *t, json_t *object,
                            json_t *previous, int64_t mod_revision, kl_error_t *err)
{
    size_t len, mark;
    int64_t revision;
    kl_error_t serr = {0, ""};
    char *text = dump_for_store(object, &len, &mark, err);
    if (!text) {
        json_decref(object);
        json_decref(previous);
        return NULL;
    }
    int rc = self->ops->update(self->store, t->key, text, len, mod_revision, &revision, &serr);
    api_text_t *written = rc == 0 ? kl_api_text_with_revision(text, len, mark, revision) : NULL;
    free(text);
    if (rc < 0) {
        if (serr.code == KL_ERR_CONFLICT)
            conflict(err, t->info, t->name);
        else if (serr.code == KL_ERR_NOT_FOUND)
            not_found(err, t->info, t->name);
        else
            kl_error_set(err, serr.code ? serr.code : KL_ERR_INTERNAL, "%s", serr.text);
        json_decref(object);
        json_decref(previous);
        return NULL;
    }
    kl_object_set_resource_version(object, revision);
    cache_put(self, t->key, object, revision);
    kl_api_record(self, EVENT_MODIFIED, t->info, object, previous, revision, written);
    set_reply_object(self, object, written);
    kl_api_text_unref(&written);
    return object;
}

/* Loads the current object and applies an optional CAS check. */
static json_t *load_for_write(kl_apiserver_t *self, const target_t *t, int64_t expected,
                              int64_t *mod_revision, kl_error_t *err)
{
    json_t *current = load(self, t->info, t->key, t->name, mod_revision, err);
    if (current && expected > 0 && expected != *mod_revision) {
        conflict(err, t->info, t->name);
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

/* Follows owner references (same namespace) a bounded number of steps: an
 * update that would make an object its own ancestor is refused, so garbage
 * collection can never chase a cycle. */
static int check_owner_chain(kl_apiserver_t *self, const json_t *object, kl_error_t *err)
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
                if (!info || !name || make_key(key, info, ns ? ns : "", name) < 0)
                    continue;
                kl_error_t ignored;
                json_t *owner = load(self, info, key, name, NULL, &ignored);
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

/* Orphan deletion: dependents of `owner` lose their reference to it instead
 * of being collected with it (kubectl delete --cascade=orphan). */
static void orphan_dependents(kl_apiserver_t *self, const json_t *owner);

static json_t *do_update(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
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
    if (kl_object_validate(object, err) < 0 || check_owner_chain(self, object, err) < 0)
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

static json_t *do_update_status(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
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

static json_t *do_bind(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    target_t t;
    if (request_target(payload, kl_kind_lookup("Pod"), &t, err) < 0)
        return NULL;
    const char *node = json_string_value(json_object_get(payload, "nodeName"));
    if (!node || !*node || !kl_name_is_dns1123_subdomain(node)) {
        kl_error_set(err, KL_ERR_INVALID,
                     "binding of pod \"%.253s\": nodeName must be a valid node name", t.name);
        return NULL;
    }
    int64_t mod_revision = 0;
    json_t *pod = load(self, t.info, t.key, t.name, &mod_revision, err);
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

static json_t *do_delete(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    target_t t;
    if (request_target(payload, NULL, &t, err) < 0)
        return NULL;
    int64_t expected = kl_api_request_revision(payload, err);
    if (expected < 0)
        return NULL;
    const char *policy = json_string_value(json_object_get(payload, "propagationPolicy"));
    if (policy && strcmp(policy, "Orphan") != 0 && strcmp(policy, "Background") != 0
        && strcmp(policy, "Foreground") != 0) {
        kl_error_set(err, KL_ERR_INVALID, "propagationPolicy \"%.60s\" is not Orphan, Background or Foreground",
                     policy);
        return NULL;
    }
    int64_t mod_revision = 0, revision = 0;
    json_t *object = load_for_write(self, &t, expected, &mod_revision, err);
    if (!object)
        return NULL;
    if (policy && strcmp(policy, "Orphan") == 0)
        orphan_dependents(self, object);
    kl_error_t serr = {0, ""};
    if (self->ops->remove(self->store, t.key, mod_revision, &revision, &serr) < 0) {
        if (serr.code == KL_ERR_CONFLICT)
            conflict(err, t.info, t.name);
        else if (serr.code == KL_ERR_NOT_FOUND)
            not_found(err, t.info, t.name);
        else
            kl_error_set(err, serr.code ? serr.code : KL_ERR_INTERNAL, "%s", serr.text);
        json_decref(object);
        return NULL;
    }
    kl_api_cache_remove(self->cache, t.key);
    /* Watchers resume after the deletion, so the event carries its revision. */
    json_t *last = kl_object_copy_for_write(object);
    json_decref(object);
    if (!last) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory after deleting %s \"%.253s\"",
                     t.info->resource, t.name);
        return NULL;
    }
    kl_object_set_resource_version(last, revision);
    kl_api_record(self, EVENT_DELETED, t.info, last, NULL, revision, NULL);
    return last;
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
    json_t *object = object_for(d->self, kv, &ignored);
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

static void orphan_dependents(kl_apiserver_t *self, const json_t *owner)
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
            json_t *updated = do_update(self, payload, &uerr);
            if (!updated)
                kl_warn("api", "could not orphan %s %s/%s: %s", info->kind, ns,
                        kl_object_name(dependent), uerr.text);
            json_decref(updated);
            json_decref(payload);
        }
        json_decref(d.found);
    }
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
    set_reply_object(self, NULL, NULL);
    switch (method[0]) {
    case 'c':
        if (strcmp(method, "create") == 0)
            return do_create(self, payload, err);
        break;
    case 'g':
        if (strcmp(method, "get") == 0)
            return do_get(self, payload, err);
        break;
    case 'l':
        if (strcmp(method, "list") == 0)
            return do_list(self, payload, err);
        break;
    case 'u':
        if (strcmp(method, "update") == 0)
            return do_update(self, payload, err);
        if (strcmp(method, "update_status") == 0)
            return do_update_status(self, payload, err);
        break;
    case 'b':
        if (strcmp(method, "bind") == 0)
            return do_bind(self, payload, err);
        break;
    case 'd':
        if (strcmp(method, "delete") == 0)
            return do_delete(self, payload, err);
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
