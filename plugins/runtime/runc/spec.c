/* runtime/runc: turns a pod's container into the OCI runtime spec of its
 * bundle, starting from the config.json umoci wrote for the image. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runc.h"

#define CPU_PERIOD_US 100000
#define CPU_QUOTA_MIN_US 1000  /* the kernel refuses smaller quotas */

typedef struct quantity_suffix {
    const char *text;
    __int128 multiply;
    __int128 divide;
} quantity_suffix_t;

#define POW2(n) ((__int128)1 << (n))
static const quantity_suffix_t quantity_suffixes[] = {
    { "", 1, 1 },
    { "m", 1, 1000 },
    { "k", 1000, 1 },
    { "M", 1000000, 1 },
    { "G", 1000000000, 1 },
    { "T", 1000000000000LL, 1 },
    { "P", 1000000000000000LL, 1 },
    { "E", 1000000000000000000LL, 1 },
    { "Ki", POW2(10), 1 },
    { "Mi", POW2(20), 1 },
    { "Gi", POW2(30), 1 },
    { "Ti", POW2(40), 1 },
    { "Pi", POW2(50), 1 },
    { "Ei", POW2(60), 1 },
};

/* Parses a Kubernetes quantity into the exact fraction numerator/denominator.
 * At most 18 significant digits keep every product inside 128 bits. */
static int quantity_parse(const char *text, const char *what, __int128 *numerator, __int128 *denominator,
                          kl_error_t *err)
{
    const char *p = text;
    __int128 n = 0, d = 1;
    int digits = 0, significant = 0;
    if (*p == '+')
        p++;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        n = n * 10 + (*p - '0');
        significant += n != 0;
    }
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            n = n * 10 + (*p - '0');
            d *= 10;
            significant += n != 0;
        }
    if (digits == 0 || significant > 18)
        return kl_error_set(err, KL_ERR_INVALID,
                            "%s \"%.64s\" is not a quantity like \"500m\", \"2\" or \"64Mi\"%s", what, text,
                            digits ? " (too many digits)" : "");
    /* "E" alone is exa; an exponent is e or E followed by a number. */
    int exponent_follows = (*p == 'e' || *p == 'E')
                           && isdigit((unsigned char)p[1 + (p[1] == '+' || p[1] == '-')]);
    if (exponent_follows) {
        char *end = NULL;
        errno = 0;
        long exponent = strtol(p + 1, &end, 10);
        if (end == p + 1 || *end != '\0' || exponent < -18 || exponent > 18)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" has a bad exponent", what, text);
        for (; exponent > 0; exponent--)
            n *= 10;
        for (; exponent < 0; exponent++)
            d *= 10;
    } else {
        const quantity_suffix_t *suffix = NULL;
        for (size_t i = 0; i < sizeof quantity_suffixes / sizeof quantity_suffixes[0]; i++)
            if (strcmp(p, quantity_suffixes[i].text) == 0)
                suffix = &quantity_suffixes[i];
        if (!suffix)
            return kl_error_set(err, KL_ERR_INVALID,
                                "%s \"%.64s\" has an unknown unit \"%.8s\" (use m, k, M, G, Ki, Mi, Gi...)", what,
                                text, p);
        n *= suffix->multiply;
        d *= suffix->divide;
    }
    *numerator = n;
    *denominator = d;
    return 0;
}

/* Rounds up, as Kubernetes does, so a limit is never made tighter. */
static int quantity_scaled(const char *text, const char *what, __int128 scale, int64_t *out, kl_error_t *err)
{
    __int128 n, d;
    if (quantity_parse(text, what, &n, &d, err) < 0)
        return -1;
    __int128 value = (n * scale + d - 1) / d;
    if (value > INT64_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" is too large", what, text);
    *out = (int64_t)value;
    return 0;
}

int runc_quantity_cpu(const char *text, int64_t *millicores, kl_error_t *err)
{
    return quantity_scaled(text, "cpu quantity", 1000, millicores, err);
}

int runc_quantity_memory(const char *text, int64_t *bytes, kl_error_t *err)
{
    return quantity_scaled(text, "memory quantity", 1, bytes, err);
}

/* Appends each string of `from` to `to`; `what` names `from` in errors. */
static int append_strings(json_t *to, const json_t *from, const char *container, const char *what,
                          kl_error_t *err)
{
    if (!from || json_is_null(from))
        return 0;
    if (!json_is_array(from))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": %s must be a list of strings", container,
                            what);
    size_t i;
    const json_t *item;
    json_array_foreach(from, i, item) {
        if (!json_is_string(item))
            return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": %s[%zu] is not a string", container,
                                what, i);
        json_array_append_new(to, json_string(json_string_value(item)));
    }
    return 0;
}

