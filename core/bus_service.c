/* The bus service end: registration, the request loop, replies and publishing events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus_internal.h"
#include "log.h"

struct kl_bus_service {
    zsock_t *dealer;
    void *handle;
    char *name;
    char *endpoint;
    kl_bus_drained_fn drained;
    void *drained_arg;
    struct {
        kl_bus_fd_fn fd_now;
        kl_bus_drained_fn ready;
        void *arg;
    } extra[KL_BUS_EXTRA_FDS];
    int extra_count;
    /* Topic prefixes with subscribers, as the broker last said; NULL until
     * it has said, and then every event is sent. */
    json_t *subscribed;
};

void kl_bus_service_set_drained(kl_bus_service_t *self, kl_bus_drained_fn drained, void *arg)
{
    self->drained = drained;
    self->drained_arg = arg;
}

int kl_bus_service_add_extra_fd(kl_bus_service_t *self, kl_bus_fd_fn fd_now,
                                kl_bus_drained_fn ready, void *arg)
{
    if (self->extra_count == KL_BUS_EXTRA_FDS)
        return -1;
    self->extra[self->extra_count].fd_now = fd_now;
    self->extra[self->extra_count].ready = ready;
    self->extra[self->extra_count].arg = arg;
    self->extra_count++;
    return 0;
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
    kl_bus_send_text(client->handle, KL_BUS_PROTOCOL, 1);
    kl_bus_send_text(client->handle, "HELLO", 1);
    kl_bus_send_text(client->handle, name, 1);
    kl_bus_send_text(client->handle, "1", 0);
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
    json_decref((*self_p)->subscribed);
    free((*self_p)->name);
    free((*self_p)->endpoint);
    free(*self_p);
    *self_p = NULL;
}

/* Turns one message from the broker into a request for the handler.
 * f: tag, REQ, return-route, method, request-id, payload */
