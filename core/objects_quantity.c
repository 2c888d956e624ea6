/* Quantity fields (cpu, memory) read as numbers: shared by validation and by
 * kl_pod_requests(), so both accept exactly the same spellings. */
#include <stdio.h>

#include "objects_internal.h"
#include "quantity.h"

/* Quantities are strings in Kubernetes, but YAML turns "cpu: 1" into a
 * number, so plain numbers are accepted too. */
const char *kl_obj_quantity_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, size, "%.15g", json_real_value(v));
        return buf;
    }
    return NULL;
}

int kl_obj_parse_quantity(const json_t *v, int cpu, int64_t *out, kl_error_t *err)
{
    char buf[64];
    const char *text = kl_obj_quantity_text(v, buf, sizeof buf);
    if (!text)
        return kl_error_set(err, KL_ERR_INVALID, "quantity must be a string such as \"%s\"",
                            cpu ? "500m" : "64Mi");
    return cpu ? kl_quantity_parse_cpu(text, out, err) : kl_quantity_parse_memory(text, out, err);
}

int kl_pod_requests(const json_t *pod, int64_t *cpu_milli, int64_t *memory_bytes)
{
    int64_t cpu = 0, memory = 0;
    const json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
    size_t i;
    const json_t *container;
    static const char *const names[] = {"cpu", "memory"};
    json_array_foreach(containers, i, container) {
        const json_t *resources = json_object_get(container, "resources");
        const json_t *requests = json_object_get(resources, "requests");
        const json_t *limits = json_object_get(resources, "limits");
        for (int k = 0; k < 2; k++) {
            const json_t *q = json_object_get(requests, names[k]);
            if (!q)
                q = json_object_get(limits, names[k]);
            if (!q)
                continue;
            int64_t value;
            if (kl_obj_parse_quantity(q, k == 0, &value, NULL) < 0)
                return -1;
            if (k == 0)
                cpu += value;
            else
                memory += value;
        }
    }
    if (cpu_milli)
        *cpu_milli = cpu;
    if (memory_bytes)
        *memory_bytes = memory;
    return 0;
}
