/* The keelson bus: broker, client, service and subscriber ends over czmq.
 * Frame layouts are specified in docs/protocol.md; every frame from outside
 * is checked before use, and a bad one never stops the broker. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "log.h"

#define BUS_LOG "bus"
#define BUS_MAX_FRAME (32 * 1024 * 1024)
#define BUS_MAX_NAME 256

/* ---- shared helpers ---------------------------------------------------- */

json_t *kl_bus_status_from_error(const kl_error_t *err)
{
    int code = err ? err->code : KL_ERR_INTERNAL;
    return json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                     "metadata", "status", "Failure", "message",
                     err && err->text[0] ? err->text : kl_error_reason(code), "reason",
                     kl_error_reason(code), "code", kl_error_http_status(code));
}

/* Copies a frame into a NUL-terminated string if it is short text. */
static int frame_text(zframe_t *frame, char *out, size_t size)
{
    if (!frame)
        return -1;
    size_t len = zframe_size(frame);
    if (len >= size)
        return -1;
    memcpy(out, zframe_data(frame), len);
    out[len] = '\0';
    if (memchr(out, '\0', len))
        return -1;
    return 0;
}

static int frame_is(zframe_t *frame, const char *text)
{
    size_t len = strlen(text);
    return frame && zframe_size(frame) == len && memcmp(zframe_data(frame), text, len) == 0;
}

static zframe_t *frame_from_json(const json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    zframe_t *frame = zframe_new(text ? text : "{}", text ? strlen(text) : 2);
    free(text);
    return frame;
}

static json_t *json_from_frame(zframe_t *frame, kl_error_t *err)
{
    if (zframe_size(frame) > KL_BUS_MAX_PAYLOAD) {
        kl_error_set(err, KL_ERR_TOO_LARGE, "payload of %zu bytes exceeds the %d byte limit",
                     zframe_size(frame), KL_BUS_MAX_PAYLOAD);
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb((const char *)zframe_data(frame), zframe_size(frame), 0, &jerr);
    if (!body) {
        kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: %s at line %d column %d", jerr.text,
                     jerr.line, jerr.column);
        return NULL;
    }
    if (!json_is_object(body)) {
        json_decref(body);
        kl_error_set(err, KL_ERR_INVALID, "payload must be a JSON object");
        return NULL;
    }
    return body;
}

static void set_socket_limits(zsock_t *sock)
{
    zsock_set_linger(sock, 0);
    zsock_set_maxmsgsize(sock, BUS_MAX_FRAME);
    zsock_set_sndhwm(sock, 100000);
    zsock_set_rcvhwm(sock, 100000);
}

/* ---- broker ------------------------------------------------------------ */

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

typedef struct broker_state {
    zsock_t *router;
    zsock_t *pub;
    zhashx_t *services;  /* name -> zframe_t routing id */
} broker_state_t;

