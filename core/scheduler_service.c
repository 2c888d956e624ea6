/* The scheduler service actor: feeds the cache from list+watch, places
 * waiting pods, pipelines api.bind calls and reports unschedulable pods. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "list_watch.h"
#include "log.h"
#include "objects.h"
#include "sched_cache.h"
#include "scheduler_service.h"
#include "threads.h"

#define COMPONENT "scheduler"
#define MAX_IN_FLIGHT 512      /* binds and status writes awaiting replies */
#define DECISIONS_PER_ROUND 256 /* then look at the sockets again */
#define IDLE_POLL_MS 1000
#define REPLY_LOST_MS 30000     /* a pipelined request unanswered this long is lost */

typedef enum pending_kind { PENDING_BIND, PENDING_STATUS } pending_kind_t;

/* A pipelined request awaiting its reply. */
typedef struct pending {
    pending_kind_t kind;
    int64_t sent_ms;
    char key[320];
    char node[256];
} pending_t;

typedef struct scheduler {
    kl_scheduler_config_t *config;
    kl_sched_cache_t *cache;
    kl_scheduler_ops_t ops;  /* the plugin's ops, absent ones NULL */
    kl_sched_policy_t policy;
    kl_list_watch_t *nodes;
    kl_list_watch_t *pods;
    kl_bus_client_t *requests;  /* pipelined binds and status writes */
    zhashx_t *pending;          /* request id text -> pending_t */
    uint64_t bound;
    int listed;  /* lists after the first are relists: log them quietly */
} scheduler_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- cache feeding ---------------------------------------------------- */

static void on_node_list(json_t *items, void *arg)
{
    scheduler_t *self = arg;
    int bad = kl_sched_cache_nodes_replace(self->cache, items, now_ms());
    kl_log(self->listed & 1 ? KL_LOG_DEBUG : KL_LOG_INFO, COMPONENT, "listed %zu nodes%s",
           kl_sched_cache_node_count(self->cache), bad ? " (some malformed, skipped)" : "");
    self->listed |= 1;
}

static void on_node_event(const char *type, json_t *object, void *arg)
{
    scheduler_t *self = arg;
    if (strcmp(type, "DELETED") == 0) {
        const char *name = json_string_value(json_object_get(json_object_get(object, "metadata"),
                                                             "name"));
        if (name)
            kl_sched_cache_node_remove(self->cache, name);
        return;
    }
    kl_error_t err;
    if (kl_sched_cache_node_upsert(self->cache, object, now_ms(), &err) < 0)
        kl_warn(COMPONENT, "ignoring node update: %s", err.text);
}

static void on_pod_list(json_t *items, void *arg)
{
    scheduler_t *self = arg;
    kl_sched_cache_pods_replace(self->cache, items, now_ms());
    kl_log(self->listed & 2 ? KL_LOG_DEBUG : KL_LOG_INFO, COMPONENT,
           "listed %zu pods, %zu waiting for a node", kl_sched_cache_pod_count(self->cache),
           kl_sched_cache_queue_length(self->cache));
    self->listed |= 2;
}

static void on_pod_event(const char *type, json_t *object, void *arg)
{
    scheduler_t *self = arg;
    if (strcmp(type, "DELETED") == 0) {
        json_t *metadata = json_object_get(object, "metadata");
        const char *name = json_string_value(json_object_get(metadata, "name"));
        if (name)
            kl_sched_cache_pod_remove(self->cache,
                                      json_string_value(json_object_get(metadata, "namespace")),
                                      name);
        return;
    }
    kl_error_t err;
    if (kl_sched_cache_pod_upsert(self->cache, object, now_ms(), &err) < 0)
        kl_warn(COMPONENT, "cannot schedule: %s", err.text);
}

/* Most pod events are a bound pod's bind echo or status write: read from a
 * few tokens when the cache already holds that pod's spec. */
