/* keelson-runtime-conformance: loads any runtime plugin by path, configures
 * it from an optional libconfig file and checks it against the runtime ABI
 * with real containers, as TAP. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime_conformance.h"

int64_t kl_rconf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kl_rconf_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

const char *kl_rconf_state_name(kl_container_state_t state)
{
    switch (state) {
    case KL_CONTAINER_CREATED: return "CREATED";
    case KL_CONTAINER_RUNNING: return "RUNNING";
    case KL_CONTAINER_EXITED: return "EXITED";
    default: return "UNKNOWN";
    }
}

int kl_rconf_open(kl_rconf_t *c, kl_error_t *err)
{
    kl_plugin_t *p = kl_plugin_load(KL_KIND_RUNTIME, c->plugin_path, NULL, err);
    if (!p)
        return -1;
    if (kl_plugin_configure(p, c->settings, NULL, NULL, err) < 0 || kl_plugin_open(p, err) < 0) {
        kl_plugin_destroy(&p);
        return -1;
    }
    c->plugin = p;
    c->ops = p->ops;
    c->rt = p->state;
    return 0;
}

void kl_rconf_close(kl_rconf_t *c)
{
    kl_plugin_destroy(&c->plugin);
    c->ops = NULL;
    c->rt = NULL;
}

int kl_rconf_skipped(const kl_rconf_t *c, const char *name)
{
    size_t length = strlen(name);
    for (const char *p = c->skip; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == length && strncmp(p, name, n) == 0)
            return 1;
        p = end ? end + 1 : p + n;
    }
    return 0;
}

int kl_rconf_begin(kl_rconf_t *c, const char *name, const char *const *needs)
{
    c->group++;
    snprintf(c->group_name, sizeof c->group_name, "%s", name);
    kl_tap_diag("---- %s", name);
    if (kl_rconf_skipped(c, name)) {
        kl_tap_skip("%s: skipped on request (--skip)", name);
        return 0;
    }
    for (size_t i = 0; needs && needs[i]; i++) {
        int has = 1;
        const char *what = needs[i];
        if (strcmp(needs[i], "pull") == 0)
            has = KL_RCONF_HAS(c, pull);
        else if (strcmp(needs[i], "list") == 0)
            has = KL_RCONF_HAS(c, list);
        else if (strcmp(needs[i], "logs") == 0)
            has = KL_RCONF_HAS(c, logs);
        else if (strcmp(needs[i], "kill") == 0)
            has = KL_RCONF_HAS(c, kill);
        else if (strcmp(needs[i], "events") == 0) {
            has = KL_RCONF_HAS(c, events_read) && KL_RCONF_HAS(c, events_fd);
            what = "events_fd() or events_read";
        } else if (strcmp(needs[i], "concurrent") == 0) {
            if (!KL_RCONF_HAS(c, features) || !(c->ops->features(c->rt) & KL_RUNTIME_CONCURRENT_STARTS)) {
                kl_tap_skip("%s: the runtime does not declare KL_RUNTIME_CONCURRENT_STARTS (runtime ABI %u.%u)",
                            name, c->plugin->desc->abi_major, c->plugin->desc->abi_minor);
                return 0;
            }
        }
        if (!has) {
            kl_tap_skip("%s: the plugin has no %s() (runtime ABI %u.%u)", name, what,
                        c->plugin->desc->abi_major, c->plugin->desc->abi_minor);
            return 0;
        }
    }
    return 1;
}

static void forget(kl_rconf_t *c, const char *id)
{
    for (size_t i = 0; i < c->id_count; i++)
        if (strcmp(c->ids[i], id) == 0) {
            memmove(&c->ids[i], &c->ids[i + 1], (c->id_count - i - 1) * sizeof c->ids[0]);
            c->id_count--;
            return;
        }
}

int kl_rconf_remove(kl_rconf_t *c, const char *id, kl_error_t *err)
{
    char copy[KL_CONTAINER_ID_MAX];
    snprintf(copy, sizeof copy, "%s", id);
    kl_error_clear(err);
    int rc = c->ops->remove(c->rt, copy, err);
    if (rc == 0 || err->code == KL_ERR_NOT_FOUND)
        forget(c, copy);
    return rc;
}

void kl_rconf_end(kl_rconf_t *c)
{
    while (c->id_count > 0) {
        char id[KL_CONTAINER_ID_MAX];
        kl_error_t err;
        snprintf(id, sizeof id, "%s", c->ids[c->id_count - 1]);
        if (kl_rconf_remove(c, id, &err) < 0) {
            kl_tap_diag("cleaning up container %s: %s", id, err.text);
            forget(c, id);
        }
    }
}

void kl_rconf_pod_name(const kl_rconf_t *c, const char *name, char *out, size_t size)
{
    snprintf(out, size, "conformance-%s-%s-%s", c->run_tag, c->group_name, name);
}

void kl_rconf_pod_uid(const kl_rconf_t *c, const char *name, char *out, size_t size)
{
    /* Distinct in the first characters too: runtimes shorten uids. */
    unsigned hash = 2166136261u;
    for (const char *p = name; *p; p++)
        hash = (hash ^ (unsigned char)*p) * 16777619u;
    snprintf(out, size, "%08x-%s-%02d-%s", hash ^ (unsigned)c->group, c->run_tag, c->group, name);
}

