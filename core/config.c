/* Reading and checking the daemon's libconfig file. The schema lives here as
 * code so that every message can name the file and line of the bad key. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "kubelet.h"
#include "log.h"
#include "quantity.h"

static const char *setting_file(const config_setting_t *s, const char *fallback)
{
    const char *file = config_setting_source_file(s);
    return file ? file : fallback;
}

static int fail_at(kl_config_t *self, const config_setting_t *s, kl_error_t *err,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int fail_at(kl_config_t *self, const config_setting_t *s, kl_error_t *err,
                   const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return kl_error_set(err, KL_ERR_INVALID, "%s:%u: %s", setting_file(s, self->path),
                        s ? config_setting_source_line(s) : 0, what);
}

/* Rejects keys of `group` not in `allowed` (NULL-terminated). */
static int check_keys(kl_config_t *self, const config_setting_t *group, const char *where,
                      const char *const *allowed, kl_error_t *err)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *child = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(child);
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            known |= name && strcmp(name, *a) == 0;
        if (!known) {
            char list[256] = "";
            for (const char *const *a = allowed; *a; a++) {
                strncat(list, *a, sizeof list - strlen(list) - 3);
                if (a[1])
                    strncat(list, ", ", sizeof list - strlen(list) - 1);
            }
            return fail_at(self, child, err, "unknown setting \"%s\" in %s (known: %s)",
                           name ? name : "?", where, list);
        }
    }
    return 0;
}

static int get_group(kl_config_t *self, const config_setting_t *parent, const char *name,
                     const config_setting_t **out, kl_error_t *err)
{
    const config_setting_t *s = config_setting_get_member(parent, name);
    *out = NULL;
    if (!s)
        return 0;
    if (!config_setting_is_group(s))
        return fail_at(self, s, err, "\"%s\" must be a group { ... }", name);
    *out = s;
    return 0;
}

static int get_string(kl_config_t *self, const config_setting_t *parent, const char *name,
                      const char **out, kl_error_t *err)
{
    const config_setting_t *s = parent ? config_setting_get_member(parent, name) : NULL;
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(self, s, err, "\"%s\" must be a string", name);
    *out = config_setting_get_string(s);
    return 0;
}

static int get_int(kl_config_t *self, const config_setting_t *parent, const char *name,
                   int64_t min, int64_t *out, kl_error_t *err)
{
    const config_setting_t *s = parent ? config_setting_get_member(parent, name) : NULL;
    if (!s)
        return 0;
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return fail_at(self, s, err, "\"%s\" must be an integer", name);
    long long v = config_setting_get_int64(s);
    if (v < min)
        return fail_at(self, s, err, "\"%s\" must be at least %lld, not %lld", name,
                       (long long)min, v);
    *out = v;
    return 0;
}

/* A string or a list/array of strings, returned NULL-terminated. */
static int get_string_list(kl_config_t *self, const config_setting_t *parent, const char *name,
                           const char ***out, kl_error_t *err)
{
    const config_setting_t *s = parent ? config_setting_get_member(parent, name) : NULL;
    if (!s)
        return 0;
    free(*out);
    *out = NULL;
    if (config_setting_type(s) == CONFIG_TYPE_STRING) {
        *out = calloc(2, sizeof **out);
        (*out)[0] = config_setting_get_string(s);
        return 0;
    }
    if (!config_setting_is_aggregate(s) || config_setting_is_group(s))
        return fail_at(self, s, err, "\"%s\" must be a string or a list of strings", name);
    int n = config_setting_length(s);
    *out = calloc((size_t)n + 1, sizeof **out);
    for (int i = 0; i < n; i++) {
        const config_setting_t *item = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(item) != CONFIG_TYPE_STRING)
            return fail_at(self, item, err, "\"%s\"[%d] must be a string", name, i);
        (*out)[i] = config_setting_get_string(item);
    }
    return 0;
}

static int get_plugin_choice(kl_config_t *self, const config_setting_t *group, const char *where,
                             const char *const *extra_keys, kl_plugin_choice_t *choice,
                             kl_error_t *err)
{
    const char *allowed[16] = {"plugin", "settings"};
    size_t n = 2;
    for (const char *const *k = extra_keys; k && *k && n < 15; k++)
        allowed[n++] = *k;
    allowed[n] = NULL;
    if (check_keys(self, group, where, allowed, err) < 0)
        return -1;
    if (get_string(self, group, "plugin", &choice->name, err) < 0)
        return -1;
    if (!choice->name || !*choice->name)
        return fail_at(self, group, err, "%s needs a \"plugin\" name", where);
    const config_setting_t *settings;
    if (get_group(self, group, "settings", &settings, err) < 0)
        return -1;
    choice->settings = settings;
    return 0;
}

