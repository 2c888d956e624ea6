/* Scheduler benchmark profiles: reading and checking the libconfig file; every
 * refusal names file:line. The seeded generation lives in bench_generate.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libconfig.h>

#include "bench_profile.h"
#include "quantity.h"

typedef struct reader {
    const char *path;
    kl_error_t *err;
} reader_t;

static int fail_at(reader_t *r, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(reader_t *r, const config_setting_t *s, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *file = s ? config_setting_source_file(s) : NULL;
    return kl_error_set(r->err, KL_ERR_INVALID, "%s:%u: %s", file ? file : r->path,
                        s ? config_setting_source_line(s) : 0, what);
}

static int check_keys(reader_t *r, const config_setting_t *group, const char *where,
                      const char *const *allowed)
{
    int n = config_setting_length(group);
    for (int i = 0; i < n; i++) {
        const config_setting_t *child = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(child);
        int known = 0;
        for (const char *const *a = allowed; *a; a++)
            known |= name && strcmp(name, *a) == 0;
        if (known)
            continue;
        char list[256] = "";
        for (const char *const *a = allowed; *a; a++) {
            strncat(list, *a, sizeof list - strlen(list) - 3);
            if (a[1])
                strncat(list, ", ", sizeof list - strlen(list) - 1);
        }
        return fail_at(r, child, "unknown setting \"%s\" in %s (known: %s)", name ? name : "?",
                       where, list);
    }
    return 0;
}

static const config_setting_t *member(const config_setting_t *parent, const char *name)
{
    return parent ? config_setting_get_member(parent, name) : NULL;
}

static int get_group(reader_t *r, const config_setting_t *parent, const char *name,
                     const config_setting_t **out)
{
    const config_setting_t *s = member(parent, name);
    *out = NULL;
    if (s && !config_setting_is_group(s))
        return fail_at(r, s, "\"%s\" must be a group { ... }", name);
    *out = s;
    return 0;
}

static int get_int(reader_t *r, const config_setting_t *parent, const char *name, int64_t min,
                   int64_t max, int64_t *out)
{
    const config_setting_t *s = member(parent, name);
    if (!s)
        return 0;
    int type = config_setting_type(s);
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
        return fail_at(r, s, "\"%s\" must be an integer", name);
    long long v = config_setting_get_int64(s);
    if (v < min || v > max)
        return fail_at(r, s, "\"%s\" must be between %lld and %lld, not %lld", name,
                       (long long)min, (long long)max, v);
    *out = v;
    return 0;
}

static int get_number(reader_t *r, const config_setting_t *parent, const char *name, double min,
                      double max, double *out)
{
    const config_setting_t *s = member(parent, name);
    if (!s)
        return 0;
    int type = config_setting_type(s);
    double v;
    if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
        v = (double)config_setting_get_int64(s);
    else if (type == CONFIG_TYPE_FLOAT)
        v = config_setting_get_float(s);
    else
        return fail_at(r, s, "\"%s\" must be a number", name);
    if (!(v >= min && v <= max))
        return fail_at(r, s, "\"%s\" must be between %g and %g, not %g", name, min, max, v);
    *out = v;
    return 0;
}

static int get_string(reader_t *r, const config_setting_t *parent, const char *name, char *out,
                      size_t size)
{
    const config_setting_t *s = member(parent, name);
    if (!s)
        return 0;
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail_at(r, s, "\"%s\" must be a string", name);
    const char *v = config_setting_get_string(s);
    if (strlen(v) >= size || !*v)
        return fail_at(r, s, "\"%s\" must be 1 to %zu characters", name, size - 1);
    snprintf(out, size, "%s", v);
    return 0;
}

/* A store plugin's name: it goes into the master's config as it is. */
static int get_plugin_name(reader_t *r, const config_setting_t *parent, const char *name, char *out,
                           size_t size)
{
    if (get_string(r, parent, name, out, size) < 0)
        return -1;
    if (strspn(out, "abcdefghijklmnopqrstuvwxyz0123456789_-") != strlen(out))
        return fail_at(r, member(parent, name), "\"%s\" \"%s\" is not a plugin name (a-z, 0-9, _ and -)",
                       name, out);
    return 0;
}

