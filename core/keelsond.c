/* keelsond: the one daemon. Its config decides which roles it plays (master:
 * broker, API server, scheduler, controllers; worker: kubelet) and which
 * plugin implements each component. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "apiserver.h"
#include "bus.h"
#include "config.h"
#include "controller_host.h"
#include "kubelet.h"
#include "loader.h"
#include "log.h"
#include "scheduler_service.h"
#include "threads.h"

#define LOG "keelsond"
#define INPROC_REQUESTS "inproc://keelson-bus"
#define INPROC_EVENTS "inproc://keelson-events"

typedef struct daemon_state {
    kl_config_t *config;
    kl_plugin_t *store;
    kl_plugin_t **extra_stores;      /* one store instance per extra API server */
    kl_plugin_t *events_store;       /* Events' own store, or NULL */
    kl_plugin_t **extra_events_stores;  /* its instance per extra API server */
    int64_t api_workers;             /* API servers running, the first included */
    kl_apiserver_config_t *extra_api_configs;
    zactor_t **extra_apiservers;
    kl_plugin_t *scheduler_plugin;
    kl_plugin_t *runtime;
    kl_plugin_t **controller_plugins;
    const char **controller_names;
    kl_broker_t *broker;
    kl_apiserver_config_t api_config;
    zactor_t *apiserver;
    kl_scheduler_config_t scheduler_config;
    zactor_t *scheduler;
    kl_controller_host_t **controllers;
    kl_kubelet_config_t kubelet_config;
    zactor_t *kubelet;
} daemon_state_t;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: keelsond [-c FILE] [--check] [--log-level LEVEL]\n"
            "  -c, --config FILE     configuration file (default %s/keelson/keelsond.conf)\n"
            "      --check           load the config and every plugin, open the scheduler and\n"
            "                        controllers to check their settings, then exit\n"
            "  -l, --log-level LEVEL error, warn, info or debug (overrides the config)\n"
            "  -V, --version         print the version\n",
            KL_SYSCONF_DIR);
}

static kl_plugin_t *load_plugin(daemon_state_t *d, kl_plugin_kind_t kind, const kl_plugin_choice_t *choice,
                                const char *bus_endpoint)
{
    kl_error_t err;
    kl_plugin_t *plugin = kl_plugin_load(kind, choice->name, d->config->plugin_path, &err);
    if (!plugin) {
        kl_error_log(LOG, "%s", err.text);
        return NULL;
    }
    if (kl_plugin_configure(plugin, choice->settings, bus_endpoint, d->config->node_name, &err) < 0) {
        kl_error_log(LOG, "%s", err.text);
        kl_plugin_destroy(&plugin);
        return NULL;
    }
    kl_info(LOG, "loaded plugin %s %s from %s", plugin->label, plugin->desc->version, plugin->path);
    return plugin;
}

static int load_plugins(daemon_state_t *d, const char *bus_endpoint)
{
    kl_config_t *c = d->config;
    int failures = 0;
    if (c->master) {
        failures += !(d->store = load_plugin(d, KL_KIND_STORE, &c->store, bus_endpoint));
        if (c->events_store.name)
            failures += !(d->events_store = load_plugin(d, KL_KIND_STORE, &c->events_store, bus_endpoint));
        failures += !(d->scheduler_plugin = load_plugin(d, KL_KIND_SCHEDULER, &c->scheduler, bus_endpoint));
        d->controller_plugins = calloc(c->controller_count + 1, sizeof *d->controller_plugins);
        for (size_t i = 0; i < c->controller_count; i++)
            failures += !(d->controller_plugins[i] =
                              load_plugin(d, KL_KIND_CONTROLLER, &c->controllers[i], bus_endpoint));
    }
    if (c->worker)
        failures += !(d->runtime = load_plugin(d, KL_KIND_RUNTIME, &c->runtime, bus_endpoint));
    return failures ? -1 : 0;
}

/* --check: scheduler and controller plugins check their settings in open()
 * and start nothing there, so they are opened and closed again. Stores and
 * runtimes are not: opening them creates the database or reaches the
 * container daemon. */
static int open_and_close(kl_plugin_t *plugin)
{
    if (!plugin)
        return 0;
    kl_error_t err;
    int failed = kl_plugin_open(plugin, &err) < 0;
    if (failed)
        kl_error_log(LOG, "%s", err.text);
    kl_plugin_close(plugin);
    return failed;
}

static int check_settings(daemon_state_t *d)
{
    int failures = open_and_close(d->scheduler_plugin);
    for (size_t i = 0; d->controller_plugins && i < d->config->controller_count; i++)
        failures += open_and_close(d->controller_plugins[i]);
    return failures;
}

