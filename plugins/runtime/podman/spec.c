/* runtime/podman: the pod's container spec, checked and turned into
 * `podman run` arguments: labels, names, limits, env, lists, pull policy. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "podman.h"

int check_label(const char *what, const char *value, kl_error_t *err)
{
    if (!value || value[0] == '\0' || strlen(value) > 253)
        return kl_error_set(err, KL_ERR_INVALID, "container request: %s must be 1 to 253 characters", what);
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '=' || *p == ',')
            return kl_error_set(err, KL_ERR_INVALID, "container request: %s \"%.64s\" has a character podman "
                                "labels cannot hold", what, value);
    return 0;
}

/* kl-<pod>-<container>-<random hex>: unique and readable in `podman ps`. */
int name_make(const kl_container_request_t *request, char *name, size_t size, kl_error_t *err)
{
    const char *container = request->container_name;
    if (strlen(container) > 63)
        return kl_error_set(err, KL_ERR_INVALID, "container name \"%.64s...\" is longer than 63 characters",
                            container);
    for (const char *p = container; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '-')
            return kl_error_set(err, KL_ERR_INVALID,
                                "container name \"%s\" must be lower-case letters, digits and '-'", container);
    char pod[41];
    size_t n = 0;
    for (const char *p = request->pod_name; *p && n < sizeof pod - 1; p++)
        pod[n++] = ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.') ? *p : '-';
    pod[n] = '\0';
    unsigned char random[4];
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long mix = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16);
        memcpy(random, &mix, sizeof random);
    }
    snprintf(name, size, "kl-%s-%s-%02x%02x%02x%02x", pod, container, random[0], random[1], random[2], random[3]);
    return 0;
}

static const char *quantity_text(const json_t *value, char *buf, size_t size)
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_integer(value))
        snprintf(buf, size, "%lld", (long long)json_integer_value(value));
    else if (json_is_real(value))
        snprintf(buf, size, "%.9g", json_real_value(value));
    else
        return NULL;
    return buf;
}

/* Reads resources.limits: cpu in millicores, memory in bytes (0: none). */
int read_limits(const json_t *container, const char *name, int64_t *millicores, int64_t *bytes,
                kl_error_t *err)
{
    *millicores = *bytes = 0;
    const json_t *limits = json_object_get(json_object_get(container, "resources"), "limits");
    if (!limits || json_is_null(limits))
        return 0;
    if (!json_is_object(limits))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": resources.limits must be an object", name);
    char buf[64], what[128];
    const json_t *cpu = json_object_get(limits, "cpu");
    if (cpu) {
        const char *text = quantity_text(cpu, buf, sizeof buf);
        snprintf(what, sizeof what, "container \"%.64s\": resources.limits.cpu", name);
        if (!text)
            return kl_error_set(err, KL_ERR_INVALID, "%s must be a quantity string", what);
        if (podman_quantity(text, what, 1000, millicores, err) < 0)
            return -1;
        if (*millicores <= 0)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%s\" must be above zero", what, text);
    }
    const json_t *memory = json_object_get(limits, "memory");
    if (memory) {
        const char *text = quantity_text(memory, buf, sizeof buf);
        snprintf(what, sizeof what, "container \"%.64s\": resources.limits.memory", name);
        if (!text)
            return kl_error_set(err, KL_ERR_INVALID, "%s must be a quantity string", what);
        if (podman_quantity(text, what, 1, bytes, err) < 0)
            return -1;
        if (*bytes < 4 * 1024 * 1024)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%s\" is below the 4Mi a container needs to start", what,
                                text);
    }
    return 0;
}

int add_env(podman_args_t *args, const json_t *container, const char *name, kl_error_t *err)
{
    const json_t *env = json_object_get(container, "env");
    if (!env || json_is_null(env))
        return 0;
    if (!json_is_array(env))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env must be a list", name);
    size_t i;
    const json_t *item;
    json_array_foreach(env, i, item) {
        const char *var = json_string_value(json_object_get(item, "name"));
        const json_t *value = json_object_get(item, "value");
        if (!var || var[0] == '\0' || strchr(var, '='))
            return kl_error_set(err, KL_ERR_INVALID,
                                "container \"%s\": env[%zu].name must be a non-empty string without '='", name, i);
        if (json_object_get(item, "valueFrom"))
            return kl_error_set(err, KL_ERR_INVALID,
                                "container \"%s\": env %s uses valueFrom, which runtime/podman cannot resolve",
                                name, var);
        if (value && !json_is_null(value) && !json_is_string(value))
            return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env %s has a value that is not a string",
                                name, var);
        /* Always NAME=VALUE: a bare NAME would import the kubelet's own variable. */
        args_add(args, "--env");
        args_addf(args, "%s=%s", var, value ? json_string_value(value) ? json_string_value(value) : "" : "");
    }
    return 0;
}

/* A list of strings, or NULL when absent, null or empty (Kubernetes treats
 * an empty command as unset). */
const json_t *string_list(const json_t *container, const char *key, const char *name, kl_error_t *err,
                          int *failed)
{
    const json_t *list = json_object_get(container, key);
    *failed = 0;
    if (!list || json_is_null(list))
        return NULL;
    if (!json_is_array(list)) {
        *failed = 1;
        kl_error_set(err, KL_ERR_INVALID, "container \"%s\": %s must be a list of strings", name, key);
        return NULL;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) {
        if (!json_is_string(item)) {
            *failed = 1;
            kl_error_set(err, KL_ERR_INVALID, "container \"%s\": %s[%zu] is not a string", name, key, i);
            return NULL;
        }
    }
    return json_array_size(list) ? list : NULL;
}

int pull_policy_of(const json_t *container, const char *name, kl_pull_policy_t *policy, kl_error_t *err)
{
    const json_t *value = json_object_get(container, "imagePullPolicy");
    *policy = KL_PULL_IF_NOT_PRESENT;
    if (!value || json_is_null(value))
        return 0;
    const char *text = json_string_value(value);
    if (text && !strcmp(text, "Always"))
        *policy = KL_PULL_ALWAYS;
    else if (text && !strcmp(text, "Never"))
        *policy = KL_PULL_NEVER;
    else if (!text || strcmp(text, "IfNotPresent") != 0)
        return kl_error_set(err, KL_ERR_INVALID,
                            "container \"%s\": imagePullPolicy must be Always, IfNotPresent or Never", name);
    return 0;
}
