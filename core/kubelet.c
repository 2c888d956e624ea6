/* The kubelet actor: setup, the poll loop and teardown. Containers live in
 * kubelet_pods.c, the pod set and adoption in kubelet_pod_set.c, the logs
 * service in kubelet_logs.c, nodes in kubelet_nodes.c, status writes in
 * kubelet_report.c, pod rules in pod_status.c. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "kubelet.h"
#include "kubelet_events.h"
#include "kubelet_service.h"
#include "list_watch.h"
#include "log.h"
#include "node_info.h"
#include "objects.h"
#include "pod_status.h"
#include "threads.h"

#include "kubelet_internal.h"

/* A request that failed because the API is out of reach quiets status
 * writes for a moment, so hundreds of pods do not each wait for a timeout. */
json_t *kl_kubelet_api_request(kubelet_t *self, const char *method, json_t *payload, kl_error_t *err)
{
    json_t *reply = kl_bus_request(self->api, method, payload, API_TIMEOUT_MS, err);
    if (!reply && (err->code == KL_ERR_TIMEOUT || err->code == KL_ERR_UNAVAILABLE))
        self->api_quiet_until_ms = now_ms() + API_QUIET_MS;
    return reply;
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
    if (config->node_count < 0 || config->node_count > 100000)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: node_count %d is not between 1 and "
                            "100000", config->node_count);
    if (config->start_workers < 0 || config->start_workers > KL_KUBELET_START_WORKERS_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: start_workers %d is not between 1 "
                            "and %d", config->start_workers, KL_KUBELET_START_WORKERS_MAX);
    self->plugin = runtime;
    self->has_pull = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, pull);
    self->has_list = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, list);
    self->has_logs = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, logs);
    self->has_kill = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, kill);
    if (config->node_name && *config->node_name) {
        snprintf(self->node_name, sizeof self->node_name, "%s", config->node_name);
    } else if (gethostname(self->node_name, sizeof self->node_name - 1) < 0
               || !self->node_name[0]) {
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: no node name configured and the host "
                            "name is unknown");
    }
    kl_kubelet_service_name(self->node_name, self->service_name, sizeof self->service_name);
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
    self->relist_ms = config->relist_ms > 0 ? config->relist_ms : KL_KUBELET_RELIST_MS;
    if (config->lease_duration_s < 0)
        return kl_error_set(err, KL_ERR_INVALID, "kubelet: lease duration %d s must be positive",
                            config->lease_duration_s);
    self->lease_duration_s = config->lease_duration_s > 0 ? config->lease_duration_s
                                                          : KL_KUBELET_LEASE_DURATION_S;
    snprintf(self->runtime_version, sizeof self->runtime_version, "%s://%s",
             runtime->desc && runtime->desc->name ? runtime->desc->name : "unknown",
             runtime->desc && runtime->desc->version ? runtime->desc->version : "unknown");
    self->pods = zhashx_new();
    self->terminating = zlistx_new();
    self->urgent = zlistx_new();
    self->status_requests = zhashx_new();
    if (!self->pods || !self->terminating || !self->urgent || !self->status_requests)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory starting the kubelet");
    zhashx_set_destructor(self->pods, kl_kubelet_pod_destructor);
    zlistx_set_destructor(self->terminating, kl_kubelet_free_destructor);
    zlistx_set_destructor(self->urgent, kl_kubelet_free_destructor);
    zhashx_set_destructor(self->status_requests, kl_kubelet_status_req_destructor);
    if (kl_kubelet_nodes_setup(self, config, err) < 0)
        return -1;
    if (kl_plugin_open(runtime, err) < 0)
        return -1;
    self->runtime = runtime->ops;
    self->runtime_state = runtime->state;
    self->events_fd = -1;
    if (KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, events_fd)
        && KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, events_read))
        self->events_fd = self->runtime->events_fd(self->runtime_state);
    uint32_t features = KL_PLUGIN_HAS(runtime, kl_runtime_ops_t, features)
                        ? self->runtime->features(self->runtime_state) : 0;
    if (features & KL_RUNTIME_CONCURRENT_STARTS) {
        self->start_workers = config->start_workers > 0 ? (size_t)config->start_workers
                                                        : KL_KUBELET_START_WORKERS;
        self->starts = kl_start_pool_new(self->runtime, self->runtime_state,
                                         self->start_workers, err);
        if (!self->starts)
            return -1;
        self->starts_fd = kl_start_pool_fd(self->starts);
    }
    if (self->has_list) {
        self->found = zlistx_new();
        if (!self->found)
            return kl_error_set(err, KL_ERR_INTERNAL, "out of memory starting the kubelet");
        zlistx_set_destructor(self->found, kl_kubelet_found_destructor);
        if (self->runtime->list(self->runtime_state, kl_kubelet_on_container_found, self,
                                  err) < 0) {
            kl_warn(COMPONENT, "cannot list the containers runtime %s holds (%s); adopting "
                    "none", runtime->label ? runtime->label : "", err->text);
            zlistx_purge(self->found);
            kl_error_clear(err);
        }
    }
    self->api = kl_bus_client_new(config->bus_endpoint, err);
    if (!self->api)
        return -1;
    self->node_api = kl_bus_client_new(config->bus_endpoint, err);
    if (!self->node_api)
        return -1;
    self->events = kl_kubelet_events_new(self->node_api, self->node_name);
    if (!self->events)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the kubelet's events");
    self->service = kl_kubelet_service_new(config->bus_endpoint, self->service_name, err);
    if (!self->service)
        return -1;
    self->next_hello_ms = now_ms() + SERVICE_HELLO_MS;
    /* The API filters for us: one node by equality, several by a set, so
     * the master never sends this process pods bound to other workers. */
    size_t selector_size = 64;
    for (size_t i = 0; i < self->node_count; i++)
        selector_size += strlen(self->nodes[i].name) + 1;
    char *selector = malloc(selector_size);
    if (!selector)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the pod selector");
    if (self->node_count == 1) {
        snprintf(selector, selector_size, "spec.nodeName=%s", self->nodes[0].name);
    } else {
        size_t used = (size_t)snprintf(selector, selector_size, "spec.nodeName in (");
        for (size_t i = 0; i < self->node_count; i++)
            used += (size_t)snprintf(selector + used, selector_size - used, "%s%s", i ? "," : "",
                                     self->nodes[i].name);
        snprintf(selector + used, selector_size - used, ")");
    }
    self->watch = kl_list_watch_new(config->bus_endpoint, COMPONENT, "Pod", selector,
                                    kl_kubelet_on_pod_list, kl_kubelet_on_pod_event, self, err);
    free(selector);
    if (!self->watch)
        return -1;
    return 0;
}

