/* runtime/runc: stopping a container (signals through `runc kill`, then
 * waiting for the supervisor to record the exit), killing it with a given
 * signal, and removing it with its cgroups and bundle. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "runc.h"

#define RUNC_KILL_WAIT_MS 5000  /* after SIGKILL: the kernel needs a moment to reap */
#define RUNC_POLL_MS 20
#define RUNC_CGROUP_ROOT "/sys/fs/cgroup"

static void runtime_log(runc_runtime_t *rt, kl_log_level_t level, const char *text)
{
    if (rt->host->log)
        rt->host->log(rt->host, level, "%s", text);
}

static int runc_signal(runc_runtime_t *rt, const char *id, const char *signal_name)
{
    char message[512];
    char *argv[] = { (char *)rt->runc, "--root", rt->root, "kill", (char *)id, (char *)signal_name, NULL };
    return runc_command_run(argv, RUNC_COMMAND_TIMEOUT_MS, NULL, message, sizeof message) == 0 ? 0 : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Sends `signal_name` (again every 200 ms until runc takes it: a container
 * still being created cannot be signalled yet) and waits up to wait_ms. */
static int signal_and_wait(runc_runtime_t *rt, const char *id, const char *bundle, const char *signal_name,
                           int wait_ms)
{
    int64_t start = runc_monotonic_ms();
    int64_t last_try = -1000;
    int delivered = 0;
    for (;;) {
        if (runc_exit_recorded(rt, id))
            return 1;
        int64_t now = runc_monotonic_ms();
        if (!delivered && now - last_try >= 200) {
            delivered = runc_signal(rt, id, signal_name) == 0;
            last_try = now;
            if (!delivered && runc_supervisor_alive(bundle) == 0)
                return runc_exit_recorded(rt, id) ? 1 : -1;
        }
        if (now - start >= wait_ms)
            return 0;
        sleep_ms(RUNC_POLL_MS);
    }
}

int runc_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096];
    if (runc_bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    if (grace_ms < 0)
        grace_ms = 0;
    int done = grace_ms > 0 ? signal_and_wait(rt, id, bundle, "TERM", grace_ms) : 0;
    if (done == 0)
        done = signal_and_wait(rt, id, bundle, "KILL", RUNC_KILL_WAIT_MS);
    if (done > 0)
        return 0;
    if (done < 0)
        return kl_error_set(err, KL_ERR_UNAVAILABLE,
                            "container %s cannot be stopped: its supervisor is gone and runc does not know it", id);
    return kl_error_set(err, KL_ERR_TIMEOUT, "container %s did not exit within %d ms of SIGKILL", id,
                        RUNC_KILL_WAIT_MS);
}

/* runc delete removes the container's cgroups; what a failed start or a
 * killed supervisor left behind goes here. An empty cgroup is a folder
 * rmdir() removes; one still holding a process stays (and is logged by runc). */
static void cgroup_remove(const char *id)
{
    DIR *dir = opendir(RUNC_CGROUP_ROOT);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, RUNC_CGROUP_ROOT "/%.255s/" RUNC_CGROUP_PARENT "/%s", entry->d_name, id);
        rmdir(path);
    }
    closedir(dir);
    char path[4096];  /* cgroup v2: one hierarchy at the root */
    snprintf(path, sizeof path, RUNC_CGROUP_ROOT "/" RUNC_CGROUP_PARENT "/%s", id);
    rmdir(path);
}

int runc_remove(void *runtime, const char *id, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096];
    if (runc_bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    kl_error_t stop_err;
    if (!runc_exit_recorded(rt, id) && runc_stop(rt, id, 0, &stop_err) < 0)
        runtime_log(rt, KL_LOG_WARN, stop_err.text);  /* delete --force below kills what is left */

    char message[512];
    char *argv[] = { (char *)rt->runc, "--root", rt->root, "delete", "--force", (char *)id, NULL };
    int rc = runc_command_run(argv, RUNC_COMMAND_TIMEOUT_MS, NULL, message, sizeof message);
    if (rc != 0 && !strstr(message, "does not exist") && !strstr(message, "not found"))
        return kl_error_set(err, KL_ERR_INTERNAL, "runc delete %s failed: %s", id,
                            message[0] ? message : "no message");
    cgroup_remove(id);
    /* The supervisor mounts the overlay in a namespace that ends with the
     * container; a rootfs mounted here (by hand, or by an older keelson)
     * would keep the bundle from going. */
    char rootfs[4200];
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", bundle);
    if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        runtime_log(rt, KL_LOG_WARN, "cannot unmount a container's root file system");
    if (runc_tree_remove(bundle) < 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot remove the bundle %s of container %s: %s", bundle, id,
                            strerror(errno));
    return 0;
}

int runc_kill(void *runtime, const char *id, int signal_number, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096], name[16], message[512];
    if (runc_bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    if (signal_number <= 0 || signal_number > 64)
        return kl_error_set(err, KL_ERR_INVALID, "signal %d sent to container %s is not between 1 and 64",
                            signal_number, id);
    if (runc_exit_recorded(rt, id))
        return 0;  /* nothing left to signal */
    snprintf(name, sizeof name, "%d", signal_number);
    char *argv[] = { (char *)rt->runc, "--root", rt->root, "kill", (char *)id, name, NULL };
    if (runc_command_run(argv, RUNC_COMMAND_TIMEOUT_MS, NULL, message, sizeof message) == 0
        || runc_exit_recorded(rt, id))
        return 0;
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "runc kill %s %d failed: %s", id, signal_number,
                        message[0] ? message : "no message");
}