static json_t *string_array(const char *const *items)
{
    json_t *array = json_array();
    for (size_t i = 0; items && items[i]; i++)
        json_array_append_new(array, json_string(items[i]));
    return array;
}

json_t *kl_rconf_pod(const kl_rconf_t *c, const char *name, const kl_rconf_spec_t *spec)
{
    char pod_name[256], pod_uid[256], text[32];
    kl_rconf_pod_name(c, name, pod_name, sizeof pod_name);
    kl_rconf_pod_uid(c, name, pod_uid, sizeof pod_uid);
    json_t *container = json_pack("{s:s, s:s}", "name", name, "image", c->image);
    if (spec->command)
        json_object_set_new(container, "command", string_array(spec->command));
    if (spec->args)
        json_object_set_new(container, "args", string_array(spec->args));
    if (spec->env) {
        json_t *env = json_array();
        for (size_t i = 0; spec->env[i]; i++) {
            const char *eq = strchr(spec->env[i], '=');
            json_array_append_new(env, json_pack("{s:s%, s:s}", "name", spec->env[i],
                                                 (size_t)(eq ? eq - spec->env[i] : 0), "value", eq ? eq + 1 : ""));
        }
        json_object_set_new(container, "env", env);
    }
    if (spec->memory_limit)
        json_object_set_new(container, "resources",
                            json_pack("{s:{s:s}}", "limits", "memory", spec->memory_limit));
    /* Hints for the sim runtime, which runs nothing; real runtimes ignore them. */
    json_t *annotations = json_object();
    snprintf(text, sizeof text, "%ld", spec->sim_run_ms < 0 ? 0L : spec->sim_run_ms);
    json_object_set_new(annotations, "sim.keelson.io/run-ms", json_string(text));
    snprintf(text, sizeof text, "%d", spec->sim_exit_code);
    json_object_set_new(annotations, "sim.keelson.io/exit-code", json_string(text));
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:o}, s:{s:s, s:[o]}}", "apiVersion", "v1", "kind", "Pod",
                     "metadata", "name", pod_name, "namespace", "conformance", "uid", pod_uid,
                     "annotations", annotations, "spec", "restartPolicy", "Never", "containers", container);
}

kl_container_request_t kl_rconf_request(const json_t *pod)
{
    const json_t *metadata = json_object_get(pod, "metadata");
    const json_t *container = json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0);
    kl_container_request_t request = {
        .pod_namespace = json_string_value(json_object_get(metadata, "namespace")),
        .pod_name = json_string_value(json_object_get(metadata, "name")),
        .pod_uid = json_string_value(json_object_get(metadata, "uid")),
        .container_name = json_string_value(json_object_get(container, "name")),
        .container = container,
        .pod = pod,
    };
    return request;
}

int kl_rconf_start(kl_rconf_t *c, const char *name, const kl_rconf_spec_t *spec, char id[KL_CONTAINER_ID_MAX],
                   kl_error_t *err)
{
    json_t *pod = kl_rconf_pod(c, name, spec);
    if (!pod)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory");
    kl_container_request_t request = kl_rconf_request(pod);
    char new_id[KL_CONTAINER_ID_MAX] = "";
    kl_error_clear(err);
    int rc = c->ops->start(c->rt, &request, new_id, err);
    json_decref(pod);
    if (rc < 0)
        return rc;
    if (kl_rconf_track(c, new_id, err) < 0)
        return -1;
    memcpy(id, new_id, sizeof new_id);
    return 0;
}

