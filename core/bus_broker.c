/* The bus broker: an actor that routes requests and replies, registers services and publishes events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus_internal.h"
#include "log.h"
#include "threads.h"

typedef struct broker_args {
    char **request_endpoints;
    char **event_endpoints;
    int failed;
    kl_error_t error;
} broker_args_t;

struct kl_broker {
    zactor_t *actor;
    broker_args_t args;
};

/* A service name and the peers serving it: several peers may register the
 * same name (replicas of a service); requests go to them in turn. */
#define BUS_MAX_WORKERS 32
typedef struct service {
    zframe_t *workers[BUS_MAX_WORKERS];
    size_t count;
    size_t next;
} service_t;

static void service_destructor(void **item)
{
    service_t *service = *item;
    if (!service)
        return;
    for (size_t i = 0; i < service->count; i++)
        zframe_destroy(&service->workers[i]);
    free(service);
    *item = NULL;
}

static void service_drop_worker(service_t *service, size_t index)
{
    zframe_destroy(&service->workers[index]);
    service->workers[index] = service->workers[--service->count];
}

typedef struct broker_state {
    void *router;      /* raw handles of the two sockets below */
    void *pub;         /* an XPUB: it hears subscriptions come and go */
    zhashx_t *services;  /* name -> service_t */
    zhashx_t *topics;    /* topic prefixes someone subscribes to -> "" */
} broker_state_t;

/* The prefixes subscribed to, as a JSON array's text (caller frees). */
static char *subscriptions_text(broker_state_t *st, size_t *length)
{
    json_t *list = json_array();
    for (void *it = zhashx_first(st->topics); it; it = zhashx_next(st->topics))
        json_array_append_new(list, json_string((const char *)zhashx_cursor(st->topics)));
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    *length = text ? strlen(text) : 0;
    return text;
}

/* Tells one service peer which topics have subscribers, so it does not
 * encode and send events nobody receives: route, tag, SUBS, [prefixes]. */
static void send_subscriptions(broker_state_t *st, const void *route, size_t route_size,
                               const char *text, size_t length)
{
    if (kl_bus_send_bytes(st->router, route, route_size, 1) < 0)
        return;
    kl_bus_send_text(st->router, KL_BUS_PROTOCOL, 1);
    kl_bus_send_text(st->router, "SUBS", 1);
    kl_bus_send_bytes(st->router, text, length, 0);
}

static void broadcast_subscriptions(broker_state_t *st)
{
    size_t length;
    char *text = subscriptions_text(st, &length);
    if (!text)
        return;
    for (service_t *entry = zhashx_first(st->services); entry; entry = zhashx_next(st->services))
        for (size_t i = 0; i < entry->count; i++)
            send_subscriptions(st, zframe_data(entry->workers[i]), zframe_size(entry->workers[i]),
                               text, length);
    free(text);
}

/* A subscription message from the XPUB: 1 or 0, then the prefix. XPUB
 * passes on the first subscription to a prefix and the last unsubscription
 * only, so presence is all there is to track. */
static void broker_subscription(broker_state_t *st)
{
    zmq_msg_t m;
    zmq_msg_init(&m);
    int changed = 0;
    while (zmq_msg_recv(&m, st->pub, ZMQ_DONTWAIT) >= 0) {
        size_t size = zmq_msg_size(&m);
        const char *data = zmq_msg_data(&m);
        if (size >= 1 && size <= BUS_MAX_NAME && (data[0] == 0 || data[0] == 1)) {
            char prefix[BUS_MAX_NAME + 1];
            memcpy(prefix, data + 1, size - 1);
            prefix[size - 1] = '\0';
            if (strlen(prefix) == size - 1) {
                if (data[0] == 1)
                    zhashx_update(st->topics, prefix, (void *)"");
                else
                    zhashx_delete(st->topics, prefix);
                changed = 1;
            }
        }
        zmq_msg_close(&m);
        zmq_msg_init(&m);
    }
    zmq_msg_close(&m);
    if (changed)
        broadcast_subscriptions(st);
}

