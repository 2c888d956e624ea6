/* runtime/docker: runs each container through dockerd's Engine API on its
 * unix socket. dockerd keeps all state, so containers outlive a kubelet restart.
 * Here: the settings, open and close, what the ops share (id checks, error
 * replies, the containers this plugin signalled) and the ops table. The ops
 * live in lifecycle.c, inspect.c, logs.c and image.c. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"
#define DOCKER_DEFAULT_TIMEOUT_MS 30000
#define DOCKER_DEFAULT_PULL_TIMEOUT_MS 300000

static const kl_setting_spec_t docker_settings[] = {
    { "socket", KL_SETTING_STRING, 0, "dockerd's unix socket (default " DOCKER_DEFAULT_SOCKET ")" },
    { "timeout_ms", KL_SETTING_INT, 0, "limit for one Engine API call, pulls aside (default 30000)" },
    { "pull_timeout_ms", KL_SETTING_INT, 0, "limit for pulling one image (default 300000)" },
    { "network", KL_SETTING_STRING, 0, "container network mode: \"host\" (default) or \"none\"" },
    { "nofile", KL_SETTING_INT, 0, "open-file limit set in every container (default: dockerd's)" },
    KL_SETTINGS_END
};

static void runtime_log(docker_runtime_t *rt, kl_log_level_t level, const char *text)
{
    if (rt->host->log)
        rt->host->log(rt->host, level, "%s", text);
}

/* ---- open / close ------------------------------------------------------ */

static void docker_close(void *runtime)
{
    docker_runtime_t *rt = runtime;
    if (!rt)
        return;
    docker_events_stop(&rt->events);  /* its thread calls through http */
    docker_http_destroy(&rt->http);
    json_decref(rt->signalled);
    pthread_mutex_destroy(&rt->signalled_lock);
    free(rt);
}

static void *docker_open(const kl_host_t *host, kl_error_t *err)
{
    if (!host || !host->setting_string || !host->setting_int) {
        kl_error_set(err, KL_ERR_INVALID, "runtime/docker needs a host table with settings");
        return NULL;
    }
    docker_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: out of memory");
        return NULL;
    }
    rt->host = host;
    pthread_mutex_init(&rt->signalled_lock, NULL);
    rt->signalled = json_object();
    rt->socket = host->setting_string(host, "socket", DOCKER_DEFAULT_SOCKET);
    rt->network = host->setting_string(host, "network", "host");
    long long timeout = host->setting_int(host, "timeout_ms", DOCKER_DEFAULT_TIMEOUT_MS);
    long long pull_timeout = host->setting_int(host, "pull_timeout_ms", DOCKER_DEFAULT_PULL_TIMEOUT_MS);
    rt->nofile = host->setting_int(host, "nofile", 0);
    int bad = 1;
    /* sun_path holds 108 bytes with its NUL. */
    if (!rt->socket || rt->socket[0] != '/' || strlen(rt->socket) > 107)
        kl_error_set(err, KL_ERR_INVALID, "runtime/docker setting socket \"%.200s\" must be an absolute path of "
                     "at most 107 characters", rt->socket ? rt->socket : "");
    else if (!rt->network || (strcmp(rt->network, "host") != 0 && strcmp(rt->network, "none") != 0))
        kl_error_set(err, KL_ERR_INVALID, "runtime/docker setting network \"%.64s\" must be \"host\" or \"none\"",
                     rt->network ? rt->network : "");
    else if (timeout < 100 || timeout > 3600000)
        kl_error_set(err, KL_ERR_INVALID, "runtime/docker setting timeout_ms %lld must be from 100 to 3600000",
                     timeout);
    else if (pull_timeout < 1000 || pull_timeout > 86400000)
        kl_error_set(err, KL_ERR_INVALID,
                     "runtime/docker setting pull_timeout_ms %lld must be from 1000 to 86400000", pull_timeout);
    else if (rt->nofile != 0 && (rt->nofile < 64 || rt->nofile > 1048576))
        kl_error_set(err, KL_ERR_INVALID, "runtime/docker setting nofile %lld must be 0 or from 64 to 1048576",
                     rt->nofile);
    else
        bad = 0;
    if (bad) {
        docker_close(rt);
        return NULL;
    }
    rt->timeout_ms = (int)timeout;
    rt->pull_timeout_ms = (int)pull_timeout;
    rt->http = docker_http_new(rt->socket, err);
    if (!rt->http) {
        docker_close(rt);
        return NULL;
    }
    /* dockerd may come up after keelsond: warn now, fail each call later. */
    docker_reply_t reply;
    kl_error_t ping_err;
    if (docker_http_call(rt->http, "GET", "/_ping", NULL, 2000, NULL, NULL, &reply, &ping_err) < 0)
        runtime_log(rt, KL_LOG_WARN, ping_err.text);
    docker_reply_free(&reply);
    kl_error_t events_err;
    rt->events = docker_events_start(rt, &events_err);
    if (!rt->events)
        runtime_log(rt, KL_LOG_WARN, events_err.text);
    return rt;
}