static int required_group(kl_config_t *self, const config_setting_t *root, const char *name,
                          const char *role, const config_setting_t **out, kl_error_t *err)
{
    if (get_group(self, root, name, out, err) < 0)
        return -1;
    if (!*out)
        return kl_error_set(err, KL_ERR_INVALID, "%s: the %s role needs a \"%s\" group",
                            self->path, role, name);
    return 0;
}

static int load_master(kl_config_t *self, const config_setting_t *root, kl_error_t *err)
{
    const config_setting_t *group;
    if (required_group(self, root, "store", "master", &group, err) < 0
        || get_plugin_choice(self, group, "store", NULL, &self->store, err) < 0)
        return -1;
    if (get_group(self, root, "events_store", &group, err) < 0
        || (group && get_plugin_choice(self, group, "events_store", NULL, &self->events_store, err) < 0))
        return -1;
    if (required_group(self, root, "scheduler", "master", &group, err) < 0
        || get_plugin_choice(self, group, "scheduler", (const char *[]){"node_timeout_ms", NULL},
                             &self->scheduler, err) < 0
        || get_int(self, group, "node_timeout_ms", 1, &self->node_timeout_ms, err) < 0)
        return -1;
    const char *priority = NULL;
    if (get_string(self, root, "cpu_priority", &priority, err) < 0)
        return -1;
    if (priority && strcmp(priority, "realtime") == 0)
        self->cpu_realtime = 1;
    else if (priority && strcmp(priority, "normal") != 0)
        return fail_at(self, config_setting_get_member(root, "cpu_priority"), err,
                       "cpu_priority \"%s\" is not \"normal\" or \"realtime\"", priority);
    if (get_group(self, root, "apiserver", &group, err) < 0)
        return -1;
    if (group && (check_keys(self, group, "apiserver",
                             (const char *[]){"history", "workers", "cache_objects", NULL}, err) < 0
                  || get_int(self, group, "history", 16, &self->api_history, err) < 0
                  || get_int(self, group, "cache_objects", 1, &self->api_cache_objects, err) < 0
                  || get_int(self, group, "workers", 1, &self->api_workers, err) < 0))
        return -1;
    if (self->api_workers > KL_API_WORKERS_MAX)
        return fail_at(self, config_setting_get_member(group, "workers"), err,
                       "apiserver.workers must be at most %d, not %lld", KL_API_WORKERS_MAX,
                       (long long)self->api_workers);
    const config_setting_t *list = config_setting_get_member(root, "controllers");
    if (list) {
        if (!config_setting_is_list(list))
            return fail_at(self, list, err, "\"controllers\" must be a list ( { plugin = ...; }, ... )");
        int n = config_setting_length(list);
        self->controllers = calloc((size_t)n + 1, sizeof *self->controllers);
        for (int i = 0; i < n; i++) {
            const config_setting_t *item = config_setting_get_elem(list, (unsigned)i);
            if (!config_setting_is_group(item))
                return fail_at(self, item, err, "controllers[%d] must be a group { plugin = ...; }", i);
            if (get_plugin_choice(self, item, "controllers entry", NULL, &self->controllers[i], err) < 0)
                return -1;
            self->controller_count++;
        }
    }
    return 0;
}

static int get_quantity(kl_config_t *self, const config_setting_t *group, const char *name,
                        int is_cpu, int64_t *out, kl_error_t *err)
{
    const config_setting_t *s = config_setting_get_member(group, name);
    if (!s)
        return 0;
    char text[64];
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        snprintf(text, sizeof text, "%s", config_setting_get_string(s));
    else if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64)
        snprintf(text, sizeof text, "%lld", config_setting_get_int64(s));
    else
        return fail_at(self, s, err, "\"%s\" must be a quantity like \"%s\"", name,
                       is_cpu ? "2" : "4Gi");
    kl_error_t qerr;
    int rc = is_cpu ? kl_quantity_parse_cpu(text, out, &qerr)
                    : kl_quantity_parse_memory(text, out, &qerr);
    if (rc < 0)
        return fail_at(self, s, err, "%s", qerr.text);
    return 0;
}