static void broker_send_error(broker_state_t *st, zframe_t *route, const char *request_id, int code,
                              const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void broker_send_reply(broker_state_t *st, zframe_t *route, const char *request_id, int status,
                              json_t *body)
{
    zmsg_t *msg = zmsg_new();
    zmsg_append(msg, &(zframe_t *){zframe_dup(route)});
    zmsg_addstr(msg, KL_BUS_PROTOCOL);
    zmsg_addstr(msg, "REP");
    zmsg_addstr(msg, request_id);
    zmsg_addstrf(msg, "%d", status);
    zframe_t *payload = frame_from_json(body);
    zmsg_append(msg, &payload);
    if (zmsg_send(&msg, st->router) != 0) {
        kl_debug(BUS_LOG, "reply to a departed peer dropped");
        zmsg_destroy(&msg);
    }
}

static void broker_send_error(broker_state_t *st, zframe_t *route, const char *request_id, int code,
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

static void broker_own_request(broker_state_t *st, zframe_t *route, const char *method,
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

static void broker_forward_request(broker_state_t *st, zframe_t *route, zmsg_t *msg)
{
    /* msg holds: method, request-id, payload */
    char method[BUS_MAX_NAME], request_id[64];
    zframe_t *method_frame = zmsg_pop(msg);
    zframe_t *id_frame = zmsg_pop(msg);
    zframe_t *payload = zmsg_pop(msg);
    if (frame_text(id_frame, request_id, sizeof request_id) < 0) {
        kl_warn(BUS_LOG, "request without a valid request id dropped");
        goto out;
    }
    if (frame_text(method_frame, method, sizeof method) < 0 || !strchr(method, '.')) {
        broker_send_error(st, route, request_id, KL_ERR_INVALID,
                          "request names no \"service.method\"");
        goto out;
    }
    if (!payload || zmsg_size(msg) != 0) {
        broker_send_error(st, route, request_id, KL_ERR_INVALID,
                          "request for %s must have exactly one payload frame", method);
        goto out;
    }
    if (zframe_size(payload) > KL_BUS_MAX_PAYLOAD) {
        broker_send_error(st, route, request_id, KL_ERR_TOO_LARGE,
                          "request for %s carries %zu bytes, over the %d byte limit", method,
                          zframe_size(payload), KL_BUS_MAX_PAYLOAD);
        goto out;
    }
    char service[BUS_MAX_NAME];
    size_t service_len = (size_t)(strchr(method, '.') - method);
    memcpy(service, method, service_len);
    service[service_len] = '\0';
    if (strcmp(service, "bus") == 0) {
        broker_own_request(st, route, method, request_id);
        goto out;
    }
    zframe_t *service_route = zhashx_lookup(st->services, service);
    if (!service_route) {
        broker_send_error(st, route, request_id, KL_ERR_UNAVAILABLE,
                          "no service named \"%s\" is attached to the bus", service);
        goto out;
    }
    zmsg_t *out = zmsg_new();
    zmsg_append(out, &(zframe_t *){zframe_dup(service_route)});
    zmsg_addstr(out, KL_BUS_PROTOCOL);
    zmsg_addstr(out, "REQ");
    zmsg_append(out, &(zframe_t *){zframe_dup(route)});
    zmsg_append(out, &method_frame);
    zmsg_append(out, &id_frame);
    zmsg_append(out, &payload);
    if (zmsg_send(&out, st->router) != 0) {
        zmsg_destroy(&out);
        zhashx_delete(st->services, service);
        kl_warn(BUS_LOG, "service \"%s\" is gone; forgetting it", service);
        broker_send_error(st, route, request_id, KL_ERR_UNAVAILABLE,
                          "service \"%s\" went away", service);
    }
out:
    zframe_destroy(&method_frame);
    zframe_destroy(&id_frame);
    zframe_destroy(&payload);
}

static void broker_forward_reply(broker_state_t *st, zmsg_t *msg)
{
    /* msg holds: return-route, request-id, status, payload */
    if (zmsg_size(msg) != 4) {
        kl_warn(BUS_LOG, "reply with %zu frames instead of 4 dropped", zmsg_size(msg));
        return;
    }
    zframe_t *route = zmsg_pop(msg);
    zmsg_t *out = zmsg_new();
    zmsg_append(out, &route);
    zmsg_addstr(out, KL_BUS_PROTOCOL);
    zmsg_addstr(out, "REP");
    zframe_t *frame;
    while ((frame = zmsg_pop(msg)))
        zmsg_append(out, &frame);
    if (zmsg_send(&out, st->router) != 0) {
        kl_debug(BUS_LOG, "reply to a departed client dropped");
        zmsg_destroy(&out);
    }
}

static void broker_register(broker_state_t *st, zframe_t *route, zmsg_t *msg)
{
    char service[BUS_MAX_NAME], request_id[64];
    zframe_t *name_frame = zmsg_pop(msg);
    zframe_t *id_frame = zmsg_pop(msg);
    if (frame_text(id_frame, request_id, sizeof request_id) < 0) {
        kl_warn(BUS_LOG, "HELLO without a request id dropped");
    } else if (frame_text(name_frame, service, sizeof service) < 0 || !*service
               || strchr(service, '.') || strcmp(service, "bus") == 0) {
        broker_send_error(st, route, request_id, KL_ERR_INVALID,
                          "HELLO must name a service without dots (and not \"bus\")");
    } else {
        zframe_t *copy = zframe_dup(route);
        zhashx_update(st->services, service, copy);
        kl_debug(BUS_LOG, "service \"%s\" attached", service);
        json_t *body = json_pack("{s:s}", "service", service);
        broker_send_reply(st, route, request_id, 0, body);
        json_decref(body);
    }
    zframe_destroy(&name_frame);
    zframe_destroy(&id_frame);
}

static void broker_publish(broker_state_t *st, zmsg_t *msg)
{
    if (zmsg_size(msg) != 2) {
        kl_warn(BUS_LOG, "PUB with %zu frames instead of 2 dropped", zmsg_size(msg));
        return;
    }
    zmsg_t *out = zmsg_new();
    zframe_t *frame;
    while ((frame = zmsg_pop(msg)))
        zmsg_append(out, &frame);
    if (zmsg_send(&out, st->pub) != 0)
        zmsg_destroy(&out);
}

static void broker_handle(broker_state_t *st, zmsg_t *msg)
{
    zframe_t *route = zmsg_pop(msg);
    zframe_t *tag = zmsg_pop(msg);
    zframe_t *type = zmsg_pop(msg);
    if (!route || !tag) {
        kl_warn(BUS_LOG, "empty message dropped");
    } else if (!frame_is(tag, KL_BUS_PROTOCOL)) {
        /* Without our tag we cannot trust the layout; a best-effort error
         * lets a peer speaking another version find out why. */
        kl_warn(BUS_LOG, "message without the %s protocol tag dropped", KL_BUS_PROTOCOL);
        broker_send_error(st, route, "0", KL_ERR_INVALID,
                          "unknown protocol tag; this broker speaks %s", KL_BUS_PROTOCOL);
    } else if (frame_is(type, "REQ")) {
        broker_forward_request(st, route, msg);
    } else if (frame_is(type, "REP")) {
        broker_forward_reply(st, msg);
    } else if (frame_is(type, "HELLO")) {
        broker_register(st, route, msg);
    } else if (frame_is(type, "PUB")) {
        broker_publish(st, msg);
    } else {
        kl_warn(BUS_LOG, "message of unknown type dropped");
    }
    zframe_destroy(&route);
    zframe_destroy(&tag);
    zframe_destroy(&type);
}

static void frame_destructor(void **item)
{
    zframe_destroy((zframe_t **)item);
}

static void broker_actor(zsock_t *pipe, void *arg)
{
    broker_args_t *args = arg;
    broker_state_t st = {0};
    st.router = zsock_new(ZMQ_ROUTER);
    st.pub = zsock_new(ZMQ_PUB);
    st.services = zhashx_new();
    zhashx_set_destructor(st.services, frame_destructor);
    set_socket_limits(st.router);
    set_socket_limits(st.pub);
    zsock_set_router_mandatory(st.router, 1);
    for (char **ep = args->request_endpoints; ep && *ep && !args->failed; ep++) {
        if (zsock_bind(st.router, "%s", *ep) < 0) {
            args->failed = 1;
            kl_error_set(&args->error, KL_ERR_UNAVAILABLE, "cannot bind bus endpoint %s: %s", *ep,
                         zmq_strerror(zmq_errno()));
        }
    }
    for (char **ep = args->event_endpoints; ep && *ep && !args->failed; ep++) {
        if (zsock_bind(st.pub, "%s", *ep) < 0) {
            args->failed = 1;
            kl_error_set(&args->error, KL_ERR_UNAVAILABLE, "cannot bind event endpoint %s: %s",
                         *ep, zmq_strerror(zmq_errno()));
        }
    }
    zsock_signal(pipe, 0);
    zpoller_t *poller = args->failed ? NULL : zpoller_new(pipe, st.router, NULL);
    while (poller) {
        void *which = zpoller_wait(poller, -1);
        if (!which) {
            if (zpoller_terminated(poller))
                break;
            continue;  /* interrupted by a signal */
        }
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv(pipe);
            char *command = msg ? zmsg_popstr(msg) : NULL;
            int term = !command || strcmp(command, "$TERM") == 0;
            free(command);
            zmsg_destroy(&msg);
            if (term)
                break;
            continue;
        }
        zmsg_t *msg = zmsg_recv(st.router);
        if (msg)
            broker_handle(&st, msg);
        zmsg_destroy(&msg);
    }
    zpoller_destroy(&poller);
    zhashx_destroy(&st.services);
    zsock_destroy(&st.router);
    zsock_destroy(&st.pub);
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

/* ---- client ------------------------------------------------------------ */

struct kl_bus_client {
    zsock_t *dealer;
    char *endpoint;
    uint64_t next_id;
};

kl_bus_client_t *kl_bus_client_new(const char *endpoint, kl_error_t *err)
{
    if (!endpoint || !*endpoint) {
        kl_error_set(err, KL_ERR_INVALID, "no bus endpoint given");
        return NULL;
    }
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    set_socket_limits(dealer);
    if (zsock_connect(dealer, "%s", endpoint) < 0) {
        kl_error_set(err, KL_ERR_INVALID, "cannot connect to bus endpoint \"%s\": %s", endpoint,
                     zmq_strerror(zmq_errno()));
        zsock_destroy(&dealer);
        return NULL;
    }
    kl_bus_client_t *self = calloc(1, sizeof *self);
    self->dealer = dealer;
    self->endpoint = strdup(endpoint);
    self->next_id = 1;
    return self;
}

void kl_bus_client_destroy(kl_bus_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->dealer);
    free((*self_p)->endpoint);
    free(*self_p);
    *self_p = NULL;
}

zsock_t *kl_bus_client_socket(kl_bus_client_t *self)
{
    return self->dealer;
}

int kl_bus_send(kl_bus_client_t *self, const char *service_method, const json_t *payload,
                uint64_t *request_id, kl_error_t *err)
{
    if (!service_method || !strchr(service_method, '.'))
        return kl_error_set(err, KL_ERR_INVALID, "\"%s\" is not of the form service.method",
                            service_method ? service_method : "");
    uint64_t id = self->next_id++;
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, KL_BUS_PROTOCOL);
    zmsg_addstr(msg, "REQ");
    zmsg_addstr(msg, service_method);
    zmsg_addstrf(msg, "%" PRIu64, id);
    zframe_t *body = frame_from_json(payload);
    zmsg_append(msg, &body);
    if (zmsg_send(&msg, self->dealer) != 0) {
        zmsg_destroy(&msg);
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot send to %s: %s", self->endpoint,
                            zmq_strerror(zmq_errno()));
    }
    if (request_id)
        *request_id = id;
    return 0;
}