static void service_dispatch(kl_bus_service_t *self, frames_t *f, kl_bus_handler_fn handler, void *arg)
{
    if (f->count >= 2 && kl_bus_msg_is(&f->part[0], KL_BUS_PROTOCOL) && kl_bus_msg_is(&f->part[1], "REP"))
        return;  /* a late HELLO acknowledgement */
    if (f->count == 3 && kl_bus_msg_is(&f->part[0], KL_BUS_PROTOCOL) && kl_bus_msg_is(&f->part[1], "SUBS")) {
        json_t *list = json_loadb(zmq_msg_data(&f->part[2]), zmq_msg_size(&f->part[2]), 0, NULL);
        size_t i;
        json_t *prefix;
        int valid = json_is_array(list);
        json_array_foreach(list, i, prefix)
            valid &= json_is_string(prefix);
        if (valid) {
            json_decref(self->subscribed);
            self->subscribed = list;
        } else {
            kl_warn(BUS_LOG, "service %s dropped a malformed subscription list", self->name);
            json_decref(list);
        }
        return;
    }
    char request_id[64];
    if (f->count != 6 || f->truncated || !kl_bus_msg_is(&f->part[0], KL_BUS_PROTOCOL)
        || !kl_bus_msg_is(&f->part[1], "REQ")
        || kl_bus_msg_text(&f->part[4], request_id, sizeof request_id) < 0) {
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
    if (kl_bus_msg_text(&f->part[3], full, sizeof full) < 0 || !strchr(full, '.')) {
        kl_error_set(&err, KL_ERR_INVALID, "request names no method");
    } else {
        snprintf(request->method, sizeof request->method, "%s", strchr(full, '.') + 1);
        request->payload = kl_bus_json_from_bytes(zmq_msg_data(&f->part[5]), zmq_msg_size(&f->part[5]), &err);
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
    zmq_pollitem_t items[2 + KL_BUS_EXTRA_FDS] = {{self->handle, 0, ZMQ_POLLIN, 0},
                                                  {pipe ? zsock_resolve(pipe) : NULL, 0, ZMQ_POLLIN, 0}};
    int64_t next_tick = zclock_mono() + tick_ms;
    for (;;) {
        /* Without a pipe, the extra descriptors start in the pipe's slot. */
        int item_count = pipe ? 2 : 1, first_extra = item_count;
        int polled[KL_BUS_EXTRA_FDS];  /* the extra behind each item from first_extra on */
        for (int i = 0; i < self->extra_count; i++) {
            int fd = self->extra[i].fd_now(self->extra[i].arg);
            if (fd >= 0) {
                polled[item_count - first_extra] = i;
                items[item_count++] = (zmq_pollitem_t){NULL, fd, ZMQ_POLLIN, 0};
            }
        }
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
            for (int i = 0; i < 1000 && kl_bus_frames_recv(self->handle, &f, ZMQ_DONTWAIT) == 0; i++) {
                service_dispatch(self, &f, handler, arg);
                kl_bus_frames_close(&f);
            }
            if (self->drained)
                self->drained(self->drained_arg);
        }
        for (int i = first_extra; i < item_count; i++) {
            const int which = polled[i - first_extra];
            if (items[i].revents & ZMQ_POLLIN)
                self->extra[which].ready(self->extra[which].arg);
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

int kl_bus_service_has_subscribers(const kl_bus_service_t *self, const char *topic)
{
    if (!self->subscribed)
        return 1;
    size_t i;
    json_t *prefix;
    json_array_foreach(self->subscribed, i, prefix)
        if (strncmp(topic, json_string_value(prefix), json_string_length(prefix)) == 0)
            return 1;
    return 0;
}

int kl_bus_service_publish(kl_bus_service_t *self, const char *topic, const json_t *event)
{
    if (!kl_bus_service_has_subscribers(self, topic))
        return 0;
    if (kl_bus_send_text(self->handle, KL_BUS_PROTOCOL, 1) < 0 || kl_bus_send_text(self->handle, "PUB", 1) < 0
        || kl_bus_send_text(self->handle, topic, 1) < 0 || kl_bus_send_json(self->handle, event, 0) < 0)
        return -1;
    return 0;
}

int kl_bus_service_publish_text(kl_bus_service_t *self, const char *topic, const char *event,
                                size_t length)
{
    if (!kl_bus_service_has_subscribers(self, topic))
        return 0;
    if (kl_bus_send_text(self->handle, KL_BUS_PROTOCOL, 1) < 0 || kl_bus_send_text(self->handle, "PUB", 1) < 0
        || kl_bus_send_text(self->handle, topic, 1) < 0
        || kl_bus_send_bytes(self->handle, event, length, 0) < 0)
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
    kl_bus_send_text(socket, KL_BUS_PROTOCOL, 1);
    kl_bus_send_text(socket, "REP", 1);
    kl_bus_send_copy(socket, &request->route, 1);
    kl_bus_send_text(socket, request->request_id, 1);
    kl_bus_send_text(socket, status_text, 1);
    kl_bus_send_json(socket, failed ? status : body, 0);
    json_decref(status);
    json_decref(body);
    zmq_msg_close(&request->route);
    json_decref(request->payload);
    free(request);
    *request_p = NULL;
}

/* Sends `text` (stolen, malloc'd) as one frame without copying it. */
static int send_owned(void *socket, char *text, size_t len, int more)
{
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, text, len, kl_bus_free_text, NULL) < 0) {
        free(text);
        return -1;
    }
    if (zmq_msg_send(&msg, socket, more ? ZMQ_SNDMORE : 0) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    return 0;
}

void kl_bus_request_respond_text(kl_bus_request_t **request_p, char *text, size_t length)
{
    if (!request_p || !*request_p) {
        free(text);
        return;
    }
    kl_bus_request_t *request = *request_p;
    void *socket = request->service->handle;
    kl_bus_send_text(socket, KL_BUS_PROTOCOL, 1);
    kl_bus_send_text(socket, "REP", 1);
    kl_bus_send_copy(socket, &request->route, 1);
    kl_bus_send_text(socket, request->request_id, 1);
    kl_bus_send_text(socket, "0", 1);
    if (text)
        send_owned(socket, text, length, 0);
    else
        kl_bus_send_text(socket, "{}", 0);
    zmq_msg_close(&request->route);
    json_decref(request->payload);
    free(request);
    *request_p = NULL;
}
