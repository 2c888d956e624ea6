/* The kubelet actor: node registration and heartbeats, the watch of its
 * pods, container start/poll/restart/stop through the runtime plugin, and
 * pod status reports. Pod rules live in pod_status.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "kubelet.h"
#include "list_watch.h"
#include "log.h"
#include "node_info.h"
#include "pod_status.h"

#define COMPONENT "kubelet"
#define API_TIMEOUT_MS 2000
#define API_QUIET_MS 1000        /* after a timeout, let the API breathe */
#define REGISTER_RETRY_MAX_MS 10000
#define DEFAULT_GRACE_MS 30000
#define SHUTDOWN_GRACE_MS 1000   /* per container when the kubelet itself stops */

typedef struct kpod {
    char *key;  /* "namespace/name" */
    char *namespace_name;
    char *name;
    char *uid;
    json_t *object;        /* the latest Pod seen */
    int64_t resource_version;
    kl_pod_track_t track;
    int valid;             /* track holds the pod's containers */
    int inert;             /* finished before this kubelet saw it: leave alone */
    json_t *reported;      /* the last status written */
    uint64_t reported_version;  /* kl_pod_track_version() of `reported` */
    int64_t grace_ms;
    uint64_t generation;
} kpod_t;

typedef struct kubelet {
    kl_kubelet_config_t *config;
    const kl_runtime_ops_t *runtime;
    void *runtime_state;
    char node_name[256];
    int64_t cpu_milli;
    int64_t memory_bytes;
    int64_t max_pods;
    int heartbeat_ms;
    int sync_ms;
    char runtime_version[128];
    kl_bus_client_t *api;
    kl_list_watch_t *watch;
    zhashx_t *pods;        /* key -> kpod_t (owned) */
    uint64_t generation;
    json_t *node;          /* the Node as last written */
    int registered;
    int64_t register_at_ms;
    int64_t register_retry_ms;
    int register_complaining;
    int heartbeat_complaining;
    int64_t next_heartbeat_ms;
    int64_t next_sync_ms;
    int64_t api_quiet_until_ms;
} kubelet_t;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t resource_version_of(const json_t *object)
{
    const char *rv = json_string_value(json_object_get(json_object_get(object, "metadata"),
                                                       "resourceVersion"));
    return rv ? strtoll(rv, NULL, 10) : 0;
}

/* A request that failed because the API is out of reach quiets status
 * writes for a moment, so hundreds of pods do not each wait for a timeout. */
static json_t *api_request(kubelet_t *self, const char *method, json_t *payload, kl_error_t *err)
{
    json_t *reply = kl_bus_request(self->api, method, payload, API_TIMEOUT_MS, err);
    if (!reply && (err->code == KL_ERR_TIMEOUT || err->code == KL_ERR_UNAVAILABLE))
        self->api_quiet_until_ms = now_ms() + API_QUIET_MS;
    return reply;
}

/* ---- node ------------------------------------------------------------- */

static void node_register(kubelet_t *self, int64_t now)
{
    kl_error_t err;
    kl_node_heartbeat(self->node, now);
    json_t *payload = json_pack("{s:O}", "object", self->node);
    json_t *reply = api_request(self, "api.create", payload, &err);
    json_decref(payload);
    if (!reply && err.code == KL_ERR_EXISTS) {
        /* Registered before (a restart): keep its metadata, replace status. */
        payload = json_pack("{s:s, s:s}", "kind", "Node", "name", self->node_name);
        json_t *existing = api_request(self, "api.get", payload, &err);
        json_decref(payload);
        if (existing) {
            json_object_set(existing, "status", json_object_get(self->node, "status"));
            json_object_del(json_object_get(existing, "metadata"), "resourceVersion");
            payload = json_pack("{s:o}", "object", existing);
            reply = api_request(self, "api.update_status", payload, &err);
            json_decref(payload);
        }
    }
    if (!reply) {
        if (!self->register_complaining)
            kl_warn(COMPONENT, "cannot register node %s yet (%s); retrying", self->node_name,
                    err.text);
        self->register_complaining = 1;
        self->register_at_ms = now + self->register_retry_ms;
        self->register_retry_ms = self->register_retry_ms * 2 > REGISTER_RETRY_MAX_MS
                                      ? REGISTER_RETRY_MAX_MS : self->register_retry_ms * 2;
        return;
    }
    json_decref(self->node);
    self->node = reply;
    self->registered = 1;
    self->register_complaining = 0;
    self->register_retry_ms = 500;
    self->next_heartbeat_ms = now + self->heartbeat_ms;
    kl_info(COMPONENT, "node %s registered", self->node_name);
}

