/* One scheduling decision: which nodes to look at, and the choice among the
 * feasible ones by the plugin's select() or score(), or the first by name. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "log.h"
#include "plugin_guard.h"
#include "sched_cache_internal.h"

/* A plugin answering garbage would do so for every pod: log the first few
 * answers, then say that the rest are not logged. */
#define PLUGIN_COMPLAINTS_LOGGED 10
static int complain(kl_sched_cache_t *self)
{
    self->plugin_complaints++;
    if (self->plugin_complaints == PLUGIN_COMPLAINTS_LOGGED + 1)
        kl_warn(COMPONENT, "further invalid answers from the scheduler plugin are not logged");
    return self->plugin_complaints <= PLUGIN_COMPLAINTS_LOGGED;
}

static int scratch_reserve(kl_sched_cache_t *self, size_t count)
{
    if (count <= self->scratch_alloc)
        return 0;
    size_t alloc = count < 16 ? 16 : count * 2;
    kl_sched_node_t *views = realloc(self->views, alloc * sizeof *views);
    if (!views)
        return -1;
    self->views = views;
    const kl_sched_node_t **feasible = realloc(self->feasible, alloc * sizeof *feasible);
    if (!feasible)
        return -1;
    self->feasible = feasible;
    node_entry_t **entries = realloc(self->feasible_entries, alloc * sizeof *entries);
    if (!entries)
        return -1;
    self->feasible_entries = entries;
    self->scratch_alloc = alloc;
    return 0;
}

void kl_sched_cache_set_sample_percent(kl_sched_cache_t *self, int percent)
{
    self->sample_percent = percent < 0 ? 0 : percent > 100 ? 100 : percent;
}

/* How many feasible nodes a scoring decision looks for before it stops
 * filtering, like Kubernetes' percentageOfNodesToScore: every node in small
 * clusters, a shrinking share (never under 5%) of big ones. Scoring every
 * node of a 5,000-node cluster for each pod would cap throughput far below
 * what the cluster needs, for a barely better choice. */
static size_t feasible_wanted(const kl_sched_cache_t *self)
{
    size_t n = self->node_count;
    if (n <= KL_SCHED_MIN_FEASIBLE_NODES)
        return n;
    size_t percent = (size_t)self->sample_percent;
    if (percent == 0) {
        size_t shrink = n / 125;
        percent = shrink >= 45 ? 5 : 50 - shrink;
    }
    size_t wanted = n * percent / 100;
    return wanted < KL_SCHED_MIN_FEASIBLE_NODES ? KL_SCHED_MIN_FEASIBLE_NODES : wanted;
}

static kl_sched_outcome_t decide(kl_sched_cache_t *self, pod_entry_t *pod, const char *key,
                                 const kl_sched_policy_t *policy, int64_t now_ms,
                                 char *node_name, size_t node_name_size,
                                 char *message, size_t message_size)
{
    if (scratch_reserve(self, self->node_count) < 0) {
        snprintf(message, message_size, "out of memory while scheduling");
        return KL_SCHED_UNSCHEDULABLE;
    }
    const kl_scheduler_ops_t *ops = policy ? policy->ops : NULL;
    void *state = policy ? policy->state : NULL;
    const char *label = policy && policy->label ? policy->label : "scheduler plugin";
    kl_sched_pod_t pod_view = {
        .namespace_name = pod->namespace_name, .name = pod->name,
        .cpu_request_milli = pod->cpu_milli, .memory_request_bytes = pod->memory_bytes,
        .object = pod->object,
    };
    /* select() sees every feasible node and the built-in choice takes the
     * first in name order; only scoring samples, from a rotating start so
     * every node gets its turn. */
    int scoring = ops && !ops->select && ops->score;
    int choosing = ops && (ops->select || ops->score);
    size_t wanted = scoring ? feasible_wanted(self) : choosing ? self->node_count : 1;
    size_t start = scoring && wanted < self->node_count ? self->next_start % self->node_count : 0;
    reason_count_t reasons[MAX_REASONS];
    size_t reason_count = 0;
    size_t feasible = 0, examined = 0;
    /* Feasible nodes from `wrapped` on come before the others in name order. */
    size_t wrapped = SIZE_MAX;
    for (; examined < self->node_count && feasible < wanted; examined++) {
        size_t i = start + examined;
        if (i >= self->node_count) {
            i -= self->node_count;
            if (wrapped == SIZE_MAX)
                wrapped = feasible;
        }
        node_entry_t *node = self->nodes[i];
        kl_sched_node_t *view = &self->views[feasible];
        kl_sched_fill_node_view(node, view);
        if (kl_sched_node_feasible(self, pod, &pod_view, node, view, ops, state, now_ms, reasons,
                                   &reason_count)) {
            self->feasible_entries[feasible] = node;
            self->feasible[feasible++] = view;
        }
    }
    if (start > 0 || wanted < self->node_count)
        self->next_start = (start + examined) % (self->node_count ? self->node_count : 1);
    if (feasible == 0) {
        kl_sched_format_reasons(reasons, reason_count, self->node_count, message, message_size);
        return KL_SCHED_UNSCHEDULABLE;
    }

    size_t chosen = 0;
    if (ops && ops->select) {
        kl_error_t err;
        kl_error_clear(&err);
        int index = ops->select(state, &pod_view, self->feasible, feasible, &err);
        if (index == -1) {
            err.text[sizeof err.text - 1] = '\0';
            snprintf(message, message_size, "0/%zu nodes are available: %s.", self->node_count,
                     err.text[0] ? err.text : "the scheduler plugin accepted none");
            return KL_SCHED_UNSCHEDULABLE;
        }
        if (index < 0 || (size_t)index >= feasible) {
            if (complain(self))
                kl_warn(COMPONENT, "%s: select() returned node index %d for pod %s, but only %zu "
                        "nodes were offered; ignoring the decision", label, index, key, feasible);
            snprintf(message, message_size, "%s returned an invalid node index %d of %zu.",
                     label, index, feasible);
            return KL_SCHED_UNSCHEDULABLE;
        }
        chosen = (size_t)index;
    } else if (scoring) {
        int64_t best = -1;
        for (size_t i = 0; i < feasible; i++) {
            const kl_sched_node_t *view = self->feasible[i];
            int64_t score = ops->score(state, &pod_view, view);
            if (score < 0 || score > 100) {
                if (complain(self))
                    kl_warn(COMPONENT, "%s: score() gave %" PRId64 " for pod %s on node %s, outside "
                            "0..100; using %d", label, score, key, view->name,
                            score < 0 ? 0 : 100);
                score = score < 0 ? 0 : 100;
            }
            if (self->feasible_entries[i]->prefer_taint_count > 0) {
                score -= kl_sched_prefer_no_schedule_penalty(pod, self->feasible_entries[i]);
                if (score < 0)
                    score = 0;
            }
            /* Ties go to the first name: the earliest one, unless the sample
             * wrapped around the end of the name order after it. */
            if (score > best || (score == best && i >= wrapped && chosen < wrapped)) {
                best = score;
                chosen = i;
            }
        }
    }
    snprintf(node_name, node_name_size, "%s", self->feasible[chosen]->name);
    return KL_SCHED_PLACED;
}

