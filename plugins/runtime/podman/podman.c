/* runtime/podman: runs each container with the podman program (no daemon,
 * no shell), in storage of its own so keelson's containers and images stay
 * apart from the machine's. Containers carry io.keelson.* labels, so a
 * restarted kubelet finds them again with list(). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "podman.h"

#define PODMAN_RUN_TIMEOUT_MS 120000
#define PODMAN_PULL_TIMEOUT_MS 300000
#define PODMAN_KILL_WAIT_S 5           /* after the grace period, for SIGKILL to land */
#define PODMAN_FRESH_PULL_MS 10000     /* a pull this recent satisfies Always at start() */
/* A cached RUNNING or EXITED answer is re-checked this often even without an
 * exit file: the safety net for an exit conmon could not report. */
#define PODMAN_STATUS_TRUST_MS 1000
/* An inspect that still says running this long after the exit file
 * appeared means the file was stale (e.g. a restart): trust it again. */
#define PODMAN_EXIT_STALE_MS 2000

#define LABEL_NAMESPACE "io.keelson.pod.namespace"
#define LABEL_NAME "io.keelson.pod.name"
#define LABEL_UID "io.keelson.pod.uid"
#define LABEL_CONTAINER "io.keelson.container"

static const kl_setting_spec_t podman_settings[] = {
    { "podman", KL_SETTING_STRING, 0, "podman program, found on PATH unless a path (default podman)" },
    { "root", KL_SETTING_STRING, 0,
      "podman storage root for keelson's images and containers (default /var/lib/keelson/podman)" },
    { "runroot", KL_SETTING_STRING, 0, "podman run-time state folder (default /run/keelson/podman)" },
    { "runtime", KL_SETTING_STRING, 0, "OCI runtime podman uses (default runc)" },
    { "cgroup_manager", KL_SETTING_STRING, 0, "podman cgroup manager: cgroupfs or systemd (default cgroupfs)" },
    KL_SETTINGS_END
};

/* ---- settings ---- */

static int check_dir_setting(const char *name, const char *value, kl_error_t *err)
{
    if (!value || value[0] != '/' || strlen(value) > 1024 || strstr(value, "/../") || strstr(value, "/./"))
        return kl_error_set(err, KL_ERR_INVALID,
                            "runtime/podman setting %s \"%s\" must be an absolute path of at most 1024 characters",
                            name, value ? value : "");
    return 0;
}

static int check_word_setting(const char *name, const char *value, kl_error_t *err)
{
    if (!value || value[0] == '\0' || value[0] == '-' || strlen(value) > 1024)
        return kl_error_set(err, KL_ERR_INVALID, "runtime/podman setting %s \"%s\" must name a program or a mode",
                            name, value ? value : "");
    return 0;
}

int mkdir_parents(const char *path, mode_t mode)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(copy, mode) < 0 && errno != EEXIST ? -1 : 0;
}

__attribute__((format(printf, 3, 4)))
void podman_log(const podman_runtime_t *rt, kl_log_level_t level, const char *fmt, ...)
{
    if (!rt->host || !rt->host->log)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    rt->host->log(rt->host, level, "%s", text);
}


