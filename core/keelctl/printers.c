/* Output for keelctl: kubectl's table columns and their derivation from
 * object status, plus json / yaml / name output of objects and lists. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "objects.h"
#include "printers.h"
#include "yaml_json.h"

/* Follows object keys; NULL as soon as one is missing. Borrowed. */
static json_t *dig(const json_t *value, ...)
{
    va_list ap;
    va_start(ap, value);
    const char *key;
    json_t *at = (json_t *)value;
    while (at && (key = va_arg(ap, const char *)))
        at = json_object_get(at, key);
    va_end(ap);
    return at;
}

static const char *dig_string(const json_t *value, const char *fallback, ...)
{
    va_list ap;
    va_start(ap, fallback);
    const char *key;
    json_t *at = (json_t *)value;
    while (at && (key = va_arg(ap, const char *)))
        at = json_object_get(at, key);
    va_end(ap);
    const char *text = json_string_value(at);
    return text && *text ? text : fallback;
}

int kl_output_format_parse(const char *text, kl_output_format_t *format, kl_error_t *err)
{
    static const struct {
        const char *name;
        kl_output_format_t format;
    } formats[] = {{"", KL_OUTPUT_TABLE},     {"wide", KL_OUTPUT_WIDE}, {"json", KL_OUTPUT_JSON},
                   {"yaml", KL_OUTPUT_YAML}, {"name", KL_OUTPUT_NAME}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcmp(text ? text : "", formats[i].name) == 0) {
            *format = formats[i].format;
            return 0;
        }
    }
    return kl_error_set(err, KL_ERR_INVALID,
                        "output format \"%s\" is not one of wide, json, yaml, name", text);
}

void kl_age_format(int64_t seconds, char *buf, size_t size)
{
    if (seconds < -1) {
        snprintf(buf, size, "<invalid>");
        return;
    }
    if (seconds < 0)
        seconds = 0; /* clocks a second apart */
    int64_t minutes = seconds / 60, hours = seconds / 3600, days = hours / 24;
    if (seconds < 120)
        snprintf(buf, size, "%llds", (long long)seconds);
    else if (minutes < 10 && seconds % 60)
        snprintf(buf, size, "%lldm%llds", (long long)minutes, (long long)(seconds % 60));
    else if (minutes < 180)
        snprintf(buf, size, "%lldm", (long long)minutes);
    else if (hours < 8 && minutes % 60)
        snprintf(buf, size, "%lldh%lldm", (long long)hours, (long long)(minutes % 60));
    else if (hours < 48)
        snprintf(buf, size, "%lldh", (long long)hours);
    else if (hours < 24 * 8 && hours % 24)
        snprintf(buf, size, "%lldd%lldh", (long long)days, (long long)(hours % 24));
    else if (hours < 24 * 365 * 2)
        snprintf(buf, size, "%lldd", (long long)days);
    else if (hours < 24 * 365 * 8 && days % 365)
        snprintf(buf, size, "%lldy%lldd", (long long)(days / 365), (long long)(days % 365));
    else
        snprintf(buf, size, "%lldy", (long long)(days / 365));
}

int kl_timestamp_parse(const char *text, time_t *when)
{
    int64_t ms;
    if (kl_time_parse_rfc3339(text, &ms, NULL) < 0)
        return -1;
    /* Whole seconds, the fraction dropped: rounds down before 1970 too. */
    *when = (time_t)((ms - ((ms % 1000) + 1000) % 1000) / 1000);
    return 0;
}

void kl_object_age(const json_t *object, time_t now, char *buf, size_t size)
{
    time_t created;
    if (kl_timestamp_parse(dig_string(object, NULL, "metadata", "creationTimestamp", NULL),
                           &created) < 0) {
        snprintf(buf, size, "<unknown>");
        return;
    }
    kl_age_format((int64_t)now - (int64_t)created, buf, size);
}

static bool has_ready_condition(const json_t *pod)
{
    size_t index;
    json_t *condition;
    json_array_foreach(dig(pod, "status", "conditions", NULL), index, condition) {
        if (strcmp(dig_string(condition, "", "type", NULL), "Ready") == 0)
            return strcmp(dig_string(condition, "", "status", NULL), "True") == 0;
    }
    return false;
}

