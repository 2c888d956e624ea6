/* A kubelet's request endpoint on the bus, polled by the kubelet's loop.
 * bus.h's kl_bus_service_run() owns its thread's loop, so this speaks the
 * service side of KLB1 (docs/protocol.md, section 1) directly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "kubelet_service.h"
#include "log.h"

#define COMPONENT "kubelet"
#define SERVICE_MAX_FRAME (32 * 1024 * 1024)

struct kl_kubelet_service {
    zsock_t *dealer;
    char *name;
    uint64_t hello_id;
};

void kl_kubelet_service_name(const char *node_name, char *buf, size_t size)
{
    snprintf(buf, size, "kubelet-%s", node_name ? node_name : "");
    for (char *p = buf; *p; p++)
        if (*p == '.')
            *p = '_';
}

kl_kubelet_service_t *kl_kubelet_service_new(const char *endpoint, const char *name,
                                             kl_error_t *err)
{
    if (!endpoint || !name || !*name || strchr(name, '.')) {
        kl_error_set(err, KL_ERR_INVALID, "kubelet service name \"%s\" must be non-empty "
                     "without dots", name ? name : "");
        return NULL;
    }
    kl_kubelet_service_t *self = calloc(1, sizeof *self);
    if (!self || !(self->name = strdup(name))) {
        free(self);
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory creating service %s", name);
        return NULL;
    }
    self->dealer = zsock_new(ZMQ_DEALER);
    if (!self->dealer) {
        kl_kubelet_service_destroy(&self);
        kl_error_set(err, KL_ERR_INTERNAL, "cannot create a socket for service %s", name);
        return NULL;
    }
    zsock_set_linger(self->dealer, 0);
    zsock_set_maxmsgsize(self->dealer, SERVICE_MAX_FRAME);
    if (zsock_connect(self->dealer, "%s", endpoint) < 0) {
        kl_kubelet_service_destroy(&self);
        kl_error_set(err, KL_ERR_INVALID, "service %s cannot connect to bus endpoint \"%s\"",
                     name, endpoint);
        return NULL;
    }
    kl_kubelet_service_hello(self);
    return self;
}

void kl_kubelet_service_destroy(kl_kubelet_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->dealer);
    free((*self_p)->name);
    free(*self_p);
    *self_p = NULL;
}

zsock_t *kl_kubelet_service_socket(kl_kubelet_service_t *self)
{
    return self->dealer;
}

void kl_kubelet_service_hello(kl_kubelet_service_t *self)
{
    char id[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)++self->hello_id);
    /* Non-blocking: with the broker away, the message waits in the queue. */
    zsock_send(self->dealer, "ssss", KL_BUS_PROTOCOL, "HELLO", self->name, id);
}

/* request: KLB1 REQ return-route service.method request-id payload */
static void service_handle(kl_kubelet_service_t *self, zmsg_t *msg, kl_kubelet_service_fn handler,
                           void *arg)
{
    zframe_t *tag = zmsg_first(msg);
    zframe_t *kind = zmsg_next(msg);
    if (!tag || !zframe_streq(tag, KL_BUS_PROTOCOL) || !kind)
        goto malformed;
    if (zframe_streq(kind, "REP"))
        return;  /* the broker acknowledging a HELLO (or refusing it: logged below) */
    if (!zframe_streq(kind, "REQ") || zmsg_size(msg) != 6)
        goto malformed;
    zframe_t *route = zmsg_next(msg);
    char *method = zframe_strdup(zmsg_next(msg));
    zframe_t *request_id = zmsg_next(msg);
    zframe_t *body = zmsg_next(msg);
    kl_error_t err;
    kl_error_clear(&err);
    json_t *reply = NULL;
    json_error_t json_err;
    json_t *payload = json_loadb((const char *)zframe_data(body), zframe_size(body), 0, &json_err);
    const char *dot = method ? strchr(method, '.') : NULL;
    if (!dot)
        kl_error_set(&err, KL_ERR_INVALID, "request to %s names no method", self->name);
    else if (!json_is_object(payload))
        kl_error_set(&err, KL_ERR_INVALID, "request %s: the payload is not a JSON object", method);
    else
        reply = handler(dot + 1, payload, arg, &err);
    if (!reply && err.code == KL_OK)
        kl_error_set(&err, KL_ERR_INTERNAL, "request %s failed without saying why", method);
    json_t *sent = reply ? reply : kl_bus_status_from_error(&err);
    char *text = sent ? json_dumps(sent, JSON_COMPACT) : NULL;
    char status[16];
    snprintf(status, sizeof status, "%d", reply ? 0 : err.code);
    zmsg_t *out = zmsg_new();
    zmsg_addstr(out, KL_BUS_PROTOCOL);
    zmsg_addstr(out, "REP");
    zmsg_append(out, &(zframe_t *){zframe_dup(route)});
    zmsg_append(out, &(zframe_t *){zframe_dup(request_id)});
    zmsg_addstr(out, status);
    zmsg_addstr(out, text ? text : "{}");
    if (zmsg_send(&out, self->dealer) < 0)
        zmsg_destroy(&out);
    free(text);
    json_decref(sent);
    json_decref(payload);
    free(method);
    return;
malformed:
    kl_warn(COMPONENT, "service %s dropped a malformed message of %zu frames", self->name,
            zmsg_size(msg));
}

void kl_kubelet_service_drain(kl_kubelet_service_t *self, int max, kl_kubelet_service_fn handler,
                              void *arg)
{
    for (int i = 0; i < max; i++) {
        zmsg_t *msg = NULL;
        if (zsock_events(self->dealer) & ZMQ_POLLIN)
            msg = zmsg_recv(self->dealer);
        if (!msg)
            return;
        service_handle(self, msg, handler, arg);
        zmsg_destroy(&msg);
    }
}
