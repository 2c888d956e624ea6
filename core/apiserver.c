/* The API server: validates and stores objects, keeps a ring of recent events
 * for resumable watches and answers long-poll watchers as events arrive. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <keelson/version.h>

#include "apiserver.h"
#include "bus.h"
#include "log.h"
#include "objects.h"
#include "selector.h"

#define KEY_MAX 600  /* "/registry/" + resource + namespace (63) + name (253) */

typedef enum event_type { EVENT_ADDED, EVENT_MODIFIED, EVENT_DELETED } event_type_t;
static const char *const event_names[] = {"ADDED", "MODIFIED", "DELETED"};

typedef struct event {
    int64_t revision;
    event_type_t type;
    const kl_kind_info_t *kind;
    json_t *object;    /* owned reference; resourceVersion set; never modified */
    json_t *previous;  /* MODIFIED only: the state before, so selector watchers
                        * see objects enter (ADDED) and leave (DELETED) */
} event_t;

typedef struct watcher watcher_t;

/* Watchers of one kind that pin spec.nodeName to the same value (kubelets),
 * or the unpinned ones: an event only visits the groups it can match. */
typedef struct watcher_group {
    watcher_t *first;
    char *pin;  /* NULL for the unpinned group */
} watcher_group_t;

struct watcher {
    watcher_t *prev, *next;          /* within its group */
    watcher_t *all_prev, *all_next;  /* every pending watcher, for ticks */
    watcher_group_t *group;
    void *token;
    const kl_kind_info_t *kind;
    char *namespace_name;            /* NULL: every namespace */
    kl_selector_t *selector;
    int64_t revision;                /* resume after this */
    int64_t deadline_ms;
    int ready;                       /* deferred: has events to be answered with */
};

typedef struct watch_request {
    const kl_kind_info_t *kind;
    char *namespace_name;
    kl_selector_t *selector;
    int64_t revision;
    int64_t timeout_ms;
} watch_request_t;

struct kl_apiserver {
    kl_plugin_t *plugin;
    const kl_store_ops_t *ops;
    void *store;

    event_t *ring;
    size_t capacity, first, count;
    int64_t floor;  /* every event with a revision above this is in the ring */

    /* Parsed objects by store key: the API server is the store's only
     * writer, so reads skip parsing whenever the store still holds the
     * revision cached. Objects are shared with history and replies. */
    zhashx_t *cache;  /* key -> cached_t */

    watcher_group_t unpinned[KL_KIND_COUNT];
    zhashx_t *pinned[KL_KIND_COUNT];  /* pin -> watcher_group_t */
    watcher_t *all;
    size_t pending;
    /* Deferred watches are answered once per burst, after its commit, with
     * every event of the burst: one reply instead of one per event. */
    int defer_watches;
    size_t ready;  /* watchers marked ready */

    /* What the store offers beyond ABI 1.0 (absent in older plugins). */
    int can_changes, can_flush, can_tick, shared;
    int64_t ingested;  /* shared stores: changes up to here are in the ring */

    const char *const *controllers;

    kl_apiserver_reply_fn reply;
    void *reply_arg;
    kl_apiserver_publish_fn publish;
    void *publish_arg;
};

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

