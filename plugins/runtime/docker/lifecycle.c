/* runtime/docker: a container's life in dockerd: the start op (created
 * under a name of its own, then started; deleted again when it cannot run),
 * and the stop, kill and remove ops. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "docker.h"

#define DOCKER_NAME_ATTEMPTS 8      /* kl_..._<uid>, then _1, _2... when a name is taken */

static int container_delete(docker_runtime_t *rt, const char *id, kl_error_t *err)
{
    char path[256];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s?force=true&v=true", id);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "DELETE", path, NULL, rt->timeout_ms, NULL, NULL, &reply, err) < 0)
        return -1;
    int rc = 0;
    if (reply.status == 404)
        rc = docker_not_found(id, rt, err);
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
        if (!new_id || docker_id_check(new_id, &check) < 0)
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

int docker_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
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

/* POST /containers/{id}/{action}; 304 and `ok_conflict` 409 mean "already so". */
static int container_action(docker_runtime_t *rt, const char *id, const char *action, int timeout_ms,
                            int ok_conflict, kl_error_t *err)
{
    if (docker_id_check(id, err) < 0)
        return -1;
    char path[300];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s/%s", id, action);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "POST", path, NULL, timeout_ms, NULL, NULL, &reply, err) < 0)
        return -1;
    int rc = 0;
    if (reply.status == 404) {
        rc = docker_not_found(id, rt, err);
    } else if (reply.status != 204 && reply.status != 200 && reply.status != 304
               && !(ok_conflict && reply.status == 409)) {
        char what[300];
        snprintf(what, sizeof what, "container %.80s: %.60s", id, action);
        rc = reply_error(&reply, KL_ERR_INTERNAL, what, err);
    }
    docker_reply_free(&reply);
    return rc;
}

int docker_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (grace_ms < 0)
        grace_ms = 0;
    /* dockerd counts whole seconds; round up so the grace is never cut short. */
    int seconds = grace_ms / 1000 + (grace_ms % 1000 != 0);
    char action[64];
    snprintf(action, sizeof action, "stop?t=%d", seconds);
    if (id)
        docker_signalled_set(rt, id, 1);
    return container_action(rt, id, action, seconds * 1000 + rt->timeout_ms, 0, err);
}

int docker_kill(void *runtime, const char *id, int signal, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (signal < 1 || signal > 64)
        return kl_error_set(err, KL_ERR_INVALID, "container %.80s: signal %d is not from 1 to 64",
                            id ? id : "", signal);
    char action[64];
    snprintf(action, sizeof action, "kill?signal=%d", signal);
    if (id)
        docker_signalled_set(rt, id, 1);
    /* 409: not running any more, which is what the caller wanted. */
    return container_action(rt, id, action, rt->timeout_ms, 1, err);
}

int docker_remove(void *runtime, const char *id, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (docker_id_check(id, err) < 0)
        return -1;
    docker_signalled_set(rt, id, 0);
    return container_delete(rt, id, err);
}

