/* The API server's watchers: a watch is answered from the history at once
 * when events are there, else parked by kind and node until one arrives or
 * it times out, and answered at once or once per burst after its group
 * commit. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_internal.h"
#include "log.h"

/* ---- parked watchers and their replies ------------------------------- */

static void watcher_free(watcher_t *w)
{
    if (!w)
        return;
    free(w->namespace_name);
    kl_selector_destroy(&w->selector);
    free(w);
}

void kl_api_group_destroy(void **item)
{
    watcher_group_t *group = *item;
    if (group) {
        free(group->pin);
        free(group);
        *item = NULL;
    }
}

/* Unlinks a pending watcher (does not free it). */
static void watcher_detach(kl_apiserver_t *self, watcher_t *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else
        w->group->first = w->next;
    if (w->next)
        w->next->prev = w->prev;
    if (w->all_prev)
        w->all_prev->all_next = w->all_next;
    else
        self->all = w->all_next;
    if (w->all_next)
        w->all_next->all_prev = w->all_prev;
    if (!w->group->first && w->group->pin)
        zhashx_delete(self->pinned[w->kind->index], w->group->pin);  /* frees the group */
    w->group = NULL;
    self->pending--;
}

/* The type a watcher sees for `e`, or -1 when the event is not for it. As in
 * Kubernetes, an object entering a selector's view is ADDED for that watcher
 * and one leaving it DELETED (a pod the scheduler watched unbound is bound). */
int kl_api_event_view(const event_t *e, const kl_kind_info_t *kind, const char *namespace_name,
                      const kl_selector_t *selector)
{
    if (e->kind != kind)
        return -1;
    if (namespace_name && *namespace_name) {
        const char *ns = kl_object_namespace(e->object);
        if (!ns || strcmp(ns, namespace_name) != 0)
            return -1;
    }
    /* Ring events of pods carry their node names; others are read here. */
    int now = kl_selector_matches_pod(selector, e->object, e->node);
    if (e->type != EVENT_MODIFIED || !e->previous || kl_selector_is_empty(selector))
        return now ? (int)e->type : -1;
    int before = kl_selector_matches_pod(selector, e->previous, e->previous_node);
    if (now)
        return before ? EVENT_MODIFIED : EVENT_ADDED;
    return before ? EVENT_DELETED : -1;
}

json_t *kl_api_watch_reply_json(json_t *events, int64_t revision)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, revision);
    return json_pack("{s:o,s:s}", "events", events, "resourceVersion", text);
}

/* Watch replies are assembled as text around each event's encoded object. */
static void reply_end(api_buffer_t *b, int64_t revision)
{
    char tail[48];
    snprintf(tail, sizeof tail, "],\"resourceVersion\":\"%" PRId64 "\"}", revision);
    kl_api_buffer_text(b, tail);
}

char *kl_api_empty_reply(int64_t revision, size_t *length)
{
    api_buffer_t b = {0};
    kl_api_buffer_text(&b, "{\"events\":[");
    reply_end(&b, revision);
    return kl_api_buffer_take(&b, length);
}

static const api_text_t *event_text(event_t *e)
{
    if (!e->text)
        e->text = kl_api_text_of(e->object);
    return e->text;
}

/* {"type":...,"object":...}, after a comma unless first. */
static void append_event(api_buffer_t *b, event_t *e, int type, int first)
{
    const api_text_t *text = event_text(e);
    if (!text) {
        b->failed = 1;
        return;
    }
    kl_api_buffer_text(b, first ? "{\"type\":\"" : ",{\"type\":\"");
    kl_api_buffer_text(b, event_names[type]);
    kl_api_buffer_text(b, "\",\"object\":");
    kl_api_buffer_append(b, text->data, text->length);
    kl_api_buffer_text(b, "}");
}

/* Builds the reply text for events after req->revision, or NULL when none
 * match (then *resume is where a parked watcher continues from) or err is
 * set. */
