/* runtime/podman: the ops on containers podman already has: status (from
 * memory, the exit file or `podman inspect`), stop, kill, remove, list of
 * keelson's containers, and logs. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "podman.h"

#define PODMAN_KILL_WAIT_S 5           /* after the grace period, for SIGKILL to land */
/* A cached RUNNING or EXITED answer is re-checked this often even without an
 * exit file: the safety net for an exit conmon could not report. */
#define PODMAN_STATUS_TRUST_MS 1000
/* An inspect that still says running this long after the exit file
 * appeared means the file was stale (e.g. a restart): trust it again. */
#define PODMAN_EXIT_STALE_MS 2000

/* ---- status ---- */

/* Each inspect starts podman (tens of ms, a hundred right after an exit,
 * when it waits for conmon's cleanup), so a container last seen running is
 * answered from memory until its exit file appears, re-checked every
 * PODMAN_STATUS_TRUST_MS all the same. The exit file answers the exit
 * itself, read as it appears; an inspect only when it was gone too soon or
 * said something odd. An exited one is not asked again: its exit code,
 * times and OOM kill do not change any more. */
int podman_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
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

/* What `podman VERB ... ID` came to, after the cache forgets what it knew:
 * 0, NotFound, or Unavailable with podman's last line. */
static int signal_result(podman_runtime_t *rt, const char *verb, const char *id, int rc, const char *message,
                         kl_error_t *err)
{
    known_stale(rt, id);
    if (rc == 0)
        return 0;
    if (is_no_such_container(message))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman %s %s failed: %s", verb, id,
                        message[0] ? last_line(message) : "no message");
}

int podman_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
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
    return signal_result(rt, "stop", id, rc, message, err);
}

int podman_kill(void *runtime, const char *id, int signal_number, kl_error_t *err)
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
    /* One that already exited has nothing left to signal: that is success. */
    if (rc != 0 && !is_no_such_container(message)
        && (strcasestr(message, "can only kill running") || strcasestr(message, "not running")))
        rc = 0;
    return signal_result(rt, "kill", id, rc, message, err);
}

int podman_remove(void *runtime, const char *id, kl_error_t *err)
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

int podman_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
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
int podman_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
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
