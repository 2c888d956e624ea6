/* The kit's work queue: keys due at a time, deduplicated, with per-key
 * exponential back-off so a failing object never makes a controller spin. */
#include <stdlib.h>
#include <string.h>

#include <keelson/kit.h>

typedef struct item {
    char *key;
    int64_t due_ms;
} item_t;

struct kl_workqueue {
    item_t *items;
    size_t count, capacity;
    json_t *failures;  /* key -> consecutive failure count */
    int64_t base_delay_ms, max_delay_ms;
};

kl_workqueue_t *kl_workqueue_new(int64_t base_delay_ms, int64_t max_delay_ms)
{
    kl_workqueue_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->failures = json_object();
    self->base_delay_ms = base_delay_ms > 0 ? base_delay_ms : 5;
    self->max_delay_ms = max_delay_ms >= self->base_delay_ms ? max_delay_ms : self->base_delay_ms;
    return self;
}

void kl_workqueue_destroy(kl_workqueue_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_workqueue_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free(self->items[i].key);
    free(self->items);
    json_decref(self->failures);
    free(self);
    *self_p = NULL;
}

static item_t *find(kl_workqueue_t *self, const char *key)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp(self->items[i].key, key) == 0)
            return &self->items[i];
    return NULL;
}

void kl_workqueue_add(kl_workqueue_t *self, const char *key, int64_t now_ms, int64_t delay_ms)
{
    int64_t due = now_ms + (delay_ms > 0 ? delay_ms : 0);
    item_t *existing = find(self, key);
    if (existing) {
        if (due < existing->due_ms)
            existing->due_ms = due;
        return;
    }
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 64;
        item_t *grown = realloc(self->items, capacity * sizeof *grown);
        if (!grown)
            return;
        self->items = grown;
        self->capacity = capacity;
    }
    char *copy = strdup(key);
    if (!copy)
        return;
    self->items[self->count++] = (item_t){copy, due};
}

int64_t kl_workqueue_retry(kl_workqueue_t *self, const char *key, int64_t now_ms)
{
    json_int_t failures = json_integer_value(json_object_get(self->failures, key));
    int64_t delay = self->base_delay_ms;
    for (json_int_t i = 0; i < failures && delay < self->max_delay_ms; i++)
        delay *= 2;
    if (delay > self->max_delay_ms)
        delay = self->max_delay_ms;
    json_object_set_new(self->failures, key, json_integer(failures + 1));
    kl_workqueue_add(self, key, now_ms, delay);
    return delay;
}

void kl_workqueue_forget(kl_workqueue_t *self, const char *key)
{
    json_object_del(self->failures, key);
}

char *kl_workqueue_pop(kl_workqueue_t *self, int64_t now_ms)
{
    size_t best = self->count;
    for (size_t i = 0; i < self->count; i++)
        if (self->items[i].due_ms <= now_ms && (best == self->count || self->items[i].due_ms < self->items[best].due_ms))
            best = i;
    if (best == self->count)
        return NULL;
    char *key = self->items[best].key;
    self->items[best] = self->items[--self->count];
    return key;
}

int64_t kl_workqueue_wait_ms(const kl_workqueue_t *self, int64_t now_ms)
{
    if (self->count == 0)
        return -1;
    int64_t soonest = self->items[0].due_ms;
    for (size_t i = 1; i < self->count; i++)
        if (self->items[i].due_ms < soonest)
            soonest = self->items[i].due_ms;
    return soonest > now_ms ? soonest - now_ms : 0;
}

size_t kl_workqueue_length(const kl_workqueue_t *self)
{
    return self->count;
}