static char *collect(kl_apiserver_t *self, const watch_request_t *req, int64_t *resume,
                     size_t *length, kl_error_t *err)
{
    if (req->revision < self->floor)
        return kl_api_collect_from_store(self, req, resume, length, err);
    api_buffer_t b = {0};
    size_t found = 0;
    int64_t last = kl_api_examined_revision(self);
    for (size_t i = kl_api_ring_search(self, req->revision); i < self->count; i++) {
        event_t *e = kl_api_ring_at(self, i);
        if (e->revision > last)
            break;  /* not committed yet: answered after the commit */
        /* A watcher pinned to a node skips the events of every other node
         * by name: on a busy cluster a kubelet's burst is mostly others'. */
        if (req->pin && e->kind == req->kind && e->node && strcmp(e->node, req->pin) != 0
            && (!e->previous_node || strcmp(e->previous_node, req->pin) != 0))
            continue;
        int type = kl_api_event_view(e, req->kind, req->namespace_name, req->selector);
        if (type < 0)
            continue;
        if (!found)
            kl_api_buffer_text(&b, "{\"events\":[");
        append_event(&b, e, type, found == 0);
        if (++found == KL_APISERVER_WATCH_MAX_EVENTS) {
            last = e->revision;
            break;
        }
    }
    if (last < req->revision)
        last = req->revision;
    *resume = last;
    if (!found)
        return NULL;
    reply_end(&b, last);
    char *text = kl_api_buffer_take(&b, length);
    if (!text)
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for a watch reply of %zu events", found);
    return text;
}

/* Hands an answer to whoever carries it: `text` (stolen), or `err` when
 * text is NULL. */
static void deliver(kl_apiserver_t *self, void *token, char *text, size_t length,
                    const kl_error_t *err)
{
    if (self->reply_text) {
        self->reply_text(token, text, length, text ? NULL : err, self->reply_arg);
        return;
    }
    if (!self->reply) {
        free(text);
        return;
    }
    kl_error_t parse_err;
    json_t *reply = NULL;
    if (text) {
        reply = json_loadb(text, length, 0, NULL);
        free(text);
        if (!reply) {
            kl_error_set(&parse_err, KL_ERR_INTERNAL, "a watch reply was not JSON");
            err = &parse_err;
        }
    }
    self->reply(token, reply, reply ? NULL : err, self->reply_arg);
}

/* Answers a parked watcher with `text`, or with `err` when text is NULL,
 * and frees it. */
static void answer_with(kl_apiserver_t *self, watcher_t *w, char *text, size_t length,
                        const kl_error_t *err)
{
    if (w->ready)
        self->ready--;
    watcher_detach(self, w);
    deliver(self, w->token, text, length, err);
    watcher_free(w);
}

void kl_api_answer(kl_apiserver_t *self, watcher_t *w, char *text, size_t length)
{
    kl_error_t err;
    kl_error_set(&err, KL_ERR_INTERNAL, "out of memory answering a watch");
    answer_with(self, w, text, length, &err);
}

static void notify_group(kl_apiserver_t *self, watcher_group_t *group, event_t *e)
{
    watcher_t *w = group ? group->first : NULL;
    while (w) {
        /* kl_api_answer() may free the group when w is its last member. */
        watcher_t *next = w->next;
        if (self->defer_watches && w->ready) {
            w = next;  /* answered with the burst already */
            continue;
        }
        int type = kl_api_event_view(e, w->kind, w->namespace_name, w->selector);
        if (type >= 0 && self->defer_watches) {
            if (!w->ready) {
                w->ready = 1;
                self->ready++;
            }
        } else if (type >= 0) {
            api_buffer_t b = {0};
            kl_api_buffer_text(&b, "{\"events\":[");
            append_event(&b, e, type, 1);
            reply_end(&b, e->revision);
            size_t length = 0;
            char *text = kl_api_buffer_take(&b, &length);
            kl_api_answer(self, w, text, length);
        }
        w = next;
    }
}

/* Keeps a pub/sub event (taken) until its burst's commit; 0 when out of
 * memory, and then it goes out at once. */
static int hold_for_commit(kl_apiserver_t *self, const char *topic, char *event, size_t length)
{
    if (self->unpublished_count == self->unpublished_alloc) {
        size_t alloc = self->unpublished_alloc ? self->unpublished_alloc * 2 : 64;
        unpublished_t *grown = realloc(self->unpublished, alloc * sizeof *grown);
        if (!grown)
            return 0;
        self->unpublished = grown;
        self->unpublished_alloc = alloc;
    }
    self->unpublished[self->unpublished_count++] = (unpublished_t){topic, event, length};
    return 1;
}

/* Only the groups the event can match are visited: its kind's unpinned
 * watchers and, for a pod, those pinned to its node before and after. */