/* ---- stops and kills of ours ----------------------------------------- */

void docker_signalled_set(docker_runtime_t *rt, const char *id, int signalled)
{
    pthread_mutex_lock(&rt->signalled_lock);
    if (signalled)
        json_object_set_new(rt->signalled, id, json_true());
    else
        json_object_del(rt->signalled, id);
    pthread_mutex_unlock(&rt->signalled_lock);
}

int docker_signalled_by_us(docker_runtime_t *rt, const char *id)
{
    pthread_mutex_lock(&rt->signalled_lock);
    int found = json_object_get(rt->signalled, id) != NULL;
    pthread_mutex_unlock(&rt->signalled_lock);
    return found;
}

/* ---- small checks ------------------------------------------------------ */

/* Ids go into URL paths unescaped: dockerd's ids are hex, names [A-Za-z0-9_.-]. */
int docker_id_check(const char *id, kl_error_t *err)
{
    if (!id || id[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "container id is empty");
    size_t length = strnlen(id, KL_CONTAINER_ID_MAX);
    if (length >= KL_CONTAINER_ID_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "container id is longer than %d characters",
                            KL_CONTAINER_ID_MAX - 1);
    for (const char *p = id; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
            return kl_error_set(err, KL_ERR_INVALID,
                                "container id \"%.128s\" has a character other than letters, digits, '_', '.' or '-'",
                                id);
    return 0;
}

int docker_not_found(const char *id, const docker_runtime_t *rt, kl_error_t *err)
{
    return kl_error_set(err, KL_ERR_NOT_FOUND, "container %.80s not found in dockerd on %s", id, rt->socket);
}

/* Any reply we did not expect: dockerd's own sentence, named by the call. */
int reply_error(const docker_reply_t *reply, int code, const char *what, kl_error_t *err)
{
    char message[400];
    docker_reply_message(reply, message, sizeof message);
    return kl_error_set(err, code, "%s: dockerd answered %ld: %s", what, reply->status, message);
}

/* dockerd serialises what must be; each call here has its own connection. */
static uint32_t docker_features(void *runtime)
{
    (void)runtime;
    return KL_RUNTIME_CONCURRENT_STARTS;
}

static int docker_ops_events_fd(void *runtime)
{
    return docker_events_fd(((docker_runtime_t *)runtime)->events);
}

static int docker_ops_events_read(void *runtime, void (*changed)(const char *id, void *arg), void *arg,
                                  kl_error_t *err)
{
    return docker_events_read(((docker_runtime_t *)runtime)->events, changed, arg, err);
}

static const kl_runtime_ops_t docker_ops = {
    .open = docker_open,
    .close = docker_close,
    .start = docker_start,
    .status = docker_status,
    .stop = docker_stop,
    .remove = docker_remove,
    .pull = docker_pull,
    .list = docker_list,
    .logs = docker_logs,
    .kill = docker_kill,
    .features = docker_features,
    .events_fd = docker_ops_events_fd,
    .events_read = docker_ops_events_read,
};

KL_RUNTIME_PLUGIN("docker", "0.1.0", "containers run by dockerd through its Engine API on a unix socket",
                  docker_settings, docker_ops);
