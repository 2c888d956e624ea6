/* runtime/docker: what dockerd says of containers: the status op (one
 * container, inspected) and the list op (every container keelson created). */
#include <stdio.h>

#include "docker.h"

/* GET /containers/{id}/json; caller owns the result. */
static json_t *container_inspect(docker_runtime_t *rt, const char *id, kl_error_t *err)
{
    if (docker_id_check(id, err) < 0)
        return NULL;
    char path[256];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s/json", id);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "GET", path, NULL, rt->timeout_ms, NULL, NULL, &reply, err) < 0)
        return NULL;
    json_t *doc = NULL;
    if (reply.status == 404) {
        docker_not_found(id, rt, err);
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

int docker_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
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
        && status->exit_code == 128 + 9 && memory > 0 && !docker_signalled_by_us(rt, id)) {
        status->oom_killed = 1;
        snprintf(status->reason, sizeof status->reason, "OOMKilled");
        snprintf(status->message, sizeof status->message,
                 "killed with SIGKILL at its memory limit of %" JSON_INTEGER_FORMAT " bytes", memory);
    }
    json_decref(doc);
    return rc;
}

int docker_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
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
        if (!id || docker_id_check(id, &skip) < 0 || !info.pod_namespace || !info.pod_name || !info.pod_uid
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
