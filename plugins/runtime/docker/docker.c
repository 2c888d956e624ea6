/* runtime/docker: runs each container through dockerd's Engine API on its
 * unix socket. dockerd keeps all state, so containers outlive a kubelet restart. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"
#define DOCKER_DEFAULT_TIMEOUT_MS 30000
#define DOCKER_DEFAULT_PULL_TIMEOUT_MS 300000
#define DOCKER_NAME_ATTEMPTS 8      /* kl_..._<uid>, then _1, _2... when a name is taken */

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

static void signalled_set(docker_runtime_t *rt, const char *id, int signalled)
{
    pthread_mutex_lock(&rt->signalled_lock);
    if (signalled)
        json_object_set_new(rt->signalled, id, json_true());
    else
        json_object_del(rt->signalled, id);
    pthread_mutex_unlock(&rt->signalled_lock);
}

static int signalled_by_us(docker_runtime_t *rt, const char *id)
{
    pthread_mutex_lock(&rt->signalled_lock);
    int found = json_object_get(rt->signalled, id) != NULL;
    pthread_mutex_unlock(&rt->signalled_lock);
    return found;
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

/* ---- small checks ------------------------------------------------------ */

/* Ids go into URL paths unescaped: dockerd's ids are hex, names [A-Za-z0-9_.-]. */
static int id_check(const char *id, kl_error_t *err)
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

/* Namespace, pod and container names become part of the container's name. */
static int name_check(const char *what, const char *value, size_t max, kl_error_t *err)
{
    if (!value || value[0] == '\0' || strlen(value) > max)
        return kl_error_set(err, KL_ERR_INVALID, "container request: %s must be 1 to %zu characters", what, max);
    for (const char *p = value; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-' && *p != '.')
            return kl_error_set(err, KL_ERR_INVALID,
                                "container request: %s \"%.64s\" must be lower-case letters, digits, '-' and '.'",
                                what, value);
    return 0;
}

static int not_found(const char *id, const docker_runtime_t *rt, kl_error_t *err)
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

/* ---- pull ------------------------------------------------------------- */

static int docker_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    image_ref_t ref;
    if (image_ref_parse(image, &ref, err) < 0)
        return -1;
    if (policy != KL_PULL_IF_NOT_PRESENT && policy != KL_PULL_ALWAYS && policy != KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_INVALID, "image \"%s\": unknown pull policy %d", ref.full, (int)policy);
    return image_ensure(rt, &ref, policy, err);
}

/* ---- start / status / stop / kill / remove ----------------------------- */

static int container_delete(docker_runtime_t *rt, const char *id, kl_error_t *err)
{
    char path[256];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s?force=true&v=true", id);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "DELETE", path, NULL, rt->timeout_ms, NULL, NULL, &reply, err) < 0)
        return -1;
    int rc = 0;
    if (reply.status == 404)
        rc = not_found(id, rt, err);
    else if (reply.status == 409 && strstr(reply.body, "already in progress"))
        rc = 0;
    else if (reply.status != 204 && reply.status != 200) {
        char what[200];
        snprintf(what, sizeof what, "removing container %.80s", id);
        rc = reply_error(&reply, KL_ERR_INTERNAL, what, err);
    }
    docker_reply_free(&reply);
    return rc;
}

/* Creates under kl_<ns>_<pod>_<container>_<uid8>; a name still held by an
 * earlier run of the same container gets a numbered suffix. */
static int container_create(docker_runtime_t *rt, const kl_container_request_t *request, const json_t *body,
                            char id[KL_CONTAINER_ID_MAX], kl_error_t *err)
{
    char uid[9];
    size_t n = 0;
    for (const char *p = request->pod_uid; *p && n < 8; p++)
        if (isalnum((unsigned char)*p))
            uid[n++] = (char)tolower((unsigned char)*p);
    uid[n] = '\0';
    char base[512];
    snprintf(base, sizeof base, "kl_%s_%s_%s_%s", request->pod_namespace, request->pod_name, request->container_name,
             n ? uid : "nouid");
    for (int attempt = 0; attempt < DOCKER_NAME_ATTEMPTS; attempt++) {
        char name[540], path[600];
        if (attempt == 0)
            snprintf(name, sizeof name, "%s", base);
        else
            snprintf(name, sizeof name, "%s_%d", base, attempt);
        snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/create?name=%s", name);
        docker_reply_t reply;
        if (docker_http_call(rt->http, "POST", path, body, rt->timeout_ms, NULL, NULL, &reply, err) < 0)
            return -1;
        if (reply.status == 409) {
            docker_reply_free(&reply);
            continue;
        }
        char what[640];
        snprintf(what, sizeof what, "creating container \"%s\" as %s", request->container_name, name);
        if (reply.status != 201) {
            int code = reply.status == 404 ? KL_ERR_NOT_FOUND : reply.status == 400 ? KL_ERR_INVALID
                                                                                    : KL_ERR_INTERNAL;
            reply_error(&reply, code, what, err);
            docker_reply_free(&reply);
            return -1;
        }
        json_t *doc = json_loadb(reply.body, reply.length, 0, NULL);
        const char *new_id = json_string_value(json_object_get(doc, "Id"));
        kl_error_t check;
        int rc = 0;
        if (!new_id || id_check(new_id, &check) < 0)
            rc = kl_error_set(err, KL_ERR_INTERNAL, "%s: dockerd's reply has no usable Id: %.200s", what, reply.body);
        else
            memcpy(id, new_id, strlen(new_id) + 1);
        const json_t *warnings = json_object_get(doc, "Warnings");
        size_t i;
        const json_t *warning;
        json_array_foreach(warnings, i, warning)
            if (json_is_string(warning) && rt->host->log)
                rt->host->log(rt->host, KL_LOG_DEBUG, "%s: %s", what, json_string_value(warning));
        json_decref(doc);
        docker_reply_free(&reply);
        return rc;
    }
    return kl_error_set(err, KL_ERR_EXISTS, "creating container \"%s\": the names %s to %s_%d are all taken",
                        request->container_name, base, base, DOCKER_NAME_ATTEMPTS - 1);
}

static int docker_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                        kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (!request || !id)
        return kl_error_set(err, KL_ERR_INVALID, "container request is missing");
    if (name_check("pod namespace", request->pod_namespace, 63, err) < 0
        || name_check("pod name", request->pod_name, 253, err) < 0
        || name_check("container name", request->container_name, 63, err) < 0)
        return -1;
    if (!request->pod_uid || request->pod_uid[0] == '\0' || strlen(request->pod_uid) > 128)
        return kl_error_set(err, KL_ERR_INVALID, "container request: pod uid must be 1 to 128 characters");
    const char *name = request->container_name;
    if (!json_is_object(request->container))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" is not a JSON object", name);
    const char *image = json_string_value(json_object_get(request->container, "image"));
    if (!image)
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" has no image", name);
    image_ref_t ref;
    kl_pull_policy_t policy = KL_PULL_IF_NOT_PRESENT;
    if (image_ref_parse(image, &ref, err) < 0 || pull_policy_of(request->container, image, name, &policy, err) < 0)
        return -1;
    json_t *body = create_body(rt, request, &ref, err);
    if (!body)
        return -1;
    if (image_ensure(rt, &ref, policy, err) < 0) {
        json_decref(body);
        return -1;
    }
    char new_id[KL_CONTAINER_ID_MAX];
    int rc = container_create(rt, request, body, new_id, err);
    json_decref(body);
    if (rc < 0)
        return -1;

    char path[256];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s/start", new_id);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "POST", path, NULL, rt->timeout_ms, NULL, NULL, &reply, err) < 0) {
        kl_error_t ignored;
        container_delete(rt, new_id, &ignored);
        return -1;
    }
    if (reply.status != 204 && reply.status != 304) {
        /* The OCI runtime's own words, e.g. "exec: \"nosuch\": executable
         * file not found in $PATH": what Kubernetes shows as ContainerCannotRun. */
        char what[200];
        snprintf(what, sizeof what, "container \"%s\" cannot run", name);
        reply_error(&reply, reply.status >= 500 && !strstr(reply.body, "OCI runtime") ? KL_ERR_INTERNAL
                                                                                       : KL_ERR_INVALID,
                    what, err);
        docker_reply_free(&reply);
        kl_error_t ignored;
        container_delete(rt, new_id, &ignored);
        return -1;
    }
    docker_reply_free(&reply);
    memcpy(id, new_id, strlen(new_id) + 1);
    return 0;
}

