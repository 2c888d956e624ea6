/* runtime/runc: what a container's bundle tells of it. Its state comes from
 * the files the supervisor and runc keep there (started_at, exit_code,
 * supervisor.pid, container.pid, runc.log), with `runc state` asked only once
 * the supervisor is gone. Also the status, list and logs ops. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runc.h"

/* Reads a small key=value file the supervisor wrote. Returns 1 when the key
 * was found, 0 when the file or key is absent. */
static int state_file_value(const char *path, const char *key, long long *value)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[128];
    size_t length = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, length) == 0 && line[length] == '=') {
            char *end = NULL;
            errno = 0;
            *value = strtoll(line + length + 1, &end, 10);
            found = errno == 0 && end != line + length + 1 && (*end == '\n' || *end == '\0');
        }
    }
    fclose(f);
    return found;
}

/* The last error runc logged, if any: the reason a container could not run. */
static int runc_log_error(const char *path, char *message, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    if (fseek(f, -8192, SEEK_END) < 0)
        rewind(f);
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *entry = json_loads(line, 0, NULL);
        const char *level = json_string_value(json_object_get(entry, "level"));
        const char *msg = json_string_value(json_object_get(entry, "msg"));
        if (level && msg && (!strcmp(level, "error") || !strcmp(level, "fatal"))) {
            snprintf(message, size, "%s", msg);
            found = 1;
        }
        json_decref(entry);
    }
    fclose(f);
    return found;
}

/* `runc state` of an id: "created", "running", "stopped"... or NULL when runc
 * does not know it. Caller owns the result. */
static char *runc_state_of(runc_runtime_t *rt, const char *id, char *message, size_t size)
{
    char *out = NULL;
    char *argv[] = { (char *)rt->runc, "--root", rt->root, "state", (char *)id, NULL };
    int rc = runc_command_run(argv, RUNC_COMMAND_TIMEOUT_MS, &out, message, size);
    char *state = NULL;
    if (rc == 0) {
        json_t *doc = json_loads(out, 0, NULL);
        const char *text = json_string_value(json_object_get(doc, "status"));
        if (text)
            state = strdup(text);
        else
            snprintf(message, size, "runc state %s printed no status", id);
        json_decref(doc);
    }
    free(out);
    return state;
}

int runc_supervisor_alive(const char *bundle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/supervisor.pid", bundle);
    long long pid = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;  /* not written yet: the supervisor is just starting */
    int got = fscanf(f, "%lld", &pid);
    fclose(f);
    if (got != 1 || pid <= 1)
        return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int runc_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096], path[4096];
    if (runc_bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    memset(status, 0, sizeof *status);
    long long value;
    runc_bundle_path(rt, id, "started_at", path, sizeof path);
    if (state_file_value(path, "started_at_ms", &value))
        status->started_at_ms = value;

    runc_bundle_path(rt, id, "exit_code", path, sizeof path);
    long long code;
    if (state_file_value(path, "exit_code", &code)) {
        status->state = KL_CONTAINER_EXITED;
        status->exit_code = (int)code;
        if (state_file_value(path, "finished_at_ms", &value))
            status->finished_at_ms = value;
        /* The supervisor read the kernel's OOM-kill counter of the
         * container's cgroup before anything removed it. */
        long long oom = 0;
        char message[sizeof status->message];
        char exit_path[4096];
        snprintf(exit_path, sizeof exit_path, "%s", path);
        runc_bundle_path(rt, id, "runc.log", path, sizeof path);
        if (state_file_value(exit_path, "oom_killed", &oom) && oom > 0) {
            status->oom_killed = 1;
            snprintf(status->reason, sizeof status->reason, "OOMKilled");
            snprintf(status->message, sizeof status->message,
                     "the kernel killed a process of the container for exceeding its memory limit");
        } else if (code != 0 && runc_log_error(path, message, sizeof message)) {
            snprintf(status->reason, sizeof status->reason, "ContainerCannotRun");
            snprintf(status->message, sizeof status->message, "%s", message);
        } else {
            snprintf(status->reason, sizeof status->reason, "%s", code == 0 ? "Completed" : "Error");
        }
        return 0;
    }

    /* While its supervisor lives, the files it keeps tell the state without
     * a `runc state` process per poll: runc writes container.pid once the
     * container's process runs. */
    int supervised = runc_supervisor_alive(bundle);
    runc_bundle_path(rt, id, "container.pid", path, sizeof path);
    if (supervised != 0) {
        status->state = access(path, F_OK) == 0 ? KL_CONTAINER_RUNNING : KL_CONTAINER_CREATED;
        return 0;
    }
    char message[512];
    char *state = runc_state_of(rt, id, message, sizeof message);
    if (state && (!strcmp(state, "running") || !strcmp(state, "paused") || !strcmp(state, "stopped"))) {
        /* "stopped" without an exit_code: the supervisor is writing it now. */
        status->state = KL_CONTAINER_RUNNING;
    } else if (state && !strcmp(state, "created")) {
        status->state = KL_CONTAINER_CREATED;
    } else if (runc_supervisor_alive(bundle) != 0) {
        status->state = KL_CONTAINER_CREATED;  /* runc has not registered it yet */
    } else {
        status->state = KL_CONTAINER_UNKNOWN;
        snprintf(status->reason, sizeof status->reason, "Unknown");
        snprintf(status->message, sizeof status->message,
                 "the supervisor of container %s ended without recording an exit status%s%.180s", id,
                 state || message[0] ? ": " : "", state ? state : message);
    }
    free(state);
    return 0;
}

