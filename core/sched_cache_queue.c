/* The queue of pods waiting for a node: arrival order, then back-off retries. */
#include <stdio.h>

#include "sched_cache_internal.h"

int64_t kl_sched_backoff_ms(int attempts)
{
    int64_t ms = KL_SCHED_BACKOFF_MIN_MS;
    for (int i = 1; i < attempts && ms < KL_SCHED_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > KL_SCHED_BACKOFF_MAX_MS ? KL_SCHED_BACKOFF_MAX_MS : ms;
}

void kl_sched_queue_remove(kl_sched_cache_t *self, pod_entry_t *pod)
{
    if (pod->queue == QUEUE_ACTIVE)
        zlistx_delete(self->active, pod->queue_handle);
    else if (pod->queue == QUEUE_BACKOFF)
        zlistx_delete(self->backoff, pod->queue_handle);
    pod->queue = QUEUE_NONE;
    pod->queue_handle = NULL;
}

void kl_sched_queue_push_active(kl_sched_cache_t *self, pod_entry_t *pod)
{
    kl_sched_queue_remove(self, pod);
    pod->queue_handle = zlistx_add_end(self->active, pod);
    pod->queue = pod->queue_handle ? QUEUE_ACTIVE : QUEUE_NONE;
}

void kl_sched_queue_push_backoff(kl_sched_cache_t *self, pod_entry_t *pod, int64_t now_ms)
{
    kl_sched_queue_remove(self, pod);
    pod->attempts++;
    pod->due_ms = now_ms + kl_sched_backoff_ms(pod->attempts);
    if (zlistx_size(self->backoff) == 0 || pod->due_ms < self->backoff_due_ms)
        self->backoff_due_ms = pod->due_ms;
    pod->queue_handle = zlistx_add_end(self->backoff, pod);
    pod->queue = pod->queue_handle ? QUEUE_BACKOFF : QUEUE_NONE;
}

/* Something that may make a waiting pod fit happened (a node appeared or
 * changed, resources were freed): retry every backed-off pod now. Their
 * attempt counts stay, so a pod that still fits nowhere backs off further. */
void kl_sched_queue_wake_all(kl_sched_cache_t *self)
{
    pod_entry_t *pod;
    while ((pod = zlistx_first(self->backoff)) != NULL)
        kl_sched_queue_push_active(self, pod);
}

static void queue_promote_due(kl_sched_cache_t *self, int64_t now_ms)
{
    int64_t earliest = INT64_MAX;
    pod_entry_t *pod = zlistx_first(self->backoff);
    while (pod) {
        pod_entry_t *next = zlistx_next(self->backoff);
        /* The cursor already sits on `next`, so deleting `pod` keeps it. */
        if (pod->due_ms <= now_ms)
            kl_sched_queue_push_active(self, pod);
        else if (pod->due_ms < earliest)
            earliest = pod->due_ms;
        pod = next;
    }
    self->backoff_due_ms = earliest;
}

int kl_sched_cache_next(kl_sched_cache_t *self, int64_t now_ms, char *key, size_t key_size)
{
    /* Due retries join the end of the queue even while new pods keep
     * arriving, so a steady stream cannot starve them. */
    if (zlistx_size(self->backoff) > 0 && now_ms >= self->backoff_due_ms)
        queue_promote_due(self, now_ms);
    pod_entry_t *pod = zlistx_first(self->active);
    if (!pod)
        return -1;
    kl_sched_queue_remove(self, pod);
    snprintf(key, key_size, "%s", pod->key);
    return 0;
}

int64_t kl_sched_cache_next_due_ms(kl_sched_cache_t *self, int64_t now_ms)
{
    if (zlistx_size(self->active) > 0)
        return 0;
    if (zlistx_size(self->backoff) == 0)
        return -1;
    return self->backoff_due_ms > now_ms ? self->backoff_due_ms - now_ms : 0;
}

size_t kl_sched_cache_queue_length(kl_sched_cache_t *self)
{
    return zlistx_size(self->active) + zlistx_size(self->backoff);
}
