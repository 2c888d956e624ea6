/* runtime/docker: runs each container through dockerd's Engine API on its
 * unix socket. dockerd keeps all state, so containers outlive a kubelet restart. */
#define _GNU_SOURCE
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "docker.h"

#define DOCKER_DEFAULT_SOCKET "/var/run/docker.sock"
#define DOCKER_DEFAULT_TIMEOUT_MS 30000
#define DOCKER_DEFAULT_PULL_TIMEOUT_MS 300000
#define DOCKER_NAME_ATTEMPTS 8      /* kl_..._<uid>, then _1, _2... when a name is taken */
#define DOCKER_PULL_LINE_MAX 65536  /* a progress line longer than this is skipped */

#define LABEL_NAMESPACE "io.keelson.pod.namespace"
#define LABEL_POD "io.keelson.pod.name"
#define LABEL_UID "io.keelson.pod.uid"
#define LABEL_CONTAINER "io.keelson.container"

typedef struct docker_runtime {
    const kl_host_t *host;
    const char *socket;   /* borrowed from the host table */
    const char *network;  /* "host" or "none" */
    int timeout_ms;
    int pull_timeout_ms;
    long long nofile;     /* 0: dockerd's default */
    docker_http_t *http;
    json_t *signalled;  /* ids this plugin stopped or killed: their 137 is ours */
} docker_runtime_t;

static const kl_setting_spec_t docker_settings[] = {
    { "socket", KL_SETTING_STRING, 0, "dockerd's unix socket (default " DOCKER_DEFAULT_SOCKET ")" },
    { "timeout_ms", KL_SETTING_INT, 0, "limit for one Engine API call, pulls aside (default 30000)" },
    { "pull_timeout_ms", KL_SETTING_INT, 0, "limit for pulling one image (default 300000)" },
    { "network", KL_SETTING_STRING, 0, "container network mode: \"host\" (default) or \"none\"" },
    { "nofile", KL_SETTING_INT, 0, "open-file limit set in every container (default: dockerd's)" },
    KL_SETTINGS_END
};

/* A parsed image reference: `from` and `tag` for /images/create, `full` for
 * /containers/create and /images/{name}/json. */
typedef struct image_ref {
    char from[512];
    char tag[160];
    char full[680];
} image_ref_t;

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
    docker_http_destroy(&rt->http);
    json_decref(rt->signalled);
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
        free(rt);
        return NULL;
    }
    rt->timeout_ms = (int)timeout;
    rt->pull_timeout_ms = (int)pull_timeout;
    rt->http = docker_http_new(rt->socket, err);
    if (!rt->http) {
        free(rt);
        return NULL;
    }
    /* dockerd may come up after keelsond: warn now, fail each call later. */
    docker_reply_t reply;
    kl_error_t ping_err;
    if (docker_http_call(rt->http, "GET", "/_ping", NULL, 2000, NULL, NULL, &reply, &ping_err) < 0)
        runtime_log(rt, KL_LOG_WARN, ping_err.text);
    docker_reply_free(&reply);
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
static int reply_error(const docker_reply_t *reply, int code, const char *what, kl_error_t *err)
{
    char message[400];
    docker_reply_message(reply, message, sizeof message);
    return kl_error_set(err, code, "%s: dockerd answered %ld: %s", what, reply->status, message);
}

/* ---- images ------------------------------------------------------------- */

