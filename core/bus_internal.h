/* What the bus's files share: the client struct and the raw frame helpers (bus.c). */
#ifndef KL_CORE_BUS_INTERNAL_H
#define KL_CORE_BUS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include <jansson.h>
#include <keelson/error.h>

#include "bus.h"

#define BUS_LOG "bus"
#define BUS_MAX_NAME 256

struct kl_bus_client {
    zsock_t *dealer;
    void *handle;
    char *endpoint;
    uint64_t next_id;
    zhashx_t *acks;  /* ids sent with kl_bus_send_ack(); NULL until the first */
};

/* The hot paths use libzmq's zmq_msg_t directly: frames are forwarded by
 * reference, never copied, and no czmq container is allocated per message. */
#define MAX_FRAMES 8

typedef struct frames {
    zmq_msg_t part[MAX_FRAMES];
    int count;
    int truncated;  /* more frames arrived than MAX_FRAMES; the rest were dropped */
} frames_t;

/* Receives one whole message into `f` (closed with kl_bus_frames_close);
 * -1 when none could be read with `flags`. */
int kl_bus_frames_recv(void *socket, frames_t *f, int flags);
void kl_bus_frames_close(frames_t *f);

int kl_bus_msg_is(zmq_msg_t *m, const char *text);
/* Copies the frame as a C string; -1 when it does not fit or holds a NUL. */
int kl_bus_msg_text(zmq_msg_t *m, char *out, size_t size);

/* Each returns 0 or -1; `more` sets ZMQ_SNDMORE. */
/* Sends `m` by reference (the original stays valid for the caller). */
int kl_bus_send_copy(void *socket, zmq_msg_t *m, int more);
int kl_bus_send_text(void *socket, const char *text, int more);
int kl_bus_send_bytes(void *socket, const void *data, size_t len, int more);
/* Sends `body` encoded (NULL sends {}). */
int kl_bus_send_json(void *socket, const json_t *body, int more);
/* Frees a malloc'd buffer handed to ZeroMQ with zmq_msg_init_data(). */
void kl_bus_free_text(void *data, void *hint);


void kl_bus_set_socket_limits(zsock_t *sock);
/* 1 when `handle` has a message to read within timeout_ms. */
int kl_bus_wait_readable(void *handle, int timeout_ms);

#endif