static int build_args(json_t *process, const json_t *container, const char *name, const json_t *image_config,
                      kl_error_t *err)
{
    const json_t *command = json_object_get(container, "command");
    const json_t *args = json_object_get(container, "args");
    const json_t *image = json_object_get(image_config, "config");
    json_t *argv = json_array();
    int rc;
    /* Kubernetes: command replaces the image's Entrypoint, args its Cmd. */
    if (command && !json_is_null(command))
        rc = append_strings(argv, command, name, "command", err);
    else
        rc = append_strings(argv, json_object_get(image, "Entrypoint"), name, "the image's Entrypoint", err);
    if (rc == 0) {
        if (args && !json_is_null(args))
            rc = append_strings(argv, args, name, "args", err);
        else if (!command || json_is_null(command))
            rc = append_strings(argv, json_object_get(image, "Cmd"), name, "the image's Cmd", err);
    }
    if (rc == 0 && (json_array_size(argv) == 0 || json_string_length(json_array_get(argv, 0)) == 0))
        rc = kl_error_set(err, KL_ERR_INVALID,
                          "container \"%s\" has no command and its image sets no Entrypoint or Cmd", name);
    if (rc < 0) {
        json_decref(argv);
        return -1;
    }
    json_object_set_new(process, "args", argv);
    return 0;
}

/* Appends the container's env to the image's; a name set twice keeps the
 * container's value, since a process would only see the first. */
static int merge_env(json_t *process, const json_t *container, const char *name, kl_error_t *err)
{
    const json_t *env = json_object_get(container, "env");
    if (!env || json_is_null(env))
        return 0;
    if (!json_is_array(env))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env must be a list", name);
    json_t *list = json_object_get(process, "env");
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(process, "env", list);
    }
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
                                "container \"%s\": env %s uses valueFrom, which runtime/runc cannot resolve", name,
                                var);
        if (value && !json_is_null(value) && !json_is_string(value))
            return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env %s has a value that is not a string",
                                name, var);
        const char *text = value ? json_string_value(value) : NULL;
        size_t length = strlen(var);
        for (size_t k = json_array_size(list); k-- > 0;) {
            const char *old = json_string_value(json_array_get(list, k));
            if (old && strncmp(old, var, length) == 0 && old[length] == '=')
                json_array_remove(list, k);
        }
        json_array_append_new(list, json_sprintf("%s=%s", var, text ? text : ""));
    }
    return 0;
}

/* A quantity may arrive as text ("500m") or, from a careless client, a number. */
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

static int apply_limits(json_t *spec, const json_t *container, const char *name, kl_error_t *err)
{
    const json_t *limits = json_object_get(json_object_get(container, "resources"), "limits");
    if (!limits || json_is_null(limits))
        return 0;
    if (!json_is_object(limits))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": resources.limits must be an object", name);
    json_t *linux_ = json_object_get(spec, "linux");
    if (!json_is_object(linux_)) {
        linux_ = json_object();
        json_object_set_new(spec, "linux", linux_);
    }
    json_t *resources = json_object_get(linux_, "resources");
    if (!json_is_object(resources)) {
        resources = json_object();
        json_object_set_new(linux_, "resources", resources);
    }
    char buf[64], what[128];
    const json_t *cpu = json_object_get(limits, "cpu");
    if (cpu) {
        const char *text = quantity_text(cpu, buf, sizeof buf);
        int64_t millicores;
        snprintf(what, sizeof what, "container \"%.64s\": resources.limits.cpu", name);
        if (!text)
            return kl_error_set(err, KL_ERR_INVALID, "%s must be a quantity string", what);
        if (quantity_scaled(text, what, 1000, &millicores, err) < 0)
            return -1;
        if (millicores <= 0)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%s\" must be above zero", what, text);
        int64_t quota = millicores > INT64_MAX / 100 ? INT64_MAX : millicores * (CPU_PERIOD_US / 1000);
        json_object_set_new(resources, "cpu",
                            json_pack("{s:I, s:I}", "quota", (json_int_t)(quota < CPU_QUOTA_MIN_US ? CPU_QUOTA_MIN_US : quota),
                                      "period", (json_int_t)CPU_PERIOD_US));
    }
    const json_t *memory = json_object_get(limits, "memory");
    if (memory) {
        const char *text = quantity_text(memory, buf, sizeof buf);
        int64_t bytes;
        snprintf(what, sizeof what, "container \"%.64s\": resources.limits.memory", name);
        if (!text)
            return kl_error_set(err, KL_ERR_INVALID, "%s must be a quantity string", what);
        if (quantity_scaled(text, what, 1, &bytes, err) < 0)
            return -1;
        if (bytes <= 0)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%s\" must be above zero", what, text);
        json_object_set_new(resources, "memory", json_pack("{s:I}", "limit", (json_int_t)bytes));
    }
    return 0;
}

