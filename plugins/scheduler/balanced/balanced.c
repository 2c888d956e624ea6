/* The balanced scheduler: prefers the node whose cpu and memory utilisation
 * end up closest to each other (Kubernetes' BalancedResourceAllocation), so
 * no node runs out of one resource while the other sits idle. */
#include <keelson/scheduler.h>

static void *balanced_open(const kl_host_t *host, kl_error_t *err)
{
    (void)host;
    (void)err;
    /* No state; the core only needs a non-NULL handle. */
    static int state;
    return &state;
}

static void balanced_close(void *state)
{
    (void)state;
}

/* Utilisation after the placement in parts per 10,000, capped at full, so
 * the difference keeps two decimals before the final rounding. */
static int64_t used_basis_points(int64_t allocatable, int64_t requested)
{
    if (allocatable <= 0)
        return 10000;
    if (requested <= 0)
        return 0;
    if (requested > allocatable)
        requested = allocatable;
    return requested * 10000 / allocatable;
}

static int64_t balanced_score(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node)
{
    (void)state;
    int64_t cpu = used_basis_points(node->cpu_allocatable_milli,
                                    node->cpu_requested_milli + pod->cpu_request_milli);
    int64_t memory = used_basis_points(node->memory_allocatable_bytes,
                                       node->memory_requested_bytes + pod->memory_request_bytes);
    int64_t gap = cpu > memory ? cpu - memory : memory - cpu;
    return (10000 - gap) / 100;
}

static const kl_scheduler_ops_t balanced_ops = {
    .open = balanced_open,
    .close = balanced_close,
    .score = balanced_score,
};

KL_SCHEDULER_PLUGIN("balanced", "1.0.0", "node whose cpu and memory utilisation end up closest",
                    NULL, balanced_ops);
