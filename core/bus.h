/* The keelson message bus: a broker (ROUTER + PUB) that routes requests to
 * named services and fans out published events, plus the client and service
 * ends that attach to it over inproc:// or tcp://. Wire format: docs/protocol.md.
 * Internal to the core: plugins reach the bus only through kl_host_t. */
#ifndef KL_CORE_BUS_H
#define KL_CORE_BUS_H

#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <jansson.h>
#include <keelson/error.h>

#define KL_BUS_PROTOCOL "KLB1"
/* Payloads above this get an error reply; frames far above it make ZeroMQ
 * drop the sender's connection (ZMQ_MAXMSGSIZE). */
#define KL_BUS_MAX_PAYLOAD (16 * 1024 * 1024)

/* ---- broker ---------------------------------------------------------- */
typedef struct kl_broker kl_broker_t;

/* Binds the request endpoints (ROUTER) and the event endpoints (PUB); each
 * list ends with NULL. Runs in its own thread until destroyed. */
kl_broker_t *kl_broker_new(const char *const *request_endpoints,
                           const char *const *event_endpoints, kl_error_t *err);
void kl_broker_destroy(kl_broker_t **self_p);

/* ---- client ---------------------------------------------------------- */
typedef struct kl_bus_client kl_bus_client_t;

/* Connects a DEALER to a broker's request endpoint. Not thread-safe: one
 * client per thread. */
kl_bus_client_t *kl_bus_client_new(const char *endpoint, kl_error_t *err);
void kl_bus_client_destroy(kl_bus_client_t **self_p);

/* Synchronous call to "<service>.<method>". `payload` is borrowed (NULL
 * sends {}). Returns the reply body (caller owns) or NULL with err filled:
 * an error reply keeps the service's code and message; no reply within
 * timeout_ms gives KL_ERR_TIMEOUT. Replies to earlier timed-out requests are
 * discarded. */
json_t *kl_bus_request(kl_bus_client_t *self, const char *service_method,
                       const json_t *payload, int timeout_ms, kl_error_t *err);

/* Pipelined use: send many, then receive replies in any order. */
int kl_bus_send(kl_bus_client_t *self, const char *service_method, const json_t *payload,
                uint64_t *request_id, kl_error_t *err);
/* kl_bus_send() for a caller that needs only to know the request worked:
 * the successful reply's body is not parsed, and kl_bus_recv() returns an
 * empty object for it (an error reply is read as usual). Spares parsing a
 * whole object for each create whose result is not used. */
int kl_bus_send_ack(kl_bus_client_t *self, const char *service_method, const json_t *payload,
                    uint64_t *request_id, kl_error_t *err);
/* Returns the reply body (caller owns; error replies return NULL with err
 * filled and *request_id set). */
json_t *kl_bus_recv(kl_bus_client_t *self, uint64_t *request_id, int timeout_ms, kl_error_t *err);
/* A payload as a JSON object (caller owns), or NULL with err filled. */
json_t *kl_bus_json_from_bytes(const void *data, size_t len, kl_error_t *err);
/* kl_bus_recv() without parsing: the reply body as received, NUL-ended
 * (caller frees), for a caller that reads only parts of a large reply. */
char *kl_bus_recv_text(kl_bus_client_t *self, uint64_t *request_id, int timeout_ms, size_t *len,
                       kl_error_t *err);

/* For zpoller: readable when a reply is waiting. Borrowed. */
zsock_t *kl_bus_client_socket(kl_bus_client_t *self);

/* ---- service --------------------------------------------------------- */
typedef struct kl_bus_service kl_bus_service_t;
typedef struct kl_bus_request kl_bus_request_t;

/* Called for each request. The handler must eventually call
 * kl_bus_request_respond() exactly once, now or later (a deferred reply, as
 * a long-poll watch does): the request is the handler's until then. */
typedef void (*kl_bus_handler_fn)(kl_bus_request_t *request, void *arg);
/* Called every tick_ms while the service runs (NULL: no timer). */
typedef void (*kl_bus_tick_fn)(void *arg);

