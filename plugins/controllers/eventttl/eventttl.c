/* The event TTL controller: deletes Events whose last activity is older than
 * ttl_ms, as kube-apiserver's --event-ttl does, so a long-running master's
 * store and object cache do not grow by a few Events per pod forever. */
#define _GNU_SOURCE  /* timegm */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keelson/controller.h>
#include <keelson/kit.h>

#define TTL_POLL_MS 200
#define TTL_REQUEST_MS 5000
#define TTL_WARN_AFTER 3
#define TTL_DEFAULT_MS 3600000LL
#define TTL_MAX_MS (30LL * 24 * 3600 * 1000)
/* Deletes per loop turn, so a backlog after a restart is spread out
 * between watch polls instead of flooding the API server. */
#define TTL_DELETES_PER_TURN 200

typedef struct eventttl {
    const kl_host_t *host;
    kl_informer_t *informer;
    kl_workqueue_t *queue;  /* keys "namespace/name" */
    json_t *failures;       /* key -> consecutive failed deletes */
    int64_t ttl_ms;
    int64_t quiet_until;
} eventttl_t;

static const kl_setting_spec_t eventttl_settings[] = {
    {"ttl_ms", KL_SETTING_INT, 0,
     "milliseconds after an Event's last activity before it is deleted (default 3600000)"},
    KL_SETTINGS_END};

static int64_t now_ms(const eventttl_t *self)
{
    return self->host->monotonic_ms(self->host);
}

/* Event times are wall-clock, so they are compared with the wall clock. */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* RFC 3339 ("2026-11-29T06:00:57Z", optional fraction, "Z" or +hh:mm) to
 * Unix milliseconds; -1 when it is not one. */
static int parse_rfc3339(const char *text, int64_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!text)
        return -1;
    const char *p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t frac_ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                frac_ms = frac_ms * 10 + (*p - '0');
        if (digits == 0)
            return -1;
        for (; digits < 3; digits++)
            frac_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5 || hh > 23 || mm > 59)
            return -1;
        offset_s = (int64_t)(hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
        p += 1 + n;
    } else {
        return -1;
    }
    if (*p)
        return -1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return -1;
    *out = ((int64_t)t - offset_s) * 1000 + frac_ms;
    return 0;
}

/* When the Event was last active: lastTimestamp, eventTime, firstTimestamp,
 * then metadata.creationTimestamp, the first that parses. -1 if none. */
static int64_t last_activity_ms(const json_t *event)
{
    const char *times[] = {
        json_string_value(json_object_get(event, "lastTimestamp")),
        json_string_value(json_object_get(event, "eventTime")),
        json_string_value(json_object_get(event, "firstTimestamp")),
        kl_object_meta(event, "creationTimestamp"),
    };
    for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
        int64_t ms;
        if (times[i] && *times[i] && parse_rfc3339(times[i], &ms) == 0)
            return ms;
    }
    return -1;
}

/* Milliseconds until `event` expires (0: due), or -1 when it has no usable
 * time and is left alone. */
static int64_t expires_in(const eventttl_t *self, const json_t *event)
{
    int64_t last = last_activity_ms(event);
    if (last < 0)
        return -1;
    int64_t left = last + self->ttl_ms - wall_ms();
    return left > 0 ? left : 0;
}

static void on_change(const char *type, const json_t *object, void *arg)
{
    eventttl_t *self = arg;
    if (strcmp(type, "DELETED") == 0)
        return;  /* a popped key whose Event is gone is simply dropped */
    char key[600];
    if (!kl_object_meta(object, "name"))
        return;
    kl_object_key(object, key, sizeof key);
    int64_t delay = expires_in(self, object);
    if (delay < 0) {
        self->host->log(self->host, KL_LOG_DEBUG, "event %s has no readable time; leaving it", key);
        return;
    }
    /* The queue keeps the earlier time of a key already queued; a later
     * expiry (count bumped) is found on pop and re-queued then. */
    kl_workqueue_add(self->queue, key, now_ms(self), delay);
}

