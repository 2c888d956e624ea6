/* Unit test of list+watch against a scripted fake API service on an inproc
 * bus: resume from the returned resourceVersion, relist on Expired, retry
 * after errors, and never watch from revision 0. */
#include <pthread.h>
#include <string.h>
#include <czmq.h>
#include <jansson.h>

#include "bus.h"
#include "list_watch.h"
#include "log.h"
#include "tap.h"

#define ENDPOINT "inproc://test-list-watch"

/* What the fake API server saw, in order: "list", "watch@5", ... */
static char requests_seen[1024];
static int lists_served;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

/* The fake service runs on its own thread: read what it saw under the lock. */
static void seen_copy(char *out, size_t size)
{
    pthread_mutex_lock(&seen_lock);
    snprintf(out, size, "%s", requests_seen);
    pthread_mutex_unlock(&seen_lock);
}

static void api_handler(kl_bus_request_t *request, void *arg)
{
    (void)arg;
    const char *method = kl_bus_request_method(request);
    const json_t *payload = kl_bus_request_payload(request);
    const char *rv = json_string_value(json_object_get(payload, "resourceVersion"));
    const char *selector = json_string_value(json_object_get(payload, "fieldSelector"));
    char seen[64];
    snprintf(seen, sizeof seen, "%s%s%s%s ", method, rv ? "@" : "", rv ? rv : "",
             selector ? "+sel" : "");
    pthread_mutex_lock(&seen_lock);
    strncat(requests_seen, seen, sizeof requests_seen - strlen(requests_seen) - 1);
    pthread_mutex_unlock(&seen_lock);
    kl_error_t err;
    if (strcmp(method, "list") == 0) {
        lists_served++;
        /* First list: an empty new cluster at revision 0; then 9. */
        const char *at = lists_served == 1 ? "0" : "9";
        json_t *items = json_array();
        if (lists_served >= 2)
            json_array_append_new(items, json_pack("{s:{s:s}}", "metadata", "name", "c"));
        kl_bus_request_respond(&request, json_pack("{s:{s:s}, s:o}", "metadata",
                                                   "resourceVersion", at, "items", items),
                               NULL);
    } else if (strcmp(method, "watch") == 0 && rv && strcmp(rv, "0") == 0) {
        /* A write that landed between the empty list and the watch. */
        kl_bus_request_respond(&request, json_pack("{s:[{s:s, s:{s:{s:s}}}], s:s}", "events",
                                                   "type", "ADDED", "object", "metadata",
                                                   "name", "a", "resourceVersion", "5"),
                               NULL);
    } else if (strcmp(method, "watch") == 0 && rv && strcmp(rv, "5") == 0) {
        /* One event for the callback, one the peek takes, one malformed. */
        kl_bus_request_respond(&request,
                               json_pack("{s:[{s:s, s:{s:{s:s}}}, {s:s, s:{s:{s:s}}}, {s:s, s:s}],"
                                         " s:s}", "events",
                                         "type", "MODIFIED", "object", "metadata", "name", "b",
                                         "type", "MODIFIED", "object", "metadata", "name", "peeked",
                                         "type", "MODIFIED", "object", "not an object",
                                         "resourceVersion", "7"),
                               NULL);
    } else if (strcmp(method, "watch") == 0 && rv && strcmp(rv, "7") == 0) {
        kl_error_set(&err, KL_ERR_EXPIRED, "too old resource version: 7 (8)");
        kl_bus_request_respond(&request, NULL, &err);
    } else if (strcmp(method, "watch") == 0 && rv && strcmp(rv, "9") == 0) {
        kl_error_set(&err, KL_ERR_UNAVAILABLE, "store is down");
        kl_bus_request_respond(&request, NULL, &err);
    } else {
        kl_error_set(&err, KL_ERR_INVALID, "unexpected %s", method);
        kl_bus_request_respond(&request, NULL, &err);
    }
}

static void api_actor(zsock_t *pipe, void *args)
{
    (void)args;
    kl_error_t err;
    kl_bus_service_t *service = kl_bus_service_new(ENDPOINT, "api", &err);
    zsock_signal(pipe, 0);
    if (!service)
        return;
    kl_bus_service_run(service, pipe, api_handler, NULL, 0, NULL);
    kl_bus_service_destroy(&service);
}

