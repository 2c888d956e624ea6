/* The API server: the only component that touches the store. A pure core
 * (kl_apiserver_handle, plus the long-poll watch machinery driven by explicit
 * callbacks and clock values) and a thin bus actor serving "api.*". */
#ifndef KL_CORE_APISERVER_H
#define KL_CORE_APISERVER_H

#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <jansson.h>
#include <keelson/error.h>

#include "loader.h"

#define KL_APISERVER_DEFAULT_HISTORY 100000
/* Parsed objects kept to spare parsing on reads (least recently used out):
 * about 11 KiB each for a running pod. */
#define KL_APISERVER_DEFAULT_CACHE 30000
#define KL_APISERVER_WATCH_DEFAULT_MS 30000
#define KL_APISERVER_WATCH_MAX_MS 60000
/* At most this many events per watch reply; the reply's resourceVersion
 * then resumes right after the last one sent. */
#define KL_APISERVER_WATCH_MAX_EVENTS 1000

typedef struct kl_apiserver kl_apiserver_t;

/* `store`: a loaded, configured store plugin, borrowed. kl_apiserver_new
 * opens it (kl_plugin_open), so call it on the thread that will use the
 * apiserver; the plugin's owner closes it with kl_plugin_destroy once the
 * apiserver is destroyed. `history`: events kept for watch resume (0 means
 * KL_APISERVER_DEFAULT_HISTORY). Returns the apiserver (caller owns) or NULL
 * with err filled. */
kl_apiserver_t *kl_apiserver_new(kl_plugin_t *store, size_t history, kl_error_t *err);

/* Answers every pending watch with an empty event list (through the reply
 * callback), then frees everything. Accepts NULL; nulls *self_p. */
void kl_apiserver_destroy(kl_apiserver_t **self_p);

/* Handles one request of docs/protocol.md section 3: `method` is "create",
 * "get", "list", "update", "update_status", "bind", "delete" or "watch";
 * `payload` is borrowed, but to spare a deep copy on every write the stored
 * object may share its deeper parts (containers, labels...) with it: do not
 * modify the payload after the call (dropping it is fine). Returns the reply (caller owns a reference) or NULL
 * with err filled. Objects in replies are shared with the watch history:
 * treat them as read-only (json_deep_copy to modify). Here "watch" never
 * waits: it returns the events available now, possibly none. */
json_t *kl_apiserver_handle(kl_apiserver_t *self, const char *method, const json_t *payload,
                            kl_error_t *err);

/* ---- requests in flight together ---------------------------------------- */

/* A deferred request's answer: `reply` (taken; kl_apiserver_reply_text()
 * gives its text during the call) or NULL with err. */
typedef void (*kl_apiserver_done_fn)(kl_apiserver_t *api, void *token, json_t *reply,
                                     const kl_error_t *err, void *arg);
/* Set, and on a store that keeps requests in flight together (store ABI
 * 1.3), a get, create, update, update_status or bind handled with a token
 * is submitted without waiting for the store: kl_apiserver_handle_token()
 * then sets *deferred and the answer comes through `done` once the store
 * has finished it (kl_apiserver_progress()), or at the latest from
 * kl_apiserver_settle(). A write never overlaps another request on its
 * key, and any other method first settles what is in flight, so each
 * client sees its requests take effect in the order it made them. */
void kl_apiserver_set_done(kl_apiserver_t *self, kl_apiserver_done_fn done, void *arg);
json_t *kl_apiserver_handle_token(kl_apiserver_t *self, const char *method, const json_t *payload,
                                  void *token, int *deferred, kl_error_t *err);
/* Waits for every request in flight and answers each through `done`. */
void kl_apiserver_settle(kl_apiserver_t *self);
/* Answers the requests the store has finished, without waiting. */
void kl_apiserver_progress(kl_apiserver_t *self);
/* While requests are in flight, a descriptor that turns readable when
 * kl_apiserver_progress() has answers to give; -1 when none are in flight,
 * or the store gives no descriptor (then settle at the end of each burst). */
int kl_apiserver_settle_fd(const kl_apiserver_t *self);

/* ---- long-poll watches ----------------------------------------------- */

/* Answers a deferred watch. `token` is what kl_apiserver_watch received;
 * `reply` is stolen (NULL when err is set); err is NULL on success. */
typedef void (*kl_apiserver_reply_fn)(void *token, json_t *reply, const kl_error_t *err,
                                      void *arg);
/* The same answer as JSON text: `text` is the callee's to free (NULL when
 * err is set). The bus sends it as it is, with no decoding and encoding. */
typedef void (*kl_apiserver_reply_text_fn)(void *token, char *text, size_t length,
                                           const kl_error_t *err, void *arg);
/* Called after every change with the topic ("api.pod") and the event
 * {"type","object"} as JSON text (borrowed). */