static void *podman_open(const kl_host_t *host, kl_error_t *err)
{
    if (!host || !host->setting_string) {
        kl_error_set(err, KL_ERR_INVALID, "runtime/podman needs a host table with settings");
        return NULL;
    }
    podman_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/podman: out of memory");
        return NULL;
    }
    rt->host = host;
    rt->events_fd = rt->watch_fd = -1;
    rt->podman = host->setting_string(host, "podman", "podman");
    rt->root = host->setting_string(host, "root", "/var/lib/keelson/podman");
    rt->runroot = host->setting_string(host, "runroot", "/run/keelson/podman");
    rt->runtime = host->setting_string(host, "runtime", "runc");
    rt->cgroup_manager = host->setting_string(host, "cgroup_manager", "cgroupfs");
    if (check_word_setting("podman", rt->podman, err) < 0 || check_dir_setting("root", rt->root, err) < 0
        || check_dir_setting("runroot", rt->runroot, err) < 0 || check_word_setting("runtime", rt->runtime, err) < 0
        || check_word_setting("cgroup_manager", rt->cgroup_manager, err) < 0)
        goto fail;
    if (strcmp(rt->cgroup_manager, "cgroupfs") != 0 && strcmp(rt->cgroup_manager, "systemd") != 0) {
        kl_error_set(err, KL_ERR_INVALID, "runtime/podman setting cgroup_manager \"%s\" must be cgroupfs or systemd",
                     rt->cgroup_manager);
        goto fail;
    }
    snprintf(rt->tmpdir, sizeof rt->tmpdir, "%s/libpod-tmp", rt->runroot);
    if (mkdir_parents(rt->root, 0700) < 0 || mkdir_parents(rt->tmpdir, 0700) < 0) {
        kl_error_set(err, KL_ERR_UNAVAILABLE, "runtime/podman cannot create root %s or runroot %s: %s", rt->root,
                     rt->runroot, strerror(errno));
        goto fail;
    }
    rt->memcg_v1 = strcmp(rt->cgroup_manager, "cgroupfs") == 0
                   && access(CGROUP_ROOT "/memory/memory.limit_in_bytes", W_OK) == 0;
    /* podman makes the folder with its first container; a watch needs it now. */
    snprintf(rt->exits_dir, sizeof rt->exits_dir, "%s/exits", rt->tmpdir);
    snprintf(rt->events_log, sizeof rt->events_log, "%s/events/events.log", rt->tmpdir);
    if (mkdir(rt->exits_dir, 0750) < 0 && errno != EEXIST)
        podman_log(rt, KL_LOG_WARN, "runtime/podman cannot create %s: %s", rt->exits_dir, strerror(errno));
    rt->events_fd = exit_watch_open(rt, "exits reach the kubelet on its sync tick only");
    rt->watch_fd = exit_watch_open(rt, "status() asks podman every time");
    return rt;
fail:
    free(rt);
    return NULL;
}

static void podman_close(void *runtime)
{
    podman_runtime_t *rt = runtime;
    if (!rt)
        return;
    for (size_t i = 0; i < PODMAN_PRESENT_MAX; i++)
        free(rt->present[i]);
    free(rt->fresh_image);
    if (rt->events_fd >= 0)
        close(rt->events_fd);
    if (rt->watch_fd >= 0)
        close(rt->watch_fd);
    free(rt->known);
    free(rt);
}

/* ---- pull ---- */

static int podman_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    int has_registry = 0;
    if (policy != KL_PULL_IF_NOT_PRESENT && policy != KL_PULL_ALWAYS && policy != KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_INVALID, "pull policy %d of image \"%.64s\" is not IfNotPresent, Always "
                            "or Never", (int)policy, image ? image : "");
    if (reference_check(image, &has_registry, err) < 0)
        return -1;
    int present = image_present(rt, image, err);
    if (present < 0)
        return -1;
    if (present && policy != KL_PULL_ALWAYS)
        return KL_PULL_PRESENT;
    if (policy == KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" is not in podman storage %s and the pull policy "
                            "is Never", image, rt->root);
    /* A short name would send podman to the registries of registries.conf:
     * keelson pulls only from a registry the reference names. */
    if (!has_registry)
        return present ? KL_PULL_PRESENT
                       : kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" not found in podman storage %s, and a "
                                      "reference without a registry host is never pulled", image, rt->root);
    podman_args_t args;
    char message[2048];
    args_begin(&args, rt);
    args_add(&args, "pull");
    args_add(&args, "--quiet");
    args_add(&args, "--tls-verify=false");
    args_add(&args, image);
    int rc = args_run(&args, PODMAN_PULL_TIMEOUT_MS, 0, NULL, message, sizeof message);
    args_free(&args);
    if (rc == 0) {
        image_remember(rt, image);
        char *copy = strdup(image);
        if (copy) {
            free(rt->fresh_image);
            rt->fresh_image = copy;
            rt->fresh_ms = podman_monotonic_ms();
        }
        return 0;
    }
    const char *why = message[0] ? last_line(message) : "it failed without a message";
    return kl_error_set(err, pull_error_code(why), "cannot pull image \"%s\": %s", image, why);
}