typedef struct record {
    char log[1024];
} record_t;

static void on_list(json_t *items, void *arg)
{
    record_t *record = arg;
    char entry[64];
    json_t *first = json_array_get(items, 0);
    snprintf(entry, sizeof entry, "list[%zu%s%s] ", json_array_size(items), first ? ":" : "",
             first ? json_string_value(json_object_get(json_object_get(first, "metadata"),
                                                       "name")) : "");
    strncat(record->log, entry, sizeof record->log - strlen(record->log) - 1);
}

static void on_event(const char *type, json_t *object, void *arg)
{
    record_t *record = arg;
    char entry[64];
    snprintf(entry, sizeof entry, "%s:%s ", type,
             json_string_value(json_object_get(json_object_get(object, "metadata"), "name")));
    strncat(record->log, entry, sizeof record->log - strlen(record->log) - 1);
}

/* Takes the events of "peeked" from their tokens alone. */
static int peek(const char *type, const kl_json_scan_t *scan, int object, void *arg)
{
    record_t *record = arg;
    char name[32];
    if (!kl_json_scan_string(scan, kl_json_scan_find(scan, object, "metadata", "name", NULL), name,
                             sizeof name) || strcmp(name, "peeked") != 0)
        return 0;
    char entry[64];
    snprintf(entry, sizeof entry, "peek-%s:%s ", type, name);
    strncat(record->log, entry, sizeof record->log - strlen(record->log) - 1);
    return 1;
}

int main(void)
{
    zsys_handler_set(NULL);
    kl_log_set_level(KL_LOG_ERROR);
    kl_error_t err;
    kl_broker_t *broker = kl_broker_new((const char *[]){ENDPOINT, NULL}, NULL, &err);
    if (!ok(broker != NULL, "broker starts"))
        return done_testing();
    zactor_t *api = zactor_new(api_actor, NULL);
    zclock_sleep(50);  /* let the service register */

    record_t record = {""};
    kl_list_watch_t *watch = kl_list_watch_new(ENDPOINT, "test", "Pod", "spec.nodeName=n1",
                                               on_list, on_event, &record, &err);
    ok(watch != NULL, "list_watch connects");
    kl_list_watch_set_peek(watch, peek);
    ok(!kl_list_watch_synced(watch), "not synced before the first list");
    zpoller_t *poller = zpoller_new(kl_list_watch_socket(watch), NULL);
    int64_t deadline = zclock_mono() + 5000;
    char seen[1024] = "";
    while (zclock_mono() < deadline && !strstr(seen, "watch@9")) {
        int64_t wait = kl_list_watch_step(watch, zclock_mono());
        if (wait > 50)
            wait = 50;
        if (zpoller_wait(poller, (int)(wait < 0 ? 0 : wait)))
            kl_list_watch_receive(watch, zclock_mono());
        seen_copy(seen, sizeof seen);
    }
    zclock_sleep(20);  /* the reply to watch@9 */
    kl_list_watch_receive(watch, zclock_mono());
    seen_copy(seen, sizeof seen);
    ok(kl_list_watch_synced(watch), "synced after a list");
    is_str(seen, "list+sel watch@0+sel watch@5+sel watch@7+sel list+sel watch@9+sel ",
           "list, watch from the list's revision (even 0), resume from each resourceVersion, "
           "relist on Expired");
    is_str(record.log, "list[0] ADDED:a MODIFIED:b peek-MODIFIED:peeked list[1:c] ",
           "lists and events reach the callbacks in order, the peek takes its event unparsed, "
           "and an event without an object is skipped");

    /* After an error the stream backs off instead of hammering the API. */
    size_t before = strlen(seen);
    int64_t until = zclock_mono() + 100;
    while (zclock_mono() < until) {
        kl_list_watch_step(watch, zclock_mono());
        if (zpoller_wait(poller, 10))
            kl_list_watch_receive(watch, zclock_mono());
    }
    seen_copy(seen, sizeof seen);
    ok(strlen(seen) == before, "no new request within the back-off after an error");

    zpoller_destroy(&poller);
    kl_list_watch_destroy(&watch);
    kl_list_watch_destroy(&watch);
    ok(watch == NULL, "destroy nulls the pointer and accepts NULL");
    zactor_destroy(&api);
    kl_broker_destroy(&broker);
    return done_testing();
}
