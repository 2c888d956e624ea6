/* Non-blocking list+watch of one object kind over the bus (docs/protocol.md
 * §3): list, then long-poll api.watch from the list's resourceVersion. */
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "list_watch.h"
#include "log.h"

#define WATCH_TIMEOUT_MS 10000      /* the server's long-poll window we ask for */
#define REPLY_GRACE_MS 5000         /* a reply later than window + this is lost */
#define LIST_TIMEOUT_MS 10000
#define RETRY_MIN_MS 250
#define RETRY_MAX_MS 5000

typedef enum stream_state {
    STREAM_NEED_LIST = 0,
    STREAM_LISTING,
    STREAM_NEED_WATCH,
    STREAM_WATCHING
} stream_state_t;

struct kl_list_watch {
    kl_bus_client_t *client;
    char *component;
    char *kind;
    char *field_selector;
    kl_list_watch_list_fn on_list;
    kl_list_watch_event_fn on_event;
    kl_list_watch_peek_fn peek;
    void *arg;
    kl_json_scan_t *scan;  /* a watch reply's tokens, kept for its buffer */
    stream_state_t state;
    char resource_version[32];
    uint64_t request_id;
    int64_t deadline_ms;  /* when the request in flight counts as lost */
    int64_t retry_at_ms;  /* no request before this (back-off) */
    int64_t retry_ms;
    int synced;
    int complaining;      /* a failure was logged; log the recovery once */
};

kl_list_watch_t *kl_list_watch_new(const char *endpoint, const char *component, const char *kind,
                                   const char *field_selector, kl_list_watch_list_fn on_list,
                                   kl_list_watch_event_fn on_event, void *arg, kl_error_t *err)
{
    kl_list_watch_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory creating the %s watch", kind);
        return NULL;
    }
    self->component = strdup(component);
    self->kind = strdup(kind);
    self->field_selector = field_selector ? strdup(field_selector) : NULL;
    self->scan = kl_json_scan_new();
    if (!self->component || !self->kind || (field_selector && !self->field_selector)
        || !self->scan) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory creating the %s watch", kind);
        kl_list_watch_destroy(&self);
        return NULL;
    }
    self->client = kl_bus_client_new(endpoint, err);
    if (!self->client) {
        kl_list_watch_destroy(&self);
        return NULL;
    }
    self->on_list = on_list;
    self->on_event = on_event;
    self->arg = arg;
    self->retry_ms = RETRY_MIN_MS;
    return self;
}

void kl_list_watch_destroy(kl_list_watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_list_watch_t *self = *self_p;
    kl_bus_client_destroy(&self->client);
    free(self->component);
    free(self->kind);
    free(self->field_selector);
    kl_json_scan_destroy(&self->scan);
    free(self);
    *self_p = NULL;
}

void kl_list_watch_set_peek(kl_list_watch_t *self, kl_list_watch_peek_fn peek)
{
    self->peek = peek;
}

zsock_t *kl_list_watch_socket(kl_list_watch_t *self)
{
    return kl_bus_client_socket(self->client);
}

int kl_list_watch_synced(const kl_list_watch_t *self)
{
    return self->synced;
}

static void failed(kl_list_watch_t *self, const char *what, const kl_error_t *err,
                   int64_t now_ms)
{
    if (!self->complaining)
        kl_warn(self->component, "%s of %s objects failed (%s); retrying with back-off", what,
                self->kind, err->text);
    self->complaining = 1;
    self->retry_at_ms = now_ms + self->retry_ms;
    self->retry_ms = self->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : self->retry_ms * 2;
}

static void succeeded(kl_list_watch_t *self)
{
    if (self->complaining)
        kl_info(self->component, "watching %s objects again", self->kind);
    self->complaining = 0;
    self->retry_ms = RETRY_MIN_MS;
}

static json_t *request_payload(kl_list_watch_t *self)
{
    json_t *payload = json_pack("{s:s}", "kind", self->kind);
    if (payload && self->field_selector)
        json_object_set_new(payload, "fieldSelector", json_string(self->field_selector));
    return payload;
}

static void send_request(kl_list_watch_t *self, int64_t now_ms)
{
    int listing = self->state == STREAM_NEED_LIST;
    json_t *payload = request_payload(self);
    if (!payload)
        return;
    if (!listing) {
        json_object_set_new(payload, "resourceVersion", json_string(self->resource_version));
        json_object_set_new(payload, "timeoutMs", json_integer(WATCH_TIMEOUT_MS));
    }
    kl_error_t err;
    if (kl_bus_send(self->client, listing ? "api.list" : "api.watch", payload, &self->request_id,
                    &err) < 0) {
        failed(self, listing ? "list" : "watch", &err, now_ms);
    } else {
        self->state = listing ? STREAM_LISTING : STREAM_WATCHING;
        self->deadline_ms = now_ms + (listing ? LIST_TIMEOUT_MS
                                              : WATCH_TIMEOUT_MS + REPLY_GRACE_MS);
    }
    json_decref(payload);
}

