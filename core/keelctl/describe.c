/* `keelctl describe`: a pod or node written out for people, field by field
 * in kubectl describe's layout. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "describe.h"
#include "printers.h"
#include "quantity.h"

static const char *text_of(const json_t *object, const char *key, const char *fallback)
{
    const char *text = json_string_value(json_object_get(object, key));
    return text && *text ? text : fallback;
}

/* Quantities arrive as strings ("100m") or, from hand-written JSON, numbers. */
static void scalar_text(const json_t *value, char *buf, size_t size)
{
    if (json_is_string(value))
        snprintf(buf, size, "%s", json_string_value(value));
    else if (json_is_integer(value))
        snprintf(buf, size, "%lld", (long long)json_integer_value(value));
    else if (json_is_real(value))
        snprintf(buf, size, "%g", json_real_value(value));
    else if (json_is_boolean(value))
        snprintf(buf, size, "%s", json_is_true(value) ? "true" : "false");
    else
        snprintf(buf, size, "<none>");
}

static void field(FILE *out, int indent, int width, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void field(FILE *out, int indent, int width, const char *label, const char *fmt, ...)
{
    char name[128];
    snprintf(name, sizeof name, "%s:", label);
    fprintf(out, "%*s%-*s", indent, "", width, name);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(out, fmt, ap);
    va_end(ap);
    fputc('\n', out);
}

/* "Labels:  a=b" then one pair per line under the first. */
static void key_values(FILE *out, int width, const char *label, const json_t *map)
{
    const char *key;
    json_t *value;
    bool first = true;
    json_object_foreach((json_t *)map, key, value) {
        char text[512];
        scalar_text(value, text, sizeof text);
        if (first)
            field(out, 0, width, label, "%s=%s", key, text);
        else
            fprintf(out, "%*s%s=%s\n", width, "", key, text);
        first = false;
    }
    if (first)
        field(out, 0, width, label, "<none>");
}

static void resource_block(FILE *out, const char *label, const json_t *map)
{
    if (json_object_size(map) == 0)
        return;
    fprintf(out, "    %s:\n", label);
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)map, key, value) {
        char text[128];
        scalar_text(value, text, sizeof text);
        field(out, 6, 9, key, "%s", text);
    }
}

static void container_state(FILE *out, const char *label, const json_t *state)
{
    const char *kinds[] = {"running", "waiting", "terminated"};
    const char *names[] = {"Running", "Waiting", "Terminated"};
    for (size_t i = 0; i < 3; i++) {
        const json_t *detail = json_object_get(state, kinds[i]);
        if (!detail)
            continue;
        field(out, 4, 16, label, "%s", names[i]);
        if (json_object_get(detail, "reason"))
            field(out, 6, 14, "Reason", "%s", text_of(detail, "reason", ""));
        if (json_object_get(detail, "message"))
            field(out, 6, 14, "Message", "%s", text_of(detail, "message", ""));
        if (json_object_get(detail, "exitCode"))
            field(out, 6, 14, "Exit Code", "%lld",
                  (long long)json_integer_value(json_object_get(detail, "exitCode")));
        if (json_integer_value(json_object_get(detail, "signal")))
            field(out, 6, 14, "Signal", "%lld",
                  (long long)json_integer_value(json_object_get(detail, "signal")));
        if (json_object_get(detail, "startedAt"))
            field(out, 6, 14, "Started", "%s", text_of(detail, "startedAt", ""));
        if (json_object_get(detail, "finishedAt"))
            field(out, 6, 14, "Finished", "%s", text_of(detail, "finishedAt", ""));
        return;
    }
    field(out, 4, 16, label, "Waiting");
}

static const json_t *status_of_container(const json_t *pod, const char *name)
{
    size_t index;
    json_t *cs;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "containerStatuses"), index,
                       cs) {
        if (strcmp(text_of(cs, "name", ""), name) == 0)
            return cs;
    }
    return NULL;
}

