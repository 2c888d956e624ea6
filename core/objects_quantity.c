/* A pod's resource requests: what the scheduler places it by and counts
 * against its node, read with the same quantity rules validation applies. */
#include <stdio.h>

#include "objects.h"
#include "quantity.h"

int kl_pod_requests(const json_t *pod, int64_t *cpu_milli, int64_t *memory_bytes,
                    kl_error_t *err)
{
    const json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
    if (!json_is_array(containers))
        return kl_error_set(err, KL_ERR_INVALID, "spec.containers: must be an array");
    int64_t cpu = 0, memory = 0;
    size_t i;
    const json_t *container;
    json_array_foreach(containers, i, container) {
        const json_t *resources = json_object_get(container, "resources");
        if (resources && !json_is_object(resources))
            return kl_error_set(err, KL_ERR_INVALID,
                                "spec.containers[%zu].resources: must be an object", i);
        static const char *const names[] = {"cpu", "memory"};
        for (int r = 0; r < 2; r++) {
            const char *group = "requests";
            const json_t *value = json_object_get(json_object_get(resources, "requests"),
                                                  names[r]);
            if (!value) {
                group = "limits";
                value = json_object_get(json_object_get(resources, "limits"), names[r]);
            }
            if (!value)
                continue;
            char where[96];
            snprintf(where, sizeof where, "spec.containers[%zu].resources.%s.%s", i, group,
                     names[r]);
            int64_t amount;
            if (kl_quantity_from_json(value, r == 0, &amount, where, err) < 0)
                return -1;
            if (r == 0)
                cpu += amount;
            else
                memory += amount;
        }
    }
    if (cpu_milli)
        *cpu_milli = cpu;
    if (memory_bytes)
        *memory_bytes = memory;
    return 0;
}
