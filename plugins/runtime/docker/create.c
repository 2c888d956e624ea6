/* runtime/docker: the create request: the pod's container spec turned into
 * the body of POST /containers/create, and its image pull policy. */
#include <stdio.h>
#include <string.h>

#include "docker.h"

/* imagePullPolicy, defaulted as Kubernetes does: Always for :latest or no tag. */
int pull_policy_of(const json_t *container, const char *image, const char *name, kl_pull_policy_t *policy,
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
json_t *create_body(docker_runtime_t *rt, const kl_container_request_t *request, const image_ref_t *ref,
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