static void conditions(FILE *out, const json_t *list, bool with_reason)
{
    if (json_array_size(list) == 0)
        return;
    fprintf(out, "Conditions:\n");
    if (with_reason)
        fprintf(out, "  %-18s %-8s %-28s %s\n", "Type", "Status", "LastTransitionTime", "Reason");
    else
        fprintf(out, "  %-18s %s\n", "Type", "Status");
    size_t index;
    json_t *condition;
    json_array_foreach(list, index, condition) {
        if (with_reason)
            fprintf(out, "  %-18s %-8s %-28s %s\n", text_of(condition, "type", "<none>"),
                    text_of(condition, "status", "Unknown"),
                    text_of(condition, "lastTransitionTime", "<none>"),
                    text_of(condition, "reason", ""));
        else
            fprintf(out, "  %-18s %s\n", text_of(condition, "type", "<none>"),
                    text_of(condition, "status", "Unknown"));
    }
}

void kl_describe_pod(FILE *out, const json_t *pod)
{
    const json_t *metadata = json_object_get(pod, "metadata");
    const json_t *spec = json_object_get(pod, "spec");
    const json_t *status = json_object_get(pod, "status");
    char status_text[128];
    kl_pod_status_text(pod, status_text, sizeof status_text);
    field(out, 0, 18, "Name", "%s", text_of(metadata, "name", "<none>"));
    field(out, 0, 18, "Namespace", "%s", text_of(metadata, "namespace", "default"));
    field(out, 0, 18, "Node", "%s", text_of(spec, "nodeName", "<none>"));
    field(out, 0, 18, "Start Time", "%s", text_of(status, "startTime", "<unset>"));
    key_values(out, 18, "Labels", json_object_get(metadata, "labels"));
    key_values(out, 18, "Annotations", json_object_get(metadata, "annotations"));
    field(out, 0, 18, "Status", "%s",
          json_object_get(metadata, "deletionTimestamp") ? "Terminating"
                                                          : text_of(status, "phase", "Pending"));
    if (json_object_get(status, "reason"))
        field(out, 0, 18, "Reason", "%s", text_of(status, "reason", ""));
    if (json_object_get(status, "message"))
        field(out, 0, 18, "Message", "%s", text_of(status, "message", ""));
    field(out, 0, 18, "IP", "%s", text_of(status, "podIP", ""));
    field(out, 0, 18, "Restart Policy", "%s", text_of(spec, "restartPolicy", "Always"));
    field(out, 0, 18, "UID", "%s", text_of(metadata, "uid", "<none>"));
    fprintf(out, "Containers:\n");
    size_t index;
    json_t *container;
    json_array_foreach(json_object_get(spec, "containers"), index, container) {
        const char *name = text_of(container, "name", "<none>");
        const json_t *cs = status_of_container(pod, name);
        fprintf(out, "  %s:\n", name);
        field(out, 4, 16, "Image", "%s", text_of(container, "image", "<none>"));
        const char *lists[] = {"command", "args"};
        const char *labels[] = {"Command", "Args"};
        for (size_t l = 0; l < 2; l++) {
            const json_t *items = json_object_get(container, lists[l]);
            if (json_array_size(items) == 0)
                continue;
            fprintf(out, "    %s:\n", labels[l]);
            size_t i;
            json_t *item;
            json_array_foreach(items, i, item) {
                char text[1024];
                scalar_text(item, text, sizeof text);
                fprintf(out, "      %s\n", text);
            }
        }
        container_state(out, "State", json_object_get(cs, "state"));
        if (json_object_size(json_object_get(cs, "lastState")))
            container_state(out, "Last State", json_object_get(cs, "lastState"));
        field(out, 4, 16, "Ready", "%s", json_is_true(json_object_get(cs, "ready")) ? "True" : "False");
        field(out, 4, 16, "Restart Count", "%lld",
              (long long)json_integer_value(json_object_get(cs, "restartCount")));
        const json_t *resources = json_object_get(container, "resources");
        resource_block(out, "Limits", json_object_get(resources, "limits"));
        resource_block(out, "Requests", json_object_get(resources, "requests"));
    }
    conditions(out, json_object_get(status, "conditions"), false);
    fflush(out);
}

