/* The bus subscriber end: a SUB socket on the broker's event endpoint. */
#include <stdlib.h>

#include "bus_internal.h"

struct kl_bus_subscriber {
    zsock_t *sub;
};

kl_bus_subscriber_t *kl_bus_subscriber_new(const char *endpoint, const char *topic_prefix,
                                           kl_error_t *err)
{
    zsock_t *sub = zsock_new(ZMQ_SUB);
    kl_bus_set_socket_limits(sub);
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
    if (!kl_bus_wait_readable(handle, timeout_ms)) {
        kl_error_set(err, KL_ERR_TIMEOUT, "no event within %d ms", timeout_ms);
        return NULL;
    }
    frames_t f;
    if (kl_bus_frames_recv(handle, &f, ZMQ_DONTWAIT) < 0) {
        kl_error_set(err, KL_ERR_TIMEOUT, "no event within %d ms", timeout_ms);
        return NULL;
    }
    json_t *event = NULL;
    if (f.count != 2 || f.truncated)
        kl_error_set(err, KL_ERR_INVALID, "malformed event dropped");
    else if (kl_bus_msg_text(&f.part[0], topic, topic_size) < 0)
        kl_error_set(err, KL_ERR_INVALID, "event with an unreadable topic dropped");
    else
        event = kl_bus_json_from_bytes(zmq_msg_data(&f.part[1]), zmq_msg_size(&f.part[1]), err);
    kl_bus_frames_close(&f);
    return event;
}