/* Connects to the broker and registers `name` ("api", "sched", ...). */
kl_bus_service_t *kl_bus_service_new(const char *endpoint, const char *name, kl_error_t *err);
void kl_bus_service_destroy(kl_bus_service_t **self_p);

/* Serves requests until `pipe` (a zactor pipe; may be NULL) receives "$TERM".
 * Returns 0 then, -1 on a bus failure. */
int kl_bus_service_run(kl_bus_service_t *self, zsock_t *pipe, kl_bus_handler_fn handler,
                       kl_bus_tick_fn tick, int tick_ms, void *arg);

/* Called after each burst of requests has been handed to the handler and
 * before the service waits for more: the place to batch work (a group
 * commit) over everything the burst brought. */
typedef void (*kl_bus_drained_fn)(void *arg);
void kl_bus_service_set_drained(kl_bus_service_t *self, kl_bus_drained_fn drained, void *arg);

/* A descriptor the service also waits on: before each wait it asks
 * `fd_now` (-1: none this time) and calls `ready` when that one is
 * readable. ready() must make it unreadable, or the loop spins. At most
 * KL_BUS_EXTRA_FDS; -1 when there are as many already. */
#define KL_BUS_EXTRA_FDS 4
typedef int (*kl_bus_fd_fn)(void *arg);
int kl_bus_service_add_extra_fd(kl_bus_service_t *self, kl_bus_fd_fn fd_now,
                                kl_bus_drained_fn ready, void *arg);

/* Publishes an event to every subscriber of `topic` (through the broker).
 * `event` is borrowed. */
int kl_bus_service_publish(kl_bus_service_t *self, const char *topic, const json_t *event);
/* The same with the event already encoded as a JSON object's text (borrowed). */
int kl_bus_service_publish_text(kl_bus_service_t *self, const char *topic, const char *event,
                                size_t length);
/* Whether anyone subscribes to `topic`, as far as the broker has told this
 * service (until it has, yes): events nobody receives are not sent. */
int kl_bus_service_has_subscribers(const kl_bus_service_t *self, const char *topic);

const char *kl_bus_request_method(const kl_bus_request_t *request);  /* "create" for "api.create" */
const json_t *kl_bus_request_payload(const kl_bus_request_t *request); /* borrowed, an object */

/* Sends the reply and frees the request (nulls *request_p). With err NULL or
 * err->code == KL_OK the reply is `body` (stolen; NULL sends {}); otherwise
 * an error reply shaped as a Kubernetes Status is sent and body is released. */
void kl_bus_request_respond(kl_bus_request_t **request_p, json_t *body, const kl_error_t *err);
/* The same with a successful reply already encoded: `text` (stolen,
 * malloc'd) is the JSON text of an object, sent without a copy. */
void kl_bus_request_respond_text(kl_bus_request_t **request_p, char *text, size_t length);

/* ---- subscriber ------------------------------------------------------ */
typedef struct kl_bus_subscriber kl_bus_subscriber_t;

/* Connects a SUB to a broker's event endpoint, subscribed to topics that
 * start with `topic_prefix` ("" for all). */
kl_bus_subscriber_t *kl_bus_subscriber_new(const char *endpoint, const char *topic_prefix,
                                           kl_error_t *err);
void kl_bus_subscriber_destroy(kl_bus_subscriber_t **self_p);
/* Next event (caller owns) with its topic copied into `topic`, or NULL on
 * timeout (err KL_ERR_TIMEOUT) or a malformed event (logged, KL_ERR_INVALID). */
json_t *kl_bus_subscriber_recv(kl_bus_subscriber_t *self, char *topic, size_t topic_size,
                               int timeout_ms, kl_error_t *err);
zsock_t *kl_bus_subscriber_socket(kl_bus_subscriber_t *self);

/* Kubernetes Status object for an error (caller owns). */
json_t *kl_bus_status_from_error(const kl_error_t *err);

#endif
