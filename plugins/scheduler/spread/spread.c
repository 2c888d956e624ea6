/* The spread scheduler: prefers the node with the most cpu and memory left
 * after placing the pod (Kubernetes' LeastAllocated), so load spreads out. */
#include <keelson/scheduler.h>

static void *spread_open(const kl_host_t *host, kl_error_t *err)
{
    (void)host;
    (void)err;
    /* No state; the core only needs a non-NULL handle. */
    static int state;
    return &state;
}

static void spread_close(void *state)
{
    (void)state;
}

/* Free share of one resource after the placement, 0..100. A node that does
 * not declare the resource offers none of it. */
static int64_t free_percent(int64_t allocatable, int64_t requested)
{
    if (allocatable <= 0 || requested > allocatable)
        return 0;
    if (requested < 0)
        requested = 0;
    return (allocatable - requested) * 100 / allocatable;
}

static int64_t spread_score(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node)
{
    (void)state;
    int64_t cpu = free_percent(node->cpu_allocatable_milli,
                               node->cpu_requested_milli + pod->cpu_request_milli);
    int64_t memory = free_percent(node->memory_allocatable_bytes,
                                  node->memory_requested_bytes + pod->memory_request_bytes);
    return (cpu + memory) / 2;
}

static const kl_scheduler_ops_t spread_ops = {
    .open = spread_open,
    .close = spread_close,
    .score = spread_score,
};

KL_SCHEDULER_PLUGIN("spread", "1.0.0", "least allocated node: spreads cpu and memory use", NULL,
                    spread_ops);