/* A quantity: a string ("500m", "4Gi") or an integer (cores, bytes). */
static int get_quantity(reader_t *r, const config_setting_t *parent, const char *name, int is_cpu,
                        int64_t *out)
{
    const config_setting_t *s = member(parent, name);
    if (!s)
        return 0;
    char text[64];
    int type = config_setting_type(s);
    if (type == CONFIG_TYPE_STRING)
        snprintf(text, sizeof text, "%s", config_setting_get_string(s));
    else if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)
        snprintf(text, sizeof text, "%lld", config_setting_get_int64(s));
    else
        return fail_at(r, s, "\"%s\" must be a quantity such as \"%s\"", name,
                       is_cpu ? "500m" : "4Gi");
    kl_error_t inner;
    int rc = is_cpu ? kl_quantity_parse_cpu(text, out, &inner)
                    : kl_quantity_parse_memory(text, out, &inner);
    if (rc < 0)
        return fail_at(r, s, "\"%s\": %s", name, inner.text);
    return 0;
}

/* Labels as a group (zone = "a";) or a list of "key=value" strings, since
 * libconfig names cannot hold the '/' and '.' of label prefixes. */
static int get_labels(reader_t *r, const config_setting_t *parent, const char *name,
                      json_t *out)
{
    const config_setting_t *s = member(parent, name);
    if (!s)
        return 0;
    if (!config_setting_is_aggregate(s))
        return fail_at(r, s, "\"%s\" must be a group { zone = \"a\"; } or a list "
                       "[ \"zone=a\" ]", name);
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        const config_setting_t *item = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(item) != CONFIG_TYPE_STRING)
            return fail_at(r, item, "\"%s\" item %d must be a string", name, i);
        const char *text = config_setting_get_string(item);
        if (config_setting_is_group(s)) {
            json_object_set_new(out, config_setting_name(item), json_string(text));
            continue;
        }
        const char *eq = strchr(text, '=');
        if (!eq || eq == text || strlen(text) > 300)
            return fail_at(r, item, "label \"%s\" must be key=value", text);
        char key[320];
        snprintf(key, sizeof key, "%.*s", (int)(eq - text), text);
        json_object_set_new(out, key, json_string(eq + 1));
    }
    return 0;
}

/* Taints written as "key=value:Effect" or "key:Effect". */
static int get_taints(reader_t *r, const config_setting_t *parent, const char *name, json_t *out)
{
    const config_setting_t *s = member(parent, name);
    if (!s)
        return 0;
    if (!config_setting_is_array(s) && !config_setting_is_list(s))
        return fail_at(r, s, "\"%s\" must be a list [ \"key=value:NoSchedule\" ]", name);
    int n = config_setting_length(s);
    for (int i = 0; i < n; i++) {
        const config_setting_t *item = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(item) != CONFIG_TYPE_STRING)
            return fail_at(r, item, "\"%s\" item %d must be a string", name, i);
        const char *text = config_setting_get_string(item);
        const char *colon = strrchr(text, ':');
        const char *effect = colon ? colon + 1 : "";
        if (!colon || colon == text
            || (strcmp(effect, "NoSchedule") != 0 && strcmp(effect, "PreferNoSchedule") != 0
                && strcmp(effect, "NoExecute") != 0) || strlen(text) > 300)
            return fail_at(r, item, "taint \"%s\" must be key[=value]:Effect with Effect "
                           "NoSchedule, PreferNoSchedule or NoExecute", text);
        char key[320], value[320] = "";
        snprintf(key, sizeof key, "%.*s", (int)(colon - text), text);
        char *eq = strchr(key, '=');
        if (eq) {
            snprintf(value, sizeof value, "%s", eq + 1);
            *eq = '\0';
        }
        if (!key[0])
            return fail_at(r, item, "taint \"%s\" has an empty key", text);
        json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "key", key, "value", value,
                                             "effect", effect));
    }
    return 0;
}

