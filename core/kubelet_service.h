/* The kubelet's own bus service (kubelet-<node>.*): a pollable endpoint the
 * kubelet serves from its loop, so a request never waits on the runtime. */
#ifndef KL_CORE_KUBELET_SERVICE_H
#define KL_CORE_KUBELET_SERVICE_H

#include <czmq.h>
#include <jansson.h>
#include <keelson/error.h>

typedef struct kl_kubelet_service kl_kubelet_service_t;

/* "kubelet-<node_name>" with every character the bus refuses in a service
 * name ('.') turned into '_'; keelctl applies the same rule. */
void kl_kubelet_service_name(const char *node_name, char *buf, size_t size);

/* Connects to the broker at `endpoint` and registers `name` without waiting
 * for the acknowledgement. Caller owns; NULL with err. */
kl_kubelet_service_t *kl_kubelet_service_new(const char *endpoint, const char *name,
                                             kl_error_t *err);
void kl_kubelet_service_destroy(kl_kubelet_service_t **self_p);

/* Borrowed; readable when a request waits. */
zsock_t *kl_kubelet_service_socket(kl_kubelet_service_t *self);

/* Registers the name again (the broker may have restarted); cheap. */
void kl_kubelet_service_hello(kl_kubelet_service_t *self);

/* Answers one request: `method` ("logs"), `payload` (borrowed object).
 * Returns the reply body (caller owns) or NULL with err filled. */
typedef json_t *(*kl_kubelet_service_fn)(const char *method, const json_t *payload, void *arg,
                                         kl_error_t *err);

/* Handles every request queued now (at most `max`), never waiting. */
void kl_kubelet_service_drain(kl_kubelet_service_t *self, int max, kl_kubelet_service_fn handler,
                              void *arg);

#endif
