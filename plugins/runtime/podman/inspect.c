/* runtime/podman: a container's status, from `podman inspect` or from the
 * exit file conmon wrote, with the OOM kill and reason of an exit. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podman.h"

kl_container_state_t state_of(const char *text)
{
    if (!text)
        return KL_CONTAINER_UNKNOWN;
    if (!strcmp(text, "created") || !strcmp(text, "configured") || !strcmp(text, "initialized"))
        return KL_CONTAINER_CREATED;
    if (!strcmp(text, "running") || !strcmp(text, "paused") || !strcmp(text, "stopping"))
        return KL_CONTAINER_RUNNING;
    if (!strcmp(text, "exited") || !strcmp(text, "stopped"))
        return KL_CONTAINER_EXITED;
    return KL_CONTAINER_UNKNOWN;
}

/* `podman inspect` of one container, or NULL with err filled. Caller owns. */
json_t *inspect(podman_runtime_t *rt, const char *id, kl_error_t *err)
{
    if (id_check(id, err) < 0)
        return NULL;
    podman_args_t args;
    char *out = NULL, message[1024];
    args_begin(&args, rt);
    args_add(&args, "container");
    args_add(&args, "inspect");
    args_add(&args, "--format");
    args_add(&args, "json");
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, &out, message, sizeof message);
    args_free(&args);
    if (rc != 0) {
        free(out);
        if (is_no_such_container(message))
            kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
        else
            kl_error_set(err, KL_ERR_UNAVAILABLE, "podman inspect %s failed: %s", id,
                         message[0] ? last_line(message) : "no message");
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    free(out);
    json_t *first = json_array_get(doc, 0);
    if (!json_is_object(first)) {
        kl_error_set(err, KL_ERR_INTERNAL, "podman inspect %s printed no container object: %s", id,
                     doc ? "wrong shape" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    json_incref(first);
    json_decref(doc);
    return first;
}

/* The per-container parent cgroup podman was given, if keelson made it. */
const char *own_cgroup_name(const json_t *container)
{
    const char *parent = json_string_value(json_object_get(json_object_get(container, "HostConfig"), "CgroupParent"));
    static const char prefix[] = "/" CGROUP_PARENT "/";
    if (!parent || strncmp(parent, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *name = parent + sizeof prefix - 1;
    return name[0] && !strchr(name, '/') && strcmp(name, "..") && strcmp(name, ".") ? name : NULL;
}

/* OOM kill and reason of an exited container: status holds its exit code
 * and podman's OOMKilled; `cgroup` is keelson's parent cgroup or NULL,
 * `error` podman's State.Error or NULL. */
static void exit_reason(kl_container_status_t *status, const char *cgroup, const char *error)
{
    if (!status->oom_killed && cgroup && status->exit_code == 128 + SIGKILL) {
        /* Killed while its memory had reached the limit: the OOM killer. */
        int64_t peak = cgroup_value(cgroup, "memory.max_usage_in_bytes");
        int64_t limit = cgroup_value(cgroup, "memory.limit_in_bytes") - CONMON_HEADROOM_BYTES;
        status->oom_killed = peak > 0 && limit > 0 && peak >= limit - 64 * 1024;
    }
    if (status->oom_killed)
        snprintf(status->reason, sizeof status->reason, "OOMKilled");
    else if (error && error[0])
        snprintf(status->reason, sizeof status->reason, "ContainerCannotRun");
    else
        snprintf(status->reason, sizeof status->reason, "%s", status->exit_code == 0 ? "Completed" : "Error");
    if (error && error[0])
        snprintf(status->message, sizeof status->message, "%s", error);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* podman's static folder of a container, conmon's bundle:
 * <root>/<driver>-containers/<id>/userdata. The driver's folder is looked
 * up once, on the first container found. 0, or -1 when there is none. */
static int bundle_dir(podman_runtime_t *rt, const char *id, char *buf, size_t size)
{
    if (rt->containers_dir[0]) {
        snprintf(buf, size, "%s/%s/userdata", rt->containers_dir, id);
        if (is_dir(buf))
            return 0;
    }
    DIR *dir = opendir(rt->root);
    if (!dir)
        return -1;
    int found = -1;
    struct dirent *entry;
    while (found < 0 && (entry = readdir(dir))) {
        size_t length = strlen(entry->d_name);
        if (length <= 11 || strcmp(entry->d_name + length - 11, "-containers") != 0)
            continue;
        snprintf(buf, size, "%s/%s/%s/userdata", rt->root, entry->d_name, id);
        if (is_dir(buf)) {
            snprintf(rt->containers_dir, sizeof rt->containers_dir, "%s/%s", rt->root, entry->d_name);
            found = 0;
        }
    }
    closedir(dir);
    return found;
}

/* podman's OOMKilled as it will read it from conmon's "oom" marker, which
 * conmon makes before the exit file when it does at all: 1, 0, or -1 when
 * the bundle cannot be found. podman 4 looks in the bundle, later ones in
 * <tmpdir>/persist/<id>; neither writes the other. (conmon 2.1.6 makes it
 * in the folder podman was started from instead, where podman never looks:
 * there keelson's own cgroup tells, in exit_reason().) */
static int oom_marker(podman_runtime_t *rt, const char *id)
{
    char path[4600];
    if (bundle_dir(rt, id, path, sizeof path - 8) < 0)
        return -1;
    strcat(path, "/oom");
    if (access(path, F_OK) == 0)
        return 1;
    if (errno != ENOENT)
        return -1;
    snprintf(path, sizeof path, "%s/persist/%s/oom", rt->tmpdir, id);
    return access(path, F_OK) == 0;
}

/* The status of an exited container from the exit file read into k, as
 * status_of() would make it from an inspect, which reads the same file:
 * 0, or -1 when only podman can tell (nothing read, start time or cgroup
 * not known, bundle not found). */
int status_from_exit(podman_runtime_t *rt, const known_container_t *k, kl_container_status_t *status)
{
    if (!k->exit_read || !k->cgroup_known || k->status.state != KL_CONTAINER_RUNNING || k->status.started_at_ms <= 0)
        return -1;
    int oom = oom_marker(rt, k->id);
    if (oom < 0)
        return -1;
    memset(status, 0, sizeof *status);
    status->state = KL_CONTAINER_EXITED;
    status->exit_code = k->exit_code;
    status->started_at_ms = k->status.started_at_ms;
    status->finished_at_ms = k->exit_ms < status->started_at_ms ? status->started_at_ms : k->exit_ms;
    status->oom_killed = oom;
    exit_reason(status, k->cgroup[0] ? k->cgroup : NULL, NULL);
    return 0;
}

/* The status `podman inspect` printed for one container. */
void status_of(const char *id, const json_t *container, kl_container_status_t *status)
{
    memset(status, 0, sizeof *status);
    const json_t *state = json_object_get(container, "State");
    status->state = state_of(json_string_value(json_object_get(state, "Status")));
    status->started_at_ms = podman_time_ms(json_string_value(json_object_get(state, "StartedAt")));
    const char *error = json_string_value(json_object_get(state, "Error"));
    if (status->state == KL_CONTAINER_EXITED) {
        status->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
        status->finished_at_ms = podman_time_ms(json_string_value(json_object_get(state, "FinishedAt")));
        /* runc records the start a moment after the end for a short-lived process. */
        if (status->finished_at_ms && status->finished_at_ms < status->started_at_ms)
            status->finished_at_ms = status->started_at_ms;
        status->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
        exit_reason(status, own_cgroup_name(container), error);
    } else if (status->state == KL_CONTAINER_UNKNOWN) {
        snprintf(status->reason, sizeof status->reason, "Unknown");
        snprintf(status->message, sizeof status->message, "podman reports container %s as \"%.64s\"", id,
                 json_string_value(json_object_get(state, "Status")) ? json_string_value(json_object_get(state, "Status")) : "");
    }
}