int runc_exit_recorded(runc_runtime_t *rt, const char *id)
{
    char path[4096];
    long long code;
    runc_bundle_path(rt, id, "exit_code", path, sizeof path);
    return state_file_value(path, "exit_code", &code);
}

int runc_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
              kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096], path[4096];
    if (runc_bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    if (offset < 0 || !length || (!buffer && size > 0))
        return kl_error_set(err, KL_ERR_INVALID, "logs of container %s: offset %lld or buffer is invalid", id,
                            (long long)offset);
    *length = 0;
    runc_bundle_path(rt, id, "container.log", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : kl_error_set(err, KL_ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
    size_t done = 0;
    while (done < size) {
        ssize_t got = pread(fd, buffer + done, size - done, (off_t)offset + (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int saved = errno;
            close(fd);
            return kl_error_set(err, KL_ERR_INTERNAL, "cannot read %s: %s", path, strerror(saved));
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    close(fd);
    *length = done;
    return 0;
}

typedef struct bundle_info {
    char namespace_[256], name[256], uid[256], container[256], image[600];
} bundle_info_t;

static void annotation_copy(const json_t *annotations, const char *key, char *out, size_t size)
{
    const char *value = json_string_value(json_object_get(annotations, key));
    snprintf(out, size, "%s", value ? value : "");
}

int runc_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    if (!visit)
        return kl_error_set(err, KL_ERR_INVALID, "list needs a visit function");
    DIR *dir = opendir(rt->state_dir);
    if (!dir)
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot read state_dir %s: %s", rt->state_dir, strerror(errno));
    struct dirent *entry;
    int stop = 0;
    while (!stop && (entry = readdir(dir))) {
        if (runc_id_check(entry->d_name, NULL) < 0)
            continue;
        char path[4096];
        runc_bundle_path(rt, entry->d_name, "config.json", path, sizeof path);
        json_t *spec = json_load_file(path, 0, NULL);
        const json_t *annotations = json_object_get(spec, "annotations");
        if (!json_object_get(annotations, "io.keelson.pod.uid")) {
            json_decref(spec);
            continue;  /* still being unpacked, or not ours */
        }
        bundle_info_t b;
        annotation_copy(annotations, "io.keelson.pod.namespace", b.namespace_, sizeof b.namespace_);
        annotation_copy(annotations, "io.keelson.pod.name", b.name, sizeof b.name);
        annotation_copy(annotations, "io.keelson.pod.uid", b.uid, sizeof b.uid);
        annotation_copy(annotations, "io.keelson.container.name", b.container, sizeof b.container);
        annotation_copy(annotations, "io.keelson.image", b.image, sizeof b.image);
        json_decref(spec);
        kl_container_info_t info = {
            .id = entry->d_name, .pod_namespace = b.namespace_, .pod_name = b.name, .pod_uid = b.uid,
            .container_name = b.container, .image = b.image,
        };
        kl_error_t status_err;
        if (runc_status(rt, entry->d_name, &info.status, &status_err) < 0)
            continue;  /* removed meanwhile */
        stop = visit(&info, arg) != 0;
    }
    closedir(dir);
    return 0;
}