static int load_shape(reader_t *r, const config_setting_t *s, kl_bench_node_shape_t *shape,
                      int index)
{
    static const char *const keys[] = {"name", "count", "weight", "cpu", "memory", "max_pods",
                                       "labels", "taints", NULL};
    if (!config_setting_is_group(s))
        return fail_at(r, s, "node_shapes item %d must be a group { ... }", index);
    snprintf(shape->name, sizeof shape->name, "shape%d", index);
    shape->cpu_milli = 8000;
    shape->memory_bytes = 32LL << 30;
    shape->max_pods = 110;
    if (check_keys(r, s, "a node shape", keys) < 0
        || get_string(r, s, "name", shape->name, 40) < 0
        || get_int(r, s, "count", 0, 1000000, &shape->count) < 0
        || get_number(r, s, "weight", 0, 1e9, &shape->weight) < 0
        || get_quantity(r, s, "cpu", 1, &shape->cpu_milli) < 0
        || get_quantity(r, s, "memory", 0, &shape->memory_bytes) < 0
        || get_int(r, s, "max_pods", 1, 100000, &shape->max_pods) < 0
        || get_labels(r, s, "labels", shape->labels) < 0
        || get_taints(r, s, "taints", shape->taints) < 0)
        return -1;
    for (const char *c = shape->name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-'))
            return fail_at(r, member(s, "name"), "node shape name \"%s\" must use only a-z, "
                           "0-9 and '-' (it names nodes)", shape->name);
    if (member(s, "count") && member(s, "weight"))
        return fail_at(r, s, "node shape \"%s\" gives both count and weight; give one",
                       shape->name);
    if (!member(s, "count") && !member(s, "weight"))
        shape->weight = 1;
    if (shape->count > 0)
        shape->weight = (double)shape->count;
    if (shape->weight <= 0)
        return fail_at(r, s, "node shape \"%s\" has no nodes (count or weight is 0)",
                       shape->name);
    if (shape->cpu_milli <= 0)
        return fail_at(r, member(s, "cpu"), "node shape \"%s\": cpu must be above 0",
                       shape->name);
    return 0;
}

static int load_range(reader_t *r, const config_setting_t *parent, const char *name, int is_cpu,
                      int64_t *low, int64_t *high)
{
    const config_setting_t *s;
    static const char *const keys[] = {"min", "max", NULL};
    if (get_group(r, parent, name, &s) < 0 || !s)
        return s ? -1 : 0;
    if (check_keys(r, s, name, keys) < 0 || get_quantity(r, s, "min", is_cpu, low) < 0
        || get_quantity(r, s, "max", is_cpu, high) < 0)
        return -1;
    if (*low > *high)
        return fail_at(r, s, "\"%s\": min is above max", name);
    return 0;
}

static int load_workload(reader_t *r, kl_bench_profile_t *p, const config_setting_t *w)
{
    static const char *const keys[] = {"requests", "cpu", "memory", "node_selector",
                                       "tolerations", "arrival", "rate", NULL};
    if (check_keys(r, w, "workload", keys) < 0)
        return -1;
    const config_setting_t *requests = member(w, "requests");
    if (requests) {
        if (!config_setting_is_list(requests) || config_setting_length(requests) == 0)
            return fail_at(r, requests, "\"requests\" must be a non-empty list ( { weight = 1; "
                           "cpu = \"500m\"; memory = \"1Gi\"; }, ... )");
        if (member(w, "cpu") || member(w, "memory"))
            return fail_at(r, requests, "give either \"requests\" choices or \"cpu\"/\"memory\" "
                           "ranges, not both");
        int n = config_setting_length(requests);
        if (n > KL_BENCH_MAX_CHOICES)
            return fail_at(r, requests, "at most %d request choices", KL_BENCH_MAX_CHOICES);
        static const char *const choice_keys[] = {"weight", "cpu", "memory", NULL};
        for (int i = 0; i < n; i++) {
            const config_setting_t *c = config_setting_get_elem(requests, (unsigned)i);
            kl_bench_request_choice_t *choice = &p->choices[i];
            choice->weight = 1;
            if (!config_setting_is_group(c))
                return fail_at(r, c, "requests item %d must be a group { ... }", i);
            if (check_keys(r, c, "a request choice", choice_keys) < 0
                || get_number(r, c, "weight", 0, 1e9, &choice->weight) < 0
                || get_quantity(r, c, "cpu", 1, &choice->cpu_milli) < 0
                || get_quantity(r, c, "memory", 0, &choice->memory_bytes) < 0)
                return -1;
        }
        p->choice_count = (size_t)n;
    }
    if (load_range(r, w, "cpu", 1, &p->cpu_min_milli, &p->cpu_max_milli) < 0
        || load_range(r, w, "memory", 0, &p->memory_min_bytes, &p->memory_max_bytes) < 0)
        return -1;

    const config_setting_t *g;
    static const char *const selector_keys[] = {"fraction", "labels", NULL};
    if (get_group(r, w, "node_selector", &g) < 0)
        return -1;
    if (g && (check_keys(r, g, "node_selector", selector_keys) < 0
              || get_number(r, g, "fraction", 0, 1, &p->selector_fraction) < 0
              || get_labels(r, g, "labels", p->selector_labels) < 0))
        return -1;
    if (g && p->selector_fraction > 0 && json_object_size(p->selector_labels) == 0)
        return fail_at(r, g, "node_selector: a fraction above 0 needs labels");
    static const char *const toleration_keys[] = {"fraction", "taints", NULL};
    if (get_group(r, w, "tolerations", &g) < 0)
        return -1;
    json_t *taints = json_array();
    int rc = 0;
    if (g && (check_keys(r, g, "tolerations", toleration_keys) < 0
              || get_number(r, g, "fraction", 0, 1, &p->toleration_fraction) < 0
              || get_taints(r, g, "taints", taints) < 0))
        rc = -1;
    size_t i;
    json_t *taint;
    json_array_foreach(taints, i, taint)
        json_array_append_new(p->tolerations,
                              json_pack("{s:O, s:s, s:O, s:O}", "key", json_object_get(taint, "key"),
                                        "operator", "Equal", "value", json_object_get(taint, "value"),
                                        "effect", json_object_get(taint, "effect")));
    json_decref(taints);
    if (rc < 0)
        return -1;
    if (g && p->toleration_fraction > 0 && json_array_size(p->tolerations) == 0)
        return fail_at(r, g, "tolerations: a fraction above 0 needs taints");

    char arrival[32] = "all_at_once";
    if (get_string(r, w, "arrival", arrival, sizeof arrival) < 0
        || get_number(r, w, "rate", 0.001, 1e7, &p->rate) < 0)
        return -1;
    if (strcmp(arrival, "all_at_once") == 0) {
        p->arrival = KL_BENCH_ALL_AT_ONCE;
    } else if (strcmp(arrival, "rate") == 0) {
        p->arrival = KL_BENCH_RATE;
        if (!member(w, "rate"))
            return fail_at(r, member(w, "arrival"), "arrival \"rate\" needs rate = PODS_PER_SECOND;");
    } else {
        return fail_at(r, member(w, "arrival"), "arrival \"%s\" must be \"all_at_once\" or "
                       "\"rate\"", arrival);
    }
    return 0;
}

static kl_bench_profile_t *profile_new(void)
{
    kl_bench_profile_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->store, sizeof p->store, "memory");
    p->nodes = 100;
    p->pods = 1000;
    p->cpu_min_milli = p->cpu_max_milli = 500;
    p->memory_min_bytes = p->memory_max_bytes = 1LL << 30;
    p->selector_labels = json_object();
    p->tolerations = json_array();
    for (size_t i = 0; i < KL_BENCH_MAX_SHAPES; i++) {
        p->shapes[i].labels = json_object();
        p->shapes[i].taints = json_array();
    }
    return p;
}

