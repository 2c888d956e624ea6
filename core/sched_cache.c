/* The scheduler's node/pod cache, queue, built-in filters and node choice.
 * Kept free of the bus so that every decision can be checked by unit tests. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <czmq.h>

#include "log.h"
#include "quantity.h"
#include "sched_cache.h"

#define COMPONENT "scheduler"

/* What pods bound (or assumed) to one node request. Kept apart from the node
 * object so that pods bound to a node the cache has not seen yet still count
 * once it appears. */
typedef struct usage {
    int64_t cpu_milli;
    int64_t memory_bytes;
    int64_t pods;
} usage_t;

/* Taint effects; TAINT_EFFECT_ANY stands for a toleration without one. */
typedef enum taint_effect {
    TAINT_EFFECT_ANY = 0,
    TAINT_EFFECT_NO_SCHEDULE,
    TAINT_EFFECT_PREFER_NO_SCHEDULE,
    TAINT_EFFECT_NO_EXECUTE
} taint_effect_t;

/* Strings borrowed from the node object the entry holds a reference to. */
typedef struct taint {
    const char *key;
    const char *value;  /* "" when absent */
    taint_effect_t effect;
} taint_t;

/* Strings borrowed from the pod object the entry holds a reference to. */
typedef struct toleration {
    const char *key;    /* "" matches every key (operator Exists only) */
    const char *value;  /* "" when absent */
    int exists;         /* operator Exists: any value matches */
    taint_effect_t effect;
} toleration_t;

typedef struct node_entry {
    char *name;
    json_t *object;
    int64_t resource_version;
    int64_t cpu_allocatable;
    int64_t memory_allocatable;
    int64_t pods_allocatable;
    int unschedulable;
    int ready_condition;   /* Ready condition is "True" */
    int64_t heartbeat_ms;  /* 0 when the node reports none */
    const json_t *labels;  /* metadata.labels, borrowed from object; may be NULL */
    taint_t *taints;       /* spec.taints, owned; NULL when none */
    size_t taint_count;
    size_t prefer_taint_count;  /* of them PreferNoSchedule, for scoring */
    uint64_t generation;   /* relist sweep */
    usage_t *usage;        /* borrowed from the cache's usage table */
} node_entry_t;

typedef enum queue_state { QUEUE_NONE = 0, QUEUE_ACTIVE, QUEUE_BACKOFF } queue_state_t;

typedef struct pod_entry {
    char *key;  /* "namespace/name" */
    char *namespace_name;
    char *name;
    json_t *object;
    int64_t resource_version;
    int64_t cpu_milli;
    int64_t memory_bytes;
    char *node_name;     /* spec.nodeName, NULL when unbound */
    char *assumed_node;  /* chosen here, bind not yet seen back */
    const json_t *node_selector;  /* spec.nodeSelector, borrowed; NULL when empty */
    toleration_t *tolerations;    /* spec.tolerations, owned; NULL when none */
    size_t toleration_count;
    int terminal;        /* Succeeded or Failed */
    int waiting;         /* unbound, Pending, not being deleted */
    usage_t *counted;    /* where its requests are counted now */
    int64_t counted_cpu;
    int64_t counted_memory;
    queue_state_t queue;
    void *queue_handle;
    int attempts;
    int64_t due_ms;
    uint64_t generation;
} pod_entry_t;

/* One reason and how many nodes gave it, for the "0/N nodes" message. */
typedef struct reason_count {
    char text[320];  /* room for a taint's longest key and value */
    int count;
} reason_count_t;

struct kl_sched_cache {
    int64_t node_timeout_ms;
    node_entry_t **nodes;  /* sorted by name */
    size_t node_count;
    size_t node_alloc;
    zhashx_t *pods;        /* key -> pod_entry_t (owned) */
    zhashx_t *usage;       /* node name -> usage_t (owned) */
    zlistx_t *active;      /* pod_entry_t, arrival order */
    zlistx_t *backoff;     /* pod_entry_t whose retry is due at due_ms */
    int64_t backoff_due_ms; /* no backed-off pod is due before this */
    uint64_t generation;
    unsigned plugin_complaints;  /* garbage answers logged so far */
    /* Scratch space reused by every decision so a decision allocates nothing. */
    kl_sched_node_t *views;
    const kl_sched_node_t **feasible;
    node_entry_t **feasible_entries;  /* the cache's entry behind each feasible view */
    size_t scratch_alloc;
    int sample_percent;   /* of nodes a scoring decision looks for; 0: adaptive */
    size_t next_start;    /* where the next sampled search begins */
};