int kl_rconf_track(kl_rconf_t *c, const char *new_id, kl_error_t *err)
{
    if (c->id_count == c->id_cap) {
        size_t cap = c->id_cap ? c->id_cap * 2 : 16;
        void *bigger = realloc(c->ids, cap * sizeof c->ids[0]);
        if (!bigger) {
            kl_error_t ignored;
            c->ops->remove(c->rt, new_id, &ignored);
            return kl_error_set(err, KL_ERR_INTERNAL, "out of memory");
        }
        c->ids = bigger;
        c->id_cap = cap;
    }
    snprintf(c->ids[c->id_count++], KL_CONTAINER_ID_MAX, "%s", new_id);
    /* A wrapper may look for what the runtime left of each one after the run. */
    kl_tap_diag("started container %s", new_id);
    return 0;
}

int kl_rconf_wait(kl_rconf_t *c, const char *id, int running, int timeout_ms, kl_container_status_t *status)
{
    int64_t deadline = kl_rconf_now_ms() + timeout_ms;
    for (;;) {
        kl_error_t err;
        kl_error_clear(&err);
        memset(status, 0, sizeof *status);
        if (c->ops->status(c->rt, id, status, &err) < 0) {
            kl_tap_diag("  status of %s failed: %s", id, err.text);
            return -1;
        }
        if (status->state == KL_CONTAINER_EXITED || (running && status->state == KL_CONTAINER_RUNNING))
            return running ? (status->state == KL_CONTAINER_RUNNING ? 0 : -1) : 0;
        if (kl_rconf_now_ms() >= deadline) {
            kl_tap_diag("  container %s still %s after %d ms", id, kl_rconf_state_name(status->state), timeout_ms);
            return -1;
        }
        kl_rconf_sleep_ms(50);
    }
}

int kl_rconf_logs(kl_rconf_t *c, const char *id, size_t chunk, char *out, size_t size, kl_error_t *err)
{
    size_t used = 0;
    out[0] = '\0';
    while (used + 1 < size) {
        size_t want = size - 1 - used < chunk ? size - 1 - used : chunk, got = 0;
        kl_error_clear(err);
        if (c->ops->logs(c->rt, id, (int64_t)used, out + used, want, &got, err) < 0)
            return -1;
        if (got > want)
            return kl_error_set(err, KL_ERR_INTERNAL, "logs() reported %zu bytes for a %zu-byte buffer", got, want);
        if (got == 0)
            break;
        used += got;
    }
    out[used] = '\0';
    return 0;
}

int kl_rconf_wait_ready(kl_rconf_t *c, const char *id, const char *text, int timeout_ms)
{
    kl_container_status_t status;
    if (kl_rconf_wait(c, id, 1, timeout_ms, &status) < 0)
        return 0;
    if (!KL_RCONF_HAS(c, logs) || kl_rconf_skipped(c, "logs")) {
        kl_rconf_sleep_ms(1000);  /* no way to see the trap installed: give it time */
        return 0;
    }
    int64_t deadline = kl_rconf_now_ms() + timeout_ms;
    char log[4096];
    kl_error_t err;
    while (kl_rconf_now_ms() < deadline) {
        if (kl_rconf_logs(c, id, sizeof log, log, sizeof log, &err) == 0 && strstr(log, text))
            return 1;
        kl_rconf_sleep_ms(50);
    }
    kl_tap_diag("  container %s never printed \"%s\"", id, text);
    return 0;
}

static int usage(FILE *out)
{
    fprintf(out,
            "usage: keelson-runtime-conformance PLUGIN.so [CONFIG] [--image REF] [--skip GROUP,...]\n"
            "Checks a keelson runtime plugin against the runtime ABI with real containers and prints TAP.\n"
            "CONFIG is a libconfig file whose top-level `settings` group configures the plugin.\n"
            "REF is an image with /bin/sh, sleep, head, tail, echo and trap (a busybox), e.g.\n"
            "127.0.0.1:5000/busybox:1.35; the pull group also asks for REPOSITORY:keelson-absent-tag\n"
            "and REGISTRY/keelson-absent-image:1, which must not exist.\n"
            "Groups: complete exit-code env-args logs oom stop grace kill adoption pull many parallel remove events\n");
    return out == stdout ? 0 : 2;
}