kl_bench_profile_t *kl_bench_profile_default(void)
{
    kl_bench_profile_t *p = profile_new();
    if (!p)
        return NULL;
    kl_bench_node_shape_t *shape = &p->shapes[0];
    snprintf(shape->name, sizeof shape->name, "node");
    shape->weight = 1;
    shape->cpu_milli = 8000;
    shape->memory_bytes = 32LL << 30;
    shape->max_pods = 110;
    p->shape_count = 1;
    p->path = strdup("(built-in profile)");
    return p;
}

kl_bench_profile_t *kl_bench_profile_load(const char *path, kl_error_t *err)
{
    if (!path || access(path, R_OK) != 0) {
        kl_error_set(err, KL_ERR_NOT_FOUND, "profile \"%s\" cannot be read", path ? path : "");
        return NULL;
    }
    kl_bench_profile_t *p = profile_new();
    config_t cfg;
    config_init(&cfg);
    reader_t r = {.path = path, .err = err};
    if (!p || !(p->path = strdup(path))) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading profile \"%s\"", path);
        goto fail;
    }
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        kl_error_set(err, KL_ERR_INVALID, "%s:%d: %s",
                     config_error_file(&cfg) ? config_error_file(&cfg) : path,
                     config_error_line(&cfg), config_error_text(&cfg));
        goto fail;
    }
    const config_setting_t *root = config_root_setting(&cfg);
    static const char *const keys[] = {"nodes", "pods", "store", "events_store", "node_shapes", "workload",
                                       NULL};
    if (check_keys(&r, root, "the profile", keys) < 0
        || get_int(&r, root, "nodes", 1, 1000000, &p->nodes) < 0
        || get_int(&r, root, "pods", 1, 10000000, &p->pods) < 0
        || get_plugin_name(&r, root, "store", p->store, sizeof p->store) < 0
        || get_plugin_name(&r, root, "events_store", p->events_store, sizeof p->events_store) < 0)
        goto fail;
    const config_setting_t *shapes = member(root, "node_shapes");
    if (!shapes) {
        kl_error_set(err, KL_ERR_INVALID, "%s: node_shapes = ( { name = \"...\"; cpu = \"8\"; "
                     "memory = \"32Gi\"; }, ... ); is missing", path);
        goto fail;
    }
    if (!config_setting_is_list(shapes) || config_setting_length(shapes) == 0) {
        fail_at(&r, shapes, "\"node_shapes\" must be a non-empty list ( { ... }, ... )");
        goto fail;
    }
    if (config_setting_length(shapes) > KL_BENCH_MAX_SHAPES) {
        fail_at(&r, shapes, "at most %d node shapes", KL_BENCH_MAX_SHAPES);
        goto fail;
    }
    int64_t counted = 0;
    int all_counted = 1;
    for (int i = 0; i < config_setting_length(shapes); i++) {
        const config_setting_t *s = config_setting_get_elem(shapes, (unsigned)i);
        if (load_shape(&r, s, &p->shapes[i], i) < 0)
            goto fail;
        for (int j = 0; j < i; j++)
            if (strcmp(p->shapes[j].name, p->shapes[i].name) == 0) {
                fail_at(&r, s, "node shape name \"%s\" is used twice", p->shapes[i].name);
                goto fail;
            }
        counted += p->shapes[i].count;
        all_counted &= p->shapes[i].count > 0;
        p->shape_count++;
    }
    /* Counts on every shape describe the whole cluster unless nodes says otherwise. */
    if (all_counted && !member(root, "nodes"))
        p->nodes = counted;
    const config_setting_t *workload;
    if (get_group(&r, root, "workload", &workload) < 0
        || (workload && load_workload(&r, p, workload) < 0))
        goto fail;
    config_destroy(&cfg);
    return p;
fail:
    config_destroy(&cfg);
    kl_bench_profile_destroy(&p);
    return NULL;
}

void kl_bench_profile_destroy(kl_bench_profile_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_bench_profile_t *p = *self_p;
    for (size_t i = 0; i < KL_BENCH_MAX_SHAPES; i++) {
        json_decref(p->shapes[i].labels);
        json_decref(p->shapes[i].taints);
    }
    json_decref(p->selector_labels);
    json_decref(p->tolerations);
    free(p->path);
    free(p);
    *self_p = NULL;
}
