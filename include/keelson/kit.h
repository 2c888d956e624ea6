/* The controller kit: an informer (list + watch cache of one kind) and a
 * rate-limited work queue, so a controller plugin writes only its
 * reconcile logic. Link with -lkeelson-kit (pkg-config keelson-plugin adds
 * it). Everything here talks to the API server only through host->request,
 * and is used from the controller's one thread. */
#ifndef KEELSON_KIT_H
#define KEELSON_KIT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/host.h>

/* ---- informer ----------------------------------------------------------- */

typedef struct kl_informer kl_informer_t;

/* `type` is "ADDED", "MODIFIED" or "DELETED"; `object` is borrowed. After a
 * relist (first sync, or a watch that expired) every cached object is
 * delivered again as "ADDED" and vanished ones as "DELETED", so handlers see
 * the level, never just a single edge. */
typedef void (*kl_informer_handler_fn)(const char *type, const json_t *object, void *arg);
/* Return 0 to go on, non-zero to stop. */
typedef int (*kl_informer_visit_fn)(const json_t *object, void *arg);

/* Watches `kind` ("Pod", "ReplicaSet"...) in every namespace, optionally
 * narrowed by selectors (NULL: none). Returns NULL with err filled. */
kl_informer_t *kl_informer_new(const kl_host_t *host, const char *kind, const char *label_selector,
                               const char *field_selector, kl_error_t *err);
void kl_informer_destroy(kl_informer_t **self_p);
void kl_informer_set_handler(kl_informer_t *self, kl_informer_handler_fn handler, void *arg);

/* One step: lists when not in sync, else one long-poll watch of at most
 * wait_ms; dispatches what arrived to the handler. -1 with err on an API
 * failure (the next call retries; callers back off). */
int kl_informer_poll(kl_informer_t *self, int wait_ms, kl_error_t *err);
int kl_informer_synced(const kl_informer_t *self);

/* Cached object by namespace ("" for cluster-scoped) and name; borrowed,
 * valid until the next poll. */
const json_t *kl_informer_get(const kl_informer_t *self, const char *namespace_name,
                              const char *name);
/* Visits every cached object; returns how many were visited. */
size_t kl_informer_each(const kl_informer_t *self, kl_informer_visit_fn visit, void *arg);

/* ---- work queue --------------------------------------------------------- */

typedef struct kl_workqueue kl_workqueue_t;

/* Per-key exponential back-off from base_delay_ms to max_delay_ms. */
kl_workqueue_t *kl_workqueue_new(int64_t base_delay_ms, int64_t max_delay_ms);
void kl_workqueue_destroy(kl_workqueue_t **self_p);
/* Queues `key` to run at now_ms + delay_ms; a key already queued keeps the
 * earlier time, so a burst of changes costs one reconcile. */
void kl_workqueue_add(kl_workqueue_t *self, const char *key, int64_t now_ms, int64_t delay_ms);
/* Re-queues after a failure with the key's next back-off delay (returned). */
int64_t kl_workqueue_retry(kl_workqueue_t *self, const char *key, int64_t now_ms);
/* Resets the key's back-off after a success. */
void kl_workqueue_forget(kl_workqueue_t *self, const char *key);
/* The next key due at now_ms (caller frees), or NULL. */
char *kl_workqueue_pop(kl_workqueue_t *self, int64_t now_ms);
/* Milliseconds until the next key is due (0: now), or -1 when empty. */
int64_t kl_workqueue_wait_ms(const kl_workqueue_t *self, int64_t now_ms);
size_t kl_workqueue_length(const kl_workqueue_t *self);

/* ---- helpers ------------------------------------------------------------ */

/* "namespace/name" (or "name" for cluster-scoped) of an object, into buf. */
const char *kl_object_key(const json_t *object, char *buf, size_t size);
/* The reverse: a key into its namespace ("" when it has none) and name. */
void kl_object_key_split(const char *key, char *ns, size_t ns_size, char *name, size_t name_size);
/* metadata.<field> as a string, or NULL. */
const char *kl_object_meta(const json_t *object, const char *field);
/* metadata.resourceVersion as a number, 0 when absent. */
int64_t kl_object_revision(const json_t *object);
/* The ownerReference marked controller: true, or NULL. */
const json_t *kl_object_controller_ref(const json_t *object);
/* 1 when every matchLabels pair is among `labels`; an empty or missing
 * selector matches nothing, as a ReplicaSet's must not adopt every pod. */
int kl_labels_match(const json_t *match_labels, const json_t *labels);

/* Records a Kubernetes-style Event about `involved` (a Pod, ReplicaSet...)
 * through api.create: type "Normal" or "Warning", a CamelCase reason and a
 * message. Failures are logged, never fatal. */
void kl_event_record(const kl_host_t *host, const json_t *involved, const char *type,
                     const char *reason, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

#endif