static void kubelet_cleanup(kubelet_t *self)
{
    if (self->starts) {
        /* Starts under way finish; what they started is then tracked, and
         * so stopped below or left for adoption like the rest, or removed
         * when its pod is gone. */
        kl_start_pool_stop(self->starts);
        kl_kubelet_start_results_take(self, 1);
        kl_start_pool_destroy(&self->starts);
    }
    if (self->pods && self->runtime) {
        /* A runtime that can list() lets the next kubelet adopt what runs;
         * without it nobody could find these containers again. */
        if (!self->has_list)
            for (kpod_t *pod = zhashx_first(self->pods); pod; pod = zhashx_next(self->pods))
                kl_kubelet_pod_kill(self, pod, SHUTDOWN_GRACE_MS);
        for (kterm_t *term = zlistx_first(self->terminating); term;
             term = zlistx_next(self->terminating)) {
            kl_error_t err;
            if (self->runtime->kill(self->runtime_state, term->id, SIGKILL, &err) < 0)
                kl_debug(COMPONENT, "%s: SIGKILL: %s", term->what, err.text);
            kl_kubelet_container_remove(self, term->what, term->id);
        }
    }
    zhashx_destroy(&self->pods);
    zlistx_destroy(&self->terminating);
    zlistx_destroy(&self->urgent);
    zhashx_destroy(&self->status_requests);
    zlistx_destroy(&self->found);
    kl_list_watch_destroy(&self->watch);
    kl_kubelet_service_destroy(&self->service);
    kl_kubelet_events_destroy(&self->events);
    kl_bus_client_destroy(&self->api);
    kl_bus_client_destroy(&self->node_api);
    zhashx_destroy(&self->node_by_name);
    zhashx_destroy(&self->node_requests);
    zhashx_destroy(&self->lease_requests);
    for (size_t i = 0; self->nodes && i < self->node_count; i++) {
        free(self->nodes[i].name);
        json_decref(self->nodes[i].object);
    }
    free(self->nodes);
    self->nodes = NULL;
}