static int is_tag_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Docker's reference grammar, a little stricter: [host[:port]/]path[:tag][@algo:hex]. */
static int image_ref_parse(const char *image, image_ref_t *ref, kl_error_t *err)
{
    memset(ref, 0, sizeof *ref);
    if (!image || image[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "image reference is empty");
    size_t length = strlen(image);
    if (length >= sizeof ref->from)
        return kl_error_set(err, KL_ERR_INVALID, "image reference \"%.64s...\" is longer than %zu characters", image,
                            sizeof ref->from - 1);
    char name[512];
    memcpy(name, image, length + 1);
    const char *digest = NULL;
    char *at = strchr(name, '@');
    if (at) {
        *at = '\0';
        digest = at + 1;
        const char *colon = strchr(digest, ':');
        int good = colon && colon > digest && strlen(colon + 1) >= 32;
        for (const char *p = digest; good && *p; p++)
            good = p < colon ? (islower((unsigned char)*p) || isdigit((unsigned char)*p))
                             : p == colon || isxdigit((unsigned char)*p);
        if (!good)
            return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": digest \"%.100s\" is not ALGORITHM:HEX", image,
                                digest);
    }
    char *slash = strrchr(name, '/');
    char *colon = strrchr(slash ? slash : name, ':');
    const char *tag = NULL;
    if (colon) {
        *colon = '\0';
        tag = colon + 1;
        if (tag[0] == '\0' || strlen(tag) > 128 || tag[0] == '.' || tag[0] == '-')
            return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": tag \"%.140s\" must be 1 to 128 letters, "
                                "digits, '_', '.' or '-', not starting with '.' or '-'", image, tag);
        for (const char *p = tag; *p; p++)
            if (!is_tag_char(*p))
                return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": tag \"%.140s\" has the character '%c'",
                                    image, tag, *p);
    }
    /* The first component is a registry host when it has '.' or ':' or is
     * localhost; the repository path after it must be lower case. */
    const char *path = name;
    const char *first_slash = strchr(name, '/');
    if (first_slash) {
        size_t host_length = (size_t)(first_slash - name);
        if (memchr(name, '.', host_length) || memchr(name, ':', host_length)
            || (host_length == 9 && strncmp(name, "localhost", 9) == 0)) {
            for (const char *p = name; p < first_slash; p++)
                if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != ':' && *p != '[' && *p != ']')
                    return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": registry host has the character '%c'",
                                        image, *p);
            if (host_length == 0 || name[0] == '.' || name[0] == '-' || name[0] == ':')
                return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": registry host is malformed", image);
            path = first_slash + 1;
        }
    }
    int previous_separator = 1;  /* no separator first, none twice, none last */
    for (const char *p = path; *p; p++) {
        int separator = *p == '/' || *p == '.' || *p == '_' || *p == '-';
        if (!separator && !islower((unsigned char)*p) && !isdigit((unsigned char)*p))
            return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": repository \"%.200s\" must be lower-case "
                                "letters, digits and separators '/', '.', '_', '-' (found '%c')", image, path, *p);
        if (separator && previous_separator
            && !(p > path && ((*p == '_' && p[-1] == '_') || (*p == '-' && p[-1] == '-'))))
            return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": repository \"%.200s\" has a misplaced '%c'",
                                image, path, *p);
        previous_separator = separator;
    }
    if (path[0] == '\0' || previous_separator)
        return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": repository name is empty or ends in a separator",
                            image);
    snprintf(ref->from, sizeof ref->from, "%s", name);
    if (digest) {
        snprintf(ref->tag, sizeof ref->tag, "%s", digest);
        snprintf(ref->full, sizeof ref->full, "%s@%s", name, digest);
    } else {
        snprintf(ref->tag, sizeof ref->tag, "%s", tag ? tag : "latest");
        snprintf(ref->full, sizeof ref->full, "%s:%s", name, ref->tag);
    }
    return 0;
}

/* 1 present, 0 absent, -1 error. */
static int image_present(docker_runtime_t *rt, const image_ref_t *ref, kl_error_t *err)
{
    char path[1024];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/images/%s/json", ref->full);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "GET", path, NULL, rt->timeout_ms, NULL, NULL, &reply, err) < 0)
        return -1;
    int rc = reply.status == 200 ? 1 : reply.status == 404 ? 0 : -1;
    if (rc < 0) {
        char what[800];
        snprintf(what, sizeof what, "looking up image \"%s\"", ref->full);
        reply_error(&reply, KL_ERR_INTERNAL, what, err);
    }
    docker_reply_free(&reply);
    return rc;
}