/* ---- start ---- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int podman_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                        kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (!request)
        return kl_error_set(err, KL_ERR_INVALID, "container request is missing");
    if (check_label("pod namespace", request->pod_namespace, err) < 0
        || check_label("pod name", request->pod_name, err) < 0 || check_label("pod uid", request->pod_uid, err) < 0
        || check_label("container name", request->container_name, err) < 0)
        return -1;
    const char *name = request->container_name;
    const json_t *container = request->container;
    if (!json_is_object(container))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" is not a JSON object", name);
    const char *image = json_string_value(json_object_get(container, "image"));
    if (!image)
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" has no image", name);

    /* Everything the pod asks is checked before anything is pulled or made. */
    int failed;
    const json_t *command = string_list(container, "command", name, err, &failed);
    if (failed)
        return -1;
    const json_t *run_args = string_list(container, "args", name, err, &failed);
    if (failed)
        return -1;
    const json_t *workdir = json_object_get(container, "workingDir");
    if (workdir && !json_is_null(workdir) && (!json_is_string(workdir) || json_string_value(workdir)[0] != '/'))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": workingDir must be an absolute path", name);
    int64_t millicores, bytes;
    kl_pull_policy_t policy;
    char container_name[160];
    if (read_limits(container, name, &millicores, &bytes, err) < 0 || pull_policy_of(container, name, &policy, err) < 0
        || reference_check(image, NULL, err) < 0 || name_make(request, container_name, sizeof container_name, err) < 0)
        return -1;

    podman_args_t args;
    args_begin(&args, rt);
    args_add(&args, "run");
    args_add(&args, "--detach");
    args_add(&args, "--name");
    args_add(&args, container_name);
    args_add(&args, "--pull");
    args_add(&args, "never");
    args_add(&args, "--network");
    args_add(&args, "host");
    args_add(&args, "--log-driver");
    args_add(&args, "k8s-file");
    /* podman's defaults come from the host's hard limits, which runc refuses here. */
    args_add(&args, "--ulimit");
    args_add(&args, "nofile=1024:1024");
    args_add(&args, "--ulimit");
    args_add(&args, "nproc=1024:1024");
    args_add(&args, "--label");
    args_addf(&args, LABEL_NAMESPACE "=%s", request->pod_namespace);
    args_add(&args, "--label");
    args_addf(&args, LABEL_NAME "=%s", request->pod_name);
    args_add(&args, "--label");
    args_addf(&args, LABEL_UID "=%s", request->pod_uid);
    args_add(&args, "--label");
    args_addf(&args, LABEL_CONTAINER "=%s", name);
    if (add_env(&args, container, name, err) < 0) {
        args_free(&args);
        return -1;
    }
    if (workdir && json_is_string(workdir)) {
        args_add(&args, "--workdir");
        args_add(&args, json_string_value(workdir));
    }
    if (millicores > 0) {
        args_add(&args, "--cpus");
        args_addf(&args, "%lld.%03lld", (long long)(millicores / 1000), (long long)(millicores % 1000));
    }
    int own_cgroup = 0;
    if (bytes > 0 && rt->memcg_v1) {
        /* conmon lives under the same parent: the parent gets headroom so
         * the OOM killer, held to the container's own limit below, never
         * picks the monitor instead of the container. */
        if (cgroup_parent_make(container_name, bytes + CONMON_HEADROOM_BYTES, err) < 0) {
            args_free(&args);
            return -1;
        }
        own_cgroup = 1;
        args_add(&args, "--cgroup-parent");
        args_addf(&args, "/" CGROUP_PARENT "/%s", container_name);
    }
    if (bytes > 0) {
        args_add(&args, "--memory");
        args_addf(&args, "%lld", (long long)bytes);
        args_add(&args, "--memory-swap");
        args_addf(&args, "%lld", (long long)bytes);
    }
    char *entrypoint = NULL;
    if (command) {
        /* Kubernetes: command replaces the image's Entrypoint (and drops its Cmd). */
        entrypoint = json_dumps(command, JSON_COMPACT);
        args_add(&args, "--entrypoint");
        args_add(&args, entrypoint ? entrypoint : "[]");
    }
    args_add(&args, image);
    size_t i;
    const json_t *item;
    if (run_args)
        json_array_foreach(run_args, i, item)
            args_add(&args, json_string_value(item));

    /* The kubelet's pull() has just fetched an Always image: a second
     * registry round trip here would bring nothing newer. */
    kl_pull_policy_t start_policy = policy;
    if (policy == KL_PULL_ALWAYS && rt->fresh_image && !strcmp(rt->fresh_image, image)
        && podman_monotonic_ms() - rt->fresh_ms < PODMAN_FRESH_PULL_MS)
        start_policy = KL_PULL_IF_NOT_PRESENT;
    if (podman_pull(rt, image, start_policy, err) < 0) {
        free(entrypoint);
        args_free(&args);
        if (own_cgroup)
            cgroup_parent_remove(container_name);
        return -1;
    }

    /* One podman process: `run --detach` creates and starts, and prints the
     * id; its start time is in the event log, so nothing is inspected. */
    char *out = NULL, message[2048];
    off_t events_from = events_log_size(rt);
    rt->starting = 1;
    int rc = args_run(&args, PODMAN_RUN_TIMEOUT_MS, 0, &out, message, sizeof message);
    rt->starting = 0;
    if (rc != 0 && is_image_missing(message)) {
        /* Removed behind keelson's back since it was seen: pull and run again. */
        image_forget(rt, image);
        free(out);
        out = NULL;
        podman_args_t rm;
        char ignored[256];
        args_begin(&rm, rt);
        args_add(&rm, "rm");
        args_add(&rm, "--force");
        args_add(&rm, "--ignore");
        args_add(&rm, container_name);
        args_run(&rm, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, ignored, sizeof ignored);
        args_free(&rm);
        kl_error_t pull_err;
        if (podman_pull(rt, image, policy, &pull_err) < 0) {
            free(entrypoint);
            args_free(&args);
            if (own_cgroup)
                cgroup_parent_remove(container_name);
            return kl_error_set(err, pull_err.code, "%s", pull_err.text);
        }
        events_from = events_log_size(rt);
        rt->starting = 1;
        rc = args_run(&args, PODMAN_RUN_TIMEOUT_MS, 0, &out, message, sizeof message);
        rt->starting = 0;
    }
    int64_t returned_ms = wall_ms();
    free(entrypoint);
    args_free(&args);
    /* podman prints the new id: a line of 64 hex digits. */
    size_t length = out ? strspn(out, "0123456789abcdef") : 0;
    if (rc == 0 && length == 64 && (out[64] == '\n' || out[64] == '\0')) {
        memcpy(id, out, 64);
        id[64] = '\0';
        free(out);
        /* Known from its start, so an exit reported before the first
         * status() is not missed, and neither status() nor remove() needs
         * an inspect: `run --detach` returns once the container runs. */
        known_container_t *k = known_add(rt, id);
        if (k) {
            k->cgroup_known = 1;
            snprintf(k->cgroup, sizeof k->cgroup, "%s", own_cgroup ? container_name : "");
            memset(&k->status, 0, sizeof k->status);
            k->status.state = KL_CONTAINER_RUNNING;
            k->status.started_at_ms = events_log_start_ms(rt, id, events_from);
            if (!k->status.started_at_ms || k->status.started_at_ms > returned_ms)
                k->status.started_at_ms = returned_ms;
            k->checked_ms = podman_monotonic_ms();
        }
        return 0;
    }
    free(out);
    /* A container podman made but could not start is of no use: remove it. */
    podman_args_t rm;
    char ignored[256];
    args_begin(&rm, rt);
    args_add(&rm, "rm");
    args_add(&rm, "--force");
    args_add(&rm, "--time");
    args_add(&rm, "0");
    args_add(&rm, container_name);
    args_run(&rm, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, ignored, sizeof ignored);
    args_free(&rm);
    if (own_cgroup)
        cgroup_parent_remove(container_name);
    if (rc == 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "podman run of container \"%s\" printed no container id", name);
    return kl_error_set(err, KL_ERR_INVALID, "podman cannot run container \"%s\": %s", name,
                        message[0] ? last_line(message) : "it failed without a message");
}