static int peek_pod_event(const char *type, const kl_json_scan_t *scan, int object, void *arg)
{
    scheduler_t *self = arg;
    /* ADDED may be a new pod under an old name: only changes are taken. */
    if (strcmp(type, "MODIFIED") != 0)
        return 0;
    char namespace_name[256], name[256], revision[32], node[256], phase[32];
    int metadata = kl_json_scan_get(scan, object, "metadata");
    int namespace_token = kl_json_scan_get(scan, metadata, "namespace");
    int phase_token = kl_json_scan_find(scan, object, "status", "phase", NULL);
    kl_sched_pod_refresh_t update = {
        .namespace_name = namespace_token < 0 ? "default"
                          : kl_json_scan_string(scan, namespace_token, namespace_name,
                                                sizeof namespace_name),
        .name = kl_json_scan_string(scan, kl_json_scan_get(scan, metadata, "name"), name,
                                    sizeof name),
        .node_name = kl_json_scan_string(scan, kl_json_scan_find(scan, object, "spec", "nodeName",
                                                                 NULL), node, sizeof node),
        .phase = phase_token < 0 ? "Pending"
                 : kl_json_scan_string(scan, phase_token, phase, sizeof phase),
    };
    const char *rv = kl_json_scan_string(scan, kl_json_scan_get(scan, metadata, "resourceVersion"),
                                         revision, sizeof revision);
    update.resource_version = rv ? kl_revision_parse(rv) : 0;
    if (!update.namespace_name || !*update.namespace_name || !update.name || !*update.name
        || !update.phase || update.resource_version <= 0
        || kl_json_scan_integer(scan, kl_json_scan_get(scan, metadata, "generation"),
                                &update.spec_generation) < 0)
        return 0;
    return kl_sched_cache_pod_refresh(self->cache, &update);
}

/* ---- requests --------------------------------------------------------- */

static int send_tracked(scheduler_t *self, const char *method, json_t *payload,
                        pending_kind_t kind, const char *key, const char *node)
{
    uint64_t id;
    kl_error_t err;
    /* Neither a bind's nor a status write's reply body is read: the watch
     * brings the bound pod, and until then its resources stay assumed. */
    if (kl_bus_send_ack(self->requests, method, payload, &id, &err) < 0) {
        kl_warn(COMPONENT, "cannot send %s for pod %s: %s", method, key, err.text);
        return -1;
    }
    pending_t *pending = calloc(1, sizeof *pending);
    if (!pending)
        return -1;
    pending->kind = kind;
    pending->sent_ms = now_ms();
    snprintf(pending->key, sizeof pending->key, "%s", key);
    snprintf(pending->node, sizeof pending->node, "%s", node ? node : "");
    char id_text[32];
    snprintf(id_text, sizeof id_text, "%" PRIu64, id);
    zhashx_update(self->pending, id_text, pending);
    return 0;
}

/* The pod's status with PodScheduled False; NULL when it already says so. */
static json_t *unschedulable_status_object(const json_t *pod, const char *message)
{
    json_t *conditions = json_object_get(json_object_get(pod, "status"), "conditions");
    size_t i;
    json_t *condition;
    json_array_foreach(conditions, i, condition) {
        const char *type = json_string_value(json_object_get(condition, "type"));
        if (!type || strcmp(type, "PodScheduled") != 0)
            continue;
        const char *status = json_string_value(json_object_get(condition, "status"));
        const char *old = json_string_value(json_object_get(condition, "message"));
        if (status && strcmp(status, "False") == 0 && old && strcmp(old, message) == 0)
            return NULL;
    }
    json_t *copy = json_deep_copy(pod);
    if (!copy)
        return NULL;
    /* Unconditional write: only the status changes and nobody else writes
     * the status of an unbound pod. */
    json_object_del(json_object_get(copy, "metadata"), "resourceVersion");
    json_t *status = json_object_get(copy, "status");
    if (!json_is_object(status)) {
        status = json_object();
        json_object_set_new(copy, "status", status);
    }
    if (!json_object_get(status, "phase"))
        json_object_set_new(status, "phase", json_string("Pending"));
    json_t *fresh = json_array();
    json_array_foreach(json_object_get(status, "conditions"), i, condition) {
        const char *type = json_string_value(json_object_get(condition, "type"));
        if (!type || strcmp(type, "PodScheduled") != 0)
            json_array_append(fresh, condition);
    }
    char stamp[KL_TIMESTAMP_SIZE];
    kl_timestamp_now(stamp);
    json_array_append_new(fresh, json_pack("{s:s, s:s, s:s, s:s, s:s, s:n}", "type",
                                           "PodScheduled", "status", "False", "reason",
                                           "Unschedulable", "message", message,
                                           "lastTransitionTime", stamp, "lastProbeTime"));
    json_object_set_new(status, "conditions", fresh);
    return copy;
}

static void report_unschedulable(scheduler_t *self, const char *key, const char *message)
{
    const json_t *pod = kl_sched_cache_pod_object(self->cache, key);
    if (!pod)
        return;
    json_t *object = unschedulable_status_object(pod, message);
    if (!object)
        return;
    kl_info(COMPONENT, "pod %s is unschedulable: %s", key, message);
    json_t *payload = json_pack("{s:o}", "object", object);
    if (payload)
        send_tracked(self, "api.update_status", payload, PENDING_STATUS, key, NULL);
    json_decref(payload);
}