/* Reads the JSON lines of a pull's progress and keeps the first error. */
typedef struct pull_progress {
    char *line;
    size_t length;
    int overlong;
    char error[400];
} pull_progress_t;

static void pull_line(pull_progress_t *progress, const char *text, size_t length)
{
    if (progress->error[0] || length == 0)
        return;
    json_t *doc = json_loadb(text, length, 0, NULL);
    const char *error = json_string_value(json_object_get(doc, "error"));
    if (!error)
        error = json_string_value(json_object_get(json_object_get(doc, "errorDetail"), "message"));
    if (error)
        snprintf(progress->error, sizeof progress->error, "%s", error[0] ? error : "(empty error)");
    json_decref(doc);
}

static int pull_sink(const char *data, size_t size, void *arg)
{
    pull_progress_t *progress = arg;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') {
            if (!progress->overlong)
                pull_line(progress, progress->line, progress->length);
            progress->length = 0;
            progress->overlong = 0;
            continue;
        }
        if (progress->overlong)
            continue;
        if (progress->length + 1 >= DOCKER_PULL_LINE_MAX) {
            progress->overlong = 1;
            continue;
        }
        progress->line[progress->length++] = data[i];
    }
    return 0;
}

/* Kubernetes' ErrImagePull vs a registry or daemon that is not there. */
static int pull_error_code(const char *message)
{
    static const char *const absent[] = { "not found", "manifest unknown", "does not exist", "name unknown",
                                          "pull access denied", "repository name not known" };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (strcasestr(message, absent[i]))
            return KL_ERR_NOT_FOUND;
    if (strcasestr(message, "invalid reference format"))
        return KL_ERR_INVALID;
    return KL_ERR_UNAVAILABLE;
}

static int image_pull(docker_runtime_t *rt, const image_ref_t *ref, kl_error_t *err)
{
    char from[1600], tag[500], path[2300];
    if (docker_query_escape(ref->from, from, sizeof from) < 0 || docker_query_escape(ref->tag, tag, sizeof tag) < 0)
        return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\" is too long to pull", ref->full);
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/images/create?fromImage=%s&tag=%s", from, tag);
    pull_progress_t progress = { .line = malloc(DOCKER_PULL_LINE_MAX) };
    if (!progress.line)
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: out of memory");
    docker_reply_t reply;
    int rc = docker_http_call(rt->http, "POST", path, NULL, rt->pull_timeout_ms, pull_sink, &progress, &reply, err);
    if (rc == 0 && !progress.overlong)
        pull_line(&progress, progress.line, progress.length);  /* a last line without its newline */
    free(progress.line);
    if (rc < 0) {
        char text[sizeof err->text];
        snprintf(text, sizeof text, "%s", err->text);
        return kl_error_set(err, err->code, "cannot pull image \"%s\": %s", ref->full, text);
    }
    if (reply.status != 200 && !progress.error[0])
        docker_reply_message(&reply, progress.error, sizeof progress.error);
    docker_reply_free(&reply);
    if (progress.error[0])
        return kl_error_set(err, pull_error_code(progress.error), "cannot pull image \"%s\": %s", ref->full,
                            progress.error);
    return 0;
}

static int image_ensure(docker_runtime_t *rt, const image_ref_t *ref, kl_pull_policy_t policy, kl_error_t *err)
{
    if (policy != KL_PULL_ALWAYS) {
        int present = image_present(rt, ref, err);
        if (present != 0)
            return present > 0 ? KL_PULL_PRESENT : -1;
        if (policy == KL_PULL_NEVER)
            return kl_error_set(err, KL_ERR_NOT_FOUND,
                                "image \"%s\" is not present in dockerd on %s and the pull policy is Never",
                                ref->full, rt->socket);
    }
    return image_pull(rt, ref, err);
}

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

