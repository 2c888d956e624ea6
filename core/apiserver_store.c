/* The API server's keys, the request fields its methods read and its store
 * access: objects are loaded through the parse cache and written without
 * their revision. Shared by the reads, the writes and the watch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_internal.h"
#include "json_encode.h"
#include "json_scan.h"

/* ---- small helpers --------------------------------------------------- */

int kl_api_make_key(char *key, const kl_kind_info_t *info, const char *namespace_name,
                    const char *name)
{
    int n = info->namespaced
                ? snprintf(key, KEY_MAX, "/registry/%s/%s/%s", info->resource, namespace_name, name)
                : snprintf(key, KEY_MAX, "/registry/%s/%s", info->resource, name);
    return n > 0 && n < KEY_MAX ? 0 : -1;
}

int kl_api_not_found(kl_error_t *err, const kl_kind_info_t *info, const char *name)
{
    return kl_error_set(err, KL_ERR_NOT_FOUND, "%s \"%.253s\" not found", info->resource, name);
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

/* kind/namespace/name of a get, delete or bind request. */
int kl_api_request_target(const json_t *payload, const kl_kind_info_t *info, target_t *t,
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
    if (kl_api_make_key(t->key, t->info, t->namespace_name, t->name) < 0)
        return kl_error_set(err, KL_ERR_INVALID, "request name \"%.100s\" is too long", t->name);
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

/* ---- store access ---------------------------------------------------- */

/* Remembers `object` (borrowed; must no longer change) as the key's state.
 * Events are written once and seldom read (three or more per pod): caching
 * them would only push out the objects that are read again. */
void kl_api_remember(kl_apiserver_t *self, const char *key, json_t *object, int64_t mod_revision)
{
    static const char events_prefix[] = "/registry/events/";
    if (strncmp(key, events_prefix, sizeof events_prefix - 1) == 0)
        return;
    kl_api_cache_put(self->cache, key, object, mod_revision);
}

/* Remembers what the request being handled returns, with its text. */
void kl_api_set_reply_object(kl_apiserver_t *self, json_t *object, api_text_t *text)
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
json_t *kl_api_object_for(kl_apiserver_t *self, const kl_store_kv_t *kv, kl_error_t *err)
{
    json_t *cached = kl_api_cache_get(self->cache, kv->key, kv->mod_revision);
    if (cached)
        return cached;
    kl_error_t parse_err;
    json_t *object = kl_json_parse_object(kv->value, kv->value_len, &parse_err);
    if (!object) {
        kl_error_set(err, KL_ERR_INTERNAL, "stored value of %.300s is not a JSON object: %.150s",
                     kv->key, parse_err.text);
        return NULL;
    }
    kl_object_set_resource_version(object, kv->mod_revision);
    kl_api_remember(self, kv->key, object, kv->mod_revision);
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
    l->object = kl_api_object_for(l->self, kv, l->err);
    l->mod_revision = kv->mod_revision;
    return l->object ? 0 : 1;
}

/* One object with resourceVersion set (caller owns a reference; shared with
 * the cache, so copy with kl_object_copy_for_write before changing it). */
json_t *kl_api_load(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                    const char *name, int64_t *mod_revision, kl_error_t *err)
{
    /* The only writer's cache is the store's state for every key it holds:
     * each write updates or drops its entry and a failed commit clears it. */
    int64_t cached_revision;
    json_t *cached = self->only_writer ? kl_api_cache_latest(self->cache, key, &cached_revision) : NULL;
    if (cached) {
        if (mod_revision)
            *mod_revision = cached_revision;
        return cached;
    }
    loaded_t l = {self, NULL, 0, err};
    kl_error_t serr = {0, ""};
    if (self->ops->get(self->store, key, load_visit, &l, &serr) < 0) {
        kl_api_cache_remove(self->cache, key);
        if (serr.code == KL_ERR_NOT_FOUND)
            kl_api_not_found(err, info, name);
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
char *kl_api_dump_for_store(json_t *object, size_t *len, size_t *mark, kl_error_t *err)
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
    int failed = self->ops->flush(self->store, &serr) < 0;
    if (failed)
        kl_api_discard_uncommitted(self);
    self->committed = self->ops->revision(self->store);
    if (failed)
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
