/* The API server on the bus: requests from the `api` service go to
 * kl_apiserver_handle() in bursts; writes are acknowledged after the
 * burst's group commit, watches are parked and answered through the reply
 * callback, events are published on pub/sub. With an events store, Event
 * requests go to a second API server on it, on the same thread. */
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver.h"
#include "bus.h"
#include "log.h"
#include "threads.h"

/* A reply held until the store has made the burst's writes durable: a
 * write's acknowledgement, and any other answer (a read, an error) given
 * while the burst has writes not yet committed, since it may show them. Its
 * text when the API server had it encoded, else the object, else the error. */
typedef struct held_reply {
    kl_bus_request_t *request;
    json_t *reply;
    char *text;
    size_t length;
    kl_error_t *error;
    int to_events;  /* it waits on the events store's commit */
} held_reply_t;

typedef struct actor_state {
    kl_apiserver_t *api;
    kl_apiserver_t *events_api;  /* NULL: Events live in the main store */
    kl_bus_service_t *service;
    held_reply_t *held;
    size_t held_count, held_capacity;
} actor_state_t;

static int is_write(const char *method)
{
    static const char *const writes[] = {"create", "update", "update_status", "bind", "delete"};
    for (size_t i = 0; method && i < sizeof writes / sizeof *writes; i++)
        if (strcmp(method, writes[i]) == 0)
            return 1;
    return 0;
}

/* The API server a request is for: Event requests go to the events store's. */
static kl_apiserver_t *api_for(actor_state_t *state, const char *method, const json_t *payload)
{
    if (!state->events_api)
        return state->api;
    const json_t *named = method && strcmp(method, "create") == 0 ? json_object_get(payload, "object")
                                                                  : payload;
    const char *kind = json_string_value(json_object_get(named, "kind"));
    return kind && strcmp(kind, "Event") == 0 ? state->events_api : state->api;
}

/* Answers the requests the store has finished; a store with no descriptor
 * to tell of the rest is waited for, as nothing would wake the loop. */
static void reap(kl_apiserver_t *api)
{
    /* A store with group commits commits what was submitted: all of it
     * must be done before the commit acknowledges it. */
    if (kl_apiserver_settle_fd(api) >= 0 && !kl_apiserver_needs_flush(api))
        kl_apiserver_progress(api);
    else
        kl_apiserver_settle(api);
}

/* End of a burst: one group commit for every write in it, then the
 * acknowledgements. A failed commit fails every write of the burst to that
 * store; with an events store, each store's commit answers for its own. */
static void actor_drained(void *arg)
{
    actor_state_t *state = arg;
    reap(state->api);
    reap(state->events_api);
    if (state->held_count) {
        kl_error_t flush_err = {0, ""}, events_err = {0, ""};
        int failed = kl_apiserver_flush(state->api, &flush_err) < 0;
        int events_failed = state->events_api && kl_apiserver_flush(state->events_api, &events_err) < 0;
        if (failed)
            kl_error_log("api", "%s; failing the burst's writes to that store", flush_err.text);
        if (events_failed)
            kl_error_log("api", "events store: %s; failing the burst's Event writes", events_err.text);
        for (size_t i = 0; i < state->held_count; i++) {
            held_reply_t *h = &state->held[i];
            const kl_error_t *lost = h->to_events ? (events_failed ? &events_err : NULL)
                                                  : (failed ? &flush_err : NULL);
            if (lost) {
                free(h->text);
                json_decref(h->reply);
                kl_bus_request_respond(&h->request, NULL, lost);
            } else if (h->text) {
                kl_bus_request_respond_text(&h->request, h->text, h->length);
            } else {
                kl_bus_request_respond(&h->request, h->reply, h->error);
            }
            free(h->error);
        }
        state->held_count = 0;
    }
    kl_apiserver_after_burst(state->api);
    if (state->events_api)
        kl_apiserver_after_burst(state->events_api);
}

/* Keeps a reply (reply, text and a copy of err taken) for the end of the
 * burst; 0 when out of memory, and then the caller answers at once. */
static int hold(actor_state_t *state, kl_bus_request_t *request, json_t *reply, char *text,
                size_t length, const kl_error_t *err, int to_events)
{
    if (state->held_count == state->held_capacity) {
        size_t capacity = state->held_capacity ? state->held_capacity * 2 : 256;
        held_reply_t *grown = realloc(state->held, capacity * sizeof *grown);
        if (!grown)
            return 0;
        state->held = grown;
        state->held_capacity = capacity;
    }
    kl_error_t *error = NULL;
    if (!reply && !text) {
        error = malloc(sizeof *error);
        if (!error)
            return 0;
        *error = *err;
    }
    state->held[state->held_count++] =
        (held_reply_t){request, reply, text, length, error, to_events};
    return 1;
}

