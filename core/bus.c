/* The keelson bus: broker, client, service and subscriber ends over czmq.
 * Frame layouts are specified in docs/protocol.md; every frame from outside
 * is checked before use, and a bad one never stops the broker. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "json_encode.h"
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

/* ---- raw frames -------------------------------------------------------- */

/* The hot paths use libzmq's zmq_msg_t directly: frames are forwarded by
 * reference, never copied, and no czmq container is allocated per message. */
#define MAX_FRAMES 8

typedef struct frames {
    zmq_msg_t part[MAX_FRAMES];
    int count;
    int truncated;  /* more frames arrived than MAX_FRAMES; the rest were dropped */
} frames_t;

static int frames_recv(void *socket, frames_t *f, int flags)
{
    f->count = 0;
    f->truncated = 0;
    int more = 1;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *m = f->count < MAX_FRAMES ? &f->part[f->count] : &scratch;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, socket, flags) < 0) {
            zmq_msg_close(m);
            if (f->count == 0)
                return -1;
            break;  /* cannot happen mid-message; be safe */
        }
        more = zmq_msg_more(m);
        flags = 0;
        if (m == &scratch) {
            f->truncated = 1;
            zmq_msg_close(m);
        } else {
            f->count++;
        }
    }
    return 0;
}

static void frames_close(frames_t *f)
{
    for (int i = 0; i < f->count; i++)
        zmq_msg_close(&f->part[i]);
    f->count = 0;
}

static int msg_is(zmq_msg_t *m, const char *text)
{
    size_t len = strlen(text);
    return zmq_msg_size(m) == len && memcmp(zmq_msg_data(m), text, len) == 0;
}

static int msg_text(zmq_msg_t *m, char *out, size_t size)
{
    size_t len = zmq_msg_size(m);
    if (len >= size || memchr(zmq_msg_data(m), '\0', len))
        return -1;
    memcpy(out, zmq_msg_data(m), len);
    out[len] = '\0';
    return 0;
}

/* Sends `m` by reference (the original stays valid for the caller). */
static int send_copy(void *socket, zmq_msg_t *m, int more)
{
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, m);
    int rc = zmq_msg_send(&copy, socket, more ? ZMQ_SNDMORE : 0);
    if (rc < 0)
        zmq_msg_close(&copy);
    return rc < 0 ? -1 : 0;
}