/* imagePullPolicy, defaulted as Kubernetes does: Always for :latest or no tag. */
static int pull_policy_of(const json_t *container, const char *image, const char *name, kl_pull_policy_t *policy,
                          kl_error_t *err)
{
    const json_t *value = json_object_get(container, "imagePullPolicy");
    if (!value || json_is_null(value)) {
        const char *slash = strrchr(image, '/');
        const char *colon = strrchr(slash ? slash : image, ':');
        int latest = !strchr(image, '@') && (!colon || strcmp(colon, ":latest") == 0);
        *policy = latest ? KL_PULL_ALWAYS : KL_PULL_IF_NOT_PRESENT;
        return 0;
    }
    const char *text = json_string_value(value);
    if (text && strcmp(text, "Always") == 0)
        *policy = KL_PULL_ALWAYS;
    else if (text && strcmp(text, "IfNotPresent") == 0)
        *policy = KL_PULL_IF_NOT_PRESENT;
    else if (text && strcmp(text, "Never") == 0)
        *policy = KL_PULL_NEVER;
    else
        return kl_error_set(err, KL_ERR_INVALID,
                            "container \"%s\": imagePullPolicy must be Always, IfNotPresent or Never", name);
    return 0;
}

/* ---- the create request ------------------------------------------------- */

static int string_list(const json_t *from, const char *container, const char *what, json_t **out,
                       kl_error_t *err)
{
    *out = NULL;
    if (!from || json_is_null(from))
        return 0;
    if (!json_is_array(from))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": %s must be a list of strings", container, what);
    json_t *list = json_array();
    size_t i;
    const json_t *item;
    json_array_foreach(from, i, item) {
        if (!json_is_string(item)) {
            json_decref(list);
            return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": %s[%zu] is not a string", container, what,
                                i);
        }
        json_array_append_new(list, json_string(json_string_value(item)));
    }
    *out = list;
    return 0;
}

static json_t *env_list(const json_t *env, const char *name, kl_error_t *err)
{
    json_t *list = json_array();
    if (!env || json_is_null(env))
        return list;
    if (!json_is_array(env)) {
        json_decref(list);
        kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env must be a list", name);
        return NULL;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(env, i, item) {
        const char *var = json_string_value(json_object_get(item, "name"));
        const json_t *value = json_object_get(item, "value");
        if (!var || var[0] == '\0' || strchr(var, '='))
            kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env[%zu].name must be a non-empty string without '='",
                         name, i);
        else if (json_object_get(item, "valueFrom"))
            kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env %s uses valueFrom, which runtime/docker cannot "
                         "resolve", name, var);
        else if (value && !json_is_null(value) && !json_is_string(value))
            kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env %s has a value that is not a string", name, var);
        else {
            const char *text = value ? json_string_value(value) : NULL;
            json_array_append_new(list, json_sprintf("%s=%s", var, text ? text : ""));
            continue;
        }
        json_decref(list);
        return NULL;
    }
    return list;
}

/* A quantity may arrive as text ("500m") or, from a careless client, a number. */
static const char *quantity_text(const json_t *value, char *buffer, size_t size)
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_integer(value) && json_integer_value(value) >= 0) {
        snprintf(buffer, size, "%lld", (long long)json_integer_value(value));
        return buffer;
    }
    if (json_is_real(value) && json_real_value(value) >= 0 && json_real_value(value) < 1e15) {
        snprintf(buffer, size, "%.6f", json_real_value(value));
        return buffer;
    }
    return NULL;
}

