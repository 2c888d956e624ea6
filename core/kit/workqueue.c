/* The kit's work queue: keys due at a time, deduplicated, with per-key
 * exponential back-off so a failing object never makes a controller spin.
 * A min-heap by due time with an index from key to heap slot: controllers
 * like eventttl keep tens of thousands of keys queued, so add, pop and the
 * next due time must not scan them all. */
#include <stdlib.h>
#include <string.h>

#include <keelson/kit.h>

typedef struct item {
    char *key;
    int64_t due_ms;
} item_t;

struct kl_workqueue {
    item_t *items;     /* a binary min-heap on due_ms */
    size_t count, capacity;
    json_t *slots;     /* key -> its index in items */
    json_t *failures;  /* key -> consecutive failure count */
    int64_t base_delay_ms, max_delay_ms;
};

kl_workqueue_t *kl_workqueue_new(int64_t base_delay_ms, int64_t max_delay_ms)
{
    kl_workqueue_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->slots = json_object();
    self->failures = json_object();
    if (!self->slots || !self->failures) {
        json_decref(self->slots);
        json_decref(self->failures);
        free(self);
        return NULL;
    }
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
    json_decref(self->slots);
    json_decref(self->failures);
    free(self);
    *self_p = NULL;
}

/* Puts `item` at heap index `i` and records where it is. */
static void place(kl_workqueue_t *self, size_t i, item_t item)
{
    self->items[i] = item;
    json_integer_set(json_object_get(self->slots, item.key), (json_int_t)i);
}

static void sift_up(kl_workqueue_t *self, size_t i)
{
    item_t item = self->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (self->items[parent].due_ms <= item.due_ms)
            break;
        place(self, i, self->items[parent]);
        i = parent;
    }
    place(self, i, item);
}

static void sift_down(kl_workqueue_t *self, size_t i)
{
    item_t item = self->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= self->count)
            break;
        if (child + 1 < self->count && self->items[child + 1].due_ms < self->items[child].due_ms)
            child++;
        if (item.due_ms <= self->items[child].due_ms)
            break;
        place(self, i, self->items[child]);
        i = child;
    }
    place(self, i, item);
}

void kl_workqueue_add(kl_workqueue_t *self, const char *key, int64_t now_ms, int64_t delay_ms)
{
    if (!key)
        return;
    int64_t due = now_ms + (delay_ms > 0 ? delay_ms : 0);
    const json_t *slot = json_object_get(self->slots, key);
    if (slot) {
        size_t i = (size_t)json_integer_value(slot);
        if (due < self->items[i].due_ms) {
            self->items[i].due_ms = due;
            sift_up(self, i);
        }
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
    if (!copy || json_object_set_new(self->slots, key, json_integer((json_int_t)self->count)) < 0) {
        free(copy);
        return;
    }
    self->items[self->count++] = (item_t){copy, due};
    sift_up(self, self->count - 1);
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
    if (self->count == 0 || self->items[0].due_ms > now_ms)
        return NULL;
    char *key = self->items[0].key;
    json_object_del(self->slots, key);
    if (--self->count > 0) {
        self->items[0] = self->items[self->count];
        sift_down(self, 0);
    }
    return key;
}

int64_t kl_workqueue_wait_ms(const kl_workqueue_t *self, int64_t now_ms)
{
    if (self->count == 0)
        return -1;
    int64_t soonest = self->items[0].due_ms;
    return soonest > now_ms ? soonest - now_ms : 0;
}

size_t kl_workqueue_length(const kl_workqueue_t *self)
{
    return self->count;
}