static const kl_kind_info_t *request_kind(const json_t *payload, kl_error_t *err)
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
static const char *request_namespace(const json_t *payload, const kl_kind_info_t *info,
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
static int64_t request_revision(const json_t *payload, kl_error_t *err)
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

typedef struct cached {
    json_t *object;
    int64_t mod_revision;
} cached_t;

static void cached_destroy(void **item)
{
    cached_t *c = *item;
    if (c) {
        json_decref(c->object);
        free(c);
        *item = NULL;
    }
}

/* Remembers `object` (borrowed; must no longer change) as the key's state. */
static void cache_put(kl_apiserver_t *self, const char *key, json_t *object, int64_t mod_revision)
{
    cached_t *c = malloc(sizeof *c);
    if (!c)
        return;  /* the cache is only an optimisation */
    c->object = json_incref(object);
    c->mod_revision = mod_revision;
    zhashx_update(self->cache, key, c);
}

/* The parsed object for a store entry (caller owns a shared reference). */
static json_t *object_for(kl_apiserver_t *self, const kl_store_kv_t *kv, kl_error_t *err)
{
    cached_t *c = zhashx_lookup(self->cache, kv->key);
    if (c && c->mod_revision == kv->mod_revision)
        return json_incref(c->object);
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
        zhashx_delete(self->cache, key);
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

/* Serializes without resourceVersion: the store's mod_revision is the truth. */
static char *dump_for_store(json_t *object, size_t *len, kl_error_t *err)
{
    json_t *metadata = json_object_get(object, "metadata");
    json_object_del(metadata, "resourceVersion");
    char *text = kl_json_encode(object, len);
    if (!text)
        kl_error_set(err, KL_ERR_INTERNAL, "cannot serialize %s \"%.253s\"",
                     kl_object_kind(object), kl_object_name(object));
    return text;
}

/* ---- history and watchers -------------------------------------------- */

static void watcher_free(watcher_t *w)
{
    if (!w)
        return;
    free(w->namespace_name);
    kl_selector_destroy(&w->selector);
    free(w);
}

static void group_destroy(void **item)
{
    watcher_group_t *group = *item;
    if (group) {
        free(group->pin);
        free(group);
        *item = NULL;
    }
}

/* Unlinks a pending watcher (does not free it). */
static void watcher_detach(kl_apiserver_t *self, watcher_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->group->first = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->all_prev)
        w->all_prev->all_next = w->all_next;
    else
        self->all = w->all_next;
    if (w->all_next)
        w->all_next->all_prev = w->all_prev;
    if (!w->group->first && w->group->pin)
        zhashx_delete(self->pinned[w->kind->index], w->group->pin);  /* frees the group */
    w->group = NULL;
    self->pending--;
}

/* The type a watcher sees for `e`, or -1 when the event is not for it. As in
 * Kubernetes, an object entering a selector's view is ADDED for that watcher
 * and one leaving it DELETED (a pod the scheduler watched unbound is bound). */
static int event_view(const event_t *e, const kl_kind_info_t *kind, const char *namespace_name,
                      const kl_selector_t *selector)
{
    if (e->kind != kind)
        return -1;
    if (namespace_name && *namespace_name) {
        const char *ns = kl_object_namespace(e->object);
        if (!ns || strcmp(ns, namespace_name) != 0)
            return -1;
    }
    int now = kl_selector_matches(selector, e->object);
    if (e->type != EVENT_MODIFIED || !e->previous || kl_selector_is_empty(selector))
        return now ? (int)e->type : -1;
    int before = kl_selector_matches(selector, e->previous);
    if (now)
        return before ? EVENT_MODIFIED : EVENT_ADDED;
    return before ? EVENT_DELETED : -1;
}

static json_t *event_json(const event_t *e, int type)
{
    return json_pack("{s:s,s:O}", "type", event_names[type], "object", e->object);
}

static json_t *watch_reply(json_t *events, int64_t revision)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, revision);
    return json_pack("{s:o,s:s}", "events", events, "resourceVersion", text);
}

static event_t *ring_at(kl_apiserver_t *self, size_t i)
{
    return &self->ring[(self->first + i) % self->capacity];
}