static int apply_limits(json_t *host_config, const json_t *container, const char *name, kl_error_t *err)
{
    const json_t *limits = json_object_get(json_object_get(container, "resources"), "limits");
    if (!limits || json_is_null(limits))
        return 0;
    if (!json_is_object(limits))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": resources.limits must be an object", name);
    char buffer[64], what[160];
    const json_t *memory = json_object_get(limits, "memory");
    if (memory) {
        snprintf(what, sizeof what, "container \"%.64s\": resources.limits.memory", name);
        const char *text = quantity_text(memory, buffer, sizeof buffer);
        int64_t bytes;
        if (!text)
            return kl_error_set(err, KL_ERR_INVALID, "%s must be a quantity string", what);
        if (docker_quantity_memory(text, what, &bytes, err) < 0)
            return -1;
        /* dockerd refuses less; say so before it does, with the field's name. */
        if (bytes < 6 * 1024 * 1024)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%s\" is below docker's minimum of 6Mi", what, text);
        /* Swap equal to memory: the limit is the limit, as in Kubernetes. */
        json_object_set_new(host_config, "Memory", json_integer(bytes));
        json_object_set_new(host_config, "MemorySwap", json_integer(bytes));
    }
    const json_t *cpu = json_object_get(limits, "cpu");
    if (cpu) {
        snprintf(what, sizeof what, "container \"%.64s\": resources.limits.cpu", name);
        const char *text = quantity_text(cpu, buffer, sizeof buffer);
        int64_t millicores;
        if (!text)
            return kl_error_set(err, KL_ERR_INVALID, "%s must be a quantity string", what);
        if (docker_quantity_cpu(text, what, &millicores, err) < 0)
            return -1;
        if (millicores < 1 || millicores > 1000000)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%s\" must be from 1m to 1000 cpus", what, text);
        json_object_set_new(host_config, "NanoCpus", json_integer(millicores * 1000000));
    }
    return 0;
}

/* Caller owns the result. */
static json_t *create_body(docker_runtime_t *rt, const kl_container_request_t *request, const image_ref_t *ref,
                           kl_error_t *err)
{
    const char *name = request->container_name;
    const json_t *container = request->container;
    json_t *entrypoint = NULL, *cmd = NULL;
    if (string_list(json_object_get(container, "command"), name, "command", &entrypoint, err) < 0)
        return NULL;
    if (string_list(json_object_get(container, "args"), name, "args", &cmd, err) < 0) {
        json_decref(entrypoint);
        return NULL;
    }
    json_t *env = env_list(json_object_get(container, "env"), name, err);
    if (!env) {
        json_decref(entrypoint);
        json_decref(cmd);
        return NULL;
    }
    json_t *body = json_pack("{s:s, s:o, s:b, s:b, s:b, s:b, s:{s:s, s:s, s:s, s:s}}",
                             "Image", ref->full, "Env", env, "Tty", 0, "OpenStdin", 0, "AttachStdout", 0,
                             "AttachStderr", 0, "Labels", LABEL_NAMESPACE, request->pod_namespace, LABEL_POD,
                             request->pod_name, LABEL_UID, request->pod_uid, LABEL_CONTAINER, name);
    json_t *host_config = json_pack("{s:s, s:{s:s, s:{}}}", "NetworkMode", rt->network, "LogConfig", "Type",
                                    "json-file", "Config");
    if (!body || !host_config) {
        json_decref(body);
        json_decref(host_config);
        json_decref(entrypoint);
        json_decref(cmd);
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: out of memory");
        return NULL;
    }
    json_object_set_new(body, "HostConfig", host_config);
    /* Kubernetes: command replaces the image's Entrypoint (and so its Cmd),
     * args its Cmd. An empty list means unset, as there. */
    if (entrypoint && json_array_size(entrypoint) > 0)
        json_object_set_new(body, "Entrypoint", entrypoint);
    else
        json_decref(entrypoint);
    if (cmd && json_array_size(cmd) > 0)
        json_object_set_new(body, "Cmd", cmd);
    else
        json_decref(cmd);
    const json_t *workdir = json_object_get(container, "workingDir");
    if (workdir && !json_is_null(workdir)) {
        if (!json_is_string(workdir) || json_string_value(workdir)[0] != '/') {
            json_decref(body);
            kl_error_set(err, KL_ERR_INVALID, "container \"%s\": workingDir must be an absolute path", name);
            return NULL;
        }
        json_object_set_new(body, "WorkingDir", json_string(json_string_value(workdir)));
    }
    if (apply_limits(host_config, container, name, err) < 0) {
        json_decref(body);
        return NULL;
    }
    if (rt->nofile > 0)
        json_object_set_new(host_config, "Ulimits", json_pack("[{s:s, s:I, s:I}]", "Name", "nofile", "Soft",
                                                              (json_int_t)rt->nofile, "Hard", (json_int_t)rt->nofile));
    return body;
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

/* dockerd's RFC 3339 times ("2024-01-02T03:04:05.123456789Z"); its zero
 * time, year 1, means never. */
static int64_t time_ms(const char *text)
{
    if (!text)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int consumed = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &consumed) != 6 || tm.tm_year < 1970)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = text + consumed;
    int64_t millis = 0, scale = 100;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
            millis += (*p - '0') * scale;
    int64_t offset_s = 0;
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
        int hours = 0, minutes = 0;
        if (sscanf(p + 1, "%2d:%2d", &hours, &minutes) == 2)
            offset_s = (hours * 3600 + minutes * 60) * (*p == '+' ? 1 : -1);
    }
    time_t seconds = timegm(&tm);
    if (seconds == (time_t)-1)
        return 0;
    return ((int64_t)seconds - offset_s) * 1000 + millis;
}