int64_t kl_sched_backoff_ms(int attempts)
{
    int64_t ms = KL_SCHED_BACKOFF_MIN_MS;
    for (int i = 1; i < attempts && ms < KL_SCHED_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > KL_SCHED_BACKOFF_MAX_MS ? KL_SCHED_BACKOFF_MAX_MS : ms;
}

/* ---- parsing ------------------------------------------------------------ */

int kl_time_parse_rfc3339(const char *text, int64_t *ms, kl_error_t *err)
{
    int year, month, day, hour, minute, second, used = 0;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                        &second, &used) != 6 || used != 19)
        return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" is not RFC 3339 (2006-01-02T15:04:05Z)",
                            text ? text : "(null)");
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" has a field out of range", text);
    const char *p = text + used;
    int64_t fraction_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                fraction_ms = fraction_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0)
            return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" has an empty fraction", text);
        for (; digits < 3; digits++)
            fraction_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
            return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" has a malformed offset", text);
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" lacks a zone (Z or +hh:mm)", text);
    }
    if (*p)
        return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" has trailing text", text);
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = minute, .tm_sec = second};
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - offset_s) * 1000 + fraction_ms;
    return 0;
}

/* A quantity may arrive as a string ("500m") or, from hand-written JSON, as a
 * number; both mean the same. */
static int quantity_from_json(const json_t *value, int is_cpu, int64_t *out, const char *where,
                              kl_error_t *err)
{
    char text[64];
    if (json_is_string(value))
        snprintf(text, sizeof text, "%s", json_string_value(value));
    else if (json_is_integer(value))
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
    else if (json_is_real(value))
        snprintf(text, sizeof text, "%.6f", json_real_value(value));
    else
        return kl_error_set(err, KL_ERR_INVALID, "%s: must be a quantity string", where);
    kl_error_t inner;
    int rc = is_cpu ? kl_quantity_parse_cpu(text, out, &inner)
                    : kl_quantity_parse_memory(text, out, &inner);
    if (rc < 0)
        return kl_error_set(err, KL_ERR_INVALID, "%s: %s", where, inner.text);
    return 0;
}

static int count_from_json(const json_t *value, int64_t *out, const char *where, kl_error_t *err)
{
    if (json_is_integer(value)) {
        *out = json_integer_value(value);
    } else if (json_is_string(value)) {
        const char *s = json_string_value(value);
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end)
            return kl_error_set(err, KL_ERR_INVALID, "%s: \"%s\" is not a whole number", where, s);
        *out = v;
    } else {
        return kl_error_set(err, KL_ERR_INVALID, "%s: must be a whole number", where);
    }
    if (*out < 0)
        return kl_error_set(err, KL_ERR_INVALID, "%s: must not be negative", where);
    return 0;
}

/* NULL or "" gives TAINT_EFFECT_ANY; -1 for a name Kubernetes does not know. */
static int taint_effect_parse(const char *text, taint_effect_t *effect)
{
    if (!text || !*text)
        *effect = TAINT_EFFECT_ANY;
    else if (strcmp(text, "NoSchedule") == 0)
        *effect = TAINT_EFFECT_NO_SCHEDULE;
    else if (strcmp(text, "PreferNoSchedule") == 0)
        *effect = TAINT_EFFECT_PREFER_NO_SCHEDULE;
    else if (strcmp(text, "NoExecute") == 0)
        *effect = TAINT_EFFECT_NO_EXECUTE;
    else
        return -1;
    return 0;
}

/* Reads spec.taints into a new array (caller owns *taints_p; NULL when the
 * node has none). Strings stay borrowed from `object`. */
static int parse_taints(const json_t *object, const char *name, taint_t **taints_p,
                        size_t *count_p, size_t *prefer_p, kl_error_t *err)
{
    *taints_p = NULL;
    *count_p = *prefer_p = 0;
    json_t *list = json_object_get(json_object_get(object, "spec"), "taints");
    if (!list || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0))
        return 0;
    if (!json_is_array(list))
        return kl_error_set(err, KL_ERR_INVALID, "Node \"%s\": spec.taints: must be an array", name);
    taint_t *taints = calloc(json_array_size(list), sizeof *taints);
    if (!taints)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading Node \"%s\" taints", name);
    size_t i, prefer = 0;
    json_t *item;
    json_array_foreach(list, i, item) {
        const char *key = json_string_value(json_object_get(item, "key"));
        json_t *value = json_object_get(item, "value");
        const char *effect = json_string_value(json_object_get(item, "effect"));
        const char *problem = NULL;
        if (!key || !*key)
            problem = "key: must be a non-empty string";
        else if (value && !json_is_string(value))
            problem = "value: must be a string";
        else if (!effect || taint_effect_parse(effect, &taints[i].effect) < 0
                 || taints[i].effect == TAINT_EFFECT_ANY)
            problem = "effect: must be NoSchedule, PreferNoSchedule or NoExecute";
        if (problem) {
            free(taints);
            return kl_error_set(err, KL_ERR_INVALID, "Node \"%s\": spec.taints[%zu].%s", name, i,
                                problem);
        }
        taints[i].key = key;
        taints[i].value = value ? json_string_value(value) : "";
        prefer += taints[i].effect == TAINT_EFFECT_PREFER_NO_SCHEDULE;
    }
    *taints_p = taints;
    *count_p = json_array_size(list);
    *prefer_p = prefer;
    return 0;
}

/* Reads spec.tolerations and spec.nodeSelector of a pod (caller owns
 * *tolerations_p). Strings and the selector stay borrowed from `object`. */