void kl_api_notify(kl_apiserver_t *self, event_t *e)
{
    const kl_kind_info_t *info = e->kind;
    if (self->pending) {
        notify_group(self, &self->unpinned[info->index], e);
        if (info->index == 0 && zhashx_size(self->pinned[0])) {
            notify_group(self, zhashx_lookup(self->pinned[0], e->node), e);
            if (e->previous_node && strcmp(e->previous_node, e->node) != 0)
                notify_group(self, zhashx_lookup(self->pinned[0], e->previous_node), e);
        }
    }
    if (self->publish
        && (!self->publish_wanted || self->publish_wanted(info->topic, self->publish_arg))) {
        api_buffer_t b = {0};
        append_event(&b, e, e->type, 1);
        size_t length = 0;
        char *event = kl_api_buffer_take(&b, &length);
        if (event && self->defer_watches && self->can_flush
            && hold_for_commit(self, info->topic, event, length))
            return;
        if (event)
            self->publish(info->topic, event, length, self->publish_arg);
        free(event);
    }
}

void kl_api_publish_committed(kl_apiserver_t *self)
{
    for (size_t i = 0; i < self->unpublished_count; i++) {
        unpublished_t *u = &self->unpublished[i];
        self->publish(u->topic, u->event, u->length, self->publish_arg);
        free(u->event);
    }
    self->unpublished_count = 0;
}

/* Answers the deferred watchers that events arrived for, each with all of
 * them since its revision. */
static void release_ready(kl_apiserver_t *self)
{
    watcher_t *w = self->all;
    while (w && self->ready) {
        watcher_t *next = w->all_next;  /* answer_with() frees w */
        if (w->ready) {
            watch_request_t req = {.kind = w->kind, .namespace_name = w->namespace_name,
                                   .selector = w->selector, .pin = w->group->pin,
                                   .revision = w->revision};
            kl_error_t err = {0, ""};
            int64_t resume = w->revision;
            size_t length = 0;
            char *reply = collect(self, &req, &resume, &length, &err);
            if (reply || err.code) {
                answer_with(self, w, reply, length, &err);
            } else {
                w->ready = 0;  /* nothing for it after all: stays parked */
                self->ready--;
            }
        }
        w = next;
    }
}

void kl_apiserver_defer_watches(kl_apiserver_t *self, int defer)
{
    self->defer_watches = defer;
    if (!defer)
        release_ready(self);
}

/* Reading a shared store's change feed costs a request to it, so it is read
 * only when someone waits for events: parked watchers after each burst and
 * tick, and each new watch before it is answered. */
void kl_apiserver_after_burst(kl_apiserver_t *self)
{
    kl_api_publish_committed(self);
    if (self->pending)
        kl_api_ingest(self);
    release_ready(self);
}


/* ---- watch ----------------------------------------------------------- */

static void watch_request_clear(watch_request_t *req)
{
    free(req->namespace_name);
    kl_selector_destroy(&req->selector);
}

static int parse_watch(kl_apiserver_t *self, const json_t *payload, watch_request_t *req,
                       kl_error_t *err)
{
    memset(req, 0, sizeof *req);
    req->kind = kl_api_request_kind(payload, err);
    if (!req->kind)
        return -1;
    const char *ns = kl_api_request_namespace(payload, req->kind, 1, err);
    if (!ns)
        return -1;
    if (*ns && !(req->namespace_name = strdup(ns)))
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory for a watch");
    req->selector = kl_api_watch_selector(self, payload, err);
    if (!req->selector)
        return -1;
    int64_t revision = kl_api_request_revision(payload, err);
    if (revision < 0)
        return -1;
    /* Absent: from now. Present, even "0" (the list of an empty store):
     * exactly after that revision, so nothing between list and watch is lost. */
    req->revision = json_object_get(payload, "resourceVersion") ? revision
                    : self->shared                              ? self->ops->revision(self->store)
                                                                : kl_api_examined_revision(self);
    if (req->revision < self->floor && !self->can_changes)
        return kl_error_set(err, KL_ERR_EXPIRED, "too old resource version: %" PRId64 " (%" PRId64 ")",
                            req->revision, self->floor + 1);
    const json_t *timeout = json_object_get(payload, "timeoutMs");
    req->timeout_ms = KL_APISERVER_WATCH_DEFAULT_MS;
    if (timeout) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 0)
            return kl_error_set(err, KL_ERR_INVALID,
                                "request timeoutMs must be a non-negative integer (milliseconds)");
        req->timeout_ms = json_integer_value(timeout);
        if (req->timeout_ms > KL_APISERVER_WATCH_MAX_MS)
            req->timeout_ms = KL_APISERVER_WATCH_MAX_MS;
    }
    return 0;
}