/* GET /containers/{id}/json; caller owns the result. */
static json_t *container_inspect(docker_runtime_t *rt, const char *id, kl_error_t *err)
{
    if (id_check(id, err) < 0)
        return NULL;
    char path[256];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s/json", id);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "GET", path, NULL, rt->timeout_ms, NULL, NULL, &reply, err) < 0)
        return NULL;
    json_t *doc = NULL;
    if (reply.status == 404) {
        not_found(id, rt, err);
    } else if (reply.status != 200) {
        char what[200];
        snprintf(what, sizeof what, "inspecting container %.80s", id);
        reply_error(&reply, KL_ERR_INTERNAL, what, err);
    } else {
        json_error_t jerr;
        doc = json_loadb(reply.body, reply.length, 0, &jerr);
        if (!json_is_object(doc)) {
            json_decref(doc);
            doc = NULL;
            kl_error_set(err, KL_ERR_INTERNAL, "dockerd's description of container %.80s is not a JSON object: %s",
                         id, jerr.text);
        }
    }
    docker_reply_free(&reply);
    return doc;
}

static int docker_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (!status)
        return kl_error_set(err, KL_ERR_INVALID, "container status: no place for the result");
    json_t *doc = container_inspect(rt, id, err);
    if (!doc)
        return -1;
    int rc = status_from_state(json_object_get(doc, "State"), id, status, err);
    /* On cgroup v1 dockerd flags an OOM kill only when it hits the
     * container's first process; a child killed at the limit (a shell
     * pipeline) leaves OOMKilled false. A SIGKILL exit under a memory
     * limit that keelson did not send is the kernel's OOM killer. */
    json_int_t memory = json_integer_value(json_object_get(json_object_get(doc, "HostConfig"), "Memory"));
    if (rc == 0 && status->state == KL_CONTAINER_EXITED && !status->oom_killed
        && status->exit_code == 128 + 9 && memory > 0 && !signalled_by_us(rt, id)) {
        status->oom_killed = 1;
        snprintf(status->reason, sizeof status->reason, "OOMKilled");
        snprintf(status->message, sizeof status->message,
                 "killed with SIGKILL at its memory limit of %" JSON_INTEGER_FORMAT " bytes", memory);
    }
    json_decref(doc);
    return rc;
}