static int parse_placement(const json_t *object, toleration_t **tolerations_p, size_t *count_p,
                           const json_t **selector_p, kl_error_t *err)
{
    *tolerations_p = NULL;
    *count_p = 0;
    *selector_p = NULL;
    json_t *spec = json_object_get(object, "spec");
    json_t *selector = json_object_get(spec, "nodeSelector");
    if (selector && !json_is_null(selector)) {
        if (!json_is_object(selector))
            return kl_error_set(err, KL_ERR_INVALID, "spec.nodeSelector: must be a map of strings");
        const char *key;
        json_t *value;
        json_object_foreach(selector, key, value)
            if (!json_is_string(value))
                return kl_error_set(err, KL_ERR_INVALID, "spec.nodeSelector[%s]: must be a string",
                                    key);
        if (json_object_size(selector) > 0)
            *selector_p = selector;
    }
    json_t *list = json_object_get(spec, "tolerations");
    if (!list || json_is_null(list) || (json_is_array(list) && json_array_size(list) == 0))
        return 0;
    if (!json_is_array(list))
        return kl_error_set(err, KL_ERR_INVALID, "spec.tolerations: must be an array");
    toleration_t *tolerations = calloc(json_array_size(list), sizeof *tolerations);
    if (!tolerations)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading tolerations");
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        json_t *key = json_object_get(item, "key");
        json_t *value = json_object_get(item, "value");
        json_t *operator = json_object_get(item, "operator");
        json_t *effect = json_object_get(item, "effect");
        const char *op = operator ? json_string_value(operator) : "Equal";
        const char *problem = NULL;
        if (!json_is_object(item))
            problem = ": must be an object";
        else if ((key && !json_is_string(key)) || (value && !json_is_string(value)))
            problem = ": key and value must be strings";
        else if (!op || (strcmp(op, "Equal") && strcmp(op, "Exists")))
            problem = ".operator: must be Equal or Exists";
        else if ((effect && !json_is_string(effect))
                 || taint_effect_parse(json_string_value(effect), &tolerations[i].effect) < 0)
            problem = ".effect: must be NoSchedule, PreferNoSchedule or NoExecute";
        if (problem) {
            free(tolerations);
            return kl_error_set(err, KL_ERR_INVALID, "spec.tolerations[%zu]%s", i, problem);
        }
        tolerations[i].key = key ? json_string_value(key) : "";
        tolerations[i].value = value ? json_string_value(value) : "";
        tolerations[i].exists = strcmp(op, "Exists") == 0;
        if (!*tolerations[i].key && !tolerations[i].exists) {
            free(tolerations);
            return kl_error_set(err, KL_ERR_INVALID,
                                "spec.tolerations[%zu].operator: must be Exists when key is empty",
                                i);
        }
    }
    *tolerations_p = tolerations;
    *count_p = json_array_size(list);
    return 0;
}

int kl_sched_pod_requests(const json_t *pod, int64_t *cpu_milli, int64_t *memory_bytes,
                          kl_error_t *err)
{
    json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
    if (!json_is_array(containers))
        return kl_error_set(err, KL_ERR_INVALID, "spec.containers: must be an array");
    int64_t cpu = 0, memory = 0;
    size_t i;
    json_t *container;
    json_array_foreach(containers, i, container) {
        json_t *resources = json_object_get(container, "resources");
        if (resources && !json_is_object(resources))
            return kl_error_set(err, KL_ERR_INVALID,
                                "spec.containers[%zu].resources: must be an object", i);
        static const char *const names[] = {"cpu", "memory"};
        for (int r = 0; r < 2; r++) {
            const char *group = "requests";
            json_t *value = json_object_get(json_object_get(resources, "requests"), names[r]);
            if (!value) {
                group = "limits";
                value = json_object_get(json_object_get(resources, "limits"), names[r]);
            }
            if (!value)
                continue;
            char where[96];
            snprintf(where, sizeof where, "spec.containers[%zu].resources.%s.%s", i, group,
                     names[r]);
            int64_t amount;
            if (quantity_from_json(value, r == 0, &amount, where, err) < 0)
                return -1;
            if (r == 0)
                cpu += amount;
            else
                memory += amount;
        }
    }
    *cpu_milli = cpu;
    *memory_bytes = memory;
    return 0;
}

static int64_t resource_version_of(const json_t *object)
{
    const char *rv = json_string_value(json_object_get(json_object_get(object, "metadata"),
                                                       "resourceVersion"));
    return rv ? strtoll(rv, NULL, 10) : 0;
}

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

static void node_entry_free(node_entry_t *node)
{
    if (!node)
        return;
    free(node->name);
    free(node->taints);
    json_decref(node->object);
    free(node);
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
        node_entry_free(self->nodes[i]);
    free(self->nodes);
    free(self->views);
    free(self->feasible);
    free(self->feasible_entries);
    free(self);
    *self_p = NULL;
}

static usage_t *usage_for(kl_sched_cache_t *self, const char *node_name)
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

