/* The scheduler cache's bookkeeping: its life cycle, and the pods that
 * watches and relists feed it, with the resources each node's pods use.
 * Nodes, parsing, the queue, filters and decisions are in the other
 * sched_cache_*.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objects.h"
#include "sched_cache_internal.h"

/* ---- life cycle --------------------------------------------------------- */

static void pod_entry_free(pod_entry_t **pod_p)
{
    pod_entry_t *pod = *pod_p;
    if (!pod)
        return;
    free(pod->key);
    free(pod->namespace_name);
    free(pod->name);
    free(pod->node_name);
    free(pod->assumed_node);
    free(pod->tolerations);
    json_decref(pod->object);
    free(pod);
    *pod_p = NULL;
}

static void pod_entry_destructor(void **item)
{
    pod_entry_free((pod_entry_t **)item);
}

static void usage_destructor(void **item)
{
    free(*item);
    *item = NULL;
}

kl_sched_cache_t *kl_sched_cache_new(int64_t node_timeout_ms)
{
    kl_sched_cache_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->node_timeout_ms = node_timeout_ms;
    self->pods = zhashx_new();
    self->usage = zhashx_new();
    self->active = zlistx_new();
    self->backoff = zlistx_new();
    if (!self->pods || !self->usage || !self->active || !self->backoff) {
        kl_sched_cache_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->pods, pod_entry_destructor);
    zhashx_set_destructor(self->usage, usage_destructor);
    return self;
}

void kl_sched_cache_destroy(kl_sched_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_sched_cache_t *self = *self_p;
    zlistx_destroy(&self->active);
    zlistx_destroy(&self->backoff);
    zhashx_destroy(&self->pods);
    zhashx_destroy(&self->usage);
    for (size_t i = 0; i < self->node_count; i++)
        kl_sched_node_entry_free(self->nodes[i]);
    free(self->nodes);
    free(self->views);
    free(self->feasible);
    free(self->feasible_entries);
    free(self);
    *self_p = NULL;
}

/* ---- pods --------------------------------------------------------------- */

#define POD_KEY_MAX 512

/* The cache's key of a pod: "namespace/name", an empty or absent namespace
 * read as "default". */
static void pod_key(char key[POD_KEY_MAX], const char *namespace_name, const char *name)
{
    snprintf(key, POD_KEY_MAX, "%s/%s", namespace_name && *namespace_name ? namespace_name
                                                                         : "default", name);
}

/* Moves the pod's requests to wherever they belong now: its assumed node,
 * else its bound node while it is not finished, else nowhere. Returns 1
 * when resources were freed somewhere. */
static int pod_account(kl_sched_cache_t *self, pod_entry_t *pod)
{
    const char *target = pod->assumed_node;
    if (!target && pod->node_name && !pod->terminal)
        target = pod->node_name;
    usage_t *usage = target ? kl_sched_usage_for(self, target) : NULL;
    int freed = 0;
    if (pod->counted) {
        freed = pod->counted != usage || pod->counted_cpu > pod->cpu_milli
                || pod->counted_memory > pod->memory_bytes;
        pod->counted->cpu_milli -= pod->counted_cpu;
        pod->counted->memory_bytes -= pod->counted_memory;
        pod->counted->pods--;
        pod->counted = NULL;
    }
    if (usage) {
        usage->cpu_milli += pod->cpu_milli;
        usage->memory_bytes += pod->memory_bytes;
        usage->pods++;
        pod->counted = usage;
        pod->counted_cpu = pod->cpu_milli;
        pod->counted_memory = pod->memory_bytes;
    }
    return freed;
}

static void pod_requeue(kl_sched_cache_t *self, pod_entry_t *pod)
{
    if (pod->waiting && !pod->assumed_node) {
        if (pod->queue == QUEUE_NONE)
            kl_sched_queue_push_active(self, pod);
    } else {
        kl_sched_queue_remove(self, pod);
    }
}

