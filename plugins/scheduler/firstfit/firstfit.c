/* The firstfit scheduler: places each pod on the first node, in name order,
 * that passed the core's filters. That is exactly the core's choice when a
 * plugin offers neither score() nor select(), so this plugin offers neither:
 * the core then stops at the first feasible node instead of filtering them
 * all, which keeps firstfit fast on large clusters. */
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

static const kl_scheduler_ops_t firstfit_ops = {
    .open = firstfit_open,
    .close = firstfit_close,
};

KL_SCHEDULER_PLUGIN("firstfit", "1.1.0", "first feasible node in name order", NULL, firstfit_ops);