static void node_heartbeat(kubelet_t *self, int64_t now)
{
    kl_node_heartbeat(self->node, now);
    /* Unconditional: the kubelet is the only writer of its node's status. */
    json_t *object = json_copy(self->node);
    json_t *metadata = json_deep_copy(json_object_get(self->node, "metadata"));
    json_object_del(metadata, "resourceVersion");
    json_object_set_new(object, "metadata", metadata);
    json_t *payload = json_pack("{s:o}", "object", object);
    kl_error_t err;
    json_t *reply = api_request(self, "api.update_status", payload, &err);
    json_decref(payload);
    self->next_heartbeat_ms = now + self->heartbeat_ms;
    if (reply) {
        json_decref(self->node);
        self->node = reply;
        if (self->heartbeat_complaining)
            kl_info(COMPONENT, "heartbeats of node %s are getting through again",
                    self->node_name);
        self->heartbeat_complaining = 0;
        return;
    }
    if (err.code == KL_ERR_NOT_FOUND) {
        kl_warn(COMPONENT, "node %s was deleted from the API; registering it again",
                self->node_name);
        self->registered = 0;
        self->register_at_ms = now;
        return;
    }
    if (!self->heartbeat_complaining)
        kl_warn(COMPONENT, "heartbeat of node %s failed: %s", self->node_name, err.text);
    self->heartbeat_complaining = 1;
}

/* ---- containers ------------------------------------------------------- */

static void container_remove(kubelet_t *self, kpod_t *pod, const char *id, int grace_ms)
{
    kl_error_t err;
    kl_error_clear(&err);
    if (grace_ms >= 0 && self->runtime->stop
        && self->runtime->stop(self->runtime_state, id, grace_ms, &err) < 0)
        kl_debug(COMPONENT, "pod %s: stopping container %s: %s", pod->key, id, err.text);
    kl_error_clear(&err);
    if (self->runtime->remove && self->runtime->remove(self->runtime_state, id, &err) < 0)
        kl_warn(COMPONENT, "pod %s: removing container %s failed: %s", pod->key, id, err.text);
}

static void pod_kill(kubelet_t *self, kpod_t *pod, int grace_ms)
{
    if (!pod->valid)
        return;
    for (size_t i = 0; i < pod->track.count; i++) {
        kl_container_track_t *c = &pod->track.containers[i];
        const char *id = c->id[0] ? c->id : c->phase == KL_CONTAINER_TERMINATED ? c->exit.id : "";
        if (id[0])
            container_remove(self, pod, id, c->phase == KL_CONTAINER_TERMINATED ? -1 : grace_ms);
        c->id[0] = '\0';
        /* stop() blocks up to the grace period: keep the node alive
         * between containers that take their time. */
        int64_t now = now_ms();
        if (self->registered && now >= self->next_heartbeat_ms)
            node_heartbeat(self, now);
        c->exit.id[0] = '\0';
    }
}

static void container_start(kubelet_t *self, kpod_t *pod, size_t index, int64_t now)
{
    kl_container_track_t *c = &pod->track.containers[index];
    kl_container_request_t request = {
        .pod_namespace = pod->namespace_name, .pod_name = pod->name,
        .pod_uid = pod->uid ? pod->uid : "", .container_name = c->name,
        .container = json_array_get(json_object_get(json_object_get(pod->object, "spec"),
                                                    "containers"), index),
        .pod = pod->object,
    };
    char id[KL_CONTAINER_ID_MAX] = "";
    kl_error_t err;
    kl_error_clear(&err);
    if (self->runtime->start(self->runtime_state, &request, id, &err) < 0) {
        if (err.code == KL_OK)
            kl_error_set(&err, KL_ERR_INTERNAL, "the runtime failed without saying why");
        if (c->start_failures == 0)
            kl_warn(COMPONENT, "pod %s: container %s did not start: %s", pod->key, c->name,
                    err.text);
        kl_container_start_failed(c, &err, now);
        return;
    }
    id[KL_CONTAINER_ID_MAX - 1] = '\0';
    if (!id[0]) {
        kl_error_set(&err, KL_ERR_INTERNAL, "the runtime returned an empty container id");
        kl_container_start_failed(c, &err, now);
        return;
    }
    kl_container_started(c, id, now);
}