/* Index of the first event with a revision above `revision`. */
static size_t ring_search(kl_apiserver_t *self, int64_t revision)
{
    size_t low = 0, high = self->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (ring_at(self, mid)->revision <= revision)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

static json_t *collect_from_store(kl_apiserver_t *self, const watch_request_t *req,
                                  int64_t *resume, kl_error_t *err);

/* Builds the reply for events after req->revision, or NULL when none match
 * (then *resume is where a parked watcher continues from). */
static json_t *collect(kl_apiserver_t *self, const watch_request_t *req, int64_t *resume,
                       kl_error_t *err)
{
    if (req->revision < self->floor)
        return collect_from_store(self, req, resume, err);
    json_t *events = NULL;
    size_t found = 0;
    int64_t last = self->ops->revision(self->store);
    for (size_t i = ring_search(self, req->revision); i < self->count; i++) {
        const event_t *e = ring_at(self, i);
        int type = event_view(e, req->kind, req->namespace_name, req->selector);
        if (type < 0)
            continue;
        if (!events)
            events = json_array();
        json_array_append_new(events, event_json(e, type));
        if (++found == KL_APISERVER_WATCH_MAX_EVENTS) {
            last = e->revision;
            break;
        }
    }
    if (last < req->revision)
        last = req->revision;
    *resume = last;
    return events ? watch_reply(events, last) : NULL;
}

static void answer(kl_apiserver_t *self, watcher_t *w, json_t *reply)
{
    if (w->ready)
        self->ready--;
    watcher_detach(self, w);
    if (self->reply)
        self->reply(w->token, reply, NULL, self->reply_arg);
    else
        json_decref(reply);
    watcher_free(w);
}

static void notify_group(kl_apiserver_t *self, watcher_group_t *group, const event_t *e)
{
    watcher_t *w = group ? group->first : NULL;
    while (w) {
        /* answer() may free the group when w is its last member. */
        watcher_t *next = w->next;
        int type = event_view(e, w->kind, w->namespace_name, w->selector);
        if (type >= 0 && self->defer_watches) {
            if (!w->ready) {
                w->ready = 1;
                self->ready++;
            }
        } else if (type >= 0) {
            json_t *events = json_array();
            json_array_append_new(events, event_json(e, type));
            answer(self, w, watch_reply(events, e->revision));
        }
        w = next;
    }
}

/* Keeps the event (object borrowed, previous stolen) and wakes watchers. */
static void record_event(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                         json_t *object, json_t *previous, int64_t revision)
{
    if (self->count == self->capacity) {
        event_t *oldest = ring_at(self, 0);
        self->floor = oldest->revision;
        json_decref(oldest->object);
        json_decref(oldest->previous);
        self->first = (self->first + 1) % self->capacity;
        self->count--;
    }
    event_t *e = ring_at(self, self->count++);
    e->revision = revision;
    e->type = type;
    e->kind = info;
    e->object = json_incref(object);
    e->previous = type == EVENT_MODIFIED ? previous : NULL;
    if (type != EVENT_MODIFIED)
        json_decref(previous);

    if (self->pending) {
        notify_group(self, &self->unpinned[info->index], e);
        if (info->index == 0 && zhashx_size(self->pinned[0])) {
            const char *node = kl_pod_node_name(object);
            const char *before = e->previous ? kl_pod_node_name(e->previous) : NULL;
            notify_group(self, zhashx_lookup(self->pinned[0], node ? node : ""), e);
            if (e->previous && strcmp(before ? before : "", node ? node : "") != 0)
                notify_group(self, zhashx_lookup(self->pinned[0], before ? before : ""), e);
        }
    }
    if (self->publish) {
        json_t *event = event_json(e, e->type);
        if (event)
            self->publish(info->topic, event, self->publish_arg);
        json_decref(event);
    }
}

/* A write this API server made. With a shared store other writers exist,
 * so every event comes from the store's change feed instead (ingest()),
 * which keeps the history in revision order. */
static void record(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                   json_t *object, json_t *previous, int64_t revision)
{
    if (self->shared) {
        json_decref(previous);
        return;
    }
    record_event(self, type, info, object, previous, revision);
}

/* ---- events from the store's change feed ----------------------------- */

static const kl_kind_info_t *kind_of_key(const char *key)
{
    static const char *const kinds[] = {"Pod", "Node", "ReplicaSet", "Deployment", "Event",
                                        "Lease"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        const kl_kind_info_t *info = kl_kind_lookup(kinds[i]);
        size_t len = strlen(info->resource);
        if (strncmp(key, "/registry/", 10) == 0 && strncmp(key + 10, info->resource, len) == 0
            && key[10 + len] == '/')
            return info;
    }
    return NULL;
}

static json_t *parse_stored(const char *value, size_t len, int64_t revision)
{
    if (!value)
        return NULL;
    json_t *object = json_loadb(value, len, 0, NULL);
    if (!json_is_object(object)) {
        json_decref(object);
        return NULL;
    }
    kl_object_set_resource_version(object, revision);
    return object;
}

/* A store change as an API event (fields owned by the caller), or -1 when
 * it is not an object keelson serves. */
static int event_from_change(const kl_store_event_t *change, event_t *e)
{
    memset(e, 0, sizeof *e);
    e->kind = kind_of_key(change->kv.key);
    if (!e->kind)
        return -1;
    e->revision = change->kv.mod_revision;
    if (change->type == KL_STORE_DELETE) {
        e->type = EVENT_DELETED;
        e->object = change->prev ? parse_stored(change->prev->value, change->prev->value_len,
                                                e->revision) : NULL;
    } else {
        e->type = change->kv.create_revision == change->kv.mod_revision ? EVENT_ADDED
                                                                         : EVENT_MODIFIED;
        e->object = parse_stored(change->kv.value, change->kv.value_len, e->revision);
        if (e->type == EVENT_MODIFIED && change->prev)
            e->previous = parse_stored(change->prev->value, change->prev->value_len,
                                       change->prev->mod_revision);
    }
    if (!e->object) {
        json_decref(e->previous);
        return -1;
    }
    return 0;
}

typedef struct replay {
    kl_apiserver_t *self;
    const watch_request_t *req;  /* collecting for one watch; NULL: ingesting */
    json_t *events;
    size_t found;
    int64_t last;
} replay_t;

static int replay_visit(const kl_store_event_t *change, void *arg)
{
    replay_t *r = arg;
    r->last = change->kv.mod_revision;
    event_t e;
    if (event_from_change(change, &e) < 0)
        return 0;
    if (!r->req) {
        record_event(r->self, e.type, e.kind, e.object, e.previous, e.revision);
        json_decref(e.object);
        return 0;
    }
    int type = event_view(&e, r->req->kind, r->req->namespace_name, r->req->selector);
    if (type >= 0) {
        if (!r->events)
            r->events = json_array();
        json_array_append_new(r->events, event_json(&e, type));
        r->found++;
    }
    json_decref(e.object);
    json_decref(e.previous);
    return r->found >= KL_APISERVER_WATCH_MAX_EVENTS;
}

/* Events older than the ring, read back from the store's own history: a
 * watch resumes exactly even across an API server restart. */
static json_t *collect_from_store(kl_apiserver_t *self, const watch_request_t *req,
                                  int64_t *resume, kl_error_t *err)
{
    replay_t r = {self, req, NULL, 0, req->revision};
    int64_t last = 0;
    kl_error_t serr = {0, ""};
    if (self->ops->changes(self->store, "/registry/", req->revision, 5000, replay_visit, &r, &last,
                           &serr) < 0) {
        json_decref(r.events);
        return kl_error_set(err, serr.code == KL_ERR_EXPIRED ? KL_ERR_EXPIRED : KL_ERR_INTERNAL,
                            "too old resource version: %" PRId64 " (%s)", req->revision, serr.text),
               NULL;
    }
    /* Stopped early on the event limit: resume after the last one taken. */
    *resume = r.found >= KL_APISERVER_WATCH_MAX_EVENTS ? r.last : (last > r.last ? last : r.last);
    if (*resume < req->revision)
        *resume = req->revision;
    return r.events ? watch_reply(r.events, *resume) : NULL;
}

/* Shared stores: take in what any writer changed since the last look. */
static void ingest(kl_apiserver_t *self)
{
    if (!self->shared)
        return;
    for (int rounds = 0; rounds < 100; rounds++) {
        replay_t r = {self, NULL, NULL, 0, self->ingested};
        int64_t last = 0;
        kl_error_t serr = {0, ""};
        if (self->ops->changes(self->store, "/registry/", self->ingested, 1000, replay_visit, &r,
                               &last, &serr) < 0) {
            if (serr.code == KL_ERR_EXPIRED) {
                /* Fell behind compaction: watchers of older revisions relist. */
                kl_warn("api", "store history compacted past %" PRId64 "; watch history restarts at %" PRId64,
                        self->ingested, self->ops->revision(self->store));
                self->ingested = self->floor = self->ops->revision(self->store);
            } else {
                kl_warn("api", "reading the store's changes failed: %s", serr.text);
            }
            return;
        }
        int done = r.last == self->ingested || last <= self->ingested;
        self->ingested = r.last > last ? r.last : last;
        if (done)
            return;
    }
}

/* Answers the deferred watchers that events arrived for, each with all of
 * them since its revision. */
static void release_ready(kl_apiserver_t *self)
{
    watcher_t *w = self->all;
    while (w && self->ready) {
        watcher_t *next = w->all_next;  /* answer() frees w */
        if (w->ready) {
            watch_request_t req = {.kind = w->kind, .namespace_name = w->namespace_name,
                                   .selector = w->selector, .revision = w->revision};
            kl_error_t err = {0, ""};
            int64_t resume = w->revision;
            json_t *reply = collect(self, &req, &resume, &err);
            if (reply) {
                answer(self, w, reply);
            } else if (err.code) {
                w->ready = 0;
                self->ready--;
                watcher_detach(self, w);
                if (self->reply)
                    self->reply(w->token, NULL, &err, self->reply_arg);
                watcher_free(w);
            } else {
                w->ready = 0;  /* nothing for it after all: stays parked */
                self->ready--;
            }
        }
        w = next;
    }
}

void kl_apiserver_defer_watches(kl_apiserver_t *self, int defer)
{
    self->defer_watches = defer;
    if (!defer)
        release_ready(self);
}

/* Reading a shared store's change feed costs a request to it, so it is read
 * only when someone waits for events: parked watchers after each burst and
 * tick, and each new watch before it is answered. */
void kl_apiserver_after_burst(kl_apiserver_t *self)
{
    if (self->pending)
        ingest(self);
    release_ready(self);
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
    self->cache = zhashx_new();
    if (self->cache)
        zhashx_set_destructor(self->cache, cached_destroy);
    for (int i = 0; i < KL_KIND_COUNT; i++) {
        self->pinned[i] = zhashx_new();
        if (self->pinned[i])
            zhashx_set_destructor(self->pinned[i], group_destroy);
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
        answer(self, w, watch_reply(json_array(), self->store ? self->ops->revision(self->store)
                                                              : 0));
    }
    for (size_t i = 0; self->ring && i < self->count; i++) {
        json_decref(ring_at(self, i)->object);
        json_decref(ring_at(self, i)->previous);
    }
    free(self->ring);
    for (int i = 0; i < KL_KIND_COUNT; i++)
        zhashx_destroy(&self->pinned[i]);
    zhashx_destroy(&self->cache);
    free(self);
    *self_p = NULL;
}

void kl_apiserver_set_reply(kl_apiserver_t *self, kl_apiserver_reply_fn reply, void *arg)
{
    self->reply = reply;
    self->reply_arg = arg;
}

void kl_apiserver_set_publish(kl_apiserver_t *self, kl_apiserver_publish_fn publish, void *arg)
{
    self->publish = publish;
    self->publish_arg = arg;
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
    size_t len;
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
    text = dump_for_store(object, &len, err);
    if (!text)
        goto fail;
    if (self->ops->create(self->store, key, text, len, &revision, &serr) < 0) {
        if (serr.code == KL_ERR_EXISTS)
            kl_error_set(err, KL_ERR_EXISTS, "%s \"%.253s\" already exists", info->resource, name);
        else
            kl_error_set(err, serr.code ? serr.code : KL_ERR_INTERNAL, "%s", serr.text);
        goto fail;
    }
    free(text);
    kl_object_set_resource_version(object, revision);
    cache_put(self, key, object, revision);
    record(self, EVENT_ADDED, info, object, NULL, revision);
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
    t->info = info ? info : request_kind(payload, err);
    if (!t->info)
        return -1;
    t->namespace_name = request_namespace(payload, t->info, 0, err);
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

static kl_selector_t *request_selector(const json_t *payload, kl_error_t *err)
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
    const kl_kind_info_t *info = request_kind(payload, err);
    if (!info)
        return NULL;
    const char *ns = request_namespace(payload, info, 1, err);
    if (!ns)
        return NULL;
    kl_selector_t *selector = request_selector(payload, err);
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
    size_t len;
    int64_t revision;
    kl_error_t serr = {0, ""};
    char *text = dump_for_store(object, &len, err);
    if (!text) {
        json_decref(object);
        json_decref(previous);
        return NULL;
    }
    int rc = self->ops->update(self->store, t->key, text, len, mod_revision, &revision, &serr);
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
    record(self, EVENT_MODIFIED, t->info, object, previous, revision);
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

static json_t *do_update_status(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    const json_t *given = json_object_get(payload, "object");
    if (!json_is_object(given)) {
        kl_error_set(err, KL_ERR_INVALID, "request field \"object\" must be a JSON object");
        return NULL;
    }
    /* Only kind, name, namespace, resourceVersion and status are read. */
    json_t *probe = kl_object_copy_for_write(given);
    target_t t;
    int64_t mod_revision = 0;
    json_t *current = NULL, *next = NULL;
    if (!probe || kl_object_set_defaults(probe, err) < 0 || object_target(probe, &t, err) < 0)
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
    int64_t expected = request_revision(payload, err);
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
    zhashx_delete(self->cache, t.key);
    /* Watchers resume after the deletion, so the event carries its revision. */
    json_t *last = kl_object_copy_for_write(object);
    json_decref(object);
    if (!last) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory after deleting %s \"%.253s\"",
                     t.info->resource, t.name);
        return NULL;
    }
    kl_object_set_resource_version(last, revision);
    record(self, EVENT_DELETED, t.info, last, NULL, revision);
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

/* ---- watch ----------------------------------------------------------- */

static void watch_request_clear(watch_request_t *req)
{
    free(req->namespace_name);
    kl_selector_destroy(&req->selector);
}

static int parse_watch(kl_apiserver_t *self, const json_t *payload, watch_request_t *req,
                       kl_error_t *err)
{
    memset(req, 0, sizeof *req);
    req->kind = request_kind(payload, err);
    if (!req->kind)
        return -1;
    const char *ns = request_namespace(payload, req->kind, 1, err);
    if (!ns)
        return -1;
    if (*ns && !(req->namespace_name = strdup(ns)))
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory for a watch");
    req->selector = request_selector(payload, err);
    if (!req->selector)
        return -1;
    int64_t revision = request_revision(payload, err);
    if (revision < 0)
        return -1;
    /* Absent: from now. Present, even "0" (the list of an empty store):
     * exactly after that revision, so nothing between list and watch is lost. */
    req->revision = json_object_get(payload, "resourceVersion") ? revision
                                                                 : self->ops->revision(self->store);
    if (req->revision < self->floor && !self->can_changes)
        return kl_error_set(err, KL_ERR_EXPIRED, "too old resource version: %" PRId64 " (%" PRId64 ")",
                            req->revision, self->floor + 1);
    const json_t *timeout = json_object_get(payload, "timeoutMs");
    req->timeout_ms = KL_APISERVER_WATCH_DEFAULT_MS;
    if (timeout) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 0)
            return kl_error_set(err, KL_ERR_INVALID,
                                "request timeoutMs must be a non-negative integer (milliseconds)");
        req->timeout_ms = json_integer_value(timeout);
        if (req->timeout_ms > KL_APISERVER_WATCH_MAX_MS)
            req->timeout_ms = KL_APISERVER_WATCH_MAX_MS;
    }
    return 0;
}