static int wait_readable(zsock_t *sock, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve(sock), 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(&item, 1, timeout_ms);
    return rc > 0 && (item.revents & ZMQ_POLLIN);
}

json_t *kl_bus_recv(kl_bus_client_t *self, uint64_t *request_id, int timeout_ms, kl_error_t *err)
{
    for (;;) {
        if (!wait_readable(self->dealer, timeout_ms)) {
            kl_error_set(err, KL_ERR_TIMEOUT, "no reply from %s within %d ms", self->endpoint,
                         timeout_ms);
            return NULL;
        }
        zmsg_t *msg = zmsg_recv(self->dealer);
        if (!msg) {
            kl_error_set(err, KL_ERR_UNAVAILABLE, "receive from %s interrupted", self->endpoint);
            return NULL;
        }
        char id_text[64], status_text[16];
        zframe_t *tag = zmsg_first(msg);
        zframe_t *type = zmsg_next(msg);
        zframe_t *id = zmsg_next(msg);
        zframe_t *status = zmsg_next(msg);
        zframe_t *payload = zmsg_next(msg);
        if (zmsg_size(msg) != 5 || !frame_is(tag, KL_BUS_PROTOCOL) || !frame_is(type, "REP")
            || frame_text(id, id_text, sizeof id_text) < 0
            || frame_text(status, status_text, sizeof status_text) < 0) {
            kl_warn(BUS_LOG, "malformed reply from %s dropped", self->endpoint);
            zmsg_destroy(&msg);
            continue;
        }
        if (request_id)
            *request_id = strtoull(id_text, NULL, 10);
        int code = atoi(status_text);
        kl_error_t parse_err;
        json_t *body = json_from_frame(payload, &parse_err);
        zmsg_destroy(&msg);
        if (code != 0) {
            const char *message = body ? json_string_value(json_object_get(body, "message")) : NULL;
            kl_error_set(err, code, "%s", message ? message : kl_error_reason(code));
            json_decref(body);
            return NULL;
        }
        if (!body) {
            kl_error_set(err, parse_err.code, "reply from %s: %s", self->endpoint, parse_err.text);
            return NULL;
        }
        return body;
    }
}