json_t *kl_api_watch_now(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    kl_api_ingest(self);
    watch_request_t req;
    if (parse_watch(self, payload, &req, err) < 0) {
        watch_request_clear(&req);
        return NULL;
    }
    int64_t resume;
    size_t length = 0;
    char *text = collect(self, &req, &resume, &length, err);
    watch_request_clear(&req);
    if (!text && err->code)
        return NULL;
    if (!text)
        return kl_api_watch_reply_json(json_array(), resume);
    json_t *reply = json_loadb(text, length, 0, NULL);
    free(text);
    if (!reply)
        kl_error_set(err, KL_ERR_INTERNAL, "a watch reply was not JSON");
    return reply;
}

void kl_apiserver_watch(kl_apiserver_t *self, const json_t *payload, void *token, int64_t now_ms)
{
    kl_error_t err = {0, ""};
    kl_api_ingest(self);
    watch_request_t req;
    if (parse_watch(self, payload, &req, &err) < 0) {
        watch_request_clear(&req);
        deliver(self, token, NULL, 0, &err);
        return;
    }
    int64_t resume;
    size_t length = 0;
    char *reply = collect(self, &req, &resume, &length, &err);
    if (!reply && err.code) {
        watch_request_clear(&req);
        deliver(self, token, NULL, 0, &err);
        return;
    }
    if (reply || req.timeout_ms == 0) {
        watch_request_clear(&req);
        if (!reply) {
            reply = kl_api_empty_reply(resume, &length);
            kl_error_set(&err, KL_ERR_INTERNAL, "out of memory answering a watch");
        }
        deliver(self, token, reply, length, &err);
        return;
    }
    watcher_t *w = calloc(1, sizeof *w);
    watcher_group_t *group = &self->unpinned[req.kind->index];
    const char *pin = req.kind->index == 0 ? kl_selector_field_equals(req.selector, "spec.nodeName")
                                           : NULL;
    if (w && pin) {
        group = zhashx_lookup(self->pinned[req.kind->index], pin);
        if (!group) {
            group = calloc(1, sizeof *group);
            if (group && !(group->pin = strdup(pin))) {
                free(group);
                group = NULL;
            }
            if (group)
                zhashx_insert(self->pinned[req.kind->index], pin, group);
        }
    }
    if (!w || !group) {
        free(w);
        watch_request_clear(&req);
        kl_error_set(&err, KL_ERR_INTERNAL, "out of memory parking a watch");
        deliver(self, token, NULL, 0, &err);
        return;
    }
    w->token = token;
    w->kind = req.kind;
    w->namespace_name = req.namespace_name;
    w->selector = req.selector;
    w->revision = resume;
    w->deadline_ms = now_ms + req.timeout_ms;
    w->group = group;
    w->next = group->first;
    if (group->first)
        group->first->prev = w;
    group->first = w;
    w->all_next = self->all;
    if (self->all)
        self->all->all_prev = w;
    self->all = w;
    self->pending++;
    /* Parked mid-burst behind events not yet committed: the commit's
     * release answers it, as it does the watchers those events woke. */
    if (self->defer_watches && self->count && !w->ready
        && kl_api_ring_at(self, self->count - 1)->revision > w->revision) {
        w->ready = 1;
        self->ready++;
    }
}

void kl_apiserver_tick(kl_apiserver_t *self, int64_t now_ms)
{
    if (self->can_tick) {
        kl_error_t serr = {0, ""};
        if (self->ops->tick(self->store, &serr) < 0)
            kl_warn("api", "store housekeeping failed: %s", serr.text);
        self->committed = self->ops->revision(self->store);  /* tick commits its own work */
    }
    if (!self->pending)
        return;
    kl_api_ingest(self);
    release_ready(self);
    watcher_t *w = self->all;
    while (w) {
        watcher_t *next = w->all_next;
        if (w->deadline_ms <= now_ms) {
            /* Collected once more: a watcher behind the history's floor is
             * answered from the store, never told to resume past a change. */
            watch_request_t req = {.kind = w->kind, .namespace_name = w->namespace_name,
                                   .selector = w->selector, .revision = w->revision};
            kl_error_t err = {0, ""};
            int64_t resume = w->revision;
            size_t length = 0;
            char *reply = collect(self, &req, &resume, &length, &err);
            if (!reply && !err.code) {
                reply = kl_api_empty_reply(resume, &length);
                kl_error_set(&err, KL_ERR_INTERNAL, "out of memory answering a watch");
            }
            answer_with(self, w, reply, length, &err);
        }
        w = next;
    }
}