int64_t kl_list_watch_step(kl_list_watch_t *self, int64_t now_ms)
{
    if (self->state == STREAM_LISTING || self->state == STREAM_WATCHING) {
        if (now_ms < self->deadline_ms)
            return self->deadline_ms - now_ms;
        /* Lost (broker unreachable, reply dropped): a late reply carries an
         * old id and is discarded. */
        kl_error_t err;
        kl_error_set(&err, KL_ERR_TIMEOUT, "no reply from the API server in time");
        failed(self, self->state == STREAM_LISTING ? "list" : "watch", &err, now_ms);
        self->state = self->state == STREAM_LISTING ? STREAM_NEED_LIST : STREAM_NEED_WATCH;
    }
    if (now_ms < self->retry_at_ms)
        return self->retry_at_ms - now_ms;
    send_request(self, now_ms);
    if (self->state == STREAM_LISTING || self->state == STREAM_WATCHING)
        return self->deadline_ms - now_ms;
    return self->retry_at_ms > now_ms ? self->retry_at_ms - now_ms : RETRY_MIN_MS;
}

static void handle_list(kl_list_watch_t *self, json_t *reply, int64_t now_ms)
{
    const char *rv = json_string_value(json_object_get(json_object_get(reply, "metadata"),
                                                       "resourceVersion"));
    json_t *items = json_object_get(reply, "items");
    if (!rv || !json_is_array(items)) {
        kl_error_t err;
        kl_error_set(&err, KL_ERR_INVALID, "the api.list reply lacks metadata.resourceVersion "
                     "or items");
        failed(self, "list", &err, now_ms);
        self->state = STREAM_NEED_LIST;
        return;
    }
    snprintf(self->resource_version, sizeof self->resource_version, "%s", rv);
    self->on_list(items, self->arg);
    self->synced = 1;
    self->state = STREAM_NEED_WATCH;
    succeeded(self);
}

static void watch_failed(kl_list_watch_t *self, const char *what, int64_t now_ms)
{
    kl_error_t err;
    kl_error_set(&err, KL_ERR_INVALID, "the api.watch reply %s", what);
    failed(self, "watch", &err, now_ms);
    self->state = STREAM_NEED_LIST;
}

/* The events are read from the reply's tokens; an object is parsed only
 * when the peek callback (if any) cannot take its event from a few fields. */
static void handle_watch(kl_list_watch_t *self, const char *text, size_t len, int64_t now_ms)
{
    kl_json_scan_t *scan = self->scan;
    kl_error_t err;
    if (kl_json_scan_parse(scan, text, len, &err) < 0) {
        char what[sizeof err.text + 16];
        snprintf(what, sizeof what, "is malformed: %s", err.text);
        watch_failed(self, what, now_ms);
        return;
    }
    char rv[sizeof self->resource_version];
    int events = kl_json_scan_get(scan, 0, "events");
    if (!kl_json_scan_string(scan, kl_json_scan_get(scan, 0, "resourceVersion"), rv, sizeof rv)
        || !kl_json_scan_is_array(scan, events)) {
        watch_failed(self, "lacks resourceVersion or events", now_ms);
        return;
    }
    size_t i = 0;
    for (int event = kl_json_scan_first(scan, events); event >= 0;
         event = kl_json_scan_next(scan, events, event), i++) {
        char type[16];
        int object = kl_json_scan_get(scan, event, "object");
        if (!kl_json_scan_string(scan, kl_json_scan_get(scan, event, "type"), type, sizeof type)
            || !kl_json_scan_is_object(scan, object)) {
            kl_warn(self->component, "ignoring %s watch event %zu: it lacks type or object",
                    self->kind, i);
            continue;
        }
        if (self->peek && self->peek(type, scan, object, self->arg))
            continue;
        json_t *parsed = kl_json_scan_load(scan, object, &err);
        if (!parsed) {
            kl_warn(self->component, "ignoring %s watch event %zu: its object is %s", self->kind,
                    i, err.text);
            continue;
        }
        self->on_event(type, parsed, self->arg);
        json_decref(parsed);
    }
    snprintf(self->resource_version, sizeof self->resource_version, "%s", rv);
    self->state = STREAM_NEED_WATCH;
    succeeded(self);
}

void kl_list_watch_receive(kl_list_watch_t *self, int64_t now_ms)
{
    for (;;) {
        uint64_t id = 0;
        kl_error_t err;
        kl_error_clear(&err);
        size_t len = 0;
        char *reply = kl_bus_recv_text(self->client, &id, 0, &len, &err);
        if (!reply && err.code == KL_ERR_TIMEOUT && id == 0)
            return;  /* nothing more waiting */
        int current = id == self->request_id
                      && (self->state == STREAM_LISTING || self->state == STREAM_WATCHING);
        if (!current) {
            free(reply);
            if (!reply && id == 0)
                return;
            continue;
        }
        int listing = self->state == STREAM_LISTING;
        json_t *list = reply && listing ? kl_bus_json_from_bytes(reply, len, &err) : NULL;
        if (!reply || (listing && !list)) {
            free(reply);
            if (err.code == KL_ERR_EXPIRED) {
                kl_info(self->component, "%s watch expired at resourceVersion %s; listing again",
                        self->kind, self->resource_version);
                self->state = STREAM_NEED_LIST;
            } else {
                failed(self, listing ? "list" : "watch", &err, now_ms);
                self->state = listing ? STREAM_NEED_LIST : STREAM_NEED_WATCH;
            }
            continue;
        }
        if (listing)
            handle_list(self, list, now_ms);
        else
            handle_watch(self, reply, len, now_ms);
        json_decref(list);
        free(reply);
    }
}