json_t *kl_bus_request(kl_bus_client_t *self, const char *service_method, const json_t *payload,
                       int timeout_ms, kl_error_t *err)
{
    uint64_t sent_id;
    if (kl_bus_send(self, service_method, payload, &sent_id, err) < 0)
        return NULL;
    int64_t deadline = zclock_mono() + timeout_ms;
    for (;;) {
        int64_t left = deadline - zclock_mono();
        if (left < 0)
            left = 0;
        uint64_t got_id = 0;
        kl_error_t recv_err;
        kl_error_clear(&recv_err);
        json_t *reply = kl_bus_recv(self, &got_id, (int)left, &recv_err);
        if (recv_err.code == KL_ERR_TIMEOUT) {
            kl_error_set(err, KL_ERR_TIMEOUT, "no reply to %s from %s within %d ms", service_method,
                         self->endpoint, timeout_ms);
            return NULL;
        }
        if (got_id != sent_id) {
            json_decref(reply);  /* a late reply to an earlier timed-out request */
            continue;
        }
        if (!reply && err)
            *err = recv_err;
        return reply;
    }
}

/* ---- service ----------------------------------------------------------- */

struct kl_bus_service {
    zsock_t *dealer;
    char *name;
    char *endpoint;
};

struct kl_bus_request {
    kl_bus_service_t *service;
    zframe_t *route;
    char request_id[64];
    char method[BUS_MAX_NAME];
    json_t *payload;
};