static int start_master(daemon_state_t *d)
{
    kl_config_t *c = d->config;
    const char *requests[34] = {INPROC_REQUESTS};
    const char *events[34] = {INPROC_EVENTS};
    for (size_t i = 0; c->listen && c->listen[i] && i < 32; i++)
        requests[i + 1] = c->listen[i];
    for (size_t i = 0; c->events && c->events[i] && i < 32; i++)
        events[i + 1] = c->events[i];
    kl_error_t err;
    d->broker = kl_broker_new(requests, events, &err);
    if (!d->broker) {
        kl_error_log(LOG, "%s", err.text);
        return -1;
    }
    d->controller_names = calloc(c->controller_count + 1, sizeof *d->controller_names);
    for (size_t i = 0; i < c->controller_count; i++)
        d->controller_names[i] = d->controller_plugins[i]->desc->name;
    d->api_config = (kl_apiserver_config_t){.bus_endpoint = INPROC_REQUESTS, .store = d->store,
                                            .events_store = d->events_store,
                                            .history = (size_t)c->api_history,
                                            .cache_objects = (size_t)c->api_cache_objects,
                                            .controllers = d->controller_names};
    d->api_config.replicas = (int)c->api_workers;
    d->apiserver = zactor_new(kl_apiserver_actor, &d->api_config);
    if (d->api_config.failed) {
        kl_error_log(LOG, "API server: %s", d->api_config.error.text);
        return -1;
    }
    /* Replicas of the API service on a shared store: the broker hands
     * requests to them in turn, and each follows the store's change feed. */
    d->api_workers = c->api_workers ? c->api_workers : 1;
    if (d->api_workers > 1)
        kl_info(LOG, "running %lld API servers on the shared store", (long long)d->api_workers);
    d->extra_stores = calloc((size_t)d->api_workers, sizeof *d->extra_stores);
    d->extra_events_stores = calloc((size_t)d->api_workers, sizeof *d->extra_events_stores);
    d->extra_api_configs = calloc((size_t)d->api_workers, sizeof *d->extra_api_configs);
    d->extra_apiservers = calloc((size_t)d->api_workers, sizeof *d->extra_apiservers);
    for (int64_t i = 1; i < d->api_workers; i++) {
        if (!(d->extra_stores[i - 1] = load_plugin(d, KL_KIND_STORE, &c->store, INPROC_REQUESTS)))
            return -1;
        if (c->events_store.name
            && !(d->extra_events_stores[i - 1] = load_plugin(d, KL_KIND_STORE, &c->events_store,
                                                             INPROC_REQUESTS)))
            return -1;
        kl_apiserver_config_t *config = &d->extra_api_configs[i - 1];
        *config = d->api_config;
        config->replicas = (int)d->api_workers;
        config->store = d->extra_stores[i - 1];
        config->events_store = d->extra_events_stores[i - 1];
        d->extra_apiservers[i - 1] = zactor_new(kl_apiserver_actor, config);
        if (config->failed) {
            kl_error_log(LOG, "API server %lld: %s", (long long)i + 1, config->error.text);
            return -1;
        }
    }
    d->scheduler_config = (kl_scheduler_config_t){.bus_endpoint = INPROC_REQUESTS,
                                                  .plugin = d->scheduler_plugin,
                                                  .node_timeout_ms = c->node_timeout_ms};
    d->scheduler = zactor_new(kl_scheduler_actor, &d->scheduler_config);
    if (d->scheduler_config.failed) {
        kl_error_log(LOG, "scheduler: %s", d->scheduler_config.error.text);
        return -1;
    }
    d->controllers = calloc(c->controller_count + 1, sizeof *d->controllers);
    for (size_t i = 0; i < c->controller_count; i++) {
        d->controllers[i] = kl_controller_host_new(d->controller_plugins[i], &err);
        if (!d->controllers[i]) {
            kl_error_log(LOG, "%s", err.text);
            return -1;
        }
    }
    for (size_t i = 0; c->listen && c->listen[i]; i++)
        kl_info(LOG, "serving the bus on %s", c->listen[i]);
    return 0;
}