static void container_poll(kubelet_t *self, kpod_t *pod, kl_container_track_t *c, int64_t now)
{
    kl_container_status_t status;
    memset(&status, 0, sizeof status);
    kl_error_t err;
    kl_error_clear(&err);
    if (self->runtime->status(self->runtime_state, c->id, &status, &err) < 0) {
        if (err.code != KL_ERR_NOT_FOUND) {
            kl_debug(COMPONENT, "pod %s: status of container %s: %s", pod->key, c->name,
                     err.text);
            return;
        }
        /* The runtime lost it: report it as Kubernetes does a vanished one. */
        memset(&status, 0, sizeof status);
        status.state = KL_CONTAINER_EXITED;
        status.exit_code = 137;
        snprintf(status.reason, sizeof status.reason, "ContainerStatusUnknown");
        snprintf(status.message, sizeof status.message, "%.*s", (int)sizeof status.message - 1,
                 err.text);
    }
    if (status.state > KL_CONTAINER_UNKNOWN) {
        kl_debug(COMPONENT, "pod %s: the runtime reported state %d for container %s", pod->key,
                 (int)status.state, c->name);
        return;
    }
    status.reason[sizeof status.reason - 1] = '\0';
    status.message[sizeof status.message - 1] = '\0';
    if (kl_container_observe(c, pod->track.policy, &status, now)) {
        char old[KL_CONTAINER_ID_MAX];
        snprintf(old, sizeof old, "%s", c->id);
        c->id[0] = '\0';
        container_remove(self, pod, old, -1);
    }
}

/* ---- pod status ------------------------------------------------------- */

static json_t *status_payload(const kpod_t *pod, json_t *status)
{
    json_t *object = json_copy(pod->object);
    json_object_set(object, "status", status);
    return json_pack("{s:o}", "object", object);
}

static void pod_report(kubelet_t *self, kpod_t *pod, int64_t now)
{
    /* Most pods change nothing most ticks: skip building their status. */
    uint64_t version = kl_pod_track_version(&pod->track);
    if (pod->reported && version == pod->reported_version)
        return;
    json_t *status = kl_pod_status_build(&pod->track);
    if (!status || (pod->reported && json_equal(status, pod->reported))) {
        if (status)
            pod->reported_version = version;
        json_decref(status);
        return;
    }
    if (now < self->api_quiet_until_ms) {
        json_decref(status);
        return;
    }
    kl_error_t err;
    json_t *payload = status_payload(pod, status);
    json_t *reply = api_request(self, "api.update_status", payload, &err);
    json_decref(payload);
    if (!reply && err.code == KL_ERR_CONFLICT) {
        /* Someone else wrote the pod: retry on top of the fresh object. */
        payload = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", pod->namespace_name,
                            "name", pod->name);
        json_t *fresh = api_request(self, "api.get", payload, &err);
        json_decref(payload);
        if (fresh) {
            json_decref(pod->object);
            pod->object = fresh;
            pod->resource_version = resource_version_of(fresh);
            payload = status_payload(pod, status);
            reply = api_request(self, "api.update_status", payload, &err);
            json_decref(payload);
        }
    }
    if (reply) {
        if (resource_version_of(reply) >= pod->resource_version) {
            json_decref(pod->object);
            pod->object = json_incref(reply);
            pod->resource_version = resource_version_of(reply);
        }
        json_decref(reply);
        json_decref(pod->reported);
        pod->reported = status;
        pod->reported_version = version;
        return;
    }
    if (err.code == KL_ERR_NOT_FOUND) {
        /* Deleted: the watch brings the DELETED event; stop writing. */
        json_decref(pod->reported);
        pod->reported = status;
        pod->reported_version = version;
        return;
    }
    kl_warn(COMPONENT, "pod %s: status update failed (%s); will retry", pod->key, err.text);
    json_decref(status);
}