kl_bus_service_t *kl_bus_service_new(const char *endpoint, const char *name, kl_error_t *err)
{
    if (!name || !*name || strchr(name, '.')) {
        kl_error_set(err, KL_ERR_INVALID, "service name \"%s\" must be non-empty without dots",
                     name ? name : "");
        return NULL;
    }
    kl_bus_client_t *client = kl_bus_client_new(endpoint, err);
    if (!client)
        return NULL;
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, KL_BUS_PROTOCOL);
    zmsg_addstr(msg, "HELLO");
    zmsg_addstr(msg, name);
    zmsg_addstr(msg, "1");
    zmsg_send(&msg, client->dealer);
    kl_error_t hello_err;
    kl_error_clear(&hello_err);
    json_t *ack = kl_bus_recv(client, NULL, 5000, &hello_err);
    if (!ack) {
        kl_error_set(err, hello_err.code, "cannot register service \"%s\" at %s: %s", name,
                     endpoint, hello_err.text);
        kl_bus_client_destroy(&client);
        return NULL;
    }
    json_decref(ack);
    kl_bus_service_t *self = calloc(1, sizeof *self);
    self->dealer = client->dealer;
    client->dealer = NULL;
    kl_bus_client_destroy(&client);
    self->name = strdup(name);
    self->endpoint = strdup(endpoint);
    return self;
}