/* 0 when handled (deleted, gone, not yet due, unreadable), -1 to retry. */
static int expire(eventttl_t *self, const char *key, kl_error_t *err)
{
    char ns[256], name[320];
    kl_object_key_split(key, ns, sizeof ns, name, sizeof name);
    const json_t *event = kl_informer_get(self->informer, ns, name);
    if (!event)
        return 0;  /* already deleted */
    int64_t left = expires_in(self, event);
    if (left < 0)
        return 0;
    if (left > 0) {
        kl_workqueue_add(self->queue, key, now_ms(self), left);
        return 0;
    }
    /* Against the revision judged, so an Event bumped meanwhile survives
     * (Conflict) and is looked at again from the fresher cache. */
    const char *rv = kl_object_meta(event, "resourceVersion");
    json_t *payload = json_pack("{s:s, s:s, s:s}", "kind", "Event", "namespace", ns, "name", name);
    if (payload && rv)
        json_object_set_new(payload, "resourceVersion", json_string(rv));
    if (!payload) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory");
        return -1;
    }
    json_t *reply = self->host->request(self->host, "api.delete", payload, TTL_REQUEST_MS, err);
    json_decref(payload);
    if (reply) {
        self->host->log(self->host, KL_LOG_DEBUG, "deleted event %s: older than %lld ms", key,
                        (long long)self->ttl_ms);
        json_decref(reply);
        return 0;
    }
    return err->code == KL_ERR_NOT_FOUND ? 0 : -1;
}

static void eventttl_close(void *controller);

static void *eventttl_open(const kl_host_t *host, kl_error_t *err)
{
    long long ttl = host->setting_int(host, "ttl_ms", TTL_DEFAULT_MS);
    if (ttl <= 0 || ttl > TTL_MAX_MS) {
        kl_error_set(err, KL_ERR_INVALID, "setting ttl_ms %lld must be between 1 and %lld (30 days)",
                     ttl, (long long)TTL_MAX_MS);
        return NULL;
    }
    eventttl_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the eventttl controller");
        return NULL;
    }
    self->host = host;
    self->ttl_ms = ttl;
    self->failures = json_object();
    self->queue = kl_workqueue_new(200, 30000);
    if (!self->queue || !self->failures) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the eventttl work queue");
        eventttl_close(self);
        return NULL;
    }
    self->informer = kl_informer_new(host, "Event", NULL, NULL, err);
    if (!self->informer) {
        eventttl_close(self);
        return NULL;
    }
    kl_informer_set_handler(self->informer, on_change, self);
    return self;
}

static void eventttl_close(void *controller)
{
    eventttl_t *self = controller;
    if (!self)
        return;
    kl_informer_destroy(&self->informer);
    kl_workqueue_destroy(&self->queue);
    json_decref(self->failures);
    free(self);
}

static int eventttl_run(void *controller, kl_error_t *err)
{
    eventttl_t *self = controller;
    (void)err;
    while (!self->host->stopping(self->host)) {
        if (now_ms(self) < self->quiet_until) {
            usleep(20000);
            continue;
        }
        /* Poll no longer than until the next key is due. */
        int64_t due = kl_workqueue_wait_ms(self->queue, now_ms(self));
        int wait = due < 0 || due > TTL_POLL_MS ? TTL_POLL_MS : (int)due;
        kl_error_t perr = {0, ""};
        if (kl_informer_poll(self->informer, wait, &perr) < 0) {
            self->host->log(self->host, KL_LOG_WARN, "watch of Event failed, retrying in 1 s: %s",
                            perr.text);
            self->quiet_until = now_ms(self) + 1000;
            continue;
        }
        if (!kl_informer_synced(self->informer))
            continue;
        char *key;
        int done = 0;
        while (done < TTL_DELETES_PER_TURN && !self->host->stopping(self->host)
               && (key = kl_workqueue_pop(self->queue, now_ms(self)))) {
            kl_error_t derr = {0, ""};
            if (expire(self, key, &derr) < 0) {
                json_int_t count = json_integer_value(json_object_get(self->failures, key)) + 1;
                json_object_set_new(self->failures, key, json_integer(count));
                int64_t delay = kl_workqueue_retry(self->queue, key, now_ms(self));
                /* Warn once per key when failures persist; quieter before. */
                self->host->log(self->host, count == TTL_WARN_AFTER ? KL_LOG_WARN : KL_LOG_DEBUG,
                                "cannot delete event %s: %s (retry in %lld ms)", key, derr.text,
                                (long long)delay);
            } else {
                kl_workqueue_forget(self->queue, key);
                json_object_del(self->failures, key);
            }
            free(key);
            done++;
        }
    }
    return 0;
}

static const kl_controller_ops_t eventttl_ops = {
    .open = eventttl_open,
    .close = eventttl_close,
    .run = eventttl_run,
};

KL_CONTROLLER_PLUGIN("eventttl", "0.1.0", "deletes Events older than ttl_ms, as Kubernetes' event TTL does",
                     eventttl_settings, eventttl_ops);
