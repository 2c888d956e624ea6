/* What the API server's files share: its state, the event ring and the
 * parked watchers. Internal to the core: apiserver.c holds the lifecycle and
 * the dispatcher, apiserver_store.c the store access, apiserver_reads.c,
 * apiserver_writes.c and apiserver_owners.c the methods, apiserver_inflight.c
 * their store calls made at once or kept in flight, apiserver_history.c
 * the event ring, apiserver_feed.c the events from the store's change feed
 * and apiserver_watch.c the watchers. */
#ifndef KL_CORE_APISERVER_INTERNAL_H
#define KL_CORE_APISERVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <jansson.h>
#include <keelson/store.h>

#include "apiserver.h"
#include "loader.h"
#include "objects.h"
#include "selector.h"

#define KEY_MAX 600  /* "/registry/" + resource + namespace (63) + name (253) */

typedef enum event_type { EVENT_ADDED, EVENT_MODIFIED, EVENT_DELETED } event_type_t;
static const char *const event_names[] = {"ADDED", "MODIFIED", "DELETED"};

/* An object's JSON text, shared by reference count (one thread only). */
typedef struct api_text {
    size_t refs;
    size_t length;
    char data[];
} api_text_t;

/* A reply under construction. */
typedef struct api_buffer {
    char *data;
    size_t length, capacity;
    int failed;
} api_buffer_t;

typedef struct event {
    int64_t revision;
    event_type_t type;
    const kl_kind_info_t *kind;
    json_t *object;    /* owned reference; resourceVersion set; never modified */
    api_text_t *text;  /* object's text, encoded when first needed */
    json_t *previous;  /* MODIFIED only: the state before, so selector watchers
                        * see objects enter (ADDED) and leave (DELETED) */
    /* Pods: spec.nodeName now and before ("" when unset; borrowed from
     * object and previous), read once for every watcher that looks. */
    const char *node, *previous_node;
} event_t;

typedef struct watcher watcher_t;
typedef struct api_cache api_cache_t;

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

/* A parsed watch selector by its text (apiserver_selectors.c). */
#define KL_API_SELECTOR_MEMO 16
typedef struct api_selector_memo {
    char *label, *field;
    kl_selector_t *selector;
    uint64_t used;
} api_selector_memo_t;

typedef struct watch_request {
    const kl_kind_info_t *kind;
    char *namespace_name;
    kl_selector_t *selector;
    const char *pin;  /* pods: the spec.nodeName the selector requires, or NULL */
    int64_t revision;
    int64_t timeout_ms;
} watch_request_t;

/* The object a request names, and its store key. */
typedef struct target {
    const kl_kind_info_t *info;
    const char *namespace_name;
    const char *name;
    char key[KEY_MAX];
} target_t;

typedef struct unpublished {
    const char *topic;  /* static: the kind's */
    char *event;
    size_t length;
} unpublished_t;

/* Requests in flight together at most, per API server. */
#define KL_API_IN_FLIGHT 64

/* A get or write submitted to the store and not yet done
 * (apiserver_inflight.c). */
typedef struct pending_op {
    int used;
    kl_apiserver_t *self;
    void *token;
    int get;            /* a get; else a write of `type` */
    event_type_t type;  /* EVENT_ADDED, EVENT_MODIFIED or EVENT_DELETED */
    const kl_kind_info_t *info;
    char key[KEY_MAX];
    json_t *object, *previous;  /* writes: owned */
    char *text;                 /* writes: the object as stored; owned */
    size_t length, mark;
    /* A write built on the cache's copy, not a fresh read: when the store
     * says the key moved on, the request runs again from a fresh read. */
    int from_cache;
    char method[16];
    json_t *payload;  /* from_cache: the request, owned */
} pending_op_t;

/* The request an API server is handling, put aside while it runs another
 * one again in the middle of it (a retry, see pending_op_t). */
typedef struct request_context {
    void *token;   /* the request may be deferred under this token */
    int deferred;  /* ...and was */
    const char *method;
    const json_t *payload;
    int from_cache;    /* its next write starts from the cache's copy */
    int cache_served;  /* it read the cache's copy at some point */
} request_context_t;