/* A hostname is one DNS label; a longer pod name is cut as Kubernetes does. */
static json_t *pod_hostname(const char *pod_name)
{
    char name[64];
    snprintf(name, sizeof name, "%s", pod_name);
    size_t length = strlen(name);
    while (length > 0 && (name[length - 1] == '-' || name[length - 1] == '.'))
        name[--length] = '\0';
    return json_string(length ? name : "pod");
}

int runc_spec_apply(json_t *spec, const kl_container_request_t *request, const json_t *image_config,
                    kl_error_t *err)
{
    const char *name = request->container_name;
    const json_t *container = request->container;
    json_t *process = json_object_get(spec, "process");
    if (!json_is_object(process))
        return kl_error_set(err, KL_ERR_INTERNAL, "the bundle's config.json has no process object");
    if (build_args(process, container, name, image_config, err) < 0 || merge_env(process, container, name, err) < 0)
        return -1;
    const json_t *workdir = json_object_get(container, "workingDir");
    if (workdir && !json_is_null(workdir)) {
        if (!json_is_string(workdir) || json_string_value(workdir)[0] != '/')
            return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": workingDir must be an absolute path",
                                name);
        json_object_set_new(process, "cwd", json_string(json_string_value(workdir)));
    }
    /* No one is attached: a terminal would make runc fail without a tty. */
    json_object_set_new(process, "terminal", json_false());
    if (apply_limits(spec, container, name, err) < 0)
        return -1;
    json_object_set_new(spec, "hostname", pod_hostname(request->pod_name));

    json_t *annotations = json_object_get(spec, "annotations");
    if (!json_is_object(annotations)) {
        annotations = json_object();
        json_object_set_new(spec, "annotations", annotations);
    }
    json_object_set_new(annotations, "io.keelson.pod.namespace", json_string(request->pod_namespace));
    json_object_set_new(annotations, "io.keelson.pod.name", json_string(request->pod_name));
    json_object_set_new(annotations, "io.keelson.pod.uid", json_string(request->pod_uid));
    json_object_set_new(annotations, "io.keelson.container.name", json_string(name));
    const char *image = json_string_value(json_object_get(container, "image"));
    if (image)
        json_object_set_new(annotations, "io.keelson.image", json_string(image));
    return 0;
}

int runc_spec_write(const char *bundle, json_t *spec, const kl_container_request_t *request,
                    const json_t *image_config, const char *cgroups_path, kl_error_t *err)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof path, "%s/config.json", bundle);
    snprintf(tmp, sizeof tmp, "%s/config.json.tmp", bundle);
    if (!json_is_object(spec))
        return kl_error_set(err, KL_ERR_INTERNAL, "the runtime spec for %s is not a JSON object", path);
    int rc = runc_spec_apply(spec, request, image_config, err);
    if (rc == 0 && cgroups_path) {
        /* A cgroup of keelson's naming: the supervisor reads its OOM counter
         * after the container exits, and remove() can find what is left. */
        json_t *linux_ = json_object_get(spec, "linux");
        if (!json_is_object(linux_)) {
            linux_ = json_object();
            json_object_set_new(spec, "linux", linux_);
        }
        json_object_set_new(linux_, "cgroupsPath", json_string(cgroups_path));
    }
    if (rc == 0) {
        /* Relative to the bundle: a template from the image cache names no
         * bundle of its own. */
        json_t *root = json_object_get(spec, "root");
        if (!json_is_object(root)) {
            root = json_object();
            json_object_set_new(spec, "root", root);
        }
        json_object_set_new(root, "path", json_string("rootfs"));
    }
    if (rc == 0 && (json_dump_file(spec, tmp, JSON_COMPACT) < 0 || rename(tmp, path) < 0)) {
        rc = kl_error_set(err, KL_ERR_INTERNAL, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
    }
    return rc;
}
