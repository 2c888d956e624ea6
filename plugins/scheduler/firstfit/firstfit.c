/* The firstfit scheduler: places each pod on the first node, in name order,
 * that passed the core's filters. The smallest useful policy. */
#include <keelson/scheduler.h>

static void *firstfit_open(const kl_host_t *host, kl_error_t *err)
{
    (void)host;
    (void)err;
    /* No state; the core only needs a non-NULL handle. */
    static int state;
    return &state;
}

static void firstfit_close(void *state)
{
    (void)state;
}

static int firstfit_select(void *state, const kl_sched_pod_t *pod,
                           const kl_sched_node_t *const *nodes, size_t node_count, kl_error_t *err)
{
    (void)state;
    (void)pod;
    (void)nodes;
    if (node_count == 0)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "no feasible node was offered");
    return 0;
}

static const kl_scheduler_ops_t firstfit_ops = {
    .open = firstfit_open,
    .close = firstfit_close,
    .select = firstfit_select,
};

KL_SCHEDULER_PLUGIN("firstfit", "1.0.0", "first feasible node in name order", NULL, firstfit_ops);