typedef void (*kl_apiserver_publish_fn)(const char *topic, const char *event, size_t length,
                                        void *arg);

void kl_apiserver_set_reply(kl_apiserver_t *self, kl_apiserver_reply_fn reply, void *arg);
/* At most `objects` parsed objects are cached (0: none). */
void kl_apiserver_set_cache_objects(kl_apiserver_t *self, size_t objects);
/* Set, it answers watches instead of the JSON reply callback. */
void kl_apiserver_set_reply_text(kl_apiserver_t *self, kl_apiserver_reply_text_fn reply, void *arg);
void kl_apiserver_set_publish(kl_apiserver_t *self, kl_apiserver_publish_fn publish, void *arg);
/* Set, events are built for publishing only for topics it says yes to. */
typedef int (*kl_apiserver_wanted_fn)(const char *topic, void *arg);
void kl_apiserver_set_publish_filter(kl_apiserver_t *self, kl_apiserver_wanted_fn wanted);

/* The JSON text of `reply`, the object kl_apiserver_handle() just returned,
 * when the API server holds it encoded already (an object it just wrote):
 * a copy (caller frees) that spares encoding the reply again; NULL
 * otherwise. */
char *kl_apiserver_reply_text(kl_apiserver_t *self, const json_t *reply, size_t *length);

/* Starts a long-poll watch (`payload` borrowed). The answer always goes
 * through the reply callback, exactly once per token: at once when matching
 * events exist or the request is wrong, when a later write matches, or on
 * the first kl_apiserver_tick at or after now_ms + timeoutMs. Without a reply
 * callback the watch is answered by nobody, so set one first. */
void kl_apiserver_watch(kl_apiserver_t *self, const json_t *payload, void *token, int64_t now_ms);

/* Write acknowledgement. A store with flush() batches writes into group
 * commits: acknowledge a burst of writes only after kl_apiserver_flush()
 * succeeded. Without flush() every write is final when it returns. */
int kl_apiserver_needs_flush(const kl_apiserver_t *self);
int kl_apiserver_flush(kl_apiserver_t *self, kl_error_t *err);
/* Call after each burst of requests: takes in changes other writers made to
 * a shared store, waking watchers. */
void kl_apiserver_after_burst(kl_apiserver_t *self);
/* With `defer` on, an event does not answer parked watches at once: they
 * are answered at kl_apiserver_after_burst() (or the next tick), after the
 * burst's group commit, each with every event it missed. Off (the default)
 * answers at once; turning it off answers what was deferred. */
void kl_apiserver_defer_watches(kl_apiserver_t *self, int defer);

/* Store housekeeping (leases, compaction, shared-store changes), then
 * answers (empty) the watches whose deadline is at or before now_ms. */
void kl_apiserver_tick(kl_apiserver_t *self, int64_t now_ms);

size_t kl_apiserver_pending_watches(const kl_apiserver_t *self);

/* Names of the controllers running beside this API server (borrowed,
 * NULL-terminated), reported by "info" so clients can warn about kinds that
 * nothing acts on. */
void kl_apiserver_set_controllers(kl_apiserver_t *self, const char *const *controllers);

/* A shared store's descriptor that turns readable when other writers'
 * changes arrive: while watchers are parked, poll it and call
 * kl_apiserver_after_burst() then, rather than wait for the next tick.
 * -1 when the store has none. */
int kl_apiserver_changes_fd(const kl_apiserver_t *self);

/* Non-zero when the store may be written by others (KL_STORE_SHARED). */
int kl_apiserver_shared(const kl_apiserver_t *self);

/* The store revision of the latest write. */
int64_t kl_apiserver_revision(const kl_apiserver_t *self);

/* ---- bus actor ------------------------------------------------------- */

typedef struct kl_apiserver_config {
    const char *bus_endpoint;  /* broker request endpoint */
    kl_plugin_t *store;        /* borrowed, see kl_apiserver_new */
    size_t history;
    size_t cache_objects;      /* see kl_apiserver_set_cache_objects; 0: the default */
    const char *const *controllers;  /* names of the controller plugins running (NULL-terminated, may be NULL) */
    kl_plugin_t *events_store; /* Events' own store, or NULL: Events live in `store` */
    int replicas;              /* API servers sharing the store; >1 needs KL_STORE_SHARED */
    int shared;                /* set by the actor: the store may be shared, and so may the
                                * events store if there is one */
    int failed;                /* set by the actor before it signals */
    kl_error_t error;
} kl_apiserver_config_t;

/* zactor_fn: args is a kl_apiserver_config_t that outlives the actor.
 * Registers the "api" service, signals the pipe once ready or failed (see
 * config->failed), then serves until $TERM. */
void kl_apiserver_actor(zsock_t *pipe, void *args);

#endif
