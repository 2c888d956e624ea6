/* runtime/runc: the supervisor, a process that outlives the kubelet to run
 * a container with runc and record its exit status. Between fork() and
 * exec()/_exit() only async-signal-safe calls are made: the kubelet's
 * process has other threads whose locks a child may inherit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runc.h"

/* Formats a non-negative decimal without stdio, for use after fork(). */
static char *format_int(char *at, int64_t value)
{
    char digits[24];
    int n = 0;
    if (value < 0) {
        *at++ = '-';
        value = -value;
    }
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value > 0);
    while (n > 0)
        *at++ = digits[--n];
    return at;
}

static char *append_text(char *at, const char *text)
{
    while (*text)
        *at++ = *text++;
    return at;
}

/* Writes `text` to `path` through a temporary file and rename(), so a reader
 * sees the old file or the whole new one, never a half-written status. No
 * fsync: these files describe processes, which a reboot ends anyway, and a
 * flush to disk would sit between the container's exit and its status. */
static void write_atomic(const char *tmp, const char *path, const char *text, size_t length)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    runc_write_all(fd, text, length);
    close(fd);
    rename(tmp, path);
}

/* Finds "KEY N" at a line start in `text`; -1 when absent. */
static long long counter_in(const char *text, const char *key)
{
    size_t length = strlen(key);
    for (const char *line = text; *line;) {
        if (strncmp(line, key, length) != 0 || line[length] != ' ') {
            const char *next = strchr(line, '\n');
            if (!next)
                break;
            line = next + 1;
            continue;
        }
        long long value = 0;
        const char *p = line + length + 1;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++)
            value = value * 10 + (*p - '0');
        return value;
    }
    return -1;
}

/* Reads a small file whole into `buf`; 0 on success. */
static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t used = 0;
    while (used + 1 < size) {
        ssize_t n = read(fd, buf + used, size - 1 - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    close(fd);
    buf[used] = '\0';
    return 0;
}

long long runc_cgroup_oom_kills(const char *cgroup)
{
    char path[512], text[1024];
    if (!cgroup || strlen(cgroup) > 300)
        return -1;
    /* cgroup v1 (alone or hybrid): the memory hierarchy counts kills in
     * memory.oom_control; cgroup v2 in memory.events. */
    char *at = append_text(path, "/sys/fs/cgroup/memory/");
    at = append_text(at, cgroup);
    append_text(at, "/memory.oom_control")[0] = '\0';
    if (read_small(path, text, sizeof text) == 0)
        return counter_in(text, "oom_kill");
    at = append_text(path, "/sys/fs/cgroup/");
    at = append_text(at, cgroup);
    append_text(at, "/memory.events")[0] = '\0';
    if (read_small(path, text, sizeof text) == 0)
        return counter_in(text, "oom_kill");
    return -1;
}

/* The paths the supervisor writes, prepared before fork(). */
typedef struct supervisor_paths {
    char pid_tmp[4096], pid[4096];
    char started_tmp[4096], started[4096];
    char exit_tmp[4096], exit[4096];
    char container_pid[4096];
    char cgroup[512];
    char rootfs[4096];
    char runc_log[4096];
    char overlay[4096];  /* mount options; "" for a bundle unpacked in full */
    char events[4096];   /* the runtime's event FIFO; "" for none */
    char event[KL_CONTAINER_ID_MAX + 1];  /* "ID\n": under PIPE_BUF, so one write() is atomic */
    size_t event_length;
} supervisor_paths_t;

static const char *errno_name(int error)
{
    switch (error) {
    case EPERM: return "EPERM (no privilege)";
    case ENOENT: return "ENOENT (a folder is missing)";
    case ENODEV: return "ENODEV (no overlay file system in this kernel)";
    case EINVAL: return "EINVAL (overlayfs refused the folders)";
    case ENOSPC: return "ENOSPC (no space left)";
    case EBUSY: return "EBUSY";
    case ENOMEM: return "ENOMEM";
    default: return "an unexpected error";
    }
}

/* Gives the container its root file system: the cached image under an
 * upper folder of its own, mounted in a private mount namespace so the
 * mount ends with the container. Logs like runc does on failure, so
 * status() reports the reason. */
static int overlay_mount(const supervisor_paths_t *paths)
{
    const char *step = "unshare the mount namespace";
    if (unshare(CLONE_NEWNS) == 0) {
        step = "make the mount namespace private";
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0) {
            step = "mount the overlay root file system";
            if (mount("overlay", paths->rootfs, "overlay", 0, paths->overlay) == 0)
                return 0;
        }
    }
    int error = errno;
    char text[512], *at;
    at = append_text(text, "{\"level\":\"error\",\"msg\":\"keelson: cannot ");
    at = append_text(at, step);
    at = append_text(at, ": ");
    at = append_text(at, errno_name(error));
    at = append_text(at, "\"}\n");
    int log = open(paths->runc_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (log >= 0) {
        runc_write_all(log, text, (size_t)(at - text));
        close(log);
    }
    return -1;
}

/* The container's pid as runc wrote it to --pid-file, or -1. */
static pid_t read_pid(const char *path)
{
    char text[32];
    if (read_small(path, text, sizeof text) < 0)
        return -1;
    long long pid = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++)
        pid = pid * 10 + (*p - '0');
    return p == text || pid <= 1 ? -1 : (pid_t)pid;
}

_Static_assert(KL_CONTAINER_ID_MAX + 1 <= PIPE_BUF, "an event line must fit one atomic FIFO write");

/* Tells whoever reads the event FIFO that the container exited. Best
 * effort: with no reader (ENXIO: the kubelet is down) or a full pipe the
 * exit_code file, written before, is found on the next status() poll. */