/* ---- queue -------------------------------------------------------------- */

static void queue_remove(kl_sched_cache_t *self, pod_entry_t *pod)
{
    if (pod->queue == QUEUE_ACTIVE)
        zlistx_delete(self->active, pod->queue_handle);
    else if (pod->queue == QUEUE_BACKOFF)
        zlistx_delete(self->backoff, pod->queue_handle);
    pod->queue = QUEUE_NONE;
    pod->queue_handle = NULL;
}

static void queue_push_active(kl_sched_cache_t *self, pod_entry_t *pod)
{
    queue_remove(self, pod);
    pod->queue_handle = zlistx_add_end(self->active, pod);
    pod->queue = pod->queue_handle ? QUEUE_ACTIVE : QUEUE_NONE;
}

static void queue_push_backoff(kl_sched_cache_t *self, pod_entry_t *pod, int64_t now_ms)
{
    queue_remove(self, pod);
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
static void queue_wake_all(kl_sched_cache_t *self)
{
    pod_entry_t *pod;
    while ((pod = zlistx_first(self->backoff)) != NULL)
        queue_push_active(self, pod);
}

static void queue_promote_due(kl_sched_cache_t *self, int64_t now_ms)
{
    int64_t earliest = INT64_MAX;
    pod_entry_t *pod = zlistx_first(self->backoff);
    while (pod) {
        pod_entry_t *next = zlistx_next(self->backoff);
        /* The cursor already sits on `next`, so deleting `pod` keeps it. */
        if (pod->due_ms <= now_ms)
            queue_push_active(self, pod);
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
    queue_remove(self, pod);
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

/* ---- nodes -------------------------------------------------------------- */

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

static node_entry_t *node_find(kl_sched_cache_t *self, const char *name)
{
    int found;
    size_t at = node_search(self, name, &found);
    return found ? self->nodes[at] : NULL;
}

static int node_is_ready(const kl_sched_cache_t *self, const node_entry_t *node, int64_t now_ms)
{
    if (!node->ready_condition)
        return 0;
    if (self->node_timeout_ms <= 0)
        return 1;
    return node->heartbeat_ms > 0 && now_ms - node->heartbeat_ms <= self->node_timeout_ms;
}

static int parse_node(const json_t *object, node_entry_t *out, kl_error_t *err)
{
    const char *name = json_string_value(json_object_get(json_object_get(object, "metadata"),
                                                         "name"));
    if (!name || !*name)
        return kl_error_set(err, KL_ERR_INVALID, "Node: metadata.name is missing");
    json_t *status = json_object_get(object, "status");
    json_t *amounts = json_object_get(status, "allocatable");
    const char *group = "allocatable";
    if (!json_is_object(amounts) || json_object_size(amounts) == 0) {
        amounts = json_object_get(status, "capacity");
        group = "capacity";
    }
    char where[96];
    json_t *value;
    out->cpu_allocatable = out->memory_allocatable = out->pods_allocatable = 0;
    if ((value = json_object_get(amounts, "cpu"))) {
        snprintf(where, sizeof where, "Node \"%s\": status.%s.cpu", name, group);
        if (quantity_from_json(value, 1, &out->cpu_allocatable, where, err) < 0)
            return -1;
    }
    if ((value = json_object_get(amounts, "memory"))) {
        snprintf(where, sizeof where, "Node \"%s\": status.%s.memory", name, group);
        if (quantity_from_json(value, 0, &out->memory_allocatable, where, err) < 0)
            return -1;
    }
    if ((value = json_object_get(amounts, "pods"))) {
        snprintf(where, sizeof where, "Node \"%s\": status.%s.pods", name, group);
        if (count_from_json(value, &out->pods_allocatable, where, err) < 0)
            return -1;
    }
    out->unschedulable = json_is_true(json_object_get(json_object_get(object, "spec"),
                                                      "unschedulable"));
    out->ready_condition = 0;
    out->heartbeat_ms = 0;
    size_t i;
    json_t *condition;
    json_array_foreach(json_object_get(status, "conditions"), i, condition) {
        const char *type = json_string_value(json_object_get(condition, "type"));
        if (!type || strcmp(type, "Ready") != 0)
            continue;
        const char *state = json_string_value(json_object_get(condition, "status"));
        out->ready_condition = state && strcmp(state, "True") == 0;
        const char *beat = json_string_value(json_object_get(condition, "lastHeartbeatTime"));
        if (!beat)
            beat = json_string_value(json_object_get(condition, "lastTransitionTime"));
        if (beat) {
            kl_error_t inner;
            if (kl_time_parse_rfc3339(beat, &out->heartbeat_ms, &inner) < 0)
                return kl_error_set(err, KL_ERR_INVALID,
                                    "Node \"%s\": status.conditions[%zu].lastHeartbeatTime: %s",
                                    name, i, inner.text);
        }
    }
    out->labels = json_object_get(json_object_get(object, "metadata"), "labels");
    if (out->labels && !json_is_object(out->labels))
        return kl_error_set(err, KL_ERR_INVALID, "Node \"%s\": metadata.labels: must be a map",
                            name);
    /* Last, so that no failure above leaves the array to free. */
    if (parse_taints(object, name, &out->taints, &out->taint_count, &out->prefer_taint_count,
                     err) < 0)
        return -1;
    out->name = (char *)name;  /* borrowed until the caller copies it */
    out->resource_version = resource_version_of(object);
    return 0;
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
        || node_is_ready(self, old, now_ms) != node_is_ready(self, fresh, now_ms))
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
    if (parse_node(object, &parsed, err) < 0)
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
            queue_wake_all(self);
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
    usage_t *usage = usage_for(self, parsed.name);
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
    queue_wake_all(self);
    return 0;
}

void kl_sched_cache_node_remove(kl_sched_cache_t *self, const char *name)
{
    int found;
    size_t at = node_search(self, name, &found);
    if (!found)
        return;
    node_entry_free(self->nodes[at]);
    memmove(self->nodes + at, self->nodes + at + 1,
            (self->node_count - at - 1) * sizeof *self->nodes);
    self->node_count--;
}

int kl_sched_cache_nodes_replace(kl_sched_cache_t *self, json_t *items, int64_t now_ms)
{
    self->generation++;
    int bad = 0;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        kl_error_t err;
        if (kl_sched_cache_node_upsert(self, item, now_ms, &err) < 0) {
            kl_warn(COMPONENT, "skipping listed node %zu: %s", i, err.text);
            bad++;
        }
    }
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

static void node_view(const node_entry_t *node, kl_sched_node_t *view)
{
    view->name = node->name;
    view->cpu_allocatable_milli = node->cpu_allocatable;
    view->memory_allocatable_bytes = node->memory_allocatable;
    view->pods_allocatable = node->pods_allocatable;
    view->cpu_requested_milli = node->usage->cpu_milli;
    view->memory_requested_bytes = node->usage->memory_bytes;
    view->pods_count = node->usage->pods;
    view->object = node->object;
}

int kl_sched_cache_node_view(kl_sched_cache_t *self, const char *name, kl_sched_node_t *view)
{
    node_entry_t *node = node_find(self, name);
    if (!node)
        return -1;
    node_view(node, view);
    return 0;
}

/* ---- pods --------------------------------------------------------------- */

/* Moves the pod's requests to wherever they belong now: its assumed node,
 * else its bound node while it is not finished, else nowhere. Returns 1
 * when resources were freed somewhere. */
static int pod_account(kl_sched_cache_t *self, pod_entry_t *pod)
{
    const char *target = pod->assumed_node;
    if (!target && pod->node_name && !pod->terminal)
        target = pod->node_name;
    usage_t *usage = target ? usage_for(self, target) : NULL;
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
            queue_push_active(self, pod);
    } else {
        queue_remove(self, pod);
    }
}

static void pod_drop(kl_sched_cache_t *self, pod_entry_t *pod)
{
    pod->assumed_node = (free(pod->assumed_node), NULL);
    pod->terminal = 1;
    int freed = pod_account(self, pod);
    queue_remove(self, pod);
    zhashx_delete(self->pods, pod->key);
    if (freed)
        queue_wake_all(self);
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
    char key[512];
    snprintf(key, sizeof key, "%s/%s", namespace_name, name);
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    int64_t resource_version = resource_version_of(object);
    if (pod) {
        pod->generation = self->generation;
        if (resource_version > 0 && resource_version < pod->resource_version)
            return 0;
    }
    int64_t cpu, memory;
    kl_error_t inner;
    if (kl_sched_pod_requests(object, &cpu, &memory, &inner) < 0) {
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
    if (parse_placement(object, &tolerations, &toleration_count, &node_selector, &inner) < 0) {
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
    pod->cpu_milli = cpu;
    pod->memory_bytes = memory;
    free(pod->tolerations);
    pod->tolerations = tolerations;
    pod->toleration_count = toleration_count;
    pod->node_selector = node_selector;
    if (!node_name || !pod->node_name || strcmp(node_name, pod->node_name) != 0) {
        free(pod->node_name);
        pod->node_name = node_name ? strdup(node_name) : NULL;
    }
    if (node_name && pod->assumed_node)  /* the bind is visible: no longer an assumption */
        pod->assumed_node = (free(pod->assumed_node), NULL);
    pod->terminal = strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0;
    pod->waiting = !node_name && strcmp(phase, "Pending") == 0
                   && !json_object_get(metadata, "deletionTimestamp");
    int freed = pod_account(self, pod);
    pod_requeue(self, pod);
    if (freed)
        queue_wake_all(self);
    return 0;
}

void kl_sched_cache_pod_remove(kl_sched_cache_t *self, const char *namespace_name,
                               const char *name)
{
    char key[512];
    snprintf(key, sizeof key, "%s/%s", namespace_name && *namespace_name ? namespace_name
                                                                         : "default", name);
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (pod)
        pod_drop(self, pod);
}

int kl_sched_cache_pods_replace(kl_sched_cache_t *self, json_t *items, int64_t now_ms)
{
    self->generation++;
    int bad = 0;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        kl_error_t err;
        if (kl_sched_cache_pod_upsert(self, item, now_ms, &err) < 0) {
            kl_warn(COMPONENT, "skipping listed pod %zu: %s", i, err.text);
            bad++;
        }
    }
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
    if (!pod || !node_find(self, node_name))
        return -1;
    char *copy = strdup(node_name);
    if (!copy)
        return -1;
    free(pod->assumed_node);
    pod->assumed_node = copy;
    pod_account(self, pod);
    queue_remove(self, pod);
    return 0;
}

void kl_sched_cache_forget(kl_sched_cache_t *self, const char *key, int retry, int64_t now_ms)
{
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (!pod)
        return;
    pod->assumed_node = (free(pod->assumed_node), NULL);
    if (pod_account(self, pod))
        queue_wake_all(self);
    if (retry && pod->waiting)
        queue_push_backoff(self, pod, now_ms);
}

void kl_sched_cache_backoff(kl_sched_cache_t *self, const char *key, int64_t now_ms)
{
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (pod && pod->waiting && !pod->assumed_node)
        queue_push_backoff(self, pod, now_ms);
}

/* ---- decisions ---------------------------------------------------------- */

enum { REASON_NOT_READY, REASON_UNSCHEDULABLE, REASON_SELECTOR, REASON_CPU, REASON_MEMORY,
       REASON_PODS, BUILTIN_REASONS };
static const char *const builtin_reasons[BUILTIN_REASONS] = {
    "node(s) were not ready", "node(s) were unschedulable",
    "node(s) didn't match Pod's node affinity/selector", "Insufficient cpu",
    "Insufficient memory", "Too many pods",
};
#define MAX_REASONS 16

/* Adds one to `text`'s count; reasons past the table's end are folded into
 * the last slot rather than lost. */
static void reason_add(reason_count_t *reasons, size_t *count, size_t max, const char *text)
{
    for (size_t i = 0; i < *count; i++) {
        if (strcmp(reasons[i].text, text) == 0) {
            reasons[i].count++;
            return;
        }
    }
    if (*count == max) {
        reasons[max - 1].count++;
        return;
    }
    snprintf(reasons[*count].text, sizeof reasons[*count].text, "%s", text);
    reasons[*count].count = 1;
    (*count)++;
}

static int reason_compare(const void *a, const void *b)
{
    const reason_count_t *x = a, *y = b;
    if (x->count != y->count)
        return y->count - x->count;
    return strcmp(x->text, y->text);
}

static void format_reasons(reason_count_t *reasons, size_t count, size_t node_count,
                           char *message, size_t size)
{
    qsort(reasons, count, sizeof *reasons, reason_compare);
    size_t used = (size_t)snprintf(message, size, "0/%zu nodes are available", node_count);
    if (node_count == 0 && used < size)
        used += (size_t)snprintf(message + used, size - used, ": no nodes are registered");
    for (size_t i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(message + used, size - used, "%s%d %s", i ? ", " : ": ",
                                 reasons[i].count, reasons[i].text);
    if (used < size)
        snprintf(message + used, size - used, ".");
}

/* A plugin answering garbage would do so for every pod: log the first few
 * answers, then say that the rest are not logged. */
#define PLUGIN_COMPLAINTS_LOGGED 10
static int complain(kl_sched_cache_t *self)
{
    self->plugin_complaints++;
    if (self->plugin_complaints == PLUGIN_COMPLAINTS_LOGGED + 1)
        kl_warn(COMPONENT, "further invalid answers from the scheduler plugin are not logged");
    return self->plugin_complaints <= PLUGIN_COMPLAINTS_LOGGED;
}

static int scratch_reserve(kl_sched_cache_t *self, size_t count)
{
    if (count <= self->scratch_alloc)
        return 0;
    size_t alloc = count < 16 ? 16 : count * 2;
    kl_sched_node_t *views = realloc(self->views, alloc * sizeof *views);
    if (!views)
        return -1;
    self->views = views;
    const kl_sched_node_t **feasible = realloc(self->feasible, alloc * sizeof *feasible);
    if (!feasible)
        return -1;
    self->feasible = feasible;
    node_entry_t **entries = realloc(self->feasible_entries, alloc * sizeof *entries);
    if (!entries)
        return -1;
    self->feasible_entries = entries;
    self->scratch_alloc = alloc;
    return 0;
}

void kl_sched_cache_set_sample_percent(kl_sched_cache_t *self, int percent)
{
    self->sample_percent = percent < 0 ? 0 : percent > 100 ? 100 : percent;
}

/* How many feasible nodes a scoring decision looks for before it stops
 * filtering, like Kubernetes' percentageOfNodesToScore: every node in small
 * clusters, a shrinking share (never under 5%) of big ones. Scoring every
 * node of a 5,000-node cluster for each pod would cap throughput far below
 * what the cluster needs, for a barely better choice. */
static size_t feasible_wanted(const kl_sched_cache_t *self)
{
    size_t n = self->node_count;
    if (n <= KL_SCHED_MIN_FEASIBLE_NODES)
        return n;
    size_t percent = (size_t)self->sample_percent;
    if (percent == 0) {
        size_t shrink = n / 125;
        percent = shrink >= 45 ? 5 : 50 - shrink;
    }
    size_t wanted = n * percent / 100;
    return wanted < KL_SCHED_MIN_FEASIBLE_NODES ? KL_SCHED_MIN_FEASIBLE_NODES : wanted;
}

/* Kubernetes' ToleratesTaint: an empty toleration effect matches every
 * effect, an empty key (with Exists) every key. */
static int toleration_matches(const toleration_t *t, const char *key, const char *value,
                              taint_effect_t effect)
{
    if (t->effect != TAINT_EFFECT_ANY && t->effect != effect)
        return 0;
    if (*t->key && strcmp(t->key, key) != 0)
        return 0;
    return t->exists || strcmp(t->value, value) == 0;
}

static int pod_tolerates(const pod_entry_t *pod, const char *key, const char *value,
                         taint_effect_t effect)
{
    for (size_t i = 0; i < pod->toleration_count; i++)
        if (toleration_matches(&pod->tolerations[i], key, value, effect))
            return 1;
    return 0;
}

/* The first NoSchedule or NoExecute taint the pod does not tolerate. */
static const taint_t *untolerated_taint(const pod_entry_t *pod, const node_entry_t *node)
{
    for (size_t i = 0; i < node->taint_count; i++) {
        const taint_t *taint = &node->taints[i];
        if (taint->effect != TAINT_EFFECT_PREFER_NO_SCHEDULE
            && !pod_tolerates(pod, taint->key, taint->value, taint->effect))
            return taint;
    }
    return NULL;
}

static int64_t prefer_no_schedule_penalty(const pod_entry_t *pod, const node_entry_t *node)
{
    int64_t penalty = 0;
    for (size_t i = 0; node->prefer_taint_count > 0 && i < node->taint_count; i++) {
        const taint_t *taint = &node->taints[i];
        if (taint->effect == TAINT_EFFECT_PREFER_NO_SCHEDULE
            && !pod_tolerates(pod, taint->key, taint->value, taint->effect))
            penalty += KL_SCHED_PREFER_NO_SCHEDULE_PENALTY;
    }
    return penalty;
}

/* Every nodeSelector pair must be a label of the node with the same value. */
static int selector_matches(const pod_entry_t *pod, const node_entry_t *node)
{
    const char *key;
    json_t *wanted;
    json_object_foreach((json_t *)pod->node_selector, key, wanted) {
        const char *have = json_string_value(json_object_get(node->labels, key));
        if (!have || strcmp(have, json_string_value(wanted)) != 0)
            return 0;
    }
    return 1;
}

/* Runs the built-in filters and the plugin's filter on one node. Returns 1
 * when the pod may go there; otherwise counts every reason and returns 0. */
static int node_feasible(kl_sched_cache_t *self, const pod_entry_t *pod,
                         const kl_sched_pod_t *pod_view, const node_entry_t *node,
                         const kl_sched_node_t *view, const kl_scheduler_ops_t *ops, void *state,
                         int64_t now_ms, reason_count_t *reasons, size_t *reason_count)
{
    if (!node_is_ready(self, node, now_ms)) {
        reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_NOT_READY]);
        return 0;
    }
    /* A pod that tolerates the cordon taint may go on a cordoned node, as
     * DaemonSet pods do in Kubernetes. */
    if (node->unschedulable
        && !pod_tolerates(pod, "node.kubernetes.io/unschedulable", "", TAINT_EFFECT_NO_SCHEDULE)) {
        reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_UNSCHEDULABLE]);
        return 0;
    }
    if (node->taint_count > node->prefer_taint_count) {
        const taint_t *taint = untolerated_taint(pod, node);
        if (taint) {
            char reason[sizeof reasons[0].text];
            snprintf(reason, sizeof reason, "node(s) had untolerated taint {%s: %s}", taint->key,
                     taint->value);
            reason_add(reasons, reason_count, MAX_REASONS, reason);
            return 0;
        }
    }
    if (pod->node_selector && !selector_matches(pod, node)) {
        reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_SELECTOR]);
        return 0;
    }
    /* Like Kubernetes' resource fit: every shortage on a node is counted. */
    int fits = 1;
    if (view->pods_count + 1 > view->pods_allocatable) {
        reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_PODS]);
        fits = 0;
    }
    if (pod->cpu_milli > 0
        && view->cpu_requested_milli + pod->cpu_milli > view->cpu_allocatable_milli) {
        reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_CPU]);
        fits = 0;
    }
    if (pod->memory_bytes > 0
        && view->memory_requested_bytes + pod->memory_bytes > view->memory_allocatable_bytes) {
        reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_MEMORY]);
        fits = 0;
    }
    if (!fits)
        return 0;
    if (ops && ops->filter) {
        char reason[128] = "";
        if (ops->filter(state, pod_view, view, reason, sizeof reason) != 0) {
            reason[sizeof reason - 1] = '\0';
            reason_add(reasons, reason_count, MAX_REASONS,
                       reason[0] ? reason : "node(s) were rejected by the scheduler plugin");
            return 0;
        }
    }
    return 1;
}