/* ---- status ---- */

/* Each inspect starts podman (tens of ms, a hundred right after an exit,
 * when it waits for conmon's cleanup), so a container last seen running is
 * answered from memory until its exit file appears, re-checked every
 * PODMAN_STATUS_TRUST_MS all the same. The exit file answers the exit
 * itself, read as it appears; an inspect only when it was gone too soon or
 * said something odd. An exited one is not asked again: its exit code,
 * times and OOM kill do not change any more. */
static int podman_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    exits_update(rt);
    int64_t now = podman_monotonic_ms();
    known_container_t *k = known_find(rt, id);
    int trusted = k && k->checked_ms && rt->watch_fd >= 0 && now - k->checked_ms < PODMAN_STATUS_TRUST_MS;
    /* Without a fresh answer the exit file is looked for all the same: the
     * watch may have lost it, or the container was just signalled. */
    if (k && k->status.state == KL_CONTAINER_RUNNING && (k->exit_seen_ms || !trusted)
        && (k->exit_read || exit_file_read(rt, k) == 0) && status_from_exit(rt, k, status) == 0) {
        k->status = *status;
        k->checked_ms = now;
        k->exit_seen_ms = 0;
        return 0;
    }
    if (trusted && !k->exit_seen_ms
        && (k->status.state == KL_CONTAINER_RUNNING || k->status.state == KL_CONTAINER_EXITED)) {
        *status = k->status;
        return 0;
    }
    kl_error_t inspect_err;
    kl_error_clear(&inspect_err);
    json_t *container = inspect(rt, id, &inspect_err);
    if (!container) {
        if (inspect_err.code == KL_ERR_NOT_FOUND)
            known_drop(rt, id);
        return kl_error_set(err, inspect_err.code, "%s", inspect_err.text);
    }
    status_of(id, container, status);
    k = known_add(rt, id);
    if (k) {
        k->status = *status;
        k->checked_ms = now;  /* when podman was asked: an exit during the inspect left exit_seen_ms set */
        k->cgroup_known = 1;
        snprintf(k->cgroup, sizeof k->cgroup, "%s", own_cgroup_name(container) ? own_cgroup_name(container) : "");
        if (k->exit_seen_ms && (status->state == KL_CONTAINER_EXITED || now - k->exit_seen_ms > PODMAN_EXIT_STALE_MS))
            k->exit_seen_ms = k->exit_read = 0;
    }
    json_decref(container);
    return 0;
}

