/* The scheduler cache's nodes: kept sorted by name for lookups, updated
 * from watches and relists, each with the usage record its pods fill. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sched_cache_internal.h"

void kl_sched_node_entry_free(node_entry_t *node)
{
    if (!node)
        return;
    free(node->name);
    free(node->taints);
    json_decref(node->object);
    free(node);
}

usage_t *kl_sched_usage_for(kl_sched_cache_t *self, const char *node_name)
{
    usage_t *usage = zhashx_lookup(self->usage, node_name);
    if (!usage) {
        usage = calloc(1, sizeof *usage);
        if (!usage)
            return NULL;
        zhashx_insert(self->usage, node_name, usage);
    }
    return usage;
}

static size_t node_search(kl_sched_cache_t *self, const char *name, int *found)
{
    size_t low = 0, high = self->node_count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        int c = strcmp(self->nodes[mid]->name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            low = mid + 1;
        else
            high = mid;
    }
    *found = 0;
    return low;
}

node_entry_t *kl_sched_node_find(kl_sched_cache_t *self, const char *name)
{
    int found;
    size_t at = node_search(self, name, &found);
    return found ? self->nodes[at] : NULL;
}

int kl_sched_node_is_ready(const kl_sched_cache_t *self, const node_entry_t *node, int64_t now_ms)
{
    if (!node->ready_condition)
        return 0;
    if (self->node_timeout_ms <= 0)
        return 1;
    return node->heartbeat_ms > 0 && now_ms - node->heartbeat_ms <= self->node_timeout_ms;
}

/* Does this update change anything a filter or plugin could look at? The
 * heartbeat alone does not, unless it flips readiness. */
static int node_changed(const kl_sched_cache_t *self, const node_entry_t *old,
                        const node_entry_t *fresh, const json_t *fresh_object, int64_t now_ms)
{
    if (old->cpu_allocatable != fresh->cpu_allocatable
        || old->memory_allocatable != fresh->memory_allocatable
        || old->pods_allocatable != fresh->pods_allocatable
        || old->unschedulable != fresh->unschedulable
        || kl_sched_node_is_ready(self, old, now_ms) != kl_sched_node_is_ready(self, fresh, now_ms))
        return 1;
    if (!json_equal(json_object_get(old->object, "spec"), json_object_get(fresh_object, "spec")))
        return 1;
    json_t *old_labels = json_object_get(json_object_get(old->object, "metadata"), "labels");
    json_t *new_labels = json_object_get(json_object_get(fresh_object, "metadata"), "labels");
    if (!old_labels || !new_labels)
        return old_labels != new_labels;
    return !json_equal(old_labels, new_labels);
}

int kl_sched_cache_node_upsert(kl_sched_cache_t *self, json_t *object, int64_t now_ms,
                               kl_error_t *err)
{
    node_entry_t parsed = {0};
    if (kl_sched_parse_node(object, &parsed, err) < 0)
        return -1;
    int found;
    size_t at = node_search(self, parsed.name, &found);
    if (found) {
        node_entry_t *node = self->nodes[at];
        node->generation = self->generation;
        if (parsed.resource_version > 0 && parsed.resource_version < node->resource_version) {
            free(parsed.taints);
            return 0;
        }
        int changed = node_changed(self, node, &parsed, object, now_ms);
        node->cpu_allocatable = parsed.cpu_allocatable;
        node->memory_allocatable = parsed.memory_allocatable;
        node->pods_allocatable = parsed.pods_allocatable;
        node->unschedulable = parsed.unschedulable;
        node->ready_condition = parsed.ready_condition;
        node->heartbeat_ms = parsed.heartbeat_ms;
        node->resource_version = parsed.resource_version;
        node->labels = parsed.labels;
        free(node->taints);
        node->taints = parsed.taints;
        node->taint_count = parsed.taint_count;
        node->prefer_taint_count = parsed.prefer_taint_count;
        json_incref(object);
        json_decref(node->object);
        node->object = object;
        if (changed)
            kl_sched_queue_wake_all(self);
        return 0;
    }
    if (self->node_count == self->node_alloc) {
        size_t alloc = self->node_alloc ? self->node_alloc * 2 : 16;
        node_entry_t **nodes = realloc(self->nodes, alloc * sizeof *nodes);
        if (!nodes) {
            free(parsed.taints);
            return kl_error_set(err, KL_ERR_INTERNAL, "out of memory adding Node \"%s\"",
                                parsed.name);
        }
        self->nodes = nodes;
        self->node_alloc = alloc;
    }
    node_entry_t *node = malloc(sizeof *node);
    char *name = strdup(parsed.name);
    usage_t *usage = kl_sched_usage_for(self, parsed.name);
    if (!node || !name || !usage) {
        free(node);
        free(name);
        free(parsed.taints);
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory adding Node \"%s\"",
                            parsed.name);
    }
    *node = parsed;
    node->name = name;
    node->object = json_incref(object);
    node->usage = usage;
    node->generation = self->generation;
    memmove(self->nodes + at + 1, self->nodes + at, (self->node_count - at) * sizeof *self->nodes);
    self->nodes[at] = node;
    self->node_count++;
    kl_sched_queue_wake_all(self);
    return 0;
}

void kl_sched_cache_node_remove(kl_sched_cache_t *self, const char *name)
{
    int found;
    size_t at = node_search(self, name, &found);
    if (!found)
        return;
    kl_sched_node_entry_free(self->nodes[at]);
    memmove(self->nodes + at, self->nodes + at + 1,
            (self->node_count - at - 1) * sizeof *self->nodes);
    self->node_count--;
}

int kl_sched_cache_nodes_replace(kl_sched_cache_t *self, json_t *items, int64_t now_ms)
{
    self->generation++;
    int bad = kl_sched_upsert_listed(self, items, now_ms, kl_sched_cache_node_upsert, "node");
    for (size_t n = self->node_count; n-- > 0;) {
        if (self->nodes[n]->generation != self->generation) {
            char *name = strdup(self->nodes[n]->name);
            if (name)
                kl_sched_cache_node_remove(self, name);
            free(name);
        }
    }
    return bad;
}

size_t kl_sched_cache_node_count(kl_sched_cache_t *self)
{
    return self->node_count;
}

int kl_sched_cache_node_view(kl_sched_cache_t *self, const char *name, kl_sched_node_t *view)
{
    node_entry_t *node = kl_sched_node_find(self, name);
    if (!node)
        return -1;
    kl_sched_fill_node_view(node, view);
    return 0;
}
