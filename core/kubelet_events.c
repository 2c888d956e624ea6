/* The kubelet's Event recorder: api.create requests pipelined on a shared
 * bus client, a bounded queue behind them, per-(object, reason) rate limits
 * and a quiet period that drops events while the API is unreachable. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kubelet_events.h"
#include "log.h"
#include "pod_status.h"

#define COMPONENT "kubelet"
#define PRUNE_EVERY_MS 1000

typedef struct pending {
    char reason[64];
    int64_t sent_ms;
} pending_t;

struct kl_kubelet_events {
    kl_bus_client_t *client;  /* borrowed */
    char *host;
    zhashx_t *in_flight;      /* request id -> pending_t (owned) */
    zlistx_t *queue;          /* api.create payloads (owned references) */
    zhashx_t *recent;         /* "uid|fieldPath|reason" -> int64_t ms (owned) */
    int64_t quiet_until_ms;
    int64_t next_prune_ms;
    uint64_t sequence;        /* keeps names of events made in one nanosecond apart */
    kl_kubelet_events_stats_t stats;
};

static void free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static void *copy_text(const void *text)
{
    return strdup(text);
}

/* Lists of keys copied out of a hash before deleting from it. */
static zlistx_t *key_list_new(void)
{
    zlistx_t *list = zlistx_new();
    if (list) {
        zlistx_set_duplicator(list, copy_text);
        zlistx_set_destructor(list, free_item);
    }
    return list;
}

static void json_item_destructor(void **item)
{
    json_decref(*item);
    *item = NULL;
}

kl_kubelet_events_t *kl_kubelet_events_new(kl_bus_client_t *client, const char *host)
{
    kl_kubelet_events_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->client = client;
    self->host = strdup(host ? host : "");
    self->in_flight = zhashx_new();
    self->queue = zlistx_new();
    self->recent = zhashx_new();
    if (!self->host || !self->in_flight || !self->queue || !self->recent) {
        kl_kubelet_events_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->in_flight, free_item);
    zhashx_set_destructor(self->recent, free_item);
    zlistx_set_destructor(self->queue, json_item_destructor);
    return self;
}

void kl_kubelet_events_destroy(kl_kubelet_events_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_kubelet_events_t *self = *self_p;
    zhashx_destroy(&self->in_flight);
    zlistx_destroy(&self->queue);
    zhashx_destroy(&self->recent);
    free(self->host);
    free(self);
    *self_p = NULL;
}

/* The API is out of reach: what waits would only time out too. */
static void go_quiet(kl_kubelet_events_t *self, const char *why, int64_t now_ms)
{
    if (now_ms >= self->quiet_until_ms)
        kl_debug(COMPONENT, "events: the API did not take an event (%s); dropping events for "
                 "%d ms", why, KL_KUBELET_EVENT_QUIET_MS);
    self->quiet_until_ms = now_ms + KL_KUBELET_EVENT_QUIET_MS;
    self->stats.dropped += zlistx_size(self->queue);
    zlistx_purge(self->queue);
}

static void send_one(kl_kubelet_events_t *self, json_t *payload, int64_t now_ms)
{
    uint64_t id = 0;
    kl_error_t err;
    kl_error_clear(&err);
    pending_t *pending = calloc(1, sizeof *pending);
    if (!pending || kl_bus_send_ack(self->client, "api.create", payload, &id, &err) < 0) {
        free(pending);
        self->stats.failed++;
        go_quiet(self, err.code != KL_OK ? err.text : "out of memory", now_ms);
        return;
    }
    const char *reason = json_string_value(json_object_get(json_object_get(payload, "object"),
                                                           "reason"));
    snprintf(pending->reason, sizeof pending->reason, "%s", reason ? reason : "");
    pending->sent_ms = now_ms;
    char key[32];
    snprintf(key, sizeof key, "%" PRIu64, id);
    zhashx_update(self->in_flight, key, pending);
    self->stats.sent++;
}

static void pump(kl_kubelet_events_t *self, int64_t now_ms)
{
    while (now_ms >= self->quiet_until_ms && zlistx_size(self->queue) > 0
           && zhashx_size(self->in_flight) < KL_KUBELET_EVENT_IN_FLIGHT_MAX) {
        json_t *payload = zlistx_detach(self->queue, NULL);
        send_one(self, payload, now_ms);
        json_decref(payload);
    }
}

/* The Event object, as core/kit/events.c shapes it for controllers, with
 * the container's fieldPath and the node as its source. Caller owns. */