/* Status text for a terminated container without a reason. */
static void exit_text(const json_t *terminated, const char *prefix, char *buf, size_t size)
{
    json_int_t signal = json_integer_value(json_object_get(terminated, "signal"));
    if (signal)
        snprintf(buf, size, "%sSignal:%lld", prefix, (long long)signal);
    else
        snprintf(buf, size, "%sExitCode:%lld", prefix,
                 (long long)json_integer_value(json_object_get(terminated, "exitCode")));
}

/* kubectl's printPod, minus sidecars and readiness gates. */
static void pod_columns(const json_t *pod, char *status, size_t status_size, int *ready,
                        int64_t *restarts)
{
    snprintf(status, status_size, "%s",
             dig_string(pod, dig_string(pod, "Pending", "status", "phase", NULL), "status",
                        "reason", NULL));
    *ready = 0;
    *restarts = 0;
    bool initializing = false;
    json_t *init_statuses = dig(pod, "status", "initContainerStatuses", NULL);
    size_t init_total = json_array_size(dig(pod, "spec", "initContainers", NULL));
    size_t index;
    json_t *cs;
    json_array_foreach(init_statuses, index, cs) {
        *restarts += json_integer_value(json_object_get(cs, "restartCount"));
        json_t *terminated = dig(cs, "state", "terminated", NULL);
        const char *waiting_reason = dig_string(cs, NULL, "state", "waiting", "reason", NULL);
        if (terminated && json_integer_value(json_object_get(terminated, "exitCode")) == 0 &&
            !json_integer_value(json_object_get(terminated, "signal")))
            continue;
        initializing = true;
        if (terminated) {
            const char *reason = dig_string(terminated, NULL, "reason", NULL);
            if (reason)
                snprintf(status, status_size, "Init:%s", reason);
            else
                exit_text(terminated, "Init:", status, status_size);
        } else if (waiting_reason && strcmp(waiting_reason, "PodInitializing") != 0) {
            snprintf(status, status_size, "Init:%s", waiting_reason);
        } else {
            snprintf(status, status_size, "Init:%zu/%zu", index, init_total);
        }
        break;
    }
    if (!initializing) {
        *restarts = 0;
        bool has_running = false;
        json_t *statuses = dig(pod, "status", "containerStatuses", NULL);
        /* From the last so the first container's state is the one shown. */
        for (size_t i = json_array_size(statuses); i-- > 0;) {
            cs = json_array_get(statuses, i);
            *restarts += json_integer_value(json_object_get(cs, "restartCount"));
            const char *waiting_reason = dig_string(cs, NULL, "state", "waiting", "reason", NULL);
            json_t *terminated = dig(cs, "state", "terminated", NULL);
            if (waiting_reason)
                snprintf(status, status_size, "%s", waiting_reason);
            else if (terminated && dig_string(terminated, NULL, "reason", NULL))
                snprintf(status, status_size, "%s", dig_string(terminated, "", "reason", NULL));
            else if (terminated)
                exit_text(terminated, "", status, status_size);
            else if (json_is_true(json_object_get(cs, "ready")) && dig(cs, "state", "running", NULL)) {
                has_running = true;
                (*ready)++;
            }
        }
        if (strcmp(status, "Completed") == 0 && has_running)
            snprintf(status, status_size, "%s", has_ready_condition(pod) ? "Running" : "NotReady");
    }
    if (dig(pod, "metadata", "deletionTimestamp", NULL)) {
        const char *reason = dig_string(pod, "", "status", "reason", NULL);
        snprintf(status, status_size, "%s", strcmp(reason, "NodeLost") == 0 ? "Unknown"
                                                                              : "Terminating");
    }
}

void kl_pod_status_text(const json_t *pod, char *buf, size_t size)
{
    int ready;
    int64_t restarts;
    pod_columns(pod, buf, size, &ready, &restarts);
}