static void schedule_one(scheduler_t *self, const char *key, int64_t now)
{
    char node[256], message[1024];
    kl_sched_outcome_t outcome = kl_sched_cache_decide(self->cache, key, &self->policy, now,
                                                       node, sizeof node, message,
                                                       sizeof message);
    if (outcome == KL_SCHED_SKIPPED)
        return;
    if (outcome == KL_SCHED_UNSCHEDULABLE) {
        kl_sched_cache_backoff(self->cache, key, now);
        report_unschedulable(self, key, message);
        return;
    }
    const char *slash = strchr(key, '/');
    if (!slash)
        return;
    json_t *payload = json_pack("{s:s%, s:s, s:s}", "namespace", key, (size_t)(slash - key),
                                "name", slash + 1, "nodeName", node);
    if (!payload)
        return;
    /* Reserve now, so the decisions taken while this bind is in flight see
     * the node's resources as used. */
    kl_sched_cache_assume(self->cache, key, node);
    if (send_tracked(self, "api.bind", payload, PENDING_BIND, key, node) < 0)
        kl_sched_cache_forget(self->cache, key, 1, now);
    json_decref(payload);
}

static void handle_replies(scheduler_t *self)
{
    for (;;) {
        uint64_t id = 0;
        kl_error_t err;
        kl_error_clear(&err);
        json_t *reply = kl_bus_recv(self->requests, &id, 0, &err);
        if (!reply && id == 0)
            return;
        char id_text[32];
        snprintf(id_text, sizeof id_text, "%" PRIu64, id);
        pending_t *pending = zhashx_lookup(self->pending, id_text);
        if (!pending) {
            json_decref(reply);
            continue;
        }
        int64_t now = now_ms();
        if (pending->kind == PENDING_BIND) {
            if (reply) {
                self->bound++;
                kl_debug(COMPONENT, "bound pod %s to node %s", pending->key, pending->node);
            } else if (err.code == KL_ERR_NOT_FOUND) {
                kl_debug(COMPONENT, "pod %s vanished before its bind", pending->key);
                kl_sched_cache_forget(self->cache, pending->key, 0, now);
            } else {
                /* Conflict means someone bound it first; the watch will say
                 * so and take the pod off the queue before its retry. */
                if (err.code != KL_ERR_CONFLICT)
                    kl_warn(COMPONENT, "binding pod %s to node %s failed: %s", pending->key,
                            pending->node, err.text);
                kl_sched_cache_forget(self->cache, pending->key, 1, now);
            }
        } else if (!reply && err.code != KL_ERR_NOT_FOUND) {
            kl_debug(COMPONENT, "status update of pod %s failed: %s", pending->key, err.text);
        }
        json_decref(reply);
        zhashx_delete(self->pending, id_text);
    }
}

/* A reply that never comes (the broker restarted, the API server died
 * mid-request) must not hold a reservation forever. */
static void expire_pending(scheduler_t *self, int64_t now)
{
    zlistx_t *lost = zlistx_new();
    if (!lost)
        return;
    zlistx_set_destructor(lost, (zlistx_destructor_fn *)zstr_free);
    for (pending_t *pending = zhashx_first(self->pending); pending;
         pending = zhashx_next(self->pending))
        if (now - pending->sent_ms > REPLY_LOST_MS) {
            char *id = strdup(zhashx_cursor(self->pending));
            if (id)
                zlistx_add_end(lost, id);
        }
    for (char *id = zlistx_first(lost); id; id = zlistx_next(lost)) {
        pending_t *pending = zhashx_lookup(self->pending, id);
        if (pending->kind == PENDING_BIND) {
            kl_warn(COMPONENT, "no reply to the bind of pod %s; retrying it", pending->key);
            kl_sched_cache_forget(self->cache, pending->key, 1, now);
        }
        zhashx_delete(self->pending, id);
    }
    zlistx_destroy(&lost);
}

/* ---- the actor -------------------------------------------------------- */

static void pending_destructor(void **item)
{
    free(*item);
    *item = NULL;
}

static void scheduler_cleanup(scheduler_t *self)
{
    kl_list_watch_destroy(&self->nodes);
    kl_list_watch_destroy(&self->pods);
    kl_bus_client_destroy(&self->requests);
    zhashx_destroy(&self->pending);
    kl_sched_cache_destroy(&self->cache);
}