static json_t *event_new(kl_kubelet_events_t *self, const json_t *involved,
                         const char *field_path, const char *type, const char *reason,
                         const char *message, int64_t now_ms)
{
    const json_t *metadata = json_object_get(involved, "metadata");
    const char *ns = json_string_value(json_object_get(metadata, "namespace"));
    const char *name = json_string_value(json_object_get(metadata, "name"));
    const char *uid = json_string_value(json_object_get(metadata, "uid"));
    const char *kind = json_string_value(json_object_get(involved, "kind"));
    char stamp[40], event_name[320];
    kl_time_format_rfc3339(now_ms, stamp, sizeof stamp);
    /* Kubernetes names events <object>.<hex time>; the sequence keeps two
     * events of one object made in the same nanosecond apart. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(event_name, sizeof event_name, "%.200s.%llx", name ? name : "object",
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec
                 + self->sequence++);
    json_t *object = json_pack("{s:s, s:s, s:s, s:s}", "kind", kind ? kind : "", "namespace",
                               ns ? ns : "", "name", name ? name : "", "uid", uid ? uid : "");
    if (object && field_path)
        json_object_set_new(object, "fieldPath", json_string(field_path));
    return json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:o, s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s, s:s},"
        " s:s, s:s}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", event_name, "namespace",
        ns && *ns ? ns : "default", "involvedObject", object, "reason", reason, "message",
        message, "type", type, "count", 1, "firstTimestamp", stamp, "lastTimestamp", stamp,
        "source", "component", "kubelet", "host", self->host, "reportingComponent", "kubelet",
        "reportingInstance", self->host);
}

int kl_kubelet_events_record(kl_kubelet_events_t *self, const json_t *involved,
                             const char *field_path, const char *type, const char *reason,
                             int64_t now_ms, const char *format, ...)
{
    if (!self || !involved || !reason)
        return 0;
    if (now_ms < self->quiet_until_ms) {
        self->stats.dropped++;
        return 0;
    }
    const json_t *metadata = json_object_get(involved, "metadata");
    const char *uid = json_string_value(json_object_get(metadata, "uid"));
    const char *name = json_string_value(json_object_get(metadata, "name"));
    char key[600];
    snprintf(key, sizeof key, "%.260s|%.200s|%.100s", uid && *uid ? uid : name ? name : "",
             field_path ? field_path : "", reason);
    int64_t *last = zhashx_lookup(self->recent, key);
    if (last && now_ms - *last < KL_KUBELET_EVENT_INTERVAL_MS) {
        self->stats.limited++;
        return 0;
    }
    if (zlistx_size(self->queue) >= KL_KUBELET_EVENT_QUEUE_MAX) {
        self->stats.dropped++;
        return 0;
    }
    if (!last) {
        last = malloc(sizeof *last);
        if (!last)
            return 0;
        zhashx_insert(self->recent, key, last);
    }
    *last = now_ms;
    char message[1024];
    va_list ap;
    va_start(ap, format);
    vsnprintf(message, sizeof message, format, ap);
    va_end(ap);
    json_t *event = event_new(self, involved, field_path, type ? type : "Normal", reason, message,
                              now_ms);
    json_t *payload = event ? json_pack("{s:o}", "object", event) : NULL;
    if (!payload) {
        self->stats.dropped++;
        return 0;
    }
    if (zhashx_size(self->in_flight) < KL_KUBELET_EVENT_IN_FLIGHT_MAX) {
        send_one(self, payload, now_ms);
        json_decref(payload);
    } else {
        zlistx_add_end(self->queue, payload);
    }
    return 1;
}

int kl_kubelet_events_reply(kl_kubelet_events_t *self, uint64_t request_id, json_t *reply,
                            const kl_error_t *err, int64_t now_ms)
{
    if (!self)
        return 0;
    char key[32];
    snprintf(key, sizeof key, "%" PRIu64, request_id);
    pending_t *pending = zhashx_lookup(self->in_flight, key);
    if (!pending)
        return 0;
    if (reply) {
        self->stats.accepted++;
    } else {
        self->stats.failed++;
        kl_debug(COMPONENT, "event %s not recorded: %s", pending->reason,
                 err ? err->text : "no reply");
        if (err && (err->code == KL_ERR_TIMEOUT || err->code == KL_ERR_UNAVAILABLE))
            go_quiet(self, err->text, now_ms);
    }
    json_decref(reply);
    zhashx_delete(self->in_flight, key);
    pump(self, now_ms);
    return 1;
}

void kl_kubelet_events_step(kl_kubelet_events_t *self, int64_t now_ms)
{
    if (!self)
        return;
    if (zhashx_size(self->in_flight) > 0) {
        zlistx_t *late = key_list_new();
        for (pending_t *p = zhashx_first(self->in_flight); p && late;
             p = zhashx_next(self->in_flight))
            if (now_ms - p->sent_ms >= KL_KUBELET_EVENT_REPLY_TIMEOUT_MS)
                zlistx_add_end(late, (void *)zhashx_cursor(self->in_flight));
        for (const char *key = late ? zlistx_first(late) : NULL; key; key = zlistx_next(late))
            zhashx_delete(self->in_flight, key);
        if (late && zlistx_size(late) > 0) {
            self->stats.failed += zlistx_size(late);
            go_quiet(self, "no reply in time", now_ms);
        }
        zlistx_destroy(&late);
    }
    pump(self, now_ms);
    if (now_ms < self->next_prune_ms)
        return;
    self->next_prune_ms = now_ms + PRUNE_EVERY_MS;
    zlistx_t *old = key_list_new();
    for (int64_t *last = zhashx_first(self->recent); last && old;
         last = zhashx_next(self->recent))
        if (now_ms - *last >= KL_KUBELET_EVENT_INTERVAL_MS)
            zlistx_add_end(old, (void *)zhashx_cursor(self->recent));
    for (const char *key = old ? zlistx_first(old) : NULL; key; key = zlistx_next(old))
        zhashx_delete(self->recent, key);
    zlistx_destroy(&old);
}

void kl_kubelet_events_stats(const kl_kubelet_events_t *self, kl_kubelet_events_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (!self)
        return;
    *out = self->stats;
    out->in_flight = zhashx_size(self->in_flight);
    out->queued = zlistx_size(self->queue);
}