typedef struct decide_call {
    kl_sched_cache_t *self;
    pod_entry_t *pod;
    const char *key;
    const kl_sched_policy_t *policy;
    int64_t now_ms;
    char *node_name, *message;
    size_t node_name_size, message_size;
    kl_sched_outcome_t outcome;
} decide_call_t;

static void decide_guarded(void *arg)
{
    decide_call_t *c = arg;
    c->outcome = decide(c->self, c->pod, c->key, c->policy, c->now_ms, c->node_name, c->node_name_size,
                        c->message, c->message_size);
}

/* A decision that calls plugin code runs guarded: a plugin that crashes is
 * reported in every waiting pod's reason and never called again, and the
 * scheduler (and the daemon around it) goes on. A decision changes nothing
 * in the cache but the sampling start, so one abandoned half-way leaves the
 * cache whole. */
kl_sched_outcome_t kl_sched_cache_decide(kl_sched_cache_t *self, const char *key,
                                         const kl_sched_policy_t *policy, int64_t now_ms,
                                         char *node_name, size_t node_name_size,
                                         char *message, size_t message_size)
{
    pod_entry_t *pod = zhashx_lookup(self->pods, key);
    if (!pod || !pod->waiting || pod->assumed_node)
        return KL_SCHED_SKIPPED;
    const kl_scheduler_ops_t *ops = policy ? policy->ops : NULL;
    if (!ops || !(ops->filter || ops->score || ops->select))
        return decide(self, pod, key, policy, now_ms, node_name, node_name_size, message, message_size);
    if (self->plugin_crash[0]) {
        snprintf(message, message_size, "0/%zu nodes are available: %s.", self->node_count,
                 self->plugin_crash);
        return KL_SCHED_UNSCHEDULABLE;
    }
    decide_call_t call = {self, pod, key, policy, now_ms, node_name, message, node_name_size,
                          message_size, KL_SCHED_UNSCHEDULABLE};
    int sig = kl_guard_run(decide_guarded, &call);
    if (sig == 0)
        return call.outcome;
    snprintf(self->plugin_crash, sizeof self->plugin_crash, "%s crashed (%s)" KL_SCHED_CRASH_TAIL,
             policy->label ? policy->label : "the scheduler plugin", kl_guard_signal_text(sig));
    kl_error_log(COMPONENT, "%s (it crashed deciding for pod %s); pods wait until the scheduler "
                 "restarts with a working plugin", self->plugin_crash, key);
    snprintf(message, message_size, "0/%zu nodes are available: %s.", self->node_count, self->plugin_crash);
    return KL_SCHED_UNSCHEDULABLE;
}

const char *kl_sched_cache_plugin_crash(const kl_sched_cache_t *self)
{
    return self->plugin_crash[0] ? self->plugin_crash : NULL;
}