/* POST /containers/{id}/{action}; 304 and `ok_conflict` 409 mean "already so". */
static int container_action(docker_runtime_t *rt, const char *id, const char *action, int timeout_ms,
                            int ok_conflict, kl_error_t *err)
{
    if (id_check(id, err) < 0)
        return -1;
    char path[300];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s/%s", id, action);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "POST", path, NULL, timeout_ms, NULL, NULL, &reply, err) < 0)
        return -1;
    int rc = 0;
    if (reply.status == 404) {
        rc = not_found(id, rt, err);
    } else if (reply.status != 204 && reply.status != 200 && reply.status != 304
               && !(ok_conflict && reply.status == 409)) {
        char what[300];
        snprintf(what, sizeof what, "container %.80s: %.60s", id, action);
        rc = reply_error(&reply, KL_ERR_INTERNAL, what, err);
    }
    docker_reply_free(&reply);
    return rc;
}

static int docker_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (grace_ms < 0)
        grace_ms = 0;
    /* dockerd counts whole seconds; round up so the grace is never cut short. */
    int seconds = grace_ms / 1000 + (grace_ms % 1000 != 0);
    char action[64];
    snprintf(action, sizeof action, "stop?t=%d", seconds);
    if (id)
        signalled_set(rt, id, 1);
    return container_action(rt, id, action, seconds * 1000 + rt->timeout_ms, 0, err);
}

static int docker_kill(void *runtime, const char *id, int signal, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (signal < 1 || signal > 64)
        return kl_error_set(err, KL_ERR_INVALID, "container %.80s: signal %d is not from 1 to 64",
                            id ? id : "", signal);
    char action[64];
    snprintf(action, sizeof action, "kill?signal=%d", signal);
    if (id)
        signalled_set(rt, id, 1);
    /* 409: not running any more, which is what the caller wanted. */
    return container_action(rt, id, action, rt->timeout_ms, 1, err);
}

static int docker_remove(void *runtime, const char *id, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    signalled_set(rt, id, 0);
    return container_delete(rt, id, err);
}

/* ---- list ---------------------------------------------------------------- */

