/* The binpack scheduler: prefers the node whose cpu and memory are most used
 * after placing the pod (Kubernetes' MostAllocated), so pods fill few nodes. */
#include <keelson/scheduler.h>

static void *binpack_open(const kl_host_t *host, kl_error_t *err)
{
    (void)host;
    (void)err;
    /* No state; the core only needs a non-NULL handle. */
    static int state;
    return &state;
}

static void binpack_close(void *state)
{
    (void)state;
}

/* Used share of one resource after the placement, 0..100. Over-commitment
 * (only possible when the core's fit check was bypassed) scores as full. */
static int64_t used_percent(int64_t allocatable, int64_t requested)
{
    if (allocatable <= 0 || requested <= 0)
        return 0;
    if (requested > allocatable)
        requested = allocatable;
    return requested * 100 / allocatable;
}

static int64_t binpack_score(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node)
{
    (void)state;
    int64_t cpu = used_percent(node->cpu_allocatable_milli,
                               node->cpu_requested_milli + pod->cpu_request_milli);
    int64_t memory = used_percent(node->memory_allocatable_bytes,
                                  node->memory_requested_bytes + pod->memory_request_bytes);
    return (cpu + memory) / 2;
}

static const kl_scheduler_ops_t binpack_ops = {
    .open = binpack_open,
    .close = binpack_close,
    .score = binpack_score,
};

KL_SCHEDULER_PLUGIN("binpack", "1.0.0", "most allocated node: packs pods onto few nodes", NULL,
                    binpack_ops);