/* Watch answers carry committed events only (the API server holds back
 * the rest of a burst until its commit), so they go out at once. */
static void actor_reply(void *token, char *text, size_t length, const kl_error_t *err, void *arg)
{
    (void)arg;
    kl_bus_request_t *request = token;
    if (text)
        kl_bus_request_respond_text(&request, text, length);
    else
        kl_bus_request_respond(&request, NULL, err);
}

static void actor_publish(const char *topic, const char *event, size_t length, void *arg)
{
    actor_state_t *state = arg;
    kl_bus_service_publish_text(state->service, topic, event, length);
}

static int actor_publish_wanted(const char *topic, void *arg)
{
    actor_state_t *state = arg;
    return kl_bus_service_has_subscribers(state->service, topic);
}

/* Answers a request with `reply` (taken) or err: at once, or held for the
 * burst's commit when the store has one and the answer may show a write
 * not yet committed. */
static void answer(actor_state_t *state, kl_apiserver_t *api, kl_bus_request_t *request,
                   int write, json_t *reply, const kl_error_t *err)
{
    /* The object's text, when the API server has it, spares encoding it again. */
    size_t length = 0;
    char *text = kl_apiserver_reply_text(api, reply, &length);
    if (text) {
        json_decref(reply);
        reply = NULL;
    }
    /* A failed write changed nothing and can be answered now, unless the
     * burst's earlier writes it may have met are not yet committed. */
    int wait = kl_apiserver_needs_flush(api) && ((write && (reply || text)) || state->held_count);
    if (wait) {
        if (hold(state, request, reply, text, length, err, api == state->events_api))
            return;
        /* No memory to hold it: commit now rather than answer first. */
        kl_error_t flush_err = {0, ""};
        if (kl_apiserver_flush(api, &flush_err) < 0) {
            free(text);
            json_decref(reply);
            kl_bus_request_respond(&request, NULL, &flush_err);
            return;
        }
    }
    if (text)
        kl_bus_request_respond_text(&request, text, length);
    else
        kl_bus_request_respond(&request, reply, reply ? NULL : err);
}

/* A request the store kept in flight is done. */
static void actor_done(kl_apiserver_t *api, void *token, json_t *reply, const kl_error_t *err,
                       void *arg)
{
    kl_bus_request_t *request = token;
    const char *method = kl_bus_request_method(request);
    if (!reply && err->code == KL_ERR_INTERNAL)
        kl_error_log("api", "api.%s failed: %s", method ? method : "?", err->text);
    answer(arg, api, request, is_write(method), reply, err);
}

static void actor_handle(kl_bus_request_t *request, void *arg)
{
    actor_state_t *state = arg;
    const char *method = kl_bus_request_method(request);
    const json_t *payload = kl_bus_request_payload(request);
    kl_apiserver_t *api = api_for(state, method, payload);
    if (method && strcmp(method, "watch") == 0) {
        kl_apiserver_watch(api, payload, request, zclock_mono());
        return;
    }
    kl_error_t err = {0, ""};
    int deferred = 0;
    json_t *reply = kl_apiserver_handle_token(api, method, payload, request, &deferred, &err);
    if (deferred)
        return;
    if (!reply && err.code == KL_ERR_INTERNAL)
        kl_error_log("api", "api.%s failed: %s", method ? method : "?", err.text);
    answer(state, api, request, is_write(method), reply, &err);
}

static int actor_changes_fd(void *arg)
{
    actor_state_t *state = arg;
    /* Only parked watchers wait for other writers' changes. */
    return kl_apiserver_pending_watches(state->api) ? kl_apiserver_changes_fd(state->api) : -1;
}

/* Another writer's change reached a shared store: answer the watchers now. */
static void actor_changes_arrived(void *arg)
{
    actor_state_t *state = arg;
    kl_apiserver_after_burst(state->api);
}

/* The descriptor of one API server's requests in flight (arg: the API
 * server, NULL when there is no events store). */
static int api_settle_fd(void *arg)
{
    return kl_apiserver_settle_fd(arg);
}

/* The store finished requests in flight: answer them now. */
static void api_progress(void *arg)
{
    kl_apiserver_progress(arg);
}