static int docker_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (!visit)
        return kl_error_set(err, KL_ERR_INVALID, "container list: no visit function");
    char filters[200], path[300];
    docker_query_escape("{\"label\":[\"" LABEL_UID "\"]}", filters, sizeof filters);
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/json?all=1&filters=%s", filters);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "GET", path, NULL, rt->timeout_ms, NULL, NULL, &reply, err) < 0)
        return -1;
    if (reply.status != 200) {
        reply_error(&reply, KL_ERR_INTERNAL, "listing containers", err);
        docker_reply_free(&reply);
        return -1;
    }
    json_t *list = json_loadb(reply.body, reply.length, 0, NULL);
    docker_reply_free(&reply);
    if (!json_is_array(list)) {
        json_decref(list);
        return kl_error_set(err, KL_ERR_INTERNAL, "dockerd's container list is not a JSON array");
    }
    int rc = 0;
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) {
        const char *id = json_string_value(json_object_get(item, "Id"));
        const json_t *labels = json_object_get(item, "Labels");
        kl_container_info_t info = {
            .id = id,
            .pod_namespace = json_string_value(json_object_get(labels, LABEL_NAMESPACE)),
            .pod_name = json_string_value(json_object_get(labels, LABEL_POD)),
            .pod_uid = json_string_value(json_object_get(labels, LABEL_UID)),
            .container_name = json_string_value(json_object_get(labels, LABEL_CONTAINER)),
            .image = json_string_value(json_object_get(item, "Image")),
        };
        kl_error_t skip;
        if (!id || id_check(id, &skip) < 0 || !info.pod_namespace || !info.pod_name || !info.pod_uid
            || !info.container_name)
            continue;  /* labelled by someone else, or incompletely */
        if (!info.image)
            info.image = "";
        /* The list's State is a word; the exit code needs an inspect. A
         * container removed in between is simply not listed. */
        if (docker_status(rt, id, &info.status, &skip) < 0) {
            if (skip.code == KL_ERR_NOT_FOUND)
                continue;
            *err = skip;
            rc = -1;
            break;
        }
        if (visit(&info, arg) != 0)
            break;
    }
    json_decref(list);
    return rc;
}

/* ---- logs ---------------------------------------------------------------- */

/* Undoes dockerd's framing of a non-tty log stream: each frame is an 8-byte
 * header (stream, 0, 0, 0, big-endian length) and that many bytes. */
typedef struct log_reader {
    unsigned char header[8];
    size_t header_have;
    size_t frame_left;
    int64_t skip;      /* payload bytes before the caller's offset */
    char *out;
    size_t size, copied;
    kl_error_t *err;
} log_reader_t;

static int log_sink(const char *data, size_t size, void *arg)
{
    log_reader_t *r = arg;
    size_t i = 0;
    while (i < size) {
        if (r->frame_left == 0) {
            while (i < size && r->header_have < sizeof r->header)
                r->header[r->header_have++] = (unsigned char)data[i++];
            if (r->header_have < sizeof r->header)
                return 0;
            if (r->header[0] > 2 || r->header[1] || r->header[2] || r->header[3]) {
                kl_error_set(r->err, KL_ERR_INTERNAL, "dockerd sent a log frame header that is not "
                             "(stream 0-2, 0, 0, 0, length): first byte %u", r->header[0]);
                return -1;
            }
            r->frame_left = (size_t)r->header[4] << 24 | (size_t)r->header[5] << 16 | (size_t)r->header[6] << 8
                            | r->header[7];
            r->header_have = 0;
            continue;
        }
        size_t n = size - i < r->frame_left ? size - i : r->frame_left;
        size_t skipped = r->skip > 0 ? ((int64_t)n < r->skip ? n : (size_t)r->skip) : 0;
        r->skip -= (int64_t)skipped;
        size_t take = n - skipped;
        if (take > r->size - r->copied)
            take = r->size - r->copied;
        memcpy(r->out + r->copied, data + i + skipped, take);
        r->copied += take;
        i += skipped + take;
        r->frame_left -= skipped + take;
        if (r->copied == r->size)
            return 1;  /* the caller's buffer is full: no need for the rest */
    }
    return 0;
}

static int docker_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                       kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (!buffer || !length || size == 0)
        return kl_error_set(err, KL_ERR_INVALID, "container logs: no buffer for the result");
    if (offset < 0)
        return kl_error_set(err, KL_ERR_INVALID, "container logs: offset %lld is negative", (long long)offset);
    *length = 0;
    if (id_check(id, err) < 0)
        return -1;
    char path[256];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s/logs?stdout=1&stderr=1", id);
    log_reader_t reader = { .skip = offset, .out = buffer, .size = size, .err = err };
    docker_reply_t reply;
    if (docker_http_call(rt->http, "GET", path, NULL, rt->timeout_ms, log_sink, &reader, &reply, err) < 0)
        return -1;
    int rc = 0;
    if (reply.status == 404)
        rc = not_found(id, rt, err);
    else if (reply.status != 200) {
        char what[200];
        snprintf(what, sizeof what, "reading the logs of container %.80s", id);
        rc = reply_error(&reply, KL_ERR_INTERNAL, what, err);
    } else
        *length = reader.copied;
    docker_reply_free(&reply);
    return rc;
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