/* ---- stop, kill, remove ---- */

static int podman_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    if (grace_ms < 0)
        grace_ms = 0;
    int seconds = (grace_ms + 999) / 1000;
    podman_args_t args;
    char message[1024];
    args_begin(&args, rt);
    args_add(&args, "stop");
    args_add(&args, "--time");
    args_addf(&args, "%d", seconds);
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS + (seconds + PODMAN_KILL_WAIT_S) * 1000, 0, NULL, message,
                      sizeof message);
    args_free(&args);
    known_stale(rt, id);
    if (rc == 0)
        return 0;
    if (is_no_such_container(message))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman stop %s failed: %s", id,
                        message[0] ? last_line(message) : "no message");
}

static int podman_kill(void *runtime, const char *id, int signal_number, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    if (signal_number <= 0 || signal_number > 64)
        return kl_error_set(err, KL_ERR_INVALID, "signal %d sent to container %s is not between 1 and 64",
                            signal_number, id);
    podman_args_t args;
    char message[1024];
    args_begin(&args, rt);
    args_add(&args, "kill");
    args_add(&args, "--signal");
    args_addf(&args, "%d", signal_number);
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, message, sizeof message);
    args_free(&args);
    known_stale(rt, id);
    if (rc == 0)
        return 0;
    if (is_no_such_container(message))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
    /* One that already exited has nothing left to signal: that is success. */
    if (strcasestr(message, "can only kill running") || strcasestr(message, "not running"))
        return 0;
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman kill %s failed: %s", id,
                        message[0] ? last_line(message) : "no message");
}

static int podman_remove(void *runtime, const char *id, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    char cgroup[256] = "";
    known_container_t *k = known_find(rt, id);
    /* `rm --force` succeeds for a container that is not there: one this
     * instance never saw is inspected first so that reads NotFound. */
    if (k && k->cgroup_known) {
        snprintf(cgroup, sizeof cgroup, "%s", k->cgroup);
    } else {
        json_t *container = inspect(rt, id, err);
        if (!container)
            return -1;
        if (own_cgroup_name(container))
            snprintf(cgroup, sizeof cgroup, "%s", own_cgroup_name(container));
        json_decref(container);
    }
    podman_args_t args;
    char message[1024];
    args_begin(&args, rt);
    args_add(&args, "rm");
    args_add(&args, "--force");
    args_add(&args, "--time");
    args_add(&args, "2");
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, message, sizeof message);
    args_free(&args);
    if (rc != 0 && !is_no_such_container(message))
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman rm %s failed: %s", id,
                            message[0] ? last_line(message) : "no message");
    known_drop(rt, id);
    if (cgroup[0])
        cgroup_parent_remove(cgroup);
    return 0;
}