static void actor_tick(void *arg)
{
    actor_state_t *state = arg;
    kl_apiserver_tick(state->api, zclock_mono());
    if (state->events_api)
        kl_apiserver_tick(state->events_api, zclock_mono());
}

static void set_up(actor_state_t *state, kl_apiserver_t *api, const kl_apiserver_config_t *config)
{
    kl_apiserver_set_reply_text(api, actor_reply, state);
    kl_apiserver_set_done(api, actor_done, state);
    if (config->cache_objects)
        kl_apiserver_set_cache_objects(api, config->cache_objects);
    kl_apiserver_defer_watches(api, 1);
    kl_apiserver_set_controllers(api, config->controllers);
    kl_apiserver_set_publish(api, actor_publish, state);
    kl_apiserver_set_publish_filter(api, actor_publish_wanted);
}

/* Events' own API server, when there is an events store. With several API
 * servers, every one must see every Event: the events store must be shared
 * too. */
static int open_events_api(actor_state_t *state, kl_apiserver_config_t *config)
{
    if (!config->events_store)
        return 0;
    state->events_api = kl_apiserver_new(config->events_store, config->history, &config->error);
    if (!state->events_api)
        return -1;
    if (config->replicas > 1 && !kl_apiserver_shared(state->events_api)) {
        kl_error_set(&config->error, KL_ERR_INVALID,
                     "events_store: with %d API servers the events store must be one they can all "
                     "share (such as etcd); plugin %s serves one", config->replicas,
                     config->events_store->label ? config->events_store->label : "store");
        kl_apiserver_destroy(&state->events_api);
        return -1;
    }
    return 0;
}

void kl_apiserver_actor(zsock_t *pipe, void *args)
{
    kl_thread_begin("kl-api", KL_THREAD_API);
    kl_apiserver_config_t *config = args;
    actor_state_t state = {NULL, NULL, NULL, NULL, 0, 0};
    kl_error_clear(&config->error);
    config->failed = 0;
    state.service = kl_bus_service_new(config->bus_endpoint, "api", &config->error);
    if (state.service)
        state.api = kl_apiserver_new(config->store, config->history, &config->error);
    if (state.api && config->replicas > 1 && !kl_apiserver_shared(state.api)) {
        kl_error_set(&config->error, KL_ERR_INVALID,
                     "apiserver.workers = %d needs a store several API servers can share (such as "
                     "etcd); plugin %s serves one", config->replicas,
                     config->store->label ? config->store->label : "store");
        kl_apiserver_destroy(&state.api);
    }
    if (state.api && open_events_api(&state, config) < 0)
        kl_apiserver_destroy(&state.api);
    if (state.api)
        config->shared = kl_apiserver_shared(state.api)
                         && (!state.events_api || kl_apiserver_shared(state.events_api));
    if (!state.service || !state.api) {
        config->failed = 1;
        kl_bus_service_destroy(&state.service);
        zsock_signal(pipe, 0);
        return;
    }
    set_up(&state, state.api, config);
    if (state.events_api)
        set_up(&state, state.events_api, config);
    zsock_signal(pipe, 0);
    kl_bus_service_set_drained(state.service, actor_drained, &state);
    kl_bus_service_add_extra_fd(state.service, actor_changes_fd, actor_changes_arrived, &state);
    kl_bus_service_add_extra_fd(state.service, api_settle_fd, api_progress, state.api);
    kl_bus_service_add_extra_fd(state.service, api_settle_fd, api_progress, state.events_api);
    /* A shared store is polled for other writers' changes on every tick,
     * unless its descriptor tells of them. */
    int polled = (kl_apiserver_shared(state.api) && kl_apiserver_changes_fd(state.api) < 0)
                 || (state.events_api && kl_apiserver_shared(state.events_api));
    int tick_ms = polled ? 20 : 100;
    if (kl_bus_service_run(state.service, pipe, actor_handle, actor_tick, tick_ms, &state) < 0)
        kl_error_log("api", "the API service stopped on a bus failure");
    /* Everything in flight is answered while the service can still carry it. */
    kl_apiserver_settle(state.api);
    kl_apiserver_settle(state.events_api);
    actor_drained(&state);
    free(state.held);
    /* Destroying the apiserver answers pending watches: the service must
     * still be there to carry those replies. */
    kl_apiserver_destroy(&state.events_api);
    kl_apiserver_destroy(&state.api);
    kl_bus_service_destroy(&state.service);
}