static void pod_sync(kubelet_t *self, kpod_t *pod, int64_t now)
{
    if (!pod->valid || pod->inert)
        return;
    for (size_t i = 0; i < pod->track.count; i++) {
        kl_container_track_t *c = &pod->track.containers[i];
        if (c->id[0] && c->phase != KL_CONTAINER_TERMINATED)
            container_poll(self, pod, c, now);
        if (kl_container_start_due(c, &pod->track, now)) {
            container_start(self, pod, i, now);
            if (c->id[0])
                container_poll(self, pod, c, now);
        }
    }
    const char *before = pod->track.phase[0] ? pod->track.phase : "Pending";
    char previous[16];
    snprintf(previous, sizeof previous, "%s", before);
    kl_pod_track_refresh(&pod->track, now);
    if (strcmp(previous, pod->track.phase) != 0)
        kl_info(COMPONENT, "pod %s is %s", pod->key, pod->track.phase);
    pod_report(self, pod, now);
}

/* ---- the pod set ------------------------------------------------------ */

static void kpod_free(kpod_t **pod_p)
{
    kpod_t *pod = *pod_p;
    if (!pod)
        return;
    kl_pod_track_clear(&pod->track);
    json_decref(pod->object);
    json_decref(pod->reported);
    free(pod->key);
    free(pod->namespace_name);
    free(pod->name);
    free(pod->uid);
    free(pod);
    *pod_p = NULL;
}

static void kpod_destructor(void **item)
{
    kpod_free((kpod_t **)item);
}

static void pod_forget(kubelet_t *self, kpod_t *pod, int grace_ms)
{
    kl_info(COMPONENT, "pod %s is gone; removing its containers", pod->key);
    pod_kill(self, pod, grace_ms);
    zhashx_delete(self->pods, pod->key);
}

static void pod_upsert(kubelet_t *self, json_t *object)
{
    json_t *metadata = json_object_get(object, "metadata");
    const char *name = json_string_value(json_object_get(metadata, "name"));
    const char *namespace_name = json_string_value(json_object_get(metadata, "namespace"));
    const char *uid = json_string_value(json_object_get(metadata, "uid"));
    if (!name || !*name) {
        kl_warn(COMPONENT, "ignoring a pod without metadata.name");
        return;
    }
    if (!namespace_name || !*namespace_name)
        namespace_name = "default";
    char key[512];
    snprintf(key, sizeof key, "%s/%s", namespace_name, name);
    kpod_t *pod = zhashx_lookup(self->pods, key);
    if (pod && uid && pod->uid && strcmp(uid, pod->uid) != 0) {
        /* Same name, new pod: the old one was deleted meanwhile. */
        pod_forget(self, pod, (int)pod->grace_ms);
        pod = NULL;
    }
    int64_t resource_version = resource_version_of(object);
    if (pod) {
        pod->generation = self->generation;
        if (resource_version < pod->resource_version)
            return;
        json_decref(pod->object);
        pod->object = json_incref(object);
        pod->resource_version = resource_version;
        return;
    }
    pod = calloc(1, sizeof *pod);
    if (!pod || !(pod->key = strdup(key)) || !(pod->name = strdup(name))
        || !(pod->namespace_name = strdup(namespace_name)) || (uid && !(pod->uid = strdup(uid)))) {
        kl_error_log(COMPONENT, "out of memory taking pod %s", key);
        kpod_free(&pod);
        return;
    }
    pod->object = json_incref(object);
    pod->resource_version = resource_version;
    pod->generation = self->generation;
    json_t *grace = json_object_get(json_object_get(object, "spec"),
                                    "terminationGracePeriodSeconds");
    pod->grace_ms = json_is_integer(grace) && json_integer_value(grace) >= 0
                        ? json_integer_value(grace) * 1000 : DEFAULT_GRACE_MS;
    const char *phase = json_string_value(json_object_get(json_object_get(object, "status"),
                                                          "phase"));
    kl_error_t err;
    if (phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0)) {
        pod->inert = 1;
    } else if (kl_pod_track_init(&pod->track, object, now_ms(), &err) < 0) {
        kl_warn(COMPONENT, "cannot run pod %s: %s", key, err.text);
    } else {
        pod->valid = 1;
        kl_info(COMPONENT, "pod %s assigned; starting %zu container(s)", key, pod->track.count);
    }
    zhashx_insert(self->pods, pod->key, pod);
}