kl_sched_outcome_t kl_sched_cache_decide(kl_sched_cache_t *self, const char *key,
                                         const kl_sched_policy_t *policy, int64_t now_ms,
                                         char *node_name, size_t node_name_size,
                                         char *message, size_t message_size)
{
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (!pod || !pod->waiting || pod->assumed_node)
        return KL_SCHED_SKIPPED;
    if (scratch_reserve(self, self->node_count) < 0) {
        snprintf(message, message_size, "out of memory while scheduling");
        return KL_SCHED_UNSCHEDULABLE;
    }
    const kl_scheduler_ops_t *ops = policy ? policy->ops : NULL;
    void *state = policy ? policy->state : NULL;
    const char *label = policy && policy->label ? policy->label : "scheduler plugin";
    kl_sched_pod_t pod_view = {
        .namespace_name = pod->namespace_name, .name = pod->name,
        .cpu_request_milli = pod->cpu_milli, .memory_request_bytes = pod->memory_bytes,
        .object = pod->object,
    };
    /* select() sees every feasible node and the built-in choice takes the
     * first in name order; only scoring samples, from a rotating start so
     * every node gets its turn. */
    int scoring = ops && !ops->select && ops->score;
    int choosing = ops && (ops->select || ops->score);
    size_t wanted = scoring ? feasible_wanted(self) : choosing ? self->node_count : 1;
    size_t start = scoring && wanted < self->node_count ? self->next_start % self->node_count : 0;
    reason_count_t reasons[MAX_REASONS];
    size_t reason_count = 0;
    size_t feasible = 0, examined = 0;
    /* Feasible nodes from `wrapped` on come before the others in name order. */
    size_t wrapped = SIZE_MAX;
    for (; examined < self->node_count && feasible < wanted; examined++) {
        size_t i = start + examined;
        if (i >= self->node_count) {
            i -= self->node_count;
            if (wrapped == SIZE_MAX)
                wrapped = feasible;
        }
        node_entry_t *node = self->nodes[i];
        kl_sched_node_t *view = &self->views[feasible];
        node_view(node, view);
        if (node_feasible(self, pod, &pod_view, node, view, ops, state, now_ms, reasons,
                          &reason_count)) {
            self->feasible_entries[feasible] = node;
            self->feasible[feasible++] = view;
        }
    }
    if (start > 0 || wanted < self->node_count)
        self->next_start = (start + examined) % (self->node_count ? self->node_count : 1);
    if (feasible == 0) {
        format_reasons(reasons, reason_count, self->node_count, message, message_size);
        return KL_SCHED_UNSCHEDULABLE;
    }

    size_t chosen = 0;
    if (ops && ops->select) {
        kl_error_t err;
        kl_error_clear(&err);
        int index = ops->select(state, &pod_view, self->feasible, feasible, &err);
        if (index == -1) {
            err.text[sizeof err.text - 1] = '\0';
            snprintf(message, message_size, "0/%zu nodes are available: %s.", self->node_count,
                     err.text[0] ? err.text : "the scheduler plugin accepted none");
            return KL_SCHED_UNSCHEDULABLE;
        }
        if (index < 0 || (size_t)index >= feasible) {
            if (complain(self))
                kl_warn(COMPONENT, "%s: select() returned node index %d for pod %s, but only %zu "
                        "nodes were offered; ignoring the decision", label, index, key, feasible);
            snprintf(message, message_size, "%s returned an invalid node index %d of %zu.",
                     label, index, feasible);
            return KL_SCHED_UNSCHEDULABLE;
        }
        chosen = (size_t)index;
    } else if (scoring) {
        int64_t best = -1;
        for (size_t i = 0; i < feasible; i++) {
            const kl_sched_node_t *view = self->feasible[i];
            int64_t score = ops->score(state, &pod_view, view);
            if (score < 0 || score > 100) {
                if (complain(self))
                    kl_warn(COMPONENT, "%s: score() gave %" PRId64 " for pod %s on node %s, outside "
                            "0..100; using %d", label, score, key, view->name,
                            score < 0 ? 0 : 100);
                score = score < 0 ? 0 : 100;
            }
            if (self->feasible_entries[i]->prefer_taint_count > 0) {
                score -= prefer_no_schedule_penalty(pod, self->feasible_entries[i]);
                if (score < 0)
                    score = 0;
            }
            /* Ties go to the first name: the earliest one, unless the sample
             * wrapped around the end of the name order after it. */
            if (score > best || (score == best && i >= wrapped && chosen < wrapped)) {
                best = score;
                chosen = i;
            }
        }
    }
    snprintf(node_name, node_name_size, "%s", self->feasible[chosen]->name);
    return KL_SCHED_PLACED;
}
