/* The bus's shared frame helpers (see bus_internal.h) and the Status reply for an error. */
#include <stdlib.h>
#include <string.h>

#include "bus_internal.h"
#include "json_encode.h"
#include "json_scan.h"

#define BUS_MAX_FRAME (32 * 1024 * 1024)

json_t *kl_bus_status_from_error(const kl_error_t *err)
{
    int code = err ? err->code : KL_ERR_INTERNAL;
    return json_pack("{s:s, s:s, s:{}, s:s, s:s, s:s, s:i}", "kind", "Status", "apiVersion", "v1",
                     "metadata", "status", "Failure", "message",
                     err && err->text[0] ? err->text : kl_error_reason(code), "reason",
                     kl_error_reason(code), "code", kl_error_http_status(code));
}

int kl_bus_frames_recv(void *socket, frames_t *f, int flags)
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

void kl_bus_frames_close(frames_t *f)
{
    for (int i = 0; i < f->count; i++)
        zmq_msg_close(&f->part[i]);
    f->count = 0;
}

int kl_bus_msg_is(zmq_msg_t *m, const char *text)
{
    size_t len = strlen(text);
    return zmq_msg_size(m) == len && memcmp(zmq_msg_data(m), text, len) == 0;
}

int kl_bus_msg_text(zmq_msg_t *m, char *out, size_t size)
{
    size_t len = zmq_msg_size(m);
    if (len >= size || memchr(zmq_msg_data(m), '\0', len))
        return -1;
    memcpy(out, zmq_msg_data(m), len);
    out[len] = '\0';
    return 0;
}

int kl_bus_send_copy(void *socket, zmq_msg_t *m, int more)
{
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, m);
    int rc = zmq_msg_send(&copy, socket, more ? ZMQ_SNDMORE : 0);
    if (rc < 0)
        zmq_msg_close(&copy);
    return rc < 0 ? -1 : 0;
}

int kl_bus_send_text(void *socket, const char *text, int more)
{
    return zmq_send(socket, text, strlen(text), more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

int kl_bus_send_bytes(void *socket, const void *data, size_t len, int more)
{
    return zmq_send(socket, data, len, more ? ZMQ_SNDMORE : 0) < 0 ? -1 : 0;
}

/* Hands the encoded text to ZeroMQ without copying it; zmq frees it. */
void kl_bus_free_text(void *data, void *hint)
{
    (void)hint;
    free(data);
}

int kl_bus_send_json(void *socket, const json_t *body, int more)
{
    size_t len = 0;
    char *text = body ? kl_json_encode(body, &len) : NULL;
    if (!text)
        return kl_bus_send_text(socket, "{}", more);
    zmq_msg_t msg;
    zmq_msg_init_data(&msg, text, len, kl_bus_free_text, NULL);
    if (zmq_msg_send(&msg, socket, more ? ZMQ_SNDMORE : 0) < 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    return 0;
}

json_t *kl_bus_json_from_bytes(const void *data, size_t len, kl_error_t *err)
{
    if (len > KL_BUS_MAX_PAYLOAD) {
        kl_error_set(err, KL_ERR_TOO_LARGE, "payload of %zu bytes exceeds the %d byte limit", len,
                     KL_BUS_MAX_PAYLOAD);
        return NULL;
    }
    /* Every message passes here: built from jsmn's tokens, a payload
     * costs less than half of what jansson's parser takes, with the same checks. */
    return kl_json_parse_object(data, len, err);
}

void kl_bus_set_socket_limits(zsock_t *sock)
{
    zsock_set_linger(sock, 0);
    zsock_set_maxmsgsize(sock, BUS_MAX_FRAME);
    zsock_set_sndhwm(sock, 100000);
    zsock_set_rcvhwm(sock, 100000);
}

int kl_bus_wait_readable(void *handle, int timeout_ms)
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
