/* runtime/podman: building a podman command line and running it, and
 * reading what podman's error text means. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "podman.h"

void args_add(podman_args_t *args, const char *text)
{
    if (args->count + 1 >= PODMAN_ARGS_MAX) {
        args->overflow = 1;
        return;
    }
    args->argv[args->count++] = (char *)text;
    args->argv[args->count] = NULL;
}

__attribute__((format(printf, 2, 3)))
void args_addf(podman_args_t *args, const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0 || args->owned_count >= PODMAN_ARGS_MAX) {
        if (n >= 0)
            free(text);
        args->overflow = 1;
        return;
    }
    args->owned[args->owned_count++] = text;
    args_add(args, text);
}

void args_free(podman_args_t *args)
{
    for (size_t i = 0; i < args->owned_count; i++)
        free(args->owned[i]);
    args->owned_count = args->count = 0;
}

/* Every command names the private storage, so nothing touches the
 * machine's own podman images and containers. */
void args_begin(podman_args_t *args, podman_runtime_t *rt)
{
    memset(args, 0, sizeof *args);
    args->rt = rt;
    args_add(args, rt->podman);
    args_add(args, "--root");
    args_add(args, rt->root);
    args_add(args, "--runroot");
    args_add(args, rt->runroot);
    args_add(args, "--tmpdir");
    args_add(args, rt->tmpdir);
    args_add(args, "--runtime");
    args_add(args, rt->runtime);
    args_add(args, "--cgroup-manager");
    args_add(args, rt->cgroup_manager);
    args_add(args, "--events-backend");
    args_add(args, "file");
}

static int exits_watched(void *arg)
{
    podman_runtime_t *rt = arg;
    pthread_mutex_lock(&rt->lock);
    exits_update(rt);
    int fd = rt->watch_fd;
    pthread_mutex_unlock(&rt->lock);
    return fd;
}

/* Exit files are read while podman runs too: a `podman run` or inspect
 * outlasts the ~40 ms an exit file lives. Whatever holds a known_container_t
 * pointer across this looks it up again: the table may move. */
int args_run(podman_args_t *args, int timeout_ms, int merge, char **out, char *message, size_t size)
{
    if (args->overflow) {
        snprintf(message, size, "too many arguments for podman");
        if (out)
            *out = NULL;
        return -1;
    }
    podman_runtime_t *rt = args->rt;
    int watch_fd = rt->watch_fd;
    pthread_mutex_unlock(&rt->lock);
    int rc = podman_command_run(args->argv, rt->tmpdir, timeout_ms, merge, out, message, size, watch_fd,
                                exits_watched, rt);
    pthread_mutex_lock(&rt->lock);
    return rc;
}

static int message_has(const char *message, const char *const words[])
{
    for (size_t i = 0; words[i]; i++)
        if (strcasestr(message, words[i]))
            return 1;
    return 0;
}

int is_image_missing(const char *message)
{
    static const char *const words[] = { "image not known", "no such image", "unable to find", NULL };
    return message_has(message, words);
}

int is_no_such_container(const char *message)
{
    static const char *const words[] = { "no such container", "no container with", NULL };
    return message_has(message, words);
}

/* podman reports pull failures as text: map them onto the ABI's codes. */
int pull_error_code(const char *message)
{
    static const char *const unavailable[] = {
        "connection refused", "no such host", "dial tcp", "i/o timeout", "network is unreachable",
        "pinging container registry", "TLS handshake", "server gave HTTP response", "did not finish", NULL
    };
    static const char *const not_found[] = {
        "manifest unknown", "name unknown", "not found", "no such image", "does not exist", "unauthorized", NULL
    };
    static const char *const invalid[] = { "invalid reference", "repository name must", "invalid", NULL };
    if (message_has(message, unavailable))
        return KL_ERR_UNAVAILABLE;
    if (message_has(message, not_found))
        return KL_ERR_NOT_FOUND;
    if (message_has(message, invalid))
        return KL_ERR_INVALID;
    return KL_ERR_UNAVAILABLE;
}

/* podman's last line is its error; the retries above it only repeat it. */
const char *last_line(const char *message)
{
    const char *newline = strrchr(message, '\n');
    return newline ? newline + 1 : message;
}