static int load_worker(kl_config_t *self, const config_setting_t *root, kl_error_t *err)
{
    const config_setting_t *group;
    if (required_group(self, root, "runtime", "worker", &group, err) < 0
        || get_plugin_choice(self, group, "runtime", NULL, &self->runtime, err) < 0)
        return -1;
    if (get_group(self, root, "kubelet", &group, err) < 0)
        return -1;
    if (!group)
        return 0;
    static const char *const keys[] = {"cpu", "memory", "max_pods", "heartbeat_ms", "sync_ms",
                                       "relist_ms", "labels", "node_count", "start_workers", NULL};
    if (check_keys(self, group, "kubelet", keys, err) < 0
        || get_quantity(self, group, "cpu", 1, &self->cpu_milli, err) < 0
        || get_quantity(self, group, "memory", 0, &self->memory_bytes, err) < 0
        || get_int(self, group, "max_pods", 1, &self->max_pods, err) < 0
        || get_int(self, group, "heartbeat_ms", 10, &self->heartbeat_ms, err) < 0
        || get_int(self, group, "sync_ms", 1, &self->sync_ms, err) < 0
        || get_int(self, group, "relist_ms", 1, &self->relist_ms, err) < 0
        || get_int(self, group, "node_count", 1, &self->node_count, err) < 0
        || get_int(self, group, "start_workers", 1, &self->start_workers, err) < 0)
        return -1;
    /* The daemon keeps these in int milliseconds; an hour is already far
     * beyond any useful tick. */
    static const char *const periods[] = {"heartbeat_ms", "sync_ms", "relist_ms"};
    const int64_t *values[] = {&self->heartbeat_ms, &self->sync_ms, &self->relist_ms};
    for (size_t i = 0; i < sizeof periods / sizeof *periods; i++)
        if (*values[i] > KL_KUBELET_PERIOD_MAX_MS)
            return fail_at(self, config_setting_get_member(group, periods[i]), err,
                           "kubelet.%s must be at most %d (an hour), not %lld", periods[i],
                           KL_KUBELET_PERIOD_MAX_MS, (long long)*values[i]);
    if (self->start_workers > KL_KUBELET_START_WORKERS_MAX)
        return fail_at(self, config_setting_get_member(group, "start_workers"), err,
                       "kubelet.start_workers must be at most %d, not %lld",
                       KL_KUBELET_START_WORKERS_MAX, (long long)self->start_workers);
    /* A group for plain keys (zone = "a";) or a list of "key=value" strings,
     * since libconfig names cannot hold the '/' and '.' of label prefixes. */
    const config_setting_t *labels = config_setting_get_member(group, "labels");
    int n = labels ? config_setting_length(labels) : 0;
    if (labels && !config_setting_is_aggregate(labels))
        return fail_at(self, labels, err,
                       "kubelet labels must be a group { zone = \"a\"; } or a list [ \"keelson.io/role=x\" ]");
    for (int i = 0; i < n; i++) {
        const config_setting_t *item = config_setting_get_elem(labels, (unsigned)i);
        if (config_setting_type(item) != CONFIG_TYPE_STRING)
            return fail_at(self, item, err, "kubelet label %d must be a string", i);
        const char *text = config_setting_get_string(item);
        if (config_setting_is_group(labels)) {
            json_object_set_new(self->node_labels, config_setting_name(item), json_string(text));
            continue;
        }
        const char *eq = strchr(text, '=');
        if (!eq || eq == text)
            return fail_at(self, item, err, "kubelet label \"%s\" must be key=value", text);
        char key[320];
        snprintf(key, sizeof key, "%.*s", (int)(eq - text), text);
        json_object_set_new(self->node_labels, key, json_string(eq + 1));
    }
    return 0;
}

