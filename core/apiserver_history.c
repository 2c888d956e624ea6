/* The API server's watch history: a ring of the latest events, from its own
 * writes or, on a shared store, from the store's change feed, and how far it
 * reaches. Older watches are answered from the store (apiserver_feed.c). */
#include "apiserver_internal.h"

void kl_api_event_clear(event_t *e)
{
    json_decref(e->object);
    json_decref(e->previous);
    kl_api_text_unref(&e->text);
    e->object = e->previous = NULL;
    e->node = e->previous_node = NULL;
}

event_t *kl_api_ring_at(kl_apiserver_t *self, size_t i)
{
    return &self->ring[(self->first + i) % self->capacity];
}

/* Index of the first event with a revision above `revision`. */
size_t kl_api_ring_search(kl_apiserver_t *self, int64_t revision)
{
    size_t low = 0, high = self->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (kl_api_ring_at(self, mid)->revision <= revision)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

/* The revision up to which this server has looked at every change, where a
 * watch answered from its history resumes. On a shared store that is what it
 * has taken in, not the store's revision: other writers, or a change feed a
 * moment behind, may be ahead, and resuming past changes not yet taken in
 * would skip them. */
int64_t kl_api_examined_revision(kl_apiserver_t *self)
{
    if (self->shared)
        return self->ingested;
    if (self->defer_watches && self->can_flush)
        return self->committed;
    return self->ops->revision(self->store);
}

/* Keeps the event (object and text borrowed, previous stolen) and wakes
 * watchers. */
void kl_api_record_event(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                         json_t *object, json_t *previous, int64_t revision, api_text_t *text)
{
    if (self->count == self->capacity) {
        event_t *oldest = kl_api_ring_at(self, 0);
        self->floor = oldest->revision;
        kl_api_event_clear(oldest);
        self->first = (self->first + 1) % self->capacity;
        self->count--;
    }
    event_t *e = kl_api_ring_at(self, self->count++);
    e->revision = revision;
    e->type = type;
    e->kind = info;
    e->text = kl_api_text_ref(text);
    e->object = json_incref(object);
    e->previous = type == EVENT_MODIFIED ? previous : NULL;
    if (type != EVENT_MODIFIED)
        json_decref(previous);
    e->node = e->previous_node = NULL;
    if (info->index == 0) {
        const char *node = kl_pod_node_name(object);
        const char *before = e->previous ? kl_pod_node_name(e->previous) : NULL;
        e->node = node ? node : "";
        e->previous_node = e->previous ? (before ? before : "") : NULL;
    }
    kl_api_notify(self, e);
}

/* A write this API server made. With a shared store other writers exist,
 * so every event comes from the store's change feed instead
 * (kl_api_ingest()), which keeps the history in revision order. */
void kl_api_record(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                   json_t *object, json_t *previous, int64_t revision, api_text_t *text)
{
    if (self->shared) {
        json_decref(previous);
        return;
    }
    kl_api_record_event(self, type, info, object, previous, revision, text);
}

void kl_api_drop_unpublished(kl_apiserver_t *self)
{
    for (size_t i = 0; i < self->unpublished_count; i++)
        free(self->unpublished[i].event);
    self->unpublished_count = 0;
}

void kl_api_discard_uncommitted(kl_apiserver_t *self)
{
    kl_api_drop_unpublished(self);
    /* The store is back at its last commit; later revisions will be reused
     * by other writes, so neither the history nor the cache may keep them. */
    int64_t committed = self->ops->revision(self->store);
    while (self->count && kl_api_ring_at(self, self->count - 1)->revision > committed)
        kl_api_event_clear(kl_api_ring_at(self, --self->count));
    kl_api_cache_clear(self->cache);
}