static void on_pod_list(json_t *items, void *arg)
{
    kubelet_t *self = arg;
    self->generation++;
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
        pod_upsert(self, item);
    zlistx_t *gone = zlistx_new();
    for (kpod_t *pod = zhashx_first(self->pods); pod; pod = zhashx_next(self->pods))
        if (pod->generation != self->generation)
            zlistx_add_end(gone, pod);
    for (kpod_t *pod = zlistx_first(gone); pod; pod = zlistx_next(gone))
        pod_forget(self, pod, (int)pod->grace_ms);
    zlistx_destroy(&gone);
}

static void on_pod_event(const char *type, json_t *object, void *arg)
{
    kubelet_t *self = arg;
    if (strcmp(type, "DELETED") != 0) {
        pod_upsert(self, object);
        return;
    }
    json_t *metadata = json_object_get(object, "metadata");
    const char *name = json_string_value(json_object_get(metadata, "name"));
    const char *namespace_name = json_string_value(json_object_get(metadata, "namespace"));
    if (!name)
        return;
    char key[512];
    snprintf(key, sizeof key, "%s/%s", namespace_name && *namespace_name ? namespace_name
                                                                         : "default", name);
    kpod_t *pod = zhashx_lookup(self->pods, key);
    if (pod)
        pod_forget(self, pod, (int)pod->grace_ms);
}

/* ---- the actor -------------------------------------------------------- */

static int kubelet_setup(kubelet_t *self, kl_kubelet_config_t *config, kl_error_t *err)
{
    kl_plugin_t *runtime = config->runtime;
    if (!config->bus_endpoint)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: no bus endpoint configured");
    if (!runtime)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: no runtime plugin configured");
    if (runtime->desc && runtime->desc->kind != KL_KIND_RUNTIME)
        return kl_error_set(err, KL_ERR_INVALID, "plugin %s is not a runtime plugin",
                            runtime->label ? runtime->label : "(unnamed)");
    if (!KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, start)
        || !KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, status))
        return kl_error_set(err, KL_ERR_INVALID, "plugin %s lacks start() or status()",
                            runtime->label ? runtime->label : "(unnamed)");
    if (!KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, stop)
        || !KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, remove))
        return kl_error_set(err, KL_ERR_INVALID, "plugin %s lacks stop() or remove()",
                            runtime->label ? runtime->label : "(unnamed)");
    if (config->node_name && *config->node_name) {
        snprintf(self->node_name, sizeof self->node_name, "%s", config->node_name);
    } else if (gethostname(self->node_name, sizeof self->node_name - 1) < 0
               || !self->node_name[0]) {
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: no node name configured and the host "
                            "name is unknown");
    }
    self->cpu_milli = config->cpu_milli;
    self->memory_bytes = config->memory_bytes;
    if (config->cpu_milli < 0 || config->memory_bytes < 0 || config->max_pods < 0)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: node capacity must not be negative");
    if (self->cpu_milli == 0 || self->memory_bytes == 0) {
        int64_t cpu, memory;
        if (kl_node_capacity_detect(&cpu, &memory, err) < 0)
            return -1;
        if (self->cpu_milli == 0)
            self->cpu_milli = cpu;
        if (self->memory_bytes == 0)
            self->memory_bytes = memory;
    }
    self->max_pods = config->max_pods > 0 ? config->max_pods : KL_NODE_DEFAULT_MAX_PODS;
    self->heartbeat_ms = config->heartbeat_ms > 0 ? config->heartbeat_ms : KL_KUBELET_HEARTBEAT_MS;
    self->sync_ms = config->sync_ms > 0 ? config->sync_ms : KL_KUBELET_SYNC_MS;
    if (kl_plugin_open(runtime, err) < 0)
        return -1;
    self->runtime = runtime->ops;
    self->runtime_state = runtime->state;
    snprintf(self->runtime_version, sizeof self->runtime_version, "%s://%s",
             runtime->desc && runtime->desc->name ? runtime->desc->name : "unknown",
             runtime->desc && runtime->desc->version ? runtime->desc->version : "unknown");
    self->node = kl_node_object_new(self->node_name, config->labels, self->cpu_milli,
                                    self->memory_bytes, self->max_pods, self->runtime_version,
                                    now_ms(), err);
    if (!self->node)
        return -1;
    self->pods = zhashx_new();
    if (!self->pods)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory starting the kubelet");
    zhashx_set_destructor(self->pods, kpod_destructor);
    self->api = kl_bus_client_new(config->bus_endpoint, err);
    if (!self->api)
        return -1;
    char selector[300];
    snprintf(selector, sizeof selector, "spec.nodeName=%s", self->node_name);
    self->watch = kl_list_watch_new(config->bus_endpoint, COMPONENT, "Pod", selector,
                                    on_pod_list, on_pod_event, self, err);
    if (!self->watch)
        return -1;
    self->register_retry_ms = 500;
    return 0;
}