static int status_from_state(const json_t *state, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    memset(status, 0, sizeof *status);
    const char *text = json_string_value(json_object_get(state, "Status"));
    const json_t *exit_code = json_object_get(state, "ExitCode");
    if (!json_is_object(state) || !text || !json_is_integer(exit_code))
        return kl_error_set(err, KL_ERR_INTERNAL, "dockerd's description of container %.80s has no State.Status "
                            "and State.ExitCode", id);
    const char *error = json_string_value(json_object_get(state, "Error"));
    status->started_at_ms = time_ms(json_string_value(json_object_get(state, "StartedAt")));
    status->finished_at_ms = time_ms(json_string_value(json_object_get(state, "FinishedAt")));
    /* dockerd stamps StartedAt and FinishedAt from different events; for a
     * container that exits at once they can come out a millisecond reversed. */
    if (status->finished_at_ms && status->finished_at_ms < status->started_at_ms)
        status->finished_at_ms = status->started_at_ms;
    status->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
    long long code = json_integer_value(exit_code);
    if (code < 0 || code > 255)
        code = 255;
    if (!strcmp(text, "running") || !strcmp(text, "paused") || !strcmp(text, "restarting")) {
        status->state = KL_CONTAINER_RUNNING;
    } else if (!strcmp(text, "exited") || !strcmp(text, "dead") || !strcmp(text, "removing")
               || (!strcmp(text, "created") && error && error[0])) {
        status->state = KL_CONTAINER_EXITED;
        status->exit_code = (int)code;
        if (error && error[0] && status->started_at_ms == 0) {
            status->exit_code = code ? (int)code : 128;
            snprintf(status->reason, sizeof status->reason, "ContainerCannotRun");
        } else if (status->oom_killed) {
            snprintf(status->reason, sizeof status->reason, "OOMKilled");
        } else {
            snprintf(status->reason, sizeof status->reason, "%s", code == 0 ? "Completed" : "Error");
        }
        if (error && error[0])
            snprintf(status->message, sizeof status->message, "%s", error);
    } else if (!strcmp(text, "created")) {
        status->state = KL_CONTAINER_CREATED;
    } else {
        status->state = KL_CONTAINER_UNKNOWN;
        snprintf(status->reason, sizeof status->reason, "Unknown");
        snprintf(status->message, sizeof status->message, "dockerd reports container state \"%.64s\"", text);
    }
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
        && status->exit_code == 128 + 9 && memory > 0 && !json_object_get(rt->signalled, id)) {
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
        json_object_set_new(rt->signalled, id, json_true());
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
        json_object_set_new(rt->signalled, id, json_true());
    /* 409: not running any more, which is what the caller wanted. */
    return container_action(rt, id, action, rt->timeout_ms, 1, err);
}

static int docker_remove(void *runtime, const char *id, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    json_object_del(rt->signalled, id);
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
};

KL_RUNTIME_PLUGIN("docker", "0.1.0", "containers run by dockerd through its Engine API on a unix socket",
                  docker_settings, docker_ops);