/* ---- list and logs ---- */

static const char *label_of(const json_t *labels, const char *key)
{
    const char *value = json_string_value(json_object_get(labels, key));
    return value ? value : "";
}

static int podman_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (!visit)
        return kl_error_set(err, KL_ERR_INVALID, "list needs a visit function");
    podman_args_t args;
    char *out = NULL, message[1024];
    args_begin(&args, rt);
    args_add(&args, "ps");
    args_add(&args, "--all");
    args_add(&args, "--filter");
    args_add(&args, "label=" LABEL_UID);
    args_add(&args, "--format");
    args_add(&args, "json");
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, &out, message, sizeof message);
    args_free(&args);
    if (rc != 0) {
        free(out);
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman ps failed: %s",
                            message[0] ? last_line(message) : "no message");
    }
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    free(out);
    if (!json_is_array(doc)) {
        kl_error_set(err, KL_ERR_INTERNAL, "podman ps printed no JSON list: %s", doc ? "wrong shape" : jerr.text);
        json_decref(doc);
        return -1;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(doc, i, item) {
        const char *id = json_string_value(json_object_get(item, "Id"));
        const json_t *labels = json_object_get(item, "Labels");
        if (!id || id_check(id, NULL) < 0)
            continue;
        kl_container_info_t info = {
            .id = id, .pod_namespace = label_of(labels, LABEL_NAMESPACE), .pod_name = label_of(labels, LABEL_NAME),
            .pod_uid = label_of(labels, LABEL_UID), .container_name = label_of(labels, LABEL_CONTAINER),
            .image = json_string_value(json_object_get(item, "Image")),
        };
        if (!info.image)
            info.image = "";
        kl_container_status_t *st = &info.status;
        st->state = state_of(json_string_value(json_object_get(item, "State")));
        st->started_at_ms = json_integer_value(json_object_get(item, "StartedAt")) * 1000;
        if (st->state == KL_CONTAINER_EXITED) {
            st->exit_code = (int)json_integer_value(json_object_get(item, "ExitCode"));
            st->finished_at_ms = json_integer_value(json_object_get(item, "ExitedAt")) * 1000;
            snprintf(st->reason, sizeof st->reason, "%s", st->exit_code == 0 ? "Completed" : "Error");
        }
        if (visit(&info, arg) != 0)
            break;
    }
    json_decref(doc);
    return 0;
}

/* podman keeps the log and prints it whole; the offset is applied here. */
static int podman_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                       kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    if (offset < 0 || !length || (!buffer && size > 0))
        return kl_error_set(err, KL_ERR_INVALID, "logs of container %s: offset %lld or buffer is invalid", id,
                            (long long)offset);
    podman_args_t args;
    char *out = NULL, message[1024];
    args_begin(&args, rt);
    args_add(&args, "logs");
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 1, &out, message, sizeof message);
    args_free(&args);
    if (rc != 0) {
        /* Merged output: podman's own complaint is in `out`. */
        const char *why = out && out[0] ? out : message;
        int missing = is_no_such_container(why);
        char text[400];
        snprintf(text, sizeof text, "%.399s", why[0] ? why : "no message");
        text[strcspn(text, "\n")] = '\0';
        free(out);
        if (missing)
            return kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman logs %s failed: %s", id, text);
    }
    size_t total = strlen(out);
    size_t from = (uint64_t)offset < total ? (size_t)offset : total;
    size_t count = total - from < size ? total - from : size;
    if (count)
        memcpy(buffer, out + from, count);
    *length = count;
    free(out);
    return 0;
}

static const kl_runtime_ops_t podman_ops = {
    .open = podman_open,
    .close = podman_close,
    .start = podman_start,
    .status = podman_status,
    .stop = podman_stop,
    .remove = podman_remove,
    .pull = podman_pull,
    .list = podman_list,
    .logs = podman_logs,
    .kill = podman_kill,
    .events_fd = podman_events_fd,
    .events_read = podman_events_read,
};

KL_RUNTIME_PLUGIN("podman", "0.1.0", "containers run by the podman program in keelson's own podman storage",
                  podman_settings, podman_ops);