void kl_bus_service_destroy(kl_bus_service_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->dealer);
    free((*self_p)->name);
    free((*self_p)->endpoint);
    free(*self_p);
    *self_p = NULL;
}

static void service_send_reply(kl_bus_service_t *self, zframe_t *route, const char *request_id,
                               int status, const json_t *body)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, KL_BUS_PROTOCOL);
    zmsg_addstr(msg, "REP");
    zmsg_append(msg, &(zframe_t *){zframe_dup(route)});
    zmsg_addstr(msg, request_id);
    zmsg_addstrf(msg, "%d", status);
    zframe_t *payload = frame_from_json(body);
    zmsg_append(msg, &payload);
    if (zmsg_send(&msg, self->dealer) != 0)
        zmsg_destroy(&msg);
}

/* Turns one message from the broker into a request for the handler. */
static void service_dispatch(kl_bus_service_t *self, zmsg_t *msg, kl_bus_handler_fn handler,
                             void *arg)
{
    zframe_t *tag = zmsg_pop(msg);
    zframe_t *type = zmsg_pop(msg);
    zframe_t *route = zmsg_pop(msg);
    zframe_t *method = zmsg_pop(msg);
    zframe_t *id = zmsg_pop(msg);
    zframe_t *payload = zmsg_pop(msg);
    if (frame_is(tag, KL_BUS_PROTOCOL) && frame_is(type, "REP")) {
        goto out;  /* a late HELLO acknowledgement */
    }
    char request_id[64];
    if (!frame_is(tag, KL_BUS_PROTOCOL) || !frame_is(type, "REQ") || !route || !payload
        || zmsg_size(msg) != 0 || frame_text(id, request_id, sizeof request_id) < 0) {
        kl_warn(BUS_LOG, "service %s dropped a malformed request", self->name);
        goto out;
    }
    kl_bus_request_t *request = calloc(1, sizeof *request);
    request->service = self;
    request->route = route;
    route = NULL;
    memcpy(request->request_id, request_id, sizeof request_id);
    char full[BUS_MAX_NAME];
    kl_error_t err;
    kl_error_clear(&err);
    if (frame_text(method, full, sizeof full) < 0 || !strchr(full, '.')) {
        kl_error_set(&err, KL_ERR_INVALID, "request names no method");
    } else {
        snprintf(request->method, sizeof request->method, "%s", strchr(full, '.') + 1);
        request->payload = json_from_frame(payload, &err);
    }
    if (!request->payload) {
        kl_bus_request_respond(&request, NULL, &err);
        goto out;
    }
    handler(request, arg);
out:
    zframe_destroy(&tag);
    zframe_destroy(&type);
    zframe_destroy(&route);
    zframe_destroy(&method);
    zframe_destroy(&id);
    zframe_destroy(&payload);
}

int kl_bus_service_run(kl_bus_service_t *self, zsock_t *pipe, kl_bus_handler_fn handler,
                       kl_bus_tick_fn tick, int tick_ms, void *arg)
{
    zpoller_t *poller = zpoller_new(self->dealer, NULL);
    if (pipe)
        zpoller_add(poller, pipe);
    int64_t next_tick = zclock_mono() + tick_ms;
    int rc = 0;
    for (;;) {
        int timeout = -1;
        if (tick && tick_ms > 0) {
            int64_t left = next_tick - zclock_mono();
            timeout = left > 0 ? (int)left : 0;
        }
        void *which = zpoller_wait(poller, timeout);
        if (which == self->dealer) {
            /* Drain what is queued so a burst costs one poll. */
            for (int i = 0; i < 1000; i++) {
                zmsg_t *msg = zmsg_recv_nowait(self->dealer);
                if (!msg)
                    break;
                service_dispatch(self, msg, handler, arg);
                zmsg_destroy(&msg);
            }
        } else if (pipe && which == pipe) {
            zmsg_t *msg = zmsg_recv(pipe);
            char *command = msg ? zmsg_popstr(msg) : NULL;
            int term = !command || strcmp(command, "$TERM") == 0;
            free(command);
            zmsg_destroy(&msg);
            if (term)
                break;
        } else if (zpoller_terminated(poller)) {
            rc = -1;
            break;
        }
        if (tick && tick_ms > 0 && zclock_mono() >= next_tick) {
            tick(arg);
            next_tick = zclock_mono() + tick_ms;
        }
    }
    zpoller_destroy(&poller);
    return rc;
}

