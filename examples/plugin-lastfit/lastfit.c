/* lastfit: an example scheduler plugin built out of tree against the
 * installed keelson headers. It places each pod on the feasible node that
 * sorts last by name, which makes its decisions easy to tell apart from the
 * built-in firstfit. */
#include <string.h>
#include <keelson/scheduler.h>

typedef struct lastfit {
    const kl_host_t *host;
    int verbose;
} lastfit_t;

static lastfit_t the_state;

static void *lastfit_open(const kl_host_t *host, kl_error_t *err)
{
    (void)err;
    the_state.host = host;
    the_state.verbose = host->setting_bool(host, "verbose", 0);
    host->log(host, KL_LOG_INFO, "lastfit ready");
    return &the_state;
}

static void lastfit_close(void *state)
{
    (void)state;
}

static int lastfit_select(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *const *nodes,
                          size_t node_count, kl_error_t *err)
{
    lastfit_t *self = state;
    if (node_count == 0)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "no feasible node");
    size_t best = 0;
    for (size_t i = 1; i < node_count; i++)
        if (strcmp(nodes[i]->name, nodes[best]->name) > 0)
            best = i;
    if (self->verbose)
        self->host->log(self->host, KL_LOG_INFO, "pod %s/%s -> %s", pod->namespace_name, pod->name,
                        nodes[best]->name);
    return (int)best;
}

static const kl_scheduler_ops_t lastfit_ops = {
    .open = lastfit_open,
    .close = lastfit_close,
    .select = lastfit_select,
};

static const kl_setting_spec_t lastfit_settings[] = {
    {"verbose", KL_SETTING_BOOL, 0, "log every decision"},
    KL_SETTINGS_END,
};

KL_SCHEDULER_PLUGIN("lastfit", "1.0.0", "places pods on the last feasible node by name",
                    lastfit_settings, lastfit_ops);