void kl_kubelet_actor(zsock_t *pipe, void *args)
{
    kl_thread_begin("kl-kubelet", KL_THREAD_PLAIN);
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
    zpoller_t *poller = zpoller_new(pipe, kl_list_watch_socket(self.watch),
                                    kl_bus_client_socket(self.node_api),
                                    kl_kubelet_service_socket(self.service), NULL);
    if (poller && self.events_fd >= 0 && zpoller_add(poller, &self.events_fd) < 0) {
        kl_warn(COMPONENT, "cannot poll the runtime's exit notifications; exits are seen on "
                "the sync tick");
        self.events_fd = -1;
    }
    if (poller && self.starts && zpoller_add(poller, &self.starts_fd) < 0) {
        kl_warn(COMPONENT, "cannot poll the start workers; containers start on the kubelet's "
                "thread");
        kl_start_pool_destroy(&self.starts);
    }
    zsock_signal(pipe, 0);
    if (!poller) {
        kl_error_log(COMPONENT, "cannot create a poller; the kubelet is not running");
        kubelet_cleanup(&self);
        return;
    }
    char parallel[32] = "no";
    if (self.starts)
        snprintf(parallel, sizeof parallel, "%zu", self.start_workers);
    kl_info(COMPONENT, "%zu node(s) %s%s: %" PRId64 "m cpu, %" PRId64 " bytes memory, %" PRId64
            " pods each, runtime %s (pull %s, list %s, logs %s, kill %s, events %s, parallel "
            "starts %s), service %s",
            self.node_count, self.nodes[0].name, self.node_count > 1 ? ".." : "",
            self.cpu_milli, self.memory_bytes, self.max_pods, self.runtime_version,
            self.has_pull ? "yes" : "no", self.has_list ? "yes" : "no",
            self.has_logs ? "yes" : "no", self.has_kill ? "yes" : "no",
            self.events_fd >= 0 ? "yes" : "no", parallel, self.service_name);
    for (;;) {
        int64_t now = now_ms();
        kl_kubelet_nodes_receive(&self);
        int64_t wait = kl_kubelet_nodes_step(&self, now);
        int64_t watch_wait = kl_list_watch_step(self.watch, now);
        if (watch_wait < wait)
            wait = watch_wait;
        now = now_ms();
        if (now >= self.next_sync_ms) {
            for (kpod_t *pod = zhashx_first(self.pods); pod; pod = zhashx_next(self.pods))
                kl_kubelet_pod_sync(&self, pod, now, 0);
            if (zlistx_size(self.terminating) > 0)
                kl_kubelet_terminating_step(&self, now);
            kl_kubelet_status_expire(&self, now);
            self.next_sync_ms = now + self.sync_ms;
        }
        kl_kubelet_urgent_step(&self, now);
        if (now >= self.next_hello_ms) {
            kl_kubelet_service_hello(self.service);
            self.next_hello_ms = now + SERVICE_HELLO_MS;
        }
        kl_kubelet_service_drain(self.service, 100, kl_kubelet_serve_request, &self);
        now = now_ms();
        kl_kubelet_events_step(self.events, now);
        int64_t until = self.next_sync_ms - now;
        if (until < wait)
            wait = until;
        if (zlistx_size(self.urgent) > 0
            && zhashx_size(self.status_requests) < STATUS_IN_FLIGHT_MAX)
            wait = 0;
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
        if (which == kl_list_watch_socket(self.watch))
            kl_list_watch_receive(self.watch, now_ms());
        else if (which == &self.events_fd)
            kl_kubelet_runtime_events_read(&self);
        else if (self.starts && which == &self.starts_fd)
            kl_kubelet_start_results_take(&self, 0);
    }
    kl_info(COMPONENT, "stopping; %s the containers of %zu pod(s)",
            self.has_list ? "leaving (for the next kubelet to adopt)" : "removing",
            zhashx_size(self.pods));
    zpoller_destroy(&poller);
    kubelet_cleanup(&self);
}