/* What a pod asks of its node: the sum over its containers, or "?" when a
 * request does not parse (the API server validates them, so only a
 * foreign object shows it). */
static void pod_requests(const json_t *pod, char *cpu, size_t cpu_size, char *memory,
                         size_t memory_size)
{
    int64_t cpu_total = 0, memory_total = 0;
    bool cpu_bad = false, memory_bad = false;
    size_t index;
    json_t *container;
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "containers"), index,
                       container) {
        const json_t *requests =
            json_object_get(json_object_get(container, "resources"), "requests");
        char text[64];
        int64_t value;
        kl_error_t err;
        if (json_object_get(requests, "cpu")) {
            scalar_text(json_object_get(requests, "cpu"), text, sizeof text);
            if (kl_quantity_parse_cpu(text, &value, &err) == 0)
                cpu_total += value;
            else
                cpu_bad = true;
        }
        if (json_object_get(requests, "memory")) {
            scalar_text(json_object_get(requests, "memory"), text, sizeof text);
            if (kl_quantity_parse_memory(text, &value, &err) == 0)
                memory_total += value;
            else
                memory_bad = true;
        }
    }
    if (cpu_bad)
        snprintf(cpu, cpu_size, "?");
    else
        kl_quantity_format_cpu(cpu_total, cpu, cpu_size);
    if (memory_bad)
        snprintf(memory, memory_size, "?");
    else
        kl_quantity_format_memory(memory_total, memory, memory_size);
}

void kl_describe_node(FILE *out, const json_t *node, const json_t *pods)
{
    const json_t *metadata = json_object_get(node, "metadata");
    const json_t *spec = json_object_get(node, "spec");
    const json_t *status = json_object_get(node, "status");
    char text[256];
    field(out, 0, 20, "Name", "%s", text_of(metadata, "name", "<none>"));
    kl_node_roles_text(node, text, sizeof text);
    field(out, 0, 20, "Roles", "%s", text);
    key_values(out, 20, "Labels", json_object_get(metadata, "labels"));
    key_values(out, 20, "Annotations", json_object_get(metadata, "annotations"));
    field(out, 0, 20, "CreationTimestamp", "%s", text_of(metadata, "creationTimestamp", "<unset>"));
    kl_node_status_text(node, text, sizeof text);
    field(out, 0, 20, "Status", "%s", text);
    field(out, 0, 20, "Unschedulable", "%s",
          json_is_true(json_object_get(spec, "unschedulable")) ? "true" : "false");
    conditions(out, json_object_get(status, "conditions"), true);
    const char *blocks[] = {"capacity", "allocatable"};
    const char *labels[] = {"Capacity", "Allocatable"};
    for (size_t b = 0; b < 2; b++) {
        const json_t *map = json_object_get(status, blocks[b]);
        if (!json_object_size(map))
            continue;
        fprintf(out, "%s:\n", labels[b]);
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)map, key, value) {
            scalar_text(value, text, sizeof text);
            field(out, 2, 10, key, "%s", text);
        }
    }
    const json_t *info = json_object_get(status, "nodeInfo");
    if (json_object_size(info)) {
        fprintf(out, "System Info:\n");
        const char *key;
        json_t *value;
        json_object_foreach((json_t *)info, key, value) {
            scalar_text(value, text, sizeof text);
            field(out, 2, 26, key, "%s", text);
        }
    }
    if (pods) {
        fprintf(out, "Pods:                 (%zu in total)\n", json_array_size(pods));
        if (json_array_size(pods))
            fprintf(out, "  %-16s %-32s %-12s %s\n", "Namespace", "Name", "CPU Requests",
                    "Memory Requests");
        size_t index;
        json_t *pod;
        json_array_foreach(pods, index, pod) {
            const json_t *pod_meta = json_object_get(pod, "metadata");
            char cpu[64], memory[64];
            pod_requests(pod, cpu, sizeof cpu, memory, sizeof memory);
            fprintf(out, "  %-16s %-32s %-12s %s\n", text_of(pod_meta, "namespace", "default"),
                    text_of(pod_meta, "name", "<none>"), cpu, memory);
        }
    }
    fflush(out);
}