static int send_text(void *socket, const char *text, int more)
{
    return zmq_send(socket, text, strlen(text), more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

static int send_bytes(void *socket, const void *data, size_t len, int more)
{
    return zmq_send(socket, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/* Hands the encoded text to ZeroMQ without copying it; zmq frees it. */
static void free_text(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* Sends `text` (stolen, malloc'd) as one frame without copying it. */
static int send_owned(void *socket, char *text, size_t len, int more)
{
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, text, len, free_text, NULL) < 0) {
        free(text);
        return -1;
    }
    if (zmq_msg_send(&msg, socket, more ? ZMQ_SNDMORE : 0) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    return 0;
}

static int send_json(void *socket, const json_t *body, int more)
{
    size_t len = 0;
    char *text = body ? kl_json_encode(body, &len) : NULL;
    if (!text)
        return send_text(socket, "{}", more);
    zmq_msg_t msg;
    zmq_msg_init_data(&msg, text, len, free_text, NULL);
    if (zmq_msg_send(&msg, socket, more ? ZMQ_SNDMORE : 0) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    return 0;
}

static json_t *json_from_bytes(const void *data, size_t len, kl_error_t *err)
{
    if (len > KL_BUS_MAX_PAYLOAD) {
        kl_error_set(err, KL_ERR_TOO_LARGE, "payload of %zu bytes exceeds the %d byte limit", len,
                     KL_BUS_MAX_PAYLOAD);
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(data, len, 0, &jerr);
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
    void *pub;
    zhashx_t *services;  /* name -> service_t */
} broker_state_t;

static void broker_send_reply(broker_state_t *st, zmq_msg_t *route, const char *request_id, int status,
                              const json_t *body)
{
    char status_text[16];
    snprintf(status_text, sizeof status_text, "%d", status);
    if (send_copy(st->router, route, 1) < 0) {
        kl_debug(BUS_LOG, "reply to a departed peer dropped");
        return;
    }
    send_text(st->router, KL_BUS_PROTOCOL, 1);
    send_text(st->router, "REP", 1);
    send_text(st->router, request_id, 1);
    send_text(st->router, status_text, 1);
    send_json(st->router, body, 0);
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
    if (f->count < 5 || msg_text(&f->part[4], request_id, sizeof request_id) < 0) {
        kl_warn(BUS_LOG, "request without a valid request id dropped");
        return;
    }
    if (msg_text(&f->part[3], method, sizeof method) < 0 || !strchr(method, '.')) {
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
        if (send_bytes(st->router, zframe_data(worker), zframe_size(worker), 1) == 0) {
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
    send_text(st->router, KL_BUS_PROTOCOL, 1);
    send_text(st->router, "REQ", 1);
    send_copy(st->router, route, 1);
    send_copy(st->router, &f->part[3], 1);
    send_copy(st->router, &f->part[4], 1);
    send_copy(st->router, &f->part[5], 0);
}

/* f: service-route, tag, REP, return-route, request-id, status, payload */
static void broker_forward_reply(broker_state_t *st, frames_t *f)
{
    if (f->count != 7 || f->truncated) {
        kl_warn(BUS_LOG, "reply with %d frames instead of 7 dropped", f->count);
        return;
    }
    if (send_copy(st->router, &f->part[3], 1) < 0) {
        kl_debug(BUS_LOG, "reply to a departed client dropped");
        return;
    }
    send_text(st->router, KL_BUS_PROTOCOL, 1);
    send_text(st->router, "REP", 1);
    send_copy(st->router, &f->part[4], 1);
    send_copy(st->router, &f->part[5], 1);
    send_copy(st->router, &f->part[6], 0);
}

/* f: route, tag, HELLO, service, request-id */
static void broker_register(broker_state_t *st, frames_t *f)
{
    char service[BUS_MAX_NAME], request_id[64];
    if (f->count != 5 || msg_text(&f->part[4], request_id, sizeof request_id) < 0) {
        kl_warn(BUS_LOG, "HELLO without a request id dropped");
    } else if (msg_text(&f->part[3], service, sizeof service) < 0 || !*service || strchr(service, '.')
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
    }
}

/* f: route, tag, PUB, topic, payload */
static void broker_publish(broker_state_t *st, frames_t *f)
{
    if (f->count != 5 || f->truncated) {
        kl_warn(BUS_LOG, "PUB with %d frames instead of 5 dropped", f->count);
        return;
    }
    send_copy(st->pub, &f->part[3], 1);
    send_copy(st->pub, &f->part[4], 0);
}

static void broker_handle(broker_state_t *st, frames_t *f)
{
    if (f->count < 2) {
        kl_warn(BUS_LOG, "empty message dropped");
    } else if (!msg_is(&f->part[1], KL_BUS_PROTOCOL)) {
        /* Without our tag we cannot trust the layout; a best-effort error
         * lets a peer speaking another version find out why. */
        kl_warn(BUS_LOG, "message without the %s protocol tag dropped", KL_BUS_PROTOCOL);
        broker_send_error(st, &f->part[0], "0", KL_ERR_INVALID,
                          "unknown protocol tag; this broker speaks %s", KL_BUS_PROTOCOL);
    } else if (f->count < 3) {
        kl_warn(BUS_LOG, "message without a type dropped");
    } else if (msg_is(&f->part[2], "REQ")) {
        broker_forward_request(st, f);
    } else if (msg_is(&f->part[2], "REP")) {
        broker_forward_reply(st, f);
    } else if (msg_is(&f->part[2], "HELLO")) {
        broker_register(st, f);
    } else if (msg_is(&f->part[2], "PUB")) {
        broker_publish(st, f);
    } else {
        kl_warn(BUS_LOG, "message of unknown type dropped");
    }
}

static void broker_actor(zsock_t *pipe, void *arg)
{
    broker_args_t *args = arg;
    broker_state_t st = {0};
    zsock_t *router = zsock_new(ZMQ_ROUTER);
    zsock_t *pub = zsock_new(ZMQ_PUB);
    st.router = zsock_resolve(router);
    st.pub = zsock_resolve(pub);
    st.services = zhashx_new();
    zhashx_set_destructor(st.services, service_destructor);
    set_socket_limits(router);
    set_socket_limits(pub);
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
    zmq_pollitem_t items[2] = {{zsock_resolve(pipe), 0, ZMQ_POLLIN, 0}, {st.router, 0, ZMQ_POLLIN, 0}};
    while (!args->failed) {
        if (zmq_poll(items, 2, -1) < 0) {
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
            for (int i = 0; i < 256 && frames_recv(st.router, &f, ZMQ_DONTWAIT) == 0; i++) {
                broker_handle(&st, &f);
                frames_close(&f);
            }
        }
    }
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

/* ---- client ------------------------------------------------------------ */

struct kl_bus_client {
    zsock_t *dealer;
    void *handle;
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
    self->handle = zsock_resolve(dealer);
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
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%" PRIu64, id);
    if (send_text(self->handle, KL_BUS_PROTOCOL, 1) < 0 || send_text(self->handle, "REQ", 1) < 0
        || send_text(self->handle, service_method, 1) < 0 || send_text(self->handle, id_text, 1) < 0
        || send_json(self->handle, payload, 0) < 0)
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot send to %s: %s", self->endpoint,
                            zmq_strerror(zmq_errno()));
    if (request_id)
        *request_id = id;
    return 0;
}

static int wait_readable(void *handle, int timeout_ms)
{
    zmq_pollitem_t item = {handle, 0, ZMQ_POLLIN, 0};
    int events = 0;
    size_t size = sizeof events;
    /* Already readable: skip the poll system call. */
    if (zmq_getsockopt(handle, ZMQ_EVENTS, &events, &size) == 0 && (events & ZMQ_POLLIN))
        return 1;
    int rc = zmq_poll(&item, 1, timeout_ms);
    return rc > 0 && (item.revents & ZMQ_POLLIN);
}

json_t *kl_bus_recv(kl_bus_client_t *self, uint64_t *request_id, int timeout_ms, kl_error_t *err)
{
    for (;;) {
        if (!wait_readable(self->handle, timeout_ms)) {
            kl_error_set(err, KL_ERR_TIMEOUT, "no reply from %s within %d ms", self->endpoint,
                         timeout_ms);
            return NULL;
        }
        frames_t f;
        if (frames_recv(self->handle, &f, ZMQ_DONTWAIT) < 0)
            continue;
        char id_text[64], status_text[16];
        /* tag, REP, request-id, status, payload */
        if (f.count != 5 || f.truncated || !msg_is(&f.part[0], KL_BUS_PROTOCOL) || !msg_is(&f.part[1], "REP")
            || msg_text(&f.part[2], id_text, sizeof id_text) < 0
            || msg_text(&f.part[3], status_text, sizeof status_text) < 0) {
            kl_warn(BUS_LOG, "malformed reply from %s dropped", self->endpoint);
            frames_close(&f);
            continue;
        }
        if (request_id)
            *request_id = strtoull(id_text, NULL, 10);
        int code = atoi(status_text);
        kl_error_t parse_err;
        json_t *body = json_from_bytes(zmq_msg_data(&f.part[4]), zmq_msg_size(&f.part[4]), &parse_err);
        frames_close(&f);
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
    void *handle;
    char *name;
    char *endpoint;
    kl_bus_drained_fn drained;
    void *drained_arg;
};

void kl_bus_service_set_drained(kl_bus_service_t *self, kl_bus_drained_fn drained, void *arg)
{
    self->drained = drained;
    self->drained_arg = arg;
}

struct kl_bus_request {
    kl_bus_service_t *service;
    zmq_msg_t route;
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
    send_text(client->handle, KL_BUS_PROTOCOL, 1);
    send_text(client->handle, "HELLO", 1);
    send_text(client->handle, name, 1);
    send_text(client->handle, "1", 0);
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
    self->handle = client->handle;
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

/* Turns one message from the broker into a request for the handler.
 * f: tag, REQ, return-route, method, request-id, payload */
static void service_dispatch(kl_bus_service_t *self, frames_t *f, kl_bus_handler_fn handler, void *arg)
{
    if (f->count >= 2 && msg_is(&f->part[0], KL_BUS_PROTOCOL) && msg_is(&f->part[1], "REP"))
        return;  /* a late HELLO acknowledgement */
    char request_id[64];
    if (f->count != 6 || f->truncated || !msg_is(&f->part[0], KL_BUS_PROTOCOL) || !msg_is(&f->part[1], "REQ")
        || msg_text(&f->part[4], request_id, sizeof request_id) < 0) {
        kl_warn(BUS_LOG, "service %s dropped a malformed request", self->name);
        return;
    }
    kl_bus_request_t *request = calloc(1, sizeof *request);
    request->service = self;
    zmq_msg_init(&request->route);
    zmq_msg_copy(&request->route, &f->part[2]);
    memcpy(request->request_id, request_id, sizeof request_id);
    char full[BUS_MAX_NAME];
    kl_error_t err;
    kl_error_clear(&err);
    if (msg_text(&f->part[3], full, sizeof full) < 0 || !strchr(full, '.')) {
        kl_error_set(&err, KL_ERR_INVALID, "request names no method");
    } else {
        snprintf(request->method, sizeof request->method, "%s", strchr(full, '.') + 1);
        request->payload = json_from_bytes(zmq_msg_data(&f->part[5]), zmq_msg_size(&f->part[5]), &err);
    }
    if (!request->payload) {
        kl_bus_request_respond(&request, NULL, &err);
        return;
    }
    handler(request, arg);
}

int kl_bus_service_run(kl_bus_service_t *self, zsock_t *pipe, kl_bus_handler_fn handler,
                       kl_bus_tick_fn tick, int tick_ms, void *arg)
{
    zmq_pollitem_t items[2] = {{self->handle, 0, ZMQ_POLLIN, 0},
                               {pipe ? zsock_resolve(pipe) : NULL, 0, ZMQ_POLLIN, 0}};
    int item_count = pipe ? 2 : 1;
    int64_t next_tick = zclock_mono() + tick_ms;
    for (;;) {
        int timeout = -1;
        if (tick && tick_ms > 0) {
            int64_t left = next_tick - zclock_mono();
            timeout = left > 0 ? (int)left : 0;
        }
        if (zmq_poll(items, item_count, timeout) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            return -1;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            /* Drain what is queued so a burst costs one poll. */
            frames_t f;
            for (int i = 0; i < 1000 && frames_recv(self->handle, &f, ZMQ_DONTWAIT) == 0; i++) {
                service_dispatch(self, &f, handler, arg);
                frames_close(&f);
            }
            if (self->drained)
                self->drained(self->drained_arg);
        }
        if (pipe && (items[1].revents & ZMQ_POLLIN)) {
            char *command = zstr_recv(pipe);
            int term = !command || strcmp(command, "$TERM") == 0;
            zstr_free(&command);
            if (term)
                return 0;
        }
        if (tick && tick_ms > 0 && zclock_mono() >= next_tick) {
            tick(arg);
            next_tick = zclock_mono() + tick_ms;
        }
    }
}

int kl_bus_service_publish(kl_bus_service_t *self, const char *topic, const json_t *event)
{
    if (send_text(self->handle, KL_BUS_PROTOCOL, 1) < 0 || send_text(self->handle, "PUB", 1) < 0
        || send_text(self->handle, topic, 1) < 0 || send_json(self->handle, event, 0) < 0)
        return -1;
    return 0;
}

int kl_bus_service_publish_text(kl_bus_service_t *self, const char *topic, const char *event,
                                size_t length)
{
    if (send_text(self->handle, KL_BUS_PROTOCOL, 1) < 0 || send_text(self->handle, "PUB", 1) < 0
        || send_text(self->handle, topic, 1) < 0 || send_bytes(self->handle, event, length, 0) < 0)
        return -1;
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
    void *socket = request->service->handle;
    int failed = err && err->code != KL_OK;
    char status_text[16];
    snprintf(status_text, sizeof status_text, "%d", failed ? err->code : 0);
    json_t *status = failed ? kl_bus_status_from_error(err) : NULL;
    send_text(socket, KL_BUS_PROTOCOL, 1);
    send_text(socket, "REP", 1);
    send_copy(socket, &request->route, 1);
    send_text(socket, request->request_id, 1);
    send_text(socket, status_text, 1);
    send_json(socket, failed ? status : body, 0);
    json_decref(status);
    json_decref(body);
    zmq_msg_close(&request->route);
    json_decref(request->payload);
    free(request);
    *request_p = NULL;
}

void kl_bus_request_respond_text(kl_bus_request_t **request_p, char *text, size_t length)
{
    if (!request_p || !*request_p) {
        free(text);
        return;
    }
    kl_bus_request_t *request = *request_p;
    void *socket = request->service->handle;
    send_text(socket, KL_BUS_PROTOCOL, 1);
    send_text(socket, "REP", 1);
    send_copy(socket, &request->route, 1);
    send_text(socket, request->request_id, 1);
    send_text(socket, "0", 1);
    if (text)
        send_owned(socket, text, length, 0);
    else
        send_text(socket, "{}", 0);
    zmq_msg_close(&request->route);
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
    void *handle = zsock_resolve(self->sub);
    if (!wait_readable(handle, timeout_ms)) {
        kl_error_set(err, KL_ERR_TIMEOUT, "no event within %d ms", timeout_ms);
        return NULL;
    }
    frames_t f;
    if (frames_recv(handle, &f, ZMQ_DONTWAIT) < 0) {
        kl_error_set(err, KL_ERR_TIMEOUT, "no event within %d ms", timeout_ms);
        return NULL;
    }
    json_t *event = NULL;
    if (f.count != 2 || f.truncated)
        kl_error_set(err, KL_ERR_INVALID, "malformed event dropped");
    else if (msg_text(&f.part[0], topic, topic_size) < 0)
        kl_error_set(err, KL_ERR_INVALID, "event with an unreadable topic dropped");
    else
        event = json_from_bytes(zmq_msg_data(&f.part[1]), zmq_msg_size(&f.part[1]), err);
    frames_close(&f);
    return event;
}