/* A request to run again once the store has settled (see pending_op_t). */
typedef struct retry {
    char method[16];
    json_t *payload;  /* owned */
    void *token;
} retry_t;

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
    api_cache_t *cache;

    watcher_group_t unpinned[KL_KIND_COUNT];
    zhashx_t *pinned[KL_KIND_COUNT];  /* pin -> watcher_group_t */
    watcher_t *all;
    size_t pending;
    /* Deferred watches are answered once per burst, after its commit, with
     * every event of the burst: one reply instead of one per event. */
    int defer_watches;
    size_t ready;  /* watchers marked ready */
    api_selector_memo_t selectors[KL_API_SELECTOR_MEMO];
    uint64_t selectors_clock;

    /* What the store offers beyond ABI 1.0 (absent in older plugins). */
    int can_changes, can_flush, can_tick, shared;
    int only_writer;   /* the store is not shared: its state changes only here */
    int changes_fd;    /* a shared store's "changes arrived" descriptor, or -1 */
    int64_t ingested;  /* shared stores: changes up to here are in the ring */
    int64_t ingest_ms; /* when kl_api_ingest() last read the changes (monotonic) */
    /* With group commit, the revision of the last commit: a watch answered
     * mid-burst gets events up to here only, the rest after the commit. */
    int64_t committed;

    const char *const *controllers;

    kl_apiserver_reply_fn reply;
    kl_apiserver_reply_text_fn reply_text;
    void *reply_arg;
    /* The object the request being handled returns and its text, when known. */
    json_t *reply_object;
    api_text_t *reply_object_text;
    kl_apiserver_publish_fn publish;
    kl_apiserver_wanted_fn publish_wanted;
    void *publish_arg;
    /* With group commit, a burst's events go out on pub/sub only after its
     * commit: a failed commit takes them back. */
    unpublished_t *unpublished;
    size_t unpublished_count, unpublished_alloc;
    /* Requests in flight together (store ABI 1.3), answered through done. */
    int can_submit;
    kl_apiserver_done_fn done;
    void *done_arg;
    /* The request being handled (kl_apiserver_handle_token()). */
    request_context_t request;
    int fresh_reads;   /* set while requests run again: no cached copies */
    retry_t retries[KL_API_IN_FLIGHT];
    size_t retry_count;
    int retrying;
    /* For api.info: writes made from a cached copy, and requests run again
     * from a fresh read because their copy was out of date. */
    uint64_t writes_from_cache, writes_run_again;
    pending_op_t *in_flight;  /* KL_API_IN_FLIGHT slots */
    size_t in_flight_count;   /* slots used */
    int can_settle_fd;
};

/* apiserver_store.c: keys, request fields and store access. */
int kl_api_make_key(char *key, const kl_kind_info_t *info, const char *namespace_name,
                    const char *name);
int kl_api_not_found(kl_error_t *err, const kl_kind_info_t *info, const char *name);
const kl_kind_info_t *kl_api_request_kind(const json_t *payload, kl_error_t *err);
const char *kl_api_request_namespace(const json_t *payload, const kl_kind_info_t *info,
                                     int absent_means_all, kl_error_t *err);
int kl_api_request_target(const json_t *payload, const kl_kind_info_t *info, target_t *t,
                          kl_error_t *err);
kl_selector_t *kl_api_request_selector(const json_t *payload, kl_error_t *err);
int64_t kl_api_request_revision(const json_t *payload, kl_error_t *err);
/* Caches `object` (borrowed; must no longer change) unless it is an event. */
void kl_api_remember(kl_apiserver_t *self, const char *key, json_t *object, int64_t mod_revision);
void kl_api_set_reply_object(kl_apiserver_t *self, json_t *object, api_text_t *text);
json_t *kl_api_object_for(kl_apiserver_t *self, const kl_store_kv_t *kv, kl_error_t *err);
json_t *kl_api_load(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                    const char *name, int64_t *mod_revision, kl_error_t *err);
char *kl_api_dump_for_store(json_t *object, size_t *len, size_t *mark, kl_error_t *err);

/* apiserver_reads.c: the methods that only read. */
json_t *kl_api_get(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);
json_t *kl_api_list(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);

/* apiserver_writes.c: the methods that write. */
json_t *kl_api_create(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);
json_t *kl_api_update(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);
json_t *kl_api_update_status(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);
json_t *kl_api_bind(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);
json_t *kl_api_delete(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);
/* The error for a write that lost a compare-and-swap. */
int kl_api_conflict(kl_error_t *err, const kl_kind_info_t *info, const char *name);

/* apiserver_inflight.c: gets and writes made now, or submitted to finish
 * later. */
/* Stores `object` at `key` (create for EVENT_ADDED, else an update at
 * mod_revision replacing `previous`), takes both references, and returns
 * the object written or NULL: with err filled, or with self->request.deferred set
 * when the write was submitted and will be answered when it is done. */
json_t *kl_api_store_write(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                           const char *key, json_t *object, json_t *previous,
                           int64_t mod_revision, kl_error_t *err);
/* Removes `key` if still at mod_revision; `object` (taken) is what it held.
 * Returns the object as deleted, or NULL: with err filled, or with
 * self->request.deferred set when the removal was submitted. */
json_t *kl_api_store_remove(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                            json_t *object, int64_t mod_revision, kl_error_t *err);
/* kl_api_load() for a get request, or submitted like a write. */
json_t *kl_api_store_get(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                         const char *name, kl_error_t *err);
/* Settles first when a request on `key` is in flight that a write
 * (reading: 0) or a read (1) must not overlap. */
void kl_api_settle_key(kl_apiserver_t *self, const char *key, int reading);
/* The current object a write to `key` starts from, with its revision. On a
 * shared store, with the request in flight and no revision asked for, the
 * cache's copy serves: the write's compare-and-swap catches a copy that is
 * out of date, and the request then runs again from a fresh read, as
 * Kubernetes' GuaranteedUpdate does from its watch cache. Caller owns. */