static int scheduler_setup(scheduler_t *self, kl_scheduler_config_t *config, kl_error_t *err)
{
    kl_plugin_t *plugin = config->plugin;
    if (plugin) {
        if (plugin->desc && plugin->desc->kind != KL_KIND_SCHEDULER)
            return kl_error_set(err, KL_ERR_INVALID, "plugin %s is not a scheduler plugin",
                                plugin->label ? plugin->label : "(unnamed)");
        if (kl_plugin_open(plugin, err) < 0)
            return -1;
        if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, filter))
            self->ops.filter = ((const kl_scheduler_ops_t *)plugin->ops)->filter;
        if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, score))
            self->ops.score = ((const kl_scheduler_ops_t *)plugin->ops)->score;
        if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, select))
            self->ops.select = ((const kl_scheduler_ops_t *)plugin->ops)->select;
        self->policy.ops = &self->ops;
        self->policy.state = plugin->state;
        self->policy.label = plugin->label;
    }
    int64_t timeout = config->node_timeout_ms > 0 ? config->node_timeout_ms
                                                  : KL_SCHEDULER_NODE_TIMEOUT_MS;
    self->cache = kl_sched_cache_new(timeout);
    self->pending = zhashx_new();
    if (!self->cache || !self->pending)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory starting the scheduler");
    zhashx_set_destructor(self->pending, pending_destructor);
    self->requests = kl_bus_client_new(config->bus_endpoint, err);
    if (!self->requests)
        return -1;
    self->nodes = kl_list_watch_new(config->bus_endpoint, COMPONENT, "Node", NULL, on_node_list,
                                    on_node_event, self, err);
    if (!self->nodes)
        return -1;
    self->pods = kl_list_watch_new(config->bus_endpoint, COMPONENT, "Pod", NULL, on_pod_list,
                                   on_pod_event, self, err);
    if (!self->pods)
        return -1;
    kl_list_watch_set_peek(self->pods, peek_pod_event);
    return 0;
}

void kl_scheduler_actor(zsock_t *pipe, void *args)
{
    kl_thread_begin("kl-scheduler", KL_THREAD_CONTROL);
    kl_scheduler_config_t *config = args;
    scheduler_t self = {.config = config};
    kl_error_clear(&config->error);
    if (!config->bus_endpoint) {
        kl_error_set(&config->error, KL_ERR_INVALID, "scheduler: no bus endpoint configured");
    } else if (scheduler_setup(&self, config, &config->error) == 0) {
        config->failed = 0;
    }
    if (config->error.code != KL_OK) {
        config->failed = 1;
        scheduler_cleanup(&self);
        zsock_signal(pipe, 0);
        return;
    }
    zpoller_t *poller = zpoller_new(pipe, kl_list_watch_socket(self.nodes),
                                    kl_list_watch_socket(self.pods),
                                    kl_bus_client_socket(self.requests), NULL);
    zsock_signal(pipe, 0);
    if (!poller) {
        kl_error_log(COMPONENT, "cannot create a poller; the scheduler is not running");
        scheduler_cleanup(&self);
        return;
    }
    kl_info(COMPONENT, "running with %s", self.policy.label ? self.policy.label
                                                            : "the built-in first-fit choice");
    int terminated = 0;
    int64_t next_expiry = now_ms() + REPLY_LOST_MS;
    while (!terminated) {
        int64_t now = now_ms();
        if (now >= next_expiry) {
            expire_pending(&self, now);
            next_expiry = now + REPLY_LOST_MS / 6;
        }
        int64_t wait = IDLE_POLL_MS;
        int64_t w = kl_list_watch_step(self.nodes, now);
        if (w < wait)
            wait = w;
        w = kl_list_watch_step(self.pods, now);
        if (w < wait)
            wait = w;
        if (kl_list_watch_synced(self.nodes) && kl_list_watch_synced(self.pods)) {
            char key[320];
            int decisions = 0;
            while (decisions < DECISIONS_PER_ROUND && zhashx_size(self.pending) < MAX_IN_FLIGHT
                   && kl_sched_cache_next(self.cache, now, key, sizeof key) == 0) {
                schedule_one(&self, key, now);
                decisions++;
            }
            if (zhashx_size(self.pending) < MAX_IN_FLIGHT) {
                int64_t due = kl_sched_cache_next_due_ms(self.cache, now_ms());
                if (due >= 0 && due < wait)
                    wait = due;
            }
        }
        if (wait < 0)
            wait = 0;
        void *which = zpoller_wait(poller, (int)wait);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            terminated = !command || strcmp(command, "$TERM") == 0;
            zstr_free(&command);
            continue;
        }
        if (zpoller_terminated(poller))
            break;
        /* Drain every socket each round; zpoller reports only one. */
        now = now_ms();
        handle_replies(&self);
        kl_list_watch_receive(self.nodes, now);
        kl_list_watch_receive(self.pods, now);
    }
    kl_info(COMPONENT, "stopping after %" PRIu64 " binds", self.bound);
    zpoller_destroy(&poller);
    scheduler_cleanup(&self);
}