static void kubelet_cleanup(kubelet_t *self)
{
    self->registered = 0;  /* no heartbeats while shutting down */
    if (self->pods && self->runtime) {
        for (kpod_t *pod = zhashx_first(self->pods); pod; pod = zhashx_next(self->pods))
            pod_kill(self, pod, SHUTDOWN_GRACE_MS);
    }
    zhashx_destroy(&self->pods);
    kl_list_watch_destroy(&self->watch);
    kl_bus_client_destroy(&self->api);
    json_decref(self->node);
    self->node = NULL;
}

void kl_kubelet_actor(zsock_t *pipe, void *args)
{
    kl_kubelet_config_t *config = args;
    kubelet_t self;
    memset(&self, 0, sizeof self);
    self.config = config;
    kl_error_clear(&config->error);
    config->failed = 0;
    if (kubelet_setup(&self, config, &config->error) < 0) {
        if (config->error.code == KL_OK)
            kl_error_set(&config->error, KL_ERR_INTERNAL, "kubelet: setup failed");
        config->failed = 1;
        kubelet_cleanup(&self);
        zsock_signal(pipe, 0);
        return;
    }
    zpoller_t *poller = zpoller_new(pipe, kl_list_watch_socket(self.watch), NULL);
    zsock_signal(pipe, 0);
    if (!poller) {
        kl_error_log(COMPONENT, "cannot create a poller; the kubelet is not running");
        kubelet_cleanup(&self);
        return;
    }
    kl_info(COMPONENT, "node %s: %" PRId64 "m cpu, %" PRId64 " bytes memory, %" PRId64
            " pods, runtime %s", self.node_name, self.cpu_milli, self.memory_bytes,
            self.max_pods, self.runtime_version);
    for (;;) {
        int64_t now = now_ms();
        if (!self.registered && now >= self.register_at_ms)
            node_register(&self, now);
        if (self.registered && now >= self.next_heartbeat_ms)
            node_heartbeat(&self, now);
        int64_t wait = kl_list_watch_step(self.watch, now);
        now = now_ms();
        if (now >= self.next_sync_ms) {
            for (kpod_t *pod = zhashx_first(self.pods); pod; pod = zhashx_next(self.pods))
                pod_sync(&self, pod, now);
            self.next_sync_ms = now + self.sync_ms;
        }
        now = now_ms();
        int64_t until = self.next_sync_ms - now;
        if (until < wait)
            wait = until;
        until = (self.registered ? self.next_heartbeat_ms : self.register_at_ms) - now;
        if (until < wait)
            wait = until;
        if (wait < 0)
            wait = 0;
        void *which = zpoller_wait(poller, (int)wait);
        if (which == pipe) {
            char *command = zstr_recv(pipe);
            int stop = !command || strcmp(command, "$TERM") == 0;
            zstr_free(&command);
            if (stop)
                break;
            continue;
        }
        if (zpoller_terminated(poller))
            break;
        kl_list_watch_receive(self.watch, now_ms());
    }
    kl_info(COMPONENT, "stopping; removing the containers of %zu pod(s)",
            zhashx_size(self.pods));
    zpoller_destroy(&poller);
    kubelet_cleanup(&self);
}