static json_t *do_watch_now(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    ingest(self);
    watch_request_t req;
    if (parse_watch(self, payload, &req, err) < 0) {
        watch_request_clear(&req);
        return NULL;
    }
    int64_t resume;
    json_t *reply = collect(self, &req, &resume, err);
    watch_request_clear(&req);
    if (!reply && err->code)
        return NULL;
    return reply ? reply : watch_reply(json_array(), resume);
}

void kl_apiserver_watch(kl_apiserver_t *self, const json_t *payload, void *token, int64_t now_ms)
{
    kl_error_t err = {0, ""};
    ingest(self);
    watch_request_t req;
    if (parse_watch(self, payload, &req, &err) < 0) {
        watch_request_clear(&req);
        if (self->reply)
            self->reply(token, NULL, &err, self->reply_arg);
        return;
    }
    int64_t resume;
    json_t *reply = collect(self, &req, &resume, &err);
    if (!reply && err.code) {
        watch_request_clear(&req);
        if (self->reply)
            self->reply(token, NULL, &err, self->reply_arg);
        return;
    }
    if (reply || req.timeout_ms == 0) {
        watch_request_clear(&req);
        if (!reply)
            reply = watch_reply(json_array(), resume);
        if (self->reply)
            self->reply(token, reply, NULL, self->reply_arg);
        else
            json_decref(reply);
        return;
    }
    watcher_t *w = calloc(1, sizeof *w);
    watcher_group_t *group = &self->unpinned[req.kind->index];
    const char *pin = req.kind->index == 0 ? kl_selector_field_equals(req.selector, "spec.nodeName")
                                           : NULL;
    if (w && pin) {
        group = zhashx_lookup(self->pinned[req.kind->index], pin);
        if (!group) {
            group = calloc(1, sizeof *group);
            if (group && !(group->pin = strdup(pin))) {
                free(group);
                group = NULL;
            }
            if (group)
                zhashx_insert(self->pinned[req.kind->index], pin, group);
        }
    }
    if (!w || !group) {
        free(w);
        watch_request_clear(&req);
        kl_error_set(&err, KL_ERR_INTERNAL, "out of memory parking a watch");
        if (self->reply)
            self->reply(token, NULL, &err, self->reply_arg);
        return;
    }
    w->token = token;
    w->kind = req.kind;
    w->namespace_name = req.namespace_name;
    w->selector = req.selector;
    w->revision = resume;
    w->deadline_ms = now_ms + req.timeout_ms;
    w->group = group;
    w->next = group->first;
    if (group->first)
        group->first->prev = w;
    group->first = w;
    w->all_next = self->all;
    if (self->all)
        self->all->all_prev = w;
    self->all = w;
    self->pending++;
}

void kl_apiserver_tick(kl_apiserver_t *self, int64_t now_ms)
{
    if (self->can_tick) {
        kl_error_t serr = {0, ""};
        if (self->ops->tick(self->store, &serr) < 0)
            kl_warn("api", "store housekeeping failed: %s", serr.text);
    }
    if (!self->pending)
        return;
    ingest(self);
    release_ready(self);
    int64_t revision = self->ops->revision(self->store);
    watcher_t *w = self->all;
    while (w) {
        watcher_t *next = w->all_next;
        if (w->deadline_ms <= now_ms)
            answer(self, w, watch_reply(json_array(), revision));
        w = next;
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
            return do_watch_now(self, payload, err);
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