json_t *kl_api_load_for_write(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                              const char *name, int64_t expected, int64_t *mod_revision,
                              kl_error_t *err);
/* apiserver_owners.c: ownerReferences checked on update, dropped by orphan deletion. */
int kl_api_check_owner_chain(kl_apiserver_t *self, const json_t *object, kl_error_t *err);
void kl_api_orphan_dependents(kl_apiserver_t *self, const json_t *owner);

/* apiserver_selectors.c: a watch's selector, shared with earlier watches
 * that sent the same text. */
kl_selector_t *kl_api_watch_selector(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);
void kl_api_watch_selectors_clear(kl_apiserver_t *self);

/* apiserver_history.c: the ring of recent events. */
int64_t kl_api_examined_revision(kl_apiserver_t *self);
event_t *kl_api_ring_at(kl_apiserver_t *self, size_t i);
/* Index in the ring of the first event with a revision above `revision`. */
size_t kl_api_ring_search(kl_apiserver_t *self, int64_t revision);
void kl_api_event_clear(event_t *e);
/* Any event, whoever wrote it: kept in the ring, then watchers are woken. */
void kl_api_record_event(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                         json_t *object, json_t *previous, int64_t revision, api_text_t *text);
/* `text`: the object's text when already encoded (borrowed), else NULL. */
void kl_api_record(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info, json_t *object,
                   json_t *previous, int64_t revision, api_text_t *text);

/* apiserver_feed.c: events from the store's change feed. */
/* A watch's events from before the ring, read back from the store. */
char *kl_api_collect_from_store(kl_apiserver_t *self, const watch_request_t *req,
                                int64_t *resume, size_t *length, kl_error_t *err);
/* Shared stores: takes every writer's new changes into the ring. */
void kl_api_ingest(kl_apiserver_t *self);

/* apiserver_watch.c: the watchers and their replies. */
void kl_api_group_destroy(void **item);
/* The type of event a watcher of kind, namespace and selector sees, or -1. */
int kl_api_event_view(const event_t *e, const kl_kind_info_t *kind, const char *namespace_name,
                      const kl_selector_t *selector);
/* A watch reply as JSON, taking `events` (an array). */
json_t *kl_api_watch_reply_json(json_t *events, int64_t revision);
char *kl_api_empty_reply(int64_t revision, size_t *length);
/* Drops what a failed group commit took back: the burst's events in the
 * history and on their way to pub/sub, and cached objects. */
void kl_api_discard_uncommitted(kl_apiserver_t *self);
/* Frees the pub/sub events held for a commit, unsent. */
void kl_api_drop_unpublished(kl_apiserver_t *self);
/* Sends the pub/sub events a successful commit made true. */
void kl_api_publish_committed(kl_apiserver_t *self);
/* Wakes the watchers an event just kept is for, and publishes it. */
void kl_api_notify(kl_apiserver_t *self, event_t *e);
/* Answers a parked watcher with `text` (stolen) and frees it. */
void kl_api_answer(kl_apiserver_t *self, watcher_t *w, char *text, size_t length);
json_t *kl_api_watch_now(kl_apiserver_t *self, const json_t *payload, kl_error_t *err);

/* apiserver_cache.c: parsed objects by store key, least recently used out. */
api_cache_t *kl_api_cache_new(size_t capacity);
void kl_api_cache_destroy(api_cache_t **cache_p);
/* A new reference to the key's object when cached at mod_revision. */
json_t *kl_api_cache_get(api_cache_t *cache, const char *key, int64_t mod_revision);
/* A new reference to the key's object as last cached, with its revision. */
json_t *kl_api_cache_latest(api_cache_t *cache, const char *key, int64_t *mod_revision);
/* `object` is borrowed and must no longer change. */
void kl_api_cache_put(api_cache_t *cache, const char *key, json_t *object, int64_t mod_revision);
void kl_api_cache_remove(api_cache_t *cache, const char *key);
void kl_api_cache_clear(api_cache_t *cache);
void kl_api_cache_set_capacity(api_cache_t *cache, size_t capacity);
size_t kl_api_cache_size(const api_cache_t *cache);

/* apiserver_text.c: encoded objects and replies built from them. */
api_text_t *kl_api_text_of(const json_t *object);
api_text_t *kl_api_text_with_revision(const char *stored, size_t length, size_t mark, int64_t revision);
api_text_t *kl_api_text_ref(api_text_t *t);
void kl_api_text_unref(api_text_t **t_p);
void kl_api_buffer_append(api_buffer_t *b, const char *data, size_t length);
void kl_api_buffer_text(api_buffer_t *b, const char *text);
/* The text built (NUL-terminated, caller frees) or NULL when out of memory. */
char *kl_api_buffer_take(api_buffer_t *b, size_t *length);

#endif
