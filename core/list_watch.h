/* List-then-watch of one kind of object over the bus, without blocking: the
 * list and each long-poll watch go out on the stream's own bus client and
 * their replies are handled when its socket turns readable. Resumes from the
 * last resourceVersion; relists on Expired; backs off while the API server
 * is unreachable. Used by the scheduler service and the kubelet. */
#ifndef KL_CORE_LIST_WATCH_H
#define KL_CORE_LIST_WATCH_H

#include <stdint.h>
#include <czmq.h>
#include <jansson.h>
#include <keelson/error.h>

#include "json_scan.h"

typedef struct kl_list_watch kl_list_watch_t;

/* A fresh list: `items` (a JSON array, borrowed) replaces everything known. */
typedef void (*kl_list_watch_list_fn)(json_t *items, void *arg);
/* One event: type "ADDED", "MODIFIED" or "DELETED"; `object` borrowed. */
typedef void (*kl_list_watch_event_fn)(const char *type, json_t *object, void *arg);

/* Called for each event before its object is parsed, with the object's
 * token in `scan`: non-zero means the watcher has taken the event from
 * those fields alone (its cache already knew the rest), and the object is
 * not parsed. */
typedef int (*kl_list_watch_peek_fn)(const char *type, const kl_json_scan_t *scan, int object,
                                     void *arg);

/* kind: "Pod" or "Node"; field_selector may be NULL; `component` names the
 * owner in log lines. Strings are copied. Caller owns the result. */
kl_list_watch_t *kl_list_watch_new(const char *endpoint, const char *component, const char *kind,
                                   const char *field_selector, kl_list_watch_list_fn on_list,
                                   kl_list_watch_event_fn on_event, void *arg, kl_error_t *err);
void kl_list_watch_destroy(kl_list_watch_t **self_p);
/* Lets `peek` (called with the stream's `arg`) take events unparsed. */
void kl_list_watch_set_peek(kl_list_watch_t *self, kl_list_watch_peek_fn peek);

/* Sends whatever is due (list, next watch, retry). Returns the milliseconds
 * until it wants to be stepped again. */
int64_t kl_list_watch_step(kl_list_watch_t *self, int64_t now_ms);
/* Call when the socket is readable: handles the reply. */
void kl_list_watch_receive(kl_list_watch_t *self, int64_t now_ms);
/* Borrowed; for zpoller. */
zsock_t *kl_list_watch_socket(kl_list_watch_t *self);
/* Non-zero once a list has succeeded (the cache is usable). */
int kl_list_watch_synced(const kl_list_watch_t *self);

#endif