static int start_worker(daemon_state_t *d, const char *bus_endpoint)
{
    kl_config_t *c = d->config;
    d->kubelet_config = (kl_kubelet_config_t){
        .bus_endpoint = bus_endpoint, .runtime = d->runtime, .node_name = c->node_name,
        .cpu_milli = c->cpu_milli, .memory_bytes = c->memory_bytes, .max_pods = c->max_pods,
        .labels = c->node_labels, .heartbeat_ms = (int)c->heartbeat_ms, .sync_ms = (int)c->sync_ms,
        .relist_ms = (int)c->relist_ms,
        .node_count = (int)c->node_count, .start_workers = (int)c->start_workers};
    d->kubelet = zactor_new(kl_kubelet_actor, &d->kubelet_config);
    if (d->kubelet_config.failed) {
        kl_error_log(LOG, "kubelet: %s", d->kubelet_config.error.text);
        return -1;
    }
    return 0;
}

/* Stops components in the reverse order of their start, so nothing talks
 * to a component that is already gone. */
static void stop_all(daemon_state_t *d)
{
    zactor_destroy(&d->kubelet);
    for (size_t i = 0; d->controllers && d->controllers[i]; i++)
        kl_controller_host_destroy(&d->controllers[i]);
    free(d->controllers);
    zactor_destroy(&d->scheduler);
    for (int64_t i = 1; d->extra_apiservers && i < d->api_workers; i++)
        zactor_destroy(&d->extra_apiservers[i - 1]);
    free(d->extra_apiservers);
    free(d->extra_api_configs);
    zactor_destroy(&d->apiserver);
    kl_broker_destroy(&d->broker);
    kl_plugin_destroy(&d->runtime);
    for (size_t i = 0; d->controller_plugins && i < d->config->controller_count; i++)
        kl_plugin_destroy(&d->controller_plugins[i]);
    free(d->controller_plugins);
    free(d->controller_names);
    kl_plugin_destroy(&d->scheduler_plugin);
    for (int64_t i = 1; d->extra_stores && i < d->api_workers; i++)
        kl_plugin_destroy(&d->extra_stores[i - 1]);
    free(d->extra_stores);
    for (int64_t i = 1; d->extra_events_stores && i < d->api_workers; i++)
        kl_plugin_destroy(&d->extra_events_stores[i - 1]);
    free(d->extra_events_stores);
    kl_plugin_destroy(&d->events_store);
    kl_plugin_destroy(&d->store);
    kl_config_destroy(&d->config);
}

int main(int argc, char **argv)
{
    const char *config_path = KL_SYSCONF_DIR "/keelson/keelsond.conf";
    const char *log_level = NULL;
    int check_only = 0;
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, 'l'}, {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "c:l:Vh", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'k': check_only = 1; break;
        case 'l': log_level = optarg; break;
        case 'V': printf("keelsond %s\n", KL_VERSION_STRING); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "keelsond: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    /* Signals are taken by sigwait() below, not by czmq's handler. */
    zsys_handler_set(NULL);
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    kl_error_t err;
    daemon_state_t d = {0};
    d.config = kl_config_load(config_path, &err);
    if (!d.config) {
        fprintf(stderr, "keelsond: %s\n", err.text);
        return 1;
    }
    kl_log_set_level(d.config->log_level);
    if (log_level) {
        kl_log_level_t level;
        if (kl_log_level_parse(log_level, &level) < 0) {
            fprintf(stderr, "keelsond: log level \"%s\" is not error, warn, info or debug\n", log_level);
            kl_config_destroy(&d.config);
            return 2;
        }
        kl_log_set_level(level);
    }
    /* Before the first bus socket, which starts the bus's I/O threads. */
    if (d.config->cpu_realtime && kl_threads_use_realtime(&err) < 0)
        kl_warn(LOG, "%s; running at the normal priority", err.text);
    const char *bus_endpoint = d.config->master ? INPROC_REQUESTS : d.config->master_endpoint;
    if (load_plugins(&d, bus_endpoint) < 0) {
        kl_error_log(LOG, "refusing to start: fix the plugin errors above");
        stop_all(&d);
        return 1;
    }
    if (check_only) {
        int failures = check_settings(&d);
        if (failures == 0)
            printf("%s: configuration and plugins OK\n", config_path);
        stop_all(&d);
        return failures ? 1 : 0;
    }
    if ((d.config->master && start_master(&d) < 0)
        || (d.config->worker && start_worker(&d, bus_endpoint) < 0)) {
        stop_all(&d);
        return 1;
    }
    kl_info(LOG, "keelsond %s ready (%s%s%s)", KL_VERSION_STRING, d.config->master ? "master" : "",
            d.config->master && d.config->worker ? "+" : "", d.config->worker ? "worker" : "");
    int sig = 0;
    sigwait(&signals, &sig);
    kl_info(LOG, "signal %d: shutting down", sig);
    stop_all(&d);
    zsys_shutdown();
    return 0;
}