void kl_pod_ready_text(const json_t *pod, char *buf, size_t size)
{
    char status[128];
    int ready;
    int64_t restarts;
    pod_columns(pod, status, sizeof status, &ready, &restarts);
    snprintf(buf, size, "%d/%zu", ready, json_array_size(dig(pod, "spec", "containers", NULL)));
}

int64_t kl_pod_restarts(const json_t *pod)
{
    char status[128];
    int ready;
    int64_t restarts;
    pod_columns(pod, status, sizeof status, &ready, &restarts);
    return restarts;
}

void kl_node_status_text(const json_t *node, char *buf, size_t size)
{
    const char *ready = "NotReady";
    size_t index;
    json_t *condition;
    json_array_foreach(dig(node, "status", "conditions", NULL), index, condition) {
        if (strcmp(dig_string(condition, "", "type", NULL), "Ready") == 0 &&
            strcmp(dig_string(condition, "", "status", NULL), "True") == 0)
            ready = "Ready";
    }
    snprintf(buf, size, "%s%s", ready,
             json_is_true(dig(node, "spec", "unschedulable", NULL)) ? ",SchedulingDisabled" : "");
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void kl_node_roles_text(const json_t *node, char *buf, size_t size)
{
    static const char prefix[] = "node-role.kubernetes.io/";
    const char *roles[64];
    size_t count = 0;
    const char *key;
    json_t *value;
    json_object_foreach(dig(node, "metadata", "labels", NULL), key, value) {
        if (count < 64 && strncmp(key, prefix, sizeof prefix - 1) == 0 && key[sizeof prefix - 1])
            roles[count++] = key + sizeof prefix - 1;
        else if (count < 64 && strcmp(key, "kubernetes.io/role") == 0 && json_string_value(value))
            roles[count++] = json_string_value(value);
    }
    if (count == 0) {
        snprintf(buf, size, "<none>");
        return;
    }
    qsort(roles, count, sizeof roles[0], compare_strings);
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? "," : "", roles[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void kl_kind_singular(const char *kind, char *buf, size_t size)
{
    size_t i = 0;
    for (; kind && kind[i] && i + 1 < size; i++)
        buf[i] = (char)tolower((unsigned char)kind[i]);
    if (size)
        buf[i < size ? i : size - 1] = '\0';
}

/* Appends every element of `tail` to `array` and releases `tail`. */
static void append_all(json_t *array, json_t *tail)
{
    json_array_extend(array, tail);
    json_decref(tail);
}

static bool is_node(const char *kind)
{
    return kind && strcasecmp(kind, "Node") == 0;
}

static bool is_workload(const char *kind)
{
    return kind && (strcasecmp(kind, "ReplicaSet") == 0 || strcasecmp(kind, "Deployment") == 0
                    || strcasecmp(kind, "Event") == 0);
}

/* Columns of the workload kinds and Events, as kubectl prints them. */
static json_t *workload_header(const char *kind)
{
    if (kind && strcasecmp(kind, "ReplicaSet") == 0)
        return json_pack("[sssss]", "NAME", "DESIRED", "CURRENT", "READY", "AGE");
    if (kind && strcasecmp(kind, "Deployment") == 0)
        return json_pack("[sssss]", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE");
    if (kind && strcasecmp(kind, "Event") == 0)
        return json_pack("[sssss]", "LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE");
    return NULL;
}

static long long status_int(const json_t *object, const char *section, const char *key, long long fallback)
{
    const json_t *value = dig(object, section, key, NULL);
    return json_is_integer(value) ? (long long)json_integer_value(value) : fallback;
}

static json_t *workload_row(const json_t *object, const char *kind, time_t now)
{
    char age[32], a[32], b[32], c[32];
    kl_object_age(object, now, age, sizeof age);
    const char *name = dig_string(object, "<none>", "metadata", "name", NULL);
    if (kind && strcasecmp(kind, "ReplicaSet") == 0) {
        snprintf(a, sizeof a, "%lld", status_int(object, "spec", "replicas", 1));
        snprintf(b, sizeof b, "%lld", status_int(object, "status", "replicas", 0));
        snprintf(c, sizeof c, "%lld", status_int(object, "status", "readyReplicas", 0));
        return json_pack("[sssss]", name, a, b, c, age);
    }
    if (kind && strcasecmp(kind, "Deployment") == 0) {
        snprintf(a, sizeof a, "%lld/%lld", status_int(object, "status", "readyReplicas", 0),
                 status_int(object, "spec", "replicas", 1));
        snprintf(b, sizeof b, "%lld", status_int(object, "status", "updatedReplicas", 0));
        snprintf(c, sizeof c, "%lld", status_int(object, "status", "availableReplicas", 0));
        return json_pack("[sssss]", name, a, b, c, age);
    }
    time_t seen;
    const char *last = dig_string(object, NULL, "lastTimestamp", NULL);
    if (last && kl_timestamp_parse(last, &seen) == 0)
        kl_age_format((int64_t)now - (int64_t)seen, age, sizeof age);
    char involved[400], singular[64];
    kl_kind_singular(dig_string(object, "", "involvedObject", "kind", NULL), singular, sizeof singular);
    snprintf(involved, sizeof involved, "%s/%s", singular,
             dig_string(object, "", "involvedObject", "name", NULL));
    return json_pack("[sssss]", age, dig_string(object, "Normal", "type", NULL),
                     dig_string(object, "", "reason", NULL), involved, dig_string(object, "", "message", NULL));
}

static bool is_lease(const char *kind)
{
    return kind && strcasecmp(kind, "Lease") == 0;
}

json_t *kl_table_header(const char *kind, bool wide, bool all_namespaces)
{
    json_t *header = json_array();
    if (all_namespaces && !is_node(kind))
        json_array_append_new(header, json_string("NAMESPACE"));
    if (is_lease(kind)) {
        append_all(header, json_pack("[sss]", "NAME", "HOLDER", "AGE"));
        return header;
    }
    json_t *workload = workload_header(kind);
    if (workload) {
        append_all(header, workload);
        return header;
    }
    if (is_node(kind)) {
        append_all(header, json_pack("[sssss]", "NAME", "STATUS", "ROLES", "AGE",
                                                "VERSION"));
        if (wide)
            append_all(header, json_pack("[ss]", "CPU", "MEMORY"));
    } else {
        append_all(header,
                              json_pack("[sssss]", "NAME", "READY", "STATUS", "RESTARTS", "AGE"));
        if (wide)
            json_array_append_new(header, json_string("NODE"));
    }
    return header;
}

json_t *kl_table_row(const json_t *object, const char *kind, bool wide, bool all_namespaces,
                     time_t now)
{
    json_t *row = json_array();
    char age[32];
    kl_object_age(object, now, age, sizeof age);
    const char *name = dig_string(object, "<none>", "metadata", "name", NULL);
    const char *own_kind = dig_string(object, kind, "kind", NULL);
    if (is_lease(own_kind)) {
        if (all_namespaces)
            json_array_append_new(row, json_string(dig_string(object, "<none>", "metadata", "namespace", NULL)));
        append_all(row, json_pack("[sss]", name, dig_string(object, "", "spec", "holderIdentity", NULL), age));
        return row;
    }
    if (is_workload(own_kind)) {
        if (all_namespaces)
            json_array_append_new(row, json_string(dig_string(object, "<none>", "metadata", "namespace", NULL)));
        append_all(row, workload_row(object, own_kind, now));
        return row;
    }
    if (is_node(dig_string(object, kind, "kind", NULL))) {
        char status[96], roles[256];
        kl_node_status_text(object, status, sizeof status);
        kl_node_roles_text(object, roles, sizeof roles);
        append_all(row, json_pack("[sssss]", name, status, roles, age,
                                             dig_string(object, "<none>", "status", "nodeInfo",
                                                        "kubeletVersion", NULL)));
        if (wide) {
            json_t *capacity = dig(object, "status", "capacity", NULL);
            char cpu[32], memory[32];
            /* Capacity may be written as a quantity string or a plain number. */
            const json_t *c = json_object_get(capacity, "cpu"), *m = json_object_get(capacity, "memory");
            if (json_is_number(c))
                snprintf(cpu, sizeof cpu, "%g", json_number_value(c));
            else
                snprintf(cpu, sizeof cpu, "%s", json_string_value(c) ? json_string_value(c) : "<none>");
            if (json_is_number(m))
                snprintf(memory, sizeof memory, "%.0f", json_number_value(m));
            else
                snprintf(memory, sizeof memory, "%s",
                         json_string_value(m) ? json_string_value(m) : "<none>");
            append_all(row, json_pack("[ss]", cpu, memory));
        }
        return row;
    }
    char status[128], ready[32], restarts[32];
    int ready_count;
    int64_t restart_count;
    pod_columns(object, status, sizeof status, &ready_count, &restart_count);
    snprintf(ready, sizeof ready, "%d/%zu", ready_count,
             json_array_size(dig(object, "spec", "containers", NULL)));
    snprintf(restarts, sizeof restarts, "%lld", (long long)restart_count);
    if (all_namespaces)
        json_array_append_new(row, json_string(dig_string(object, "<none>", "metadata",
                                                          "namespace", NULL)));
    append_all(row, json_pack("[sssss]", name, ready, status, restarts, age));
    if (wide)
        json_array_append_new(row,
                              json_string(dig_string(object, "<none>", "spec", "nodeName", NULL)));
    return row;
}

void kl_table_print(FILE *out, const json_t *rows, size_t *widths, size_t columns)
{
    size_t local[32] = {0};
    if (!widths) {
        widths = local;
        columns = sizeof local / sizeof local[0];
    }
    size_t index, column;
    json_t *row, *cell;
    json_array_foreach(rows, index, row) {
        json_array_foreach(row, column, cell) {
            if (column < columns && json_string_length(cell) > widths[column])
                widths[column] = json_string_length(cell);
        }
    }
    json_array_foreach(rows, index, row) {
        size_t last = json_array_size(row);
        json_array_foreach(row, column, cell) {
            const char *text = json_string_value(cell) ? json_string_value(cell) : "";
            if (column + 1 == last || column >= columns)
                fprintf(out, "%s", text);
            else
                fprintf(out, "%-*s   ", (int)widths[column], text);
        }
        fputc('\n', out);
    }
    fflush(out);
}

int kl_print_objects(FILE *out, const json_t *items, const char *kind, kl_output_format_t format,
                     bool single, bool all_namespaces, time_t now, kl_error_t *err)
{
    size_t index;
    json_t *item;
    json_t *shown = NULL;
    switch (format) {
    case KL_OUTPUT_NAME:
        json_array_foreach(items, index, item) {
            char singular[64];
            kl_kind_singular(dig_string(item, kind, "kind", NULL), singular, sizeof singular);
            fprintf(out, "%s/%s\n", singular, dig_string(item, "", "metadata", "name", NULL));
        }
        break;
    case KL_OUTPUT_JSON:
    case KL_OUTPUT_YAML:
        if (single && json_array_size(items) == 1)
            shown = json_incref(json_array_get(items, 0));
        else
            shown = json_pack("{s:s, s:s, s:O, s:{s:s}}", "apiVersion", "v1", "kind", "List",
                              "items", items, "metadata", "resourceVersion", "");
        if (format == KL_OUTPUT_JSON) {
            char *text = json_dumps(shown, JSON_INDENT(4));
            if (!text) {
                json_decref(shown);
                return kl_error_set(err, KL_ERR_INTERNAL, "cannot write objects as JSON");
            }
            fprintf(out, "%s\n", text);
            free(text);
        } else {
            char *text = kl_yaml_emit(shown, err);
            if (!text) {
                json_decref(shown);
                return -1;
            }
            fputs(text, out);
            free(text);
        }
        json_decref(shown);
        break;
    case KL_OUTPUT_TABLE:
    case KL_OUTPUT_WIDE:
    default: {
        bool wide = format == KL_OUTPUT_WIDE;
        json_t *rows = json_array();
        json_array_append_new(rows, kl_table_header(kind, wide, all_namespaces));
        json_array_foreach(items, index, item)
            json_array_append_new(rows, kl_table_row(item, kind, wide, all_namespaces, now));
        kl_table_print(out, rows, NULL, 0);
        json_decref(rows);
        break;
    }
    }
    fflush(out);
    return 0;
}
