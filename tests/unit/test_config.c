/* Config checking: good files load; each kind of mistake is reported with
 * the file, the line and the key. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "tap.h"

static char path[64];

static kl_config_t *load_text(const char *text, kl_error_t *err)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return kl_config_load(path, err);
}

/* Loads `text`, expects failure whose message contains every needle. */
static void expect_error(const char *text, const char *what, const char *needle1, const char *needle2)
{
    kl_error_t err;
    kl_error_clear(&err);
    kl_config_t *c = load_text(text, &err);
    int good = !c && err.code == KL_ERR_INVALID && strstr(err.text, needle1)
               && (!needle2 || strstr(err.text, needle2));
    ok(good, "%s: %s", what, err.text);
    kl_config_destroy(&c);
}

int main(void)
{
    snprintf(path, sizeof path, "/tmp/keelson-config-test-%d.conf", (int)getpid());
    kl_error_t err;
    kl_config_t *c = load_text(
        "node_name = \"n1\";\n"
        "roles = [\"master\", \"worker\"];\n"
        "log_level = \"debug\";\n"
        "bus = { listen = [\"tcp://127.0.0.1:7400\"]; events = \"tcp://127.0.0.1:7401\"; };\n"
        "store = { plugin = \"memory\"; };\n"
        "events_store = { plugin = \"memory\"; };\n"
        "scheduler = { plugin = \"firstfit\"; node_timeout_ms = 5000; };\n"
        "controllers = ( { plugin = \"a\"; settings = { x = 1; }; } );\n"
        "runtime = { plugin = \"sim\"; settings = { run_ms = 100; }; };\n"
        "kubelet = { cpu = \"4\"; memory = \"8Gi\"; max_pods = 50; labels = [ \"zone=a\", \"keelson.io/role=x\" ];\n"
        "            start_workers = 8; relist_ms = 5000; };\n",
        &err);
    ok(c != NULL, "a full single-machine config loads (%s)", c ? "" : err.text);
    if (c) {
        ok(c->master && c->worker, "both roles");
        is_str(c->node_name, "n1", "node name");
        is_str(c->store.name, "memory", "store plugin");
        is_str(c->events_store.name, "memory", "events store plugin");
        is_int(c->api_workers, 0, "API workers unset: the store decides how many");
        is_str(c->runtime.name, "sim", "runtime plugin");
        is_int(c->node_timeout_ms, 5000, "scheduler node timeout");
        is_int(c->controller_count, 1, "one controller");
        is_int(c->cpu_milli, 4000, "kubelet cpu");
        is_int(c->memory_bytes, 8LL << 30, "kubelet memory");
        is_int(c->max_pods, 50, "max pods");
        is_int(c->start_workers, 8, "kubelet start workers");
        is_int(c->relist_ms, 5000, "kubelet relist period");
        is_str(json_string_value(json_object_get(c->node_labels, "zone")), "a", "node label");
        is_str(json_string_value(json_object_get(c->node_labels, "keelson.io/role")), "x",
               "prefixed label from a key=value list");
        is_str(c->listen[0], "tcp://127.0.0.1:7400", "listen endpoint");
        is_str(c->events[0], "tcp://127.0.0.1:7401", "a single string is a one-item list");
        ok(c->runtime.settings != NULL, "plugin settings group kept for the plugin");
        is_int(c->log_level, KL_LOG_DEBUG, "log level");
        is_int(c->cpu_realtime, 0, "cpu_priority unset: the normal policy");
    }
    kl_config_destroy(&c);

    c = load_text("roles = [\"master\"];\ncpu_priority = \"realtime\";\nstore = { plugin = \"memory\"; };\n"
                  "scheduler = { plugin = \"firstfit\"; };\n", &err);
    ok(c && c->cpu_realtime == 1, "cpu_priority = \"realtime\" is read (%s)", c ? "" : err.text);
    kl_config_destroy(&c);
    expect_error("roles = [\"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\ncpu_priority = \"fast\";\n",
                 "an unknown cpu_priority", ":4:", "cpu_priority \"fast\" is not \"normal\" or \"realtime\"");
    expect_error("roles = [\"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\ncpu_priority = 1;\n",
                 "a cpu_priority that is not a string", ":4:", "cpu_priority");
    expect_error("node_name = \"w\";\nroles = [\"worker\"];\nbus = { master = \"tcp://127.0.0.1:7400\"; };\n"
                 "runtime = { plugin = \"sim\"; };\ncpu_priority = \"realtime\";\n",
                 "cpu_priority on a worker", "cpu_priority", "need the master role");

    c = load_text("node_name = \"w1\";\nroles = \"worker\";\nbus = { master = \"tcp://127.0.0.1:7400\"; };\n"
                  "runtime = { plugin = \"runc\"; };\n", &err);
    ok(c && c->worker && !c->master && strcmp(c->master_endpoint, "tcp://127.0.0.1:7400") == 0,
       "a worker config loads");
    ok(c && c->start_workers == 4, "four start workers by default");

    ok(c && c->sync_ms == 100 && c->relist_ms == 1000,
       "a 100 ms sync tick and a one-second relist by default");
    kl_config_destroy(&c);

    c = load_text("roles = [\"master\"];\nstore = { plugin = \"sqlite\"; };\n"
                  "scheduler = { plugin = \"firstfit\"; };\napiserver = { workers = 3; };\n", &err);
    ok(c && c->master && !c->events_store.name, "no events store unless one is named");
    ok(c && c->api_workers == 3, "apiserver.workers as set");
    kl_config_destroy(&c);

    expect_error("roles = [\"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\nschedular = 1;\n",
                 "unknown top-level key", ":4:", "\"schedular\"");
    expect_error("roles = [\"master\"];\nstore = { plugin = \"memory\"; colour = \"red\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\n",
                 "unknown key in a group", ":2:", "\"colour\"");
    expect_error("roles = [\"master\"];\nstore = { plugin = 5; };\nscheduler = { plugin = \"firstfit\"; };\n",
                 "wrong type", ":2:", "must be a string");
    expect_error("roles = [\"master\"];\nscheduler = { plugin = \"firstfit\"; };\n",
                 "missing store for a master", "needs a \"store\"", NULL);
    expect_error("roles = [\"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "events_store = { settings = {}; };\nscheduler = { plugin = \"firstfit\"; };\n",
                 "events store without a plugin", ":3:", "\"plugin\"");
    expect_error("node_name = \"w\";\nroles = [\"worker\"];\nbus = { master = \"tcp://x:1\"; };\n"
                 "runtime = { plugin = \"sim\"; };\nevents_store = { plugin = \"memory\"; };\n",
                 "events store on a worker", "\"events_store\"", "master role");
    expect_error("roles = [\"master\"];\nstore = { settings = {}; };\nscheduler = { plugin = \"firstfit\"; };\n",
                 "missing plugin name", ":2:", "\"plugin\"");
    expect_error("roles = [\"captain\"];\n", "unknown role", ":1:", "captain");
    expect_error("roles = [\"worker\"];\nruntime = { plugin = \"sim\"; };\nbus = { master = \"tcp://x:1\"; };\n",
                 "worker without node name", "node_name", NULL);
    expect_error("node_name = \"w\";\nroles = [\"worker\"];\nruntime = { plugin = \"sim\"; };\n",
                 "worker without a master endpoint", "bus.master", NULL);
    expect_error("node_name = \"w\";\nroles = [\"worker\", \"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\nruntime = { plugin = \"sim\"; };\n"
                 "kubelet = { memory = \"lots\"; };\n",
                 "bad quantity", ":6:", "lots");
    expect_error("node_name = \"w\";\nroles = [\"worker\", \"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\nruntime = { plugin = \"sim\"; };\n"
                 "kubelet = { max_pods = -3; };\n",
                 "negative max_pods", ":6:", "max_pods");
    expect_error("node_name = \"w\";\nroles = [\"worker\", \"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\nruntime = { plugin = \"sim\"; };\n"
                 "kubelet = { start_workers = 0; };\n",
                 "no start workers", ":6:", "\"start_workers\" must be at least 1, not 0");
    expect_error("node_name = \"w\";\nroles = [\"worker\", \"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\nruntime = { plugin = \"sim\"; };\n"
                 "kubelet = { start_workers = 65; };\n",
                 "too many start workers", ":6:", "kubelet.start_workers must be at most 64, not 65");
    expect_error("node_name = \"w\";\nroles = [\"worker\", \"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\nruntime = { plugin = \"sim\"; };\n"
                 "kubelet = { relist_ms = 0; };\n",
                 "no relist period", ":6:", "\"relist_ms\" must be at least 1, not 0");
    expect_error("node_name = \"w\";\nroles = [\"worker\", \"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\nruntime = { plugin = \"sim\"; };\n"
                 "kubelet = { sync_ms = 7200000; };\n",
                 "a two-hour sync tick", ":6:", "kubelet.sync_ms must be at most 3600000 (an hour), not 7200000");
    expect_error("roles = [\"master\"];\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\napiserver = { cache_objects = 0; };\n",
                 "an empty object cache", ":4:", "\"cache_objects\" must be at least 1, not 0");
    c = load_text("roles = [\"master\"];\nstore = { plugin = \"memory\"; };\n"
                  "scheduler = { plugin = \"firstfit\"; };\napiserver = { cache_objects = 500; };\n", &err);
    ok(c && c->api_cache_objects == 500, "apiserver.cache_objects is read");
    kl_config_destroy(&c);
    c = load_text("roles = [\"master\"];\nstore = { plugin = \"memory\"; };\n"
                  "scheduler = { plugin = \"firstfit\"; };\n", &err);
    ok(c && c->api_cache_objects == 30000, "30,000 cached objects by default");
    kl_config_destroy(&c);
    expect_error("roles = [\"master\"\nstore = {;\n", "syntax error", ":2", NULL);
    expect_error("roles = [\"master\"];\nlog_level = \"loud\";\nstore = { plugin = \"memory\"; };\n"
                 "scheduler = { plugin = \"firstfit\"; };\n",
                 "bad log level", ":2:", "loud");
    expect_error("roles = [\"master\"];\nstore = { plugin = \"memory\"; };\nscheduler = { plugin = \"firstfit\"; };\n"
                 "runtime = { plugin = \"sim\"; };\n",
                 "runtime without the worker role", "worker role", NULL);

    kl_config_t *missing = kl_config_load("/nonexistent/keelson.conf", &err);
    ok(!missing && err.code == KL_ERR_NOT_FOUND && strstr(err.text, "/nonexistent/keelson.conf"),
       "missing file named: %s", err.text);
    unlink(path);
    return done_testing();
}