int kl_bus_service_publish(kl_bus_service_t *self, const char *topic, const json_t *event)
{
    zmsg_t *msg = zmsg_new();
    zmsg_addstr(msg, KL_BUS_PROTOCOL);
    zmsg_addstr(msg, "PUB");
    zmsg_addstr(msg, topic);
    zframe_t *payload = frame_from_json(event);
    zmsg_append(msg, &payload);
    if (zmsg_send(&msg, self->dealer) != 0) {
        zmsg_destroy(&msg);
        return -1;
    }
    return 0;
}

const char *kl_bus_request_method(const kl_bus_request_t *request)
{
    return request->method;
}

const json_t *kl_bus_request_payload(const kl_bus_request_t *request)
{
    return request->payload;
}

void kl_bus_request_respond(kl_bus_request_t **request_p, json_t *body, const kl_error_t *err)
{
    if (!request_p || !*request_p)
        return;
    kl_bus_request_t *request = *request_p;
    if (err && err->code != KL_OK) {
        json_t *status = kl_bus_status_from_error(err);
        service_send_reply(request->service, request->route, request->request_id, err->code,
                           status);
        json_decref(status);
    } else {
        service_send_reply(request->service, request->route, request->request_id, 0, body);
    }
    json_decref(body);
    zframe_destroy(&request->route);
    json_decref(request->payload);
    free(request);
    *request_p = NULL;
}

/* ---- subscriber -------------------------------------------------------- */

struct kl_bus_subscriber {
    zsock_t *sub;
};

kl_bus_subscriber_t *kl_bus_subscriber_new(const char *endpoint, const char *topic_prefix,
                                           kl_error_t *err)
{
    zsock_t *sub = zsock_new(ZMQ_SUB);
    set_socket_limits(sub);
    if (!endpoint || zsock_connect(sub, "%s", endpoint) < 0) {
        kl_error_set(err, KL_ERR_INVALID, "cannot connect to event endpoint \"%s\"",
                     endpoint ? endpoint : "");
        zsock_destroy(&sub);
        return NULL;
    }
    zsock_set_subscribe(sub, topic_prefix ? topic_prefix : "");
    kl_bus_subscriber_t *self = calloc(1, sizeof *self);
    self->sub = sub;
    return self;
}

void kl_bus_subscriber_destroy(kl_bus_subscriber_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zsock_destroy(&(*self_p)->sub);
    free(*self_p);
    *self_p = NULL;
}

zsock_t *kl_bus_subscriber_socket(kl_bus_subscriber_t *self)
{
    return self->sub;
}

json_t *kl_bus_subscriber_recv(kl_bus_subscriber_t *self, char *topic, size_t topic_size,
                               int timeout_ms, kl_error_t *err)
{
    if (!wait_readable(self->sub, timeout_ms)) {
        kl_error_set(err, KL_ERR_TIMEOUT, "no event within %d ms", timeout_ms);
        return NULL;
    }
    zmsg_t *msg = zmsg_recv(self->sub);
    if (!msg || zmsg_size(msg) != 2) {
        zmsg_destroy(&msg);
        kl_error_set(err, KL_ERR_INVALID, "malformed event dropped");
        return NULL;
    }
    zframe_t *topic_frame = zmsg_first(msg);
    if (frame_text(topic_frame, topic, topic_size) < 0) {
        zmsg_destroy(&msg);
        kl_error_set(err, KL_ERR_INVALID, "event with an unreadable topic dropped");
        return NULL;
    }
    json_t *event = json_from_frame(zmsg_next(msg), err);
    zmsg_destroy(&msg);
    return event;
}