static int load_root(kl_config_t *self, kl_error_t *err)
{
    const config_setting_t *root = config_root_setting(&self->cfg);
    static const char *const keys[] = {"node_name", "log_level", "roles", "plugin_path", "bus",
                                       "store", "events_store", "apiserver", "scheduler", "controllers",
                                       "runtime", "kubelet", "cpu_priority", NULL};
    if (check_keys(self, root, "the top level", keys, err) < 0)
        return -1;
    const char *level = NULL;
    if (get_string(self, root, "log_level", &level, err) < 0)
        return -1;
    if (level && kl_log_level_parse(level, &self->log_level) < 0)
        return fail_at(self, config_setting_get_member(root, "log_level"), err,
                       "log_level \"%s\" is not one of error, warn, info, debug", level);
    if (get_string(self, root, "node_name", &self->node_name, err) < 0)
        return -1;
    const char **roles = NULL;
    if (get_string_list(self, root, "roles", &roles, err) < 0) {
        free(roles);
        return -1;
    }
    for (size_t i = 0; roles && roles[i]; i++) {
        if (strcmp(roles[i], "master") == 0)
            self->master = 1;
        else if (strcmp(roles[i], "worker") == 0)
            self->worker = 1;
        else {
            fail_at(self, config_setting_get_member(root, "roles"), err,
                    "role \"%s\" is not \"master\" or \"worker\"", roles[i]);
            free(roles);
            return -1;
        }
    }
    free(roles);
    if (!self->master && !self->worker)
        return kl_error_set(err, KL_ERR_INVALID,
                            "%s: \"roles\" must name \"master\", \"worker\" or both", self->path);
    if (get_string_list(self, root, "plugin_path", &self->plugin_path, err) < 0)
        return -1;
    const config_setting_t *bus;
    if (get_group(self, root, "bus", &bus, err) < 0)
        return -1;
    if (bus) {
        static const char *const bus_keys[] = {"listen", "events", "master", NULL};
        if (check_keys(self, bus, "bus", bus_keys, err) < 0
            || get_string_list(self, bus, "listen", &self->listen, err) < 0
            || get_string_list(self, bus, "events", &self->events, err) < 0
            || get_string(self, bus, "master", &self->master_endpoint, err) < 0)
            return -1;
    }
    if (self->worker) {
        if (!self->node_name || !*self->node_name)
            return kl_error_set(err, KL_ERR_INVALID, "%s: the worker role needs \"node_name\"",
                                self->path);
        if (!self->master && !self->master_endpoint)
            return kl_error_set(err, KL_ERR_INVALID,
                                "%s: a worker without the master role needs bus.master, the master's endpoint",
                                self->path);
        if (load_worker(self, root, err) < 0)
            return -1;
    } else if (config_setting_get_member(root, "runtime") || config_setting_get_member(root, "kubelet")) {
        return kl_error_set(err, KL_ERR_INVALID,
                            "%s: \"runtime\" and \"kubelet\" need the worker role", self->path);
    }
    if (self->master) {
        if (load_master(self, root, err) < 0)
            return -1;
    } else if (config_setting_get_member(root, "store") || config_setting_get_member(root, "events_store")
               || config_setting_get_member(root, "scheduler")
               || config_setting_get_member(root, "cpu_priority")) {
        return kl_error_set(err, KL_ERR_INVALID,
                            "%s: \"store\", \"events_store\", \"scheduler\" and \"cpu_priority\" "
                            "need the master role",
                            self->path);
    }
    return 0;
}

kl_config_t *kl_config_load(const char *path, kl_error_t *err)
{
    kl_config_t *self = calloc(1, sizeof *self);
    config_init(&self->cfg);
    self->path = strdup(path ? path : "");
    self->log_level = KL_LOG_INFO;
    self->api_history = 100000;
    self->api_cache_objects = 30000;
    self->api_workers = 0;
    self->node_timeout_ms = 40000;
    self->max_pods = 110;
    self->heartbeat_ms = 2000;
    self->sync_ms = 100;
    self->relist_ms = 1000;
    self->node_count = 1;
    self->start_workers = KL_KUBELET_START_WORKERS;
    self->node_labels = json_object();
    if (!path || access(path, R_OK) != 0) {
        kl_error_set(err, KL_ERR_NOT_FOUND, "config file \"%s\" cannot be read", path ? path : "");
        kl_config_destroy(&self);
        return NULL;
    }
    if (config_read_file(&self->cfg, path) != CONFIG_TRUE) {
        kl_error_set(err, KL_ERR_INVALID, "%s:%d: %s",
                     config_error_file(&self->cfg) ? config_error_file(&self->cfg) : path,
                     config_error_line(&self->cfg), config_error_text(&self->cfg));
        kl_config_destroy(&self);
        return NULL;
    }
    if (load_root(self, err) < 0)
        kl_config_destroy(&self);
    return self;
}

void kl_config_destroy(kl_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_config_t *self = *self_p;
    free(self->plugin_path);
    free(self->listen);
    free(self->events);
    free(self->controllers);
    json_decref(self->node_labels);
    config_destroy(&self->cfg);
    free(self->path);
    free(self);
    *self_p = NULL;
}