static void broker_send_reply(broker_state_t *st, zmq_msg_t *route, const char *request_id, int status,
                              const json_t *body)
{
    char status_text[16];
    snprintf(status_text, sizeof status_text, "%d", status);
    if (kl_bus_send_copy(st->router, route, 1) < 0) {
        kl_debug(BUS_LOG, "reply to a departed peer dropped");
        return;
    }
    kl_bus_send_text(st->router, KL_BUS_PROTOCOL, 1);
    kl_bus_send_text(st->router, "REP", 1);
    kl_bus_send_text(st->router, request_id, 1);
    kl_bus_send_text(st->router, status_text, 1);
    kl_bus_send_json(st->router, body, 0);
}

static void broker_send_error(broker_state_t *st, zmq_msg_t *route, const char *request_id, int code,
                              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void broker_send_error(broker_state_t *st, zmq_msg_t *route, const char *request_id, int code,
                              const char *fmt, ...)
{
    kl_error_t err;
    va_list ap;
    va_start(ap, fmt);
    kl_error_vset(&err, code, fmt, ap);
    va_end(ap);
    json_t *status = kl_bus_status_from_error(&err);
    broker_send_reply(st, route, request_id, code, status);
    json_decref(status);
}

static void broker_own_request(broker_state_t *st, zmq_msg_t *route, const char *method,
                               const char *request_id)
{
    json_t *reply = NULL;
    if (strcmp(method, "bus.ping") == 0) {
        reply = json_pack("{s:b}", "pong", 1);
    } else if (strcmp(method, "bus.services") == 0) {
        reply = json_pack("{s:[]}", "services");
        json_t *list = json_object_get(reply, "services");
        for (void *it = zhashx_first(st->services); it; it = zhashx_next(st->services))
            json_array_append_new(list, json_string((const char *)zhashx_cursor(st->services)));
    } else {
        broker_send_error(st, route, request_id, KL_ERR_NOT_FOUND,
                          "the bus has no method \"%s\" (it serves bus.ping and bus.services)", method);
        return;
    }
    broker_send_reply(st, route, request_id, 0, reply);
    json_decref(reply);
}

/* f: route, tag, REQ, method, request-id, payload */
static void broker_forward_request(broker_state_t *st, frames_t *f)
{
    zmq_msg_t *route = &f->part[0];
    char method[BUS_MAX_NAME], request_id[64];
    if (f->count < 5 || kl_bus_msg_text(&f->part[4], request_id, sizeof request_id) < 0) {
        kl_warn(BUS_LOG, "request without a valid request id dropped");
        return;
    }
    if (kl_bus_msg_text(&f->part[3], method, sizeof method) < 0 || !strchr(method, '.')) {
        broker_send_error(st, route, request_id, KL_ERR_INVALID, "request names no \"service.method\"");
        return;
    }
    if (f->count != 6 || f->truncated) {
        broker_send_error(st, route, request_id, KL_ERR_INVALID,
                          "request for %s must have exactly one payload frame", method);
        return;
    }
    if (zmq_msg_size(&f->part[5]) > KL_BUS_MAX_PAYLOAD) {
        broker_send_error(st, route, request_id, KL_ERR_TOO_LARGE,
                          "request for %s carries %zu bytes, over the %d byte limit", method,
                          zmq_msg_size(&f->part[5]), KL_BUS_MAX_PAYLOAD);
        return;
    }
    char service[BUS_MAX_NAME];
    size_t service_len = (size_t)(strchr(method, '.') - method);
    memcpy(service, method, service_len);
    service[service_len] = '\0';
    if (strcmp(service, "bus") == 0) {
        broker_own_request(st, route, method, request_id);
        return;
    }
    service_t *entry = zhashx_lookup(st->services, service);
    int delivered = 0;
    while (entry && entry->count && !delivered) {
        size_t index = entry->next++ % entry->count;
        zframe_t *worker = entry->workers[index];
        if (kl_bus_send_bytes(st->router, zframe_data(worker), zframe_size(worker), 1) == 0) {
            delivered = 1;
        } else {
            kl_warn(BUS_LOG, "a peer serving \"%s\" is gone; forgetting it", service);
            service_drop_worker(entry, index);
        }
    }
    if (!delivered) {
        if (entry)
            zhashx_delete(st->services, service);
        broker_send_error(st, route, request_id, KL_ERR_UNAVAILABLE,
                          "no service named \"%s\" is attached to the bus", service);
        return;
    }
    kl_bus_send_text(st->router, KL_BUS_PROTOCOL, 1);
    kl_bus_send_text(st->router, "REQ", 1);
    kl_bus_send_copy(st->router, route, 1);
    kl_bus_send_copy(st->router, &f->part[3], 1);
    kl_bus_send_copy(st->router, &f->part[4], 1);
    kl_bus_send_copy(st->router, &f->part[5], 0);
}

/* f: service-route, tag, REP, return-route, request-id, status, payload */
static void broker_forward_reply(broker_state_t *st, frames_t *f)
{
    if (f->count != 7 || f->truncated) {
        kl_warn(BUS_LOG, "reply with %d frames instead of 7 dropped", f->count);
        return;
    }
    if (kl_bus_send_copy(st->router, &f->part[3], 1) < 0) {
        kl_debug(BUS_LOG, "reply to a departed client dropped");
        return;
    }
    kl_bus_send_text(st->router, KL_BUS_PROTOCOL, 1);
    kl_bus_send_text(st->router, "REP", 1);
    kl_bus_send_copy(st->router, &f->part[4], 1);
    kl_bus_send_copy(st->router, &f->part[5], 1);
    kl_bus_send_copy(st->router, &f->part[6], 0);
}

/* f: route, tag, HELLO, service, request-id */
static void broker_register(broker_state_t *st, frames_t *f)
{
    char service[BUS_MAX_NAME], request_id[64];
    if (f->count != 5 || kl_bus_msg_text(&f->part[4], request_id, sizeof request_id) < 0) {
        kl_warn(BUS_LOG, "HELLO without a request id dropped");
    } else if (kl_bus_msg_text(&f->part[3], service, sizeof service) < 0 || !*service || strchr(service, '.')
               || strcmp(service, "bus") == 0) {
        broker_send_error(st, &f->part[0], request_id, KL_ERR_INVALID,
                          "HELLO must name a service without dots (and not \"bus\")");
    } else {
        service_t *entry = zhashx_lookup(st->services, service);
        if (!entry) {
            entry = calloc(1, sizeof *entry);
            zhashx_insert(st->services, service, entry);
        }
        int known = 0;
        for (size_t i = 0; i < entry->count; i++)
            known |= zframe_size(entry->workers[i]) == zmq_msg_size(&f->part[0])
                     && memcmp(zframe_data(entry->workers[i]), zmq_msg_data(&f->part[0]),
                               zmq_msg_size(&f->part[0])) == 0;
        if (!known && entry->count == BUS_MAX_WORKERS)
            service_drop_worker(entry, 0);  /* the oldest is the likeliest to be gone */
        if (!known)
            entry->workers[entry->count++] = zframe_new(zmq_msg_data(&f->part[0]),
                                                        zmq_msg_size(&f->part[0]));
        kl_debug(BUS_LOG, "service \"%s\" attached (%zu peers)", service, entry->count);
        json_t *body = json_pack("{s:s}", "service", service);
        broker_send_reply(st, &f->part[0], request_id, 0, body);
        json_decref(body);
        size_t length;
        char *text = subscriptions_text(st, &length);
        if (text)
            send_subscriptions(st, zmq_msg_data(&f->part[0]), zmq_msg_size(&f->part[0]), text,
                               length);
        free(text);
    }
}

/* f: route, tag, PUB, topic, payload */
static void broker_publish(broker_state_t *st, frames_t *f)
{
    if (f->count != 5 || f->truncated) {
        kl_warn(BUS_LOG, "PUB with %d frames instead of 5 dropped", f->count);
        return;
    }
    kl_bus_send_copy(st->pub, &f->part[3], 1);
    kl_bus_send_copy(st->pub, &f->part[4], 0);
}

/* Every frame from outside is checked before use: a bad message is dropped
 * (with an error reply where one can be routed) and never stops the broker. */
static void broker_handle(broker_state_t *st, frames_t *f)
{
    if (f->count < 2) {
        kl_warn(BUS_LOG, "empty message dropped");
    } else if (!kl_bus_msg_is(&f->part[1], KL_BUS_PROTOCOL)) {
        /* Without our tag we cannot trust the layout; a best-effort error
         * lets a peer speaking another version find out why. */
        kl_warn(BUS_LOG, "message without the %s protocol tag dropped", KL_BUS_PROTOCOL);
        broker_send_error(st, &f->part[0], "0", KL_ERR_INVALID,
                          "unknown protocol tag; this broker speaks %s", KL_BUS_PROTOCOL);
    } else if (f->count < 3) {
        kl_warn(BUS_LOG, "message without a type dropped");
    } else if (kl_bus_msg_is(&f->part[2], "REQ")) {
        broker_forward_request(st, f);
    } else if (kl_bus_msg_is(&f->part[2], "REP")) {
        broker_forward_reply(st, f);
    } else if (kl_bus_msg_is(&f->part[2], "HELLO")) {
        broker_register(st, f);
    } else if (kl_bus_msg_is(&f->part[2], "PUB")) {
        broker_publish(st, f);
    } else {
        kl_warn(BUS_LOG, "message of unknown type dropped");
    }
}

static void broker_actor(zsock_t *pipe, void *arg)
{
    kl_thread_begin("kl-broker", KL_THREAD_CONTROL);
    broker_args_t *args = arg;
    broker_state_t st = {0};
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_t *pub = zsock_new(ZMQ_XPUB);
    st.router = zsock_resolve(router);
    st.pub = zsock_resolve(pub);
    st.services = zhashx_new();
    st.topics = zhashx_new();
    zhashx_set_destructor(st.services, service_destructor);
    kl_bus_set_socket_limits(router);
    kl_bus_set_socket_limits(pub);
    zsock_set_router_mandatory(router, 1);
    for (char **ep = args->request_endpoints; ep && *ep && !args->failed; ep++) {
        if (zsock_bind(router, "%s", *ep) < 0) {
            args->failed = 1;
            kl_error_set(&args->error, KL_ERR_UNAVAILABLE, "cannot bind bus endpoint %s: %s", *ep,
                         zmq_strerror(zmq_errno()));
        }
    }
    for (char **ep = args->event_endpoints; ep && *ep && !args->failed; ep++) {
        if (zsock_bind(pub, "%s", *ep) < 0) {
            args->failed = 1;
            kl_error_set(&args->error, KL_ERR_UNAVAILABLE, "cannot bind event endpoint %s: %s",
                         *ep, zmq_strerror(zmq_errno()));
        }
    }
    zsock_signal(pipe, 0);
    zmq_pollitem_t items[3] = {{zsock_resolve(pipe), 0, ZMQ_POLLIN, 0}, {st.router, 0, ZMQ_POLLIN, 0},
                               {st.pub, 0, ZMQ_POLLIN, 0}};
    while (!args->failed) {
        if (zmq_poll(items, 3, -1) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv(pipe);
            int term = !command || strcmp(command, "$TERM") == 0;
            zstr_free(&command);
            if (term)
                break;
        }
        if (items[1].revents & ZMQ_POLLIN) {
            /* Drain a burst without going back to poll for each message. */
            frames_t f;
            for (int i = 0; i < 256 && kl_bus_frames_recv(st.router, &f, ZMQ_DONTWAIT) == 0; i++) {
                broker_handle(&st, &f);
                kl_bus_frames_close(&f);
            }
        }
        if (items[2].revents & ZMQ_POLLIN)
            broker_subscription(&st);
    }
    zhashx_destroy(&st.topics);
    zhashx_destroy(&st.services);
    zsock_destroy(&router);
    zsock_destroy(&pub);
}

static char **copy_list(const char *const *list)
{
    size_t n = 0;
    while (list && list[n])
        n++;
    char **copy = calloc(n + 1, sizeof *copy);
    for (size_t i = 0; i < n; i++)
        copy[i] = strdup(list[i]);
    return copy;
}

static void free_list(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

kl_broker_t *kl_broker_new(const char *const *request_endpoints,
                           const char *const *event_endpoints, kl_error_t *err)
{
    kl_broker_t *self = calloc(1, sizeof *self);
    self->args.request_endpoints = copy_list(request_endpoints);
    self->args.event_endpoints = copy_list(event_endpoints);
    self->actor = zactor_new(broker_actor, &self->args);
    if (self->args.failed) {
        if (err)
            *err = self->args.error;
        kl_broker_destroy(&self);
    }
    return self;
}

void kl_broker_destroy(kl_broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_broker_t *self = *self_p;
    zactor_destroy(&self->actor);
    free_list(self->args.request_endpoints);
    free_list(self->args.event_endpoints);
    free(self);
    *self_p = NULL;
}