static void pod_drop(kl_sched_cache_t *self, pod_entry_t *pod)
{
    pod->assumed_node = (free(pod->assumed_node), NULL);
    pod->terminal = 1;
    int freed = pod_account(self, pod);
    kl_sched_queue_remove(self, pod);
    zhashx_delete(self->pods, pod->key);
    if (freed)
        kl_sched_queue_wake_all(self);
}

/* Where the pod now counts: bound to `node_name` (NULL when not), in
 * `phase`, still `waiting` for a node or not. */
static void pod_place(kl_sched_cache_t *self, pod_entry_t *pod, const char *node_name,
                      const char *phase, int waiting)
{
    if (!node_name || !pod->node_name || strcmp(node_name, pod->node_name) != 0) {
        free(pod->node_name);
        pod->node_name = node_name ? strdup(node_name) : NULL;
    }
    if (node_name && pod->assumed_node)  /* the bind is visible: no longer an assumption */
        pod->assumed_node = (free(pod->assumed_node), NULL);
    pod->terminal = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
    pod->waiting = waiting;
    if (!pod->waiting) {
        /* Only a pod being placed is read whole (filters, plugins, its
         * unschedulable status); the rest count by their requests alone,
         * and 150,000 parsed pods would cost over a gigabyte. */
        pod->node_selector = NULL;
        pod->tolerations = (free(pod->tolerations), NULL);
        pod->toleration_count = 0;
        pod->object = (json_decref(pod->object), NULL);
    }
    int freed = pod_account(self, pod);
    pod_requeue(self, pod);
    if (freed)
        kl_sched_queue_wake_all(self);
}

int kl_sched_cache_pod_upsert(kl_sched_cache_t *self, json_t *object, int64_t now_ms,
                              kl_error_t *err)
{
    (void)now_ms;
    json_t *metadata = json_object_get(object, "metadata");
    const char *name = json_string_value(json_object_get(metadata, "name"));
    const char *namespace_name = json_string_value(json_object_get(metadata, "namespace"));
    if (!name || !*name)
        return kl_error_set(err, KL_ERR_INVALID, "Pod: metadata.name is missing");
    if (!namespace_name || !*namespace_name)
        namespace_name = "default";
    char key[POD_KEY_MAX];
    pod_key(key, namespace_name, name);
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    int64_t resource_version = kl_object_revision(object);
    if (pod) {
        pod->generation = self->generation;
        if (resource_version > 0 && resource_version < pod->resource_version)
            return 0;
    }
    int64_t cpu, memory;
    kl_error_t inner;
    if (kl_pod_requests(object, &cpu, &memory, &inner) < 0) {
        if (pod)
            pod_drop(self, pod);
        return kl_error_set(err, KL_ERR_INVALID, "Pod \"%s\": %s", key, inner.text);
    }
    json_t *node_value = json_object_get(json_object_get(object, "spec"), "nodeName");
    if (node_value && !json_is_string(node_value) && !json_is_null(node_value)) {
        if (pod)
            pod_drop(self, pod);
        return kl_error_set(err, KL_ERR_INVALID, "Pod \"%s\": spec.nodeName: must be a string",
                            key);
    }
    toleration_t *tolerations;
    size_t toleration_count;
    const json_t *node_selector;
    if (kl_sched_parse_placement(object, &tolerations, &toleration_count, &node_selector,
                                 &inner) < 0) {
        if (pod)
            pod_drop(self, pod);
        return kl_error_set(err, inner.code, "Pod \"%s\": %s", key, inner.text);
    }
    const char *node_name = json_string_value(node_value);
    if (node_name && !*node_name)
        node_name = NULL;
    const char *phase = json_string_value(json_object_get(json_object_get(object, "status"),
                                                          "phase"));
    if (!phase)
        phase = "Pending";

    if (!pod) {
        pod = calloc(1, sizeof *pod);
        if (!pod || !(pod->key = strdup(key)) || !(pod->name = strdup(name))
            || !(pod->namespace_name = strdup(namespace_name))) {
            pod_entry_free(&pod);
            free(tolerations);
            return kl_error_set(err, KL_ERR_INTERNAL, "out of memory caching Pod \"%s\"", key);
        }
        pod->generation = self->generation;
        zhashx_insert(self->pods, pod->key, pod);
    }
    json_incref(object);
    json_decref(pod->object);
    pod->object = object;
    pod->resource_version = resource_version;
    pod->spec_generation = json_integer_value(json_object_get(metadata, "generation"));
    pod->cpu_milli = cpu;
    pod->memory_bytes = memory;
    free(pod->tolerations);
    pod->tolerations = tolerations;
    pod->toleration_count = toleration_count;
    pod->node_selector = node_selector;
    pod_place(self, pod, node_name, phase,
              !node_name && strcmp(phase, "Pending") == 0
              && !json_object_get(metadata, "deletionTimestamp"));
    return 0;
}

