/* The bus client end: requests to "<service>.<method>", synchronous or pipelined. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bus_internal.h"
#include "log.h"

kl_bus_client_t *kl_bus_client_new(const char *endpoint, kl_error_t *err)
{
    if (!endpoint || !*endpoint) {
        kl_error_set(err, KL_ERR_INVALID, "no bus endpoint given");
        return NULL;
    }
    zsock_t *dealer = zsock_new(ZMQ_DEALER);
    kl_bus_set_socket_limits(dealer);
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
    zhashx_destroy(&(*self_p)->acks);
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
    if (kl_bus_send_text(self->handle, KL_BUS_PROTOCOL, 1) < 0
        || kl_bus_send_text(self->handle, "REQ", 1) < 0
        || kl_bus_send_text(self->handle, service_method, 1) < 0
        || kl_bus_send_text(self->handle, id_text, 1) < 0
        || kl_bus_send_json(self->handle, payload, 0) < 0)
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot send to %s: %s", self->endpoint,
                            zmq_strerror(zmq_errno()));
    if (request_id)
        *request_id = id;
    return 0;
}

/* Ids whose replies never came (a broker restart) must not pile up: past
 * this many, those far behind the newest are forgotten. */
#define ACKS_MAX 65536

int kl_bus_send_ack(kl_bus_client_t *self, const char *service_method, const json_t *payload,
                    uint64_t *request_id, kl_error_t *err)
{
    uint64_t id;
    if (kl_bus_send(self, service_method, payload, &id, err) < 0)
        return -1;
    if (request_id)
        *request_id = id;
    if (!self->acks && !(self->acks = zhashx_new()))
        return 0;  /* the body is then parsed after all: only slower */
    if (zhashx_size(self->acks) >= ACKS_MAX) {
        zlistx_t *keys = zhashx_keys(self->acks);
        for (const char *key = keys ? zlistx_first(keys) : NULL; key; key = zlistx_next(keys))
            if (strtoull(key, NULL, 10) + ACKS_MAX / 2 < id)
                zhashx_delete(self->acks, key);
        zlistx_destroy(&keys);
    }
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%" PRIu64, id);
    zhashx_update(self->acks, id_text, self);  /* any non-NULL value */
    return 0;
}

/* An error reply's message, closing `f`. */
static void reply_error(frames_t *f, int code, kl_error_t *err)
{
    kl_error_t parse_err;
    json_t *body = kl_bus_json_from_bytes(zmq_msg_data(&f->part[4]), zmq_msg_size(&f->part[4]),
                                          &parse_err);
    kl_bus_frames_close(f);
    const char *message = body ? json_string_value(json_object_get(body, "message")) : NULL;
    kl_error_set(err, code, "%s", message ? message : kl_error_reason(code));
    json_decref(body);
}

/* The next successful reply into `f`; -1 when none came in time, or with
 * the error an error reply carried (*request_id set). An acknowledgement
 * asked for by kl_bus_send_ack() comes back with *ack_only set. */
static int recv_reply(kl_bus_client_t *self, uint64_t *request_id, int timeout_ms, frames_t *f,
                      int *ack_only, kl_error_t *err)
{
    for (;;) {
        if (!kl_bus_wait_readable(self->handle, timeout_ms)) {
            kl_error_set(err, KL_ERR_TIMEOUT, "no reply from %s within %d ms", self->endpoint,
                         timeout_ms);
            return -1;
        }
        if (kl_bus_frames_recv(self->handle, f, ZMQ_DONTWAIT) < 0)
            continue;
        char id_text[64], status_text[16];
        /* tag, REP, request-id, status, payload */
        if (f->count != 5 || f->truncated || !kl_bus_msg_is(&f->part[0], KL_BUS_PROTOCOL)
            || !kl_bus_msg_is(&f->part[1], "REP")
            || kl_bus_msg_text(&f->part[2], id_text, sizeof id_text) < 0
            || kl_bus_msg_text(&f->part[3], status_text, sizeof status_text) < 0) {
            kl_warn(BUS_LOG, "malformed reply from %s dropped", self->endpoint);
            kl_bus_frames_close(f);
            continue;
        }
        if (request_id)
            *request_id = strtoull(id_text, NULL, 10);
        int code = atoi(status_text);
        *ack_only = self->acks && zhashx_lookup(self->acks, id_text);
        if (*ack_only)
            zhashx_delete(self->acks, id_text);
        if (code != 0) {
            reply_error(f, code, err);
            return -1;
        }
        return 0;
    }
}

json_t *kl_bus_recv(kl_bus_client_t *self, uint64_t *request_id, int timeout_ms, kl_error_t *err)
{
    frames_t f;
    int ack_only;
    if (recv_reply(self, request_id, timeout_ms, &f, &ack_only, err) < 0)
        return NULL;
    if (ack_only) {
        kl_bus_frames_close(&f);
        return json_object();  /* the caller asked for no body */
    }
    kl_error_t parse_err;
    json_t *body = kl_bus_json_from_bytes(zmq_msg_data(&f.part[4]), zmq_msg_size(&f.part[4]),
                                          &parse_err);
    kl_bus_frames_close(&f);
    if (!body)
        kl_error_set(err, parse_err.code, "reply from %s: %s", self->endpoint, parse_err.text);
    return body;
}

char *kl_bus_recv_text(kl_bus_client_t *self, uint64_t *request_id, int timeout_ms, size_t *len,
                       kl_error_t *err)
{
    frames_t f;
    int ack_only;
    if (recv_reply(self, request_id, timeout_ms, &f, &ack_only, err) < 0)
        return NULL;
    size_t size = ack_only ? 2 : zmq_msg_size(&f.part[4]);
    if (size > KL_BUS_MAX_PAYLOAD) {
        kl_bus_frames_close(&f);
        kl_error_set(err, KL_ERR_TOO_LARGE, "reply from %s: payload of %zu bytes exceeds the %d "
                     "byte limit", self->endpoint, size, KL_BUS_MAX_PAYLOAD);
        return NULL;
    }
    char *text = malloc(size + 1);
    if (text)
        memcpy(text, ack_only ? "{}" : zmq_msg_data(&f.part[4]), size);
    kl_bus_frames_close(&f);
    if (!text) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory receiving a reply");
        return NULL;
    }
    text[size] = '\0';
    *len = size;
    return text;
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