static void notify_exit(const supervisor_paths_t *paths)
{
    if (!paths->events[0])
        return;
    /* Non-blocking, so a missing reader cannot hold the supervisor; no
     * symlink and nothing but a FIFO, so no other file gets the line. */
    int fd = open(paths->events, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
        ssize_t n;
        do
            n = write(fd, paths->event, paths->event_length);
        while (n < 0 && errno == EINTR);
    }
    close(fd);
}

static void supervisor_run(const supervisor_paths_t *paths, char *const argv[], const char *log_path)
{
    char text[160], *at;
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        _exit(1);
    runc_close_from(3);
    /* The container's process is orphaned when `runc run -d` returns and
     * comes to us: we reap it while its cgroup, and the OOM counter in it,
     * still exist (a foreground `runc run` deletes the cgroup first). */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    at = format_int(text, getpid());
    *at++ = '\n';
    write_atomic(paths->pid_tmp, paths->pid, text, (size_t)(at - text));
    at = append_text(text, "started_at_ms=");
    at = format_int(at, runc_realtime_ms());
    *at++ = '\n';
    write_atomic(paths->started_tmp, paths->started, text, (size_t)(at - text));

    int code;
    pid_t child = paths->overlay[0] && overlay_mount(paths) < 0 ? -2 : fork();
    if (child == 0) {
        int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0640);
        if (log < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(127);
        close(log);
        execvp(argv[0], argv);
        static const char message[] = "keelson: cannot run runc: not found or not executable\n";
        runc_write_all(2, message, sizeof message - 1);
        _exit(127);
    }
    int status = 0;
    if (child == -2) {
        code = 125;  /* as docker and podman report a container they could not create */
    } else if (child < 0 || runc_wait_child(child, &status) < 0) {
        code = 255;
    } else if ((code = runc_exit_status_code(status)) == 0) {
        /* runc started the container and left: wait for its process, and
         * reap whatever else runc orphaned on the way. */
        pid_t container = read_pid(paths->container_pid);
        code = 255;
        for (;;) {
            pid_t got = waitpid(-1, &status, 0);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                break;  /* no children left: the pid file named none of ours */
            if (got == container) {
                code = runc_exit_status_code(status);
                break;
            }
        }
    }
    long long kills = runc_cgroup_oom_kills(paths->cgroup);

    at = append_text(text, "exit_code=");
    at = format_int(at, code);
    at = append_text(at, "\noom_killed=");
    at = format_int(at, kills > 0 ? 1 : 0);
    at = append_text(at, "\nfinished_at_ms=");
    at = format_int(at, runc_realtime_ms());
    *at++ = '\n';
    write_atomic(paths->exit_tmp, paths->exit, text, (size_t)(at - text));
    /* After the file: a reader told of the exit must find it recorded. */
    notify_exit(paths);
    _exit(0);
}

int runc_supervisor_spawn(const char *bundle, const char *id, char *const argv[], const char *log_path,
                          const char *cgroup, const char *overlay_options, const char *events_fifo,
                          kl_error_t *err)
{
    supervisor_paths_t *paths = calloc(1, sizeof *paths);
    if (!paths)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory starting the supervisor of %s", bundle);
    snprintf(paths->pid_tmp, sizeof paths->pid_tmp, "%s/supervisor.pid.tmp", bundle);
    snprintf(paths->pid, sizeof paths->pid, "%s/supervisor.pid", bundle);
    snprintf(paths->started_tmp, sizeof paths->started_tmp, "%s/started_at.tmp", bundle);
    snprintf(paths->started, sizeof paths->started, "%s/started_at", bundle);
    snprintf(paths->exit_tmp, sizeof paths->exit_tmp, "%s/exit_code.tmp", bundle);
    snprintf(paths->exit, sizeof paths->exit, "%s/exit_code", bundle);
    snprintf(paths->container_pid, sizeof paths->container_pid, "%s/container.pid", bundle);
    snprintf(paths->cgroup, sizeof paths->cgroup, "%s", cgroup ? cgroup : "");
    snprintf(paths->rootfs, sizeof paths->rootfs, "%s/rootfs", bundle);
    snprintf(paths->runc_log, sizeof paths->runc_log, "%s/runc.log", bundle);
    if (overlay_options && strlen(overlay_options) >= sizeof paths->overlay) {
        free(paths);
        return kl_error_set(err, KL_ERR_INTERNAL, "the overlay options of %s are too long", bundle);
    }
    snprintf(paths->overlay, sizeof paths->overlay, "%s", overlay_options ? overlay_options : "");
    size_t id_length = strlen(id);
    if (events_fifo && strlen(events_fifo) < sizeof paths->events && id_length + 1 < sizeof paths->event) {
        snprintf(paths->events, sizeof paths->events, "%s", events_fifo);
        memcpy(paths->event, id, id_length);
        paths->event[id_length] = '\n';
        paths->event_length = id_length + 1;
    }

    pid_t pid = fork();
    if (pid < 0) {
        free(paths);
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot fork the supervisor of %s: %s", bundle, strerror(errno));
    }
    if (pid == 0) {
        /* Its own session and a second fork: the supervisor is no child of
         * the kubelet, so it survives it and is reaped by init. */
        runc_reset_signals();
        setsid();
        pid_t grandchild = fork();
        if (grandchild != 0)
            _exit(grandchild < 0 ? 1 : 0);
        supervisor_run(paths, argv, log_path);
    }
    free(paths);
    int status = 0;
    if (runc_wait_child(pid, &status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot start the supervisor of %s", bundle);
    return 0;
}