int kl_sched_cache_pod_refresh(kl_sched_cache_t *self, const kl_sched_pod_refresh_t *update)
{
    char key[POD_KEY_MAX];
    pod_key(key, update->namespace_name, update->name);
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (!pod || pod->spec_generation <= 0 || pod->spec_generation != update->spec_generation
        || !update->node_name || !*update->node_name)
        return 0;
    pod->generation = self->generation;
    if (update->resource_version > 0 && update->resource_version < pod->resource_version)
        return 1;
    pod->resource_version = update->resource_version;
    pod_place(self, pod, update->node_name, update->phase, 0);
    return 1;
}

void kl_sched_cache_pod_remove(kl_sched_cache_t *self, const char *namespace_name,
                               const char *name)
{
    char key[POD_KEY_MAX];
    pod_key(key, namespace_name, name);
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (pod)
        pod_drop(self, pod);
}

int kl_sched_upsert_listed(kl_sched_cache_t *self, json_t *items, int64_t now_ms,
                           int (*upsert)(kl_sched_cache_t *, json_t *, int64_t, kl_error_t *),
                           const char *what)
{
    int bad = 0;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        kl_error_t err;
        if (upsert(self, item, now_ms, &err) < 0) {
            kl_warn(COMPONENT, "skipping listed %s %zu: %s", what, i, err.text);
            bad++;
        }
    }
    return bad;
}

int kl_sched_cache_pods_replace(kl_sched_cache_t *self, json_t *items, int64_t now_ms)
{
    self->generation++;
    int bad = kl_sched_upsert_listed(self, items, now_ms, kl_sched_cache_pod_upsert, "pod");
    /* Collect first: dropping while iterating a zhashx is not allowed. */
    zlistx_t *stale = zlistx_new();
    for (pod_entry_t *pod = zhashx_first(self->pods); pod; pod = zhashx_next(self->pods))
        if (pod->generation != self->generation)
            zlistx_add_end(stale, pod);
    for (pod_entry_t *pod = zlistx_first(stale); pod; pod = zlistx_next(stale))
        pod_drop(self, pod);
    zlistx_destroy(&stale);
    return bad;
}

size_t kl_sched_cache_pod_count(kl_sched_cache_t *self)
{
    return zhashx_size(self->pods);
}

const json_t *kl_sched_cache_pod_object(kl_sched_cache_t *self, const char *key)
{
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    return pod ? pod->object : NULL;
}

int kl_sched_cache_assume(kl_sched_cache_t *self, const char *key, const char *node_name)
{
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (!pod || !kl_sched_node_find(self, node_name))
        return -1;
    char *copy = strdup(node_name);
    if (!copy)
        return -1;
    free(pod->assumed_node);
    pod->assumed_node = copy;
    pod_account(self, pod);
    kl_sched_queue_remove(self, pod);
    return 0;
}

void kl_sched_cache_forget(kl_sched_cache_t *self, const char *key, int retry, int64_t now_ms)
{
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (!pod)
        return;
    pod->assumed_node = (free(pod->assumed_node), NULL);
    if (pod_account(self, pod))
        kl_sched_queue_wake_all(self);
    if (retry && pod->waiting)
        kl_sched_queue_push_backoff(self, pod, now_ms);
}

void kl_sched_cache_backoff(kl_sched_cache_t *self, const char *key, int64_t now_ms)
{
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (pod && pod->waiting && !pod->assumed_node)
        kl_sched_queue_push_backoff(self, pod, now_ms);
}