static int load_config(kl_rconf_t *c)
{
    config_init(&c->config);
    if (!c->config_path)
        return 0;
    if (!config_read_file(&c->config, c->config_path)) {
        if (config_error_type(&c->config) == CONFIG_ERR_FILE_IO)
            printf("Bail out! cannot read config file %s: %s\n", c->config_path, strerror(errno));
        else
            printf("Bail out! %s:%d: %s\n",
                   config_error_file(&c->config) ? config_error_file(&c->config) : c->config_path,
                   config_error_line(&c->config), config_error_text(&c->config));
        return -1;
    }
    for (int i = 0; i < config_setting_length(config_root_setting(&c->config)); i++) {
        const config_setting_t *s = config_setting_get_elem(config_root_setting(&c->config), (unsigned)i);
        if (strcmp(config_setting_name(s), "settings") != 0) {
            printf("Bail out! %s:%u: unknown top-level setting \"%s\" (only `settings` is read)\n", c->config_path,
                   config_setting_source_line(s), config_setting_name(s));
            return -1;
        }
        if (!config_setting_is_group(s)) {
            printf("Bail out! %s:%u: `settings` must be a group, e.g. settings = { state_dir = \"/run/x\"; };\n",
                   c->config_path, config_setting_source_line(s));
            return -1;
        }
        c->settings = s;
    }
    return 0;
}

int main(int argc, char **argv)
{
    kl_rconf_t c;
    memset(&c, 0, sizeof c);
    const char *positional[2] = { NULL, NULL };
    int count = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage(stdout);
        if ((strcmp(argv[i], "--image") == 0 || strcmp(argv[i], "--skip") == 0) && i + 1 < argc) {
            if (argv[i][2] == 'i')
                c.image = argv[++i];
            else
                c.skip = argv[++i];
        } else if (argv[i][0] == '-' || count == 2) {
            return usage(stderr);
        } else {
            positional[count++] = argv[i];
        }
    }
    if (count < 1)
        return usage(stderr);
    if (!c.image)
        c.image = getenv("KEELSON_CONFORMANCE_IMAGE");
    if (!c.image || !c.image[0]) {
        printf("Bail out! no image: pass --image REGISTRY/busybox:TAG (or set KEELSON_CONFORMANCE_IMAGE)\n");
        return 2;
    }
    /* A bare file name would be searched for by plugin name; the suite tests
     * exactly the file it was given. */
    char path[4096];
    snprintf(path, sizeof path, "%s%s", strchr(positional[0], '/') ? "" : "./", positional[0]);
    c.plugin_path = path;
    c.config_path = positional[1];
    if (load_config(&c) < 0) {
        config_destroy(&c.config);
        return 2;
    }
    snprintf(c.run_tag, sizeof c.run_tag, "%ld", (long)getpid());
    /* A test that drops the pipe to our stdout must not kill us before cleanup. */
    signal(SIGPIPE, SIG_IGN);

    kl_error_t err;
    kl_error_clear(&err);
    if (!kl_tap_ok(kl_rconf_open(&c, &err) == 0, "the plugin loads, configures and opens")) {
        kl_tap_diag("%s", err.text);
        printf("1..%d\n", kl_tap_count());
        config_destroy(&c.config);
        return 1;
    }
    const kl_plugin_descriptor_t *d = c.plugin->desc;
    kl_tap_diag("runtime plugin %s %s (ABI %u.%u) from %s: %s", d->name, d->version ? d->version : "?",
                d->abi_major, d->abi_minor, c.plugin->path, d->description ? d->description : "");
    kl_tap_diag("image %s%s%s", c.image, c.skip ? ", skipping " : "", c.skip ? c.skip : "");

    void (*const groups[])(kl_rconf_t *) = {
        kl_group_pull, kl_group_complete, kl_group_exit_code, kl_group_env_args, kl_group_logs,
        kl_group_oom, kl_group_stop, kl_group_grace, kl_group_kill, kl_group_adoption,
        kl_group_many, kl_group_parallel, kl_group_remove, kl_group_events,
    };
    for (size_t i = 0; i < sizeof groups / sizeof groups[0] && c.plugin; i++) {
        groups[i](&c);
        kl_rconf_end(&c);
    }
    if (!c.plugin)
        kl_tap_ok(0, "the plugin reopens after the adoption group");

    kl_rconf_close(&c);
    free(c.ids);
    config_destroy(&c.config);
    printf("1..%d\n", kl_tap_count());
    kl_tap_diag("runtime %s: %d passed, %d failed, %d skipped", c.plugin_path, kl_tap_count() - kl_tap_failed() - kl_tap_skipped(),
                kl_tap_failed(), kl_tap_skipped());
    return kl_tap_failed() ? 1 : 0;
}
