/* The kubelet's Event recorder: Kubernetes-shaped Events (Pulled, Started,
 * BackOff...) sent through api.create on the kubelet's pipelined bus client,
 * never waiting for the API, rate-limited and dropped when it is away. */
#ifndef KL_CORE_KUBELET_EVENTS_H
#define KL_CORE_KUBELET_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/error.h>
#include "bus.h"

/* Identical events (same object, field path and reason) closer than this
 * are dropped, so a crash loop or a failing pull cannot flood the store. */
#define KL_KUBELET_EVENT_INTERVAL_MS 10000
/* Requests awaiting a reply at once; more wait in a queue of at most
 * KL_KUBELET_EVENT_QUEUE_MAX, and beyond that events are dropped. */
#define KL_KUBELET_EVENT_IN_FLIGHT_MAX 32
#define KL_KUBELET_EVENT_QUEUE_MAX 1024
#define KL_KUBELET_EVENT_REPLY_TIMEOUT_MS 5000
/* After the API failed to take an event, drop events for this long. */
#define KL_KUBELET_EVENT_QUIET_MS 5000

typedef struct kl_kubelet_events kl_kubelet_events_t;

/* `client` is borrowed and must outlive the recorder; its replies are read
 * by the kubelet, which hands the ones it does not know to
 * kl_kubelet_events_reply(). `host` names the source (the node). Caller
 * owns; NULL when out of memory. */
kl_kubelet_events_t *kl_kubelet_events_new(kl_bus_client_t *client, const char *host);
void kl_kubelet_events_destroy(kl_kubelet_events_t **self_p);

/* Records an event about `involved` (a Pod or Node, borrowed). `field_path`
 * ("spec.containers{web}") may be NULL; `type` is "Normal" or "Warning".
 * Returns 1 when sent or queued, 0 when rate-limited or dropped. */
int kl_kubelet_events_record(kl_kubelet_events_t *self, const json_t *involved,
                             const char *field_path, const char *type, const char *reason,
                             int64_t now_ms, const char *format, ...)
    __attribute__((format(printf, 7, 8)));

/* A reply read from the shared client: 1 when it answered an event (then
 * `reply`, may be NULL, is released here), 0 when it is not an event's. */
int kl_kubelet_events_reply(kl_kubelet_events_t *self, uint64_t request_id, json_t *reply,
                            const kl_error_t *err, int64_t now_ms);

/* Sends what the queue holds as in-flight slots free up, gives up on
 * requests without a reply and forgets old rate-limit entries. Cheap; call
 * from every loop turn. */
void kl_kubelet_events_step(kl_kubelet_events_t *self, int64_t now_ms);

/* Counters for tests and logs. */
typedef struct kl_kubelet_events_stats {
    uint64_t sent, accepted, failed, limited, dropped;
    size_t in_flight, queued;
} kl_kubelet_events_stats_t;
void kl_kubelet_events_stats(const kl_kubelet_events_t *self, kl_kubelet_events_stats_t *out);

#endif
