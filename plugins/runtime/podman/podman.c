/* runtime/podman: runs each container with the podman program (no daemon,
 * no shell), in storage of its own so keelson's containers and images stay
 * apart from the machine's. Containers carry io.keelson.* labels, so a
 * restarted kubelet finds them again with list(). Here: the settings, open
 * and close, pull, and the ops table. start.c starts containers, and
 * containers.c has the ops on containers podman already has. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podman.h"

#define PODMAN_PULL_TIMEOUT_MS 300000

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
    pthread_mutex_init(&rt->lock, NULL);
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
    pthread_mutex_destroy(&rt->lock);
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
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

/* ---- pull ---- */

int podman_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err)
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

/* ---- the ops as the kubelet calls them: each under rt->lock ------------ */

#define LOCKED(RT, CALL)                           \
    do {                                           \
        podman_runtime_t *rt_ = (RT);              \
        pthread_mutex_lock(&rt_->lock);            \
        int rc_ = (CALL);                          \
        pthread_mutex_unlock(&rt_->lock);          \
        return rc_;                                \
    } while (0)

static int locked_start(void *rt, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                        kl_error_t *err)
{
    LOCKED(rt, podman_start(rt, request, id, err));
}

static int locked_status(void *rt, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    LOCKED(rt, podman_status(rt, id, status, err));
}

static int locked_stop(void *rt, const char *id, int grace_ms, kl_error_t *err)
{
    LOCKED(rt, podman_stop(rt, id, grace_ms, err));
}

static int locked_remove(void *rt, const char *id, kl_error_t *err)
{
    LOCKED(rt, podman_remove(rt, id, err));
}

static int locked_pull(void *rt, const char *image, kl_pull_policy_t policy, kl_error_t *err)
{
    LOCKED(rt, podman_pull(rt, image, policy, err));
}

static int locked_list(void *rt, kl_container_visit_fn visit, void *arg, kl_error_t *err)
{
    LOCKED(rt, podman_list(rt, visit, arg, err));
}

static int locked_logs(void *rt, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                       kl_error_t *err)
{
    LOCKED(rt, podman_logs(rt, id, offset, buffer, size, length, err));
}

static int locked_kill(void *rt, const char *id, int signal_number, kl_error_t *err)
{
    LOCKED(rt, podman_kill(rt, id, signal_number, err));
}

static int locked_events_read(void *rt, void (*changed)(const char *id, void *arg), void *arg,
                              kl_error_t *err)
{
    LOCKED(rt, podman_events_read(rt, changed, arg, err));
}

/* pull(), start() and status() may run on the kubelet's start workers. */
static uint32_t podman_features(void *runtime)
{
    (void)runtime;
    return KL_RUNTIME_CONCURRENT_STARTS;
}

static const kl_runtime_ops_t podman_ops = {
    .open = podman_open,
    .close = podman_close,
    .start = locked_start,
    .status = locked_status,
    .stop = locked_stop,
    .remove = locked_remove,
    .pull = locked_pull,
    .list = locked_list,
    .logs = locked_logs,
    .kill = locked_kill,
    .events_fd = podman_events_fd,
    .events_read = locked_events_read,
    .features = podman_features,
};

KL_RUNTIME_PLUGIN("podman", "0.1.0", "containers run by the podman program in keelson's own podman storage",
                  podman_settings, podman_ops);
