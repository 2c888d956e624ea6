/* The built-in filters (readiness, cordon, taints, nodeSelector, resources)
 * and the plugin's filter, run on one node for one pod. */
#include <stdio.h>
#include <string.h>

#include "sched_cache_internal.h"

enum { REASON_NOT_READY, REASON_UNSCHEDULABLE, REASON_SELECTOR, REASON_CPU, REASON_MEMORY,
       REASON_PODS, BUILTIN_REASONS };
static const char *const builtin_reasons[BUILTIN_REASONS] = {
    "node(s) were not ready", "node(s) were unschedulable",
    "node(s) didn't match Pod's node affinity/selector", "Insufficient cpu",
    "Insufficient memory", "Too many pods",
};

/* Kubernetes' ToleratesTaint: an empty toleration effect matches every
 * effect, an empty key (with Exists) every key. */
static int toleration_matches(const toleration_t *t, const char *key, const char *value,
                              taint_effect_t effect)
{
    if (t->effect != TAINT_EFFECT_ANY && t->effect != effect)
        return 0;
    if (*t->key && strcmp(t->key, key) != 0)
        return 0;
    return t->exists || strcmp(t->value, value) == 0;
}

static int pod_tolerates(const pod_entry_t *pod, const char *key, const char *value,
                         taint_effect_t effect)
{
    for (size_t i = 0; i < pod->toleration_count; i++)
        if (toleration_matches(&pod->tolerations[i], key, value, effect))
            return 1;
    return 0;
}

/* The first NoSchedule or NoExecute taint the pod does not tolerate. */
static const taint_t *untolerated_taint(const pod_entry_t *pod, const node_entry_t *node)
{
    for (size_t i = 0; i < node->taint_count; i++) {
        const taint_t *taint = &node->taints[i];
        if (taint->effect != TAINT_EFFECT_PREFER_NO_SCHEDULE
            && !pod_tolerates(pod, taint->key, taint->value, taint->effect))
            return taint;
    }
    return NULL;
}

int64_t kl_sched_prefer_no_schedule_penalty(const pod_entry_t *pod, const node_entry_t *node)
{
    int64_t penalty = 0;
    for (size_t i = 0; node->prefer_taint_count > 0 && i < node->taint_count; i++) {
        const taint_t *taint = &node->taints[i];
        if (taint->effect == TAINT_EFFECT_PREFER_NO_SCHEDULE
            && !pod_tolerates(pod, taint->key, taint->value, taint->effect))
            penalty += KL_SCHED_PREFER_NO_SCHEDULE_PENALTY;
    }
    return penalty;
}

/* Every nodeSelector pair must be a label of the node with the same value. */
static int selector_matches(const pod_entry_t *pod, const node_entry_t *node)
{
    const char *key;
    json_t *wanted;
    json_object_foreach((json_t *)pod->node_selector, key, wanted) {
        const char *have = json_string_value(json_object_get(node->labels, key));
        if (!have || strcmp(have, json_string_value(wanted)) != 0)
            return 0;
    }
    return 1;
}

/* Runs the built-in filters and the plugin's filter on one node. Returns 1
 * when the pod may go there; otherwise counts every reason and returns 0. */
int kl_sched_node_feasible(kl_sched_cache_t *self, const pod_entry_t *pod,
                           const kl_sched_pod_t *pod_view, const node_entry_t *node,
                           const kl_sched_node_t *view, const kl_scheduler_ops_t *ops, void *state,
                           int64_t now_ms, reason_count_t *reasons, size_t *reason_count)
{
    if (!kl_sched_node_is_ready(self, node, now_ms)) {
        kl_sched_reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_NOT_READY]);
        return 0;
    }
    /* A pod that tolerates the cordon taint may go on a cordoned node, as
     * DaemonSet pods do in Kubernetes. */
    if (node->unschedulable
        && !pod_tolerates(pod, "node.kubernetes.io/unschedulable", "", TAINT_EFFECT_NO_SCHEDULE)) {
        kl_sched_reason_add(reasons, reason_count, MAX_REASONS,
                            builtin_reasons[REASON_UNSCHEDULABLE]);
        return 0;
    }
    if (node->taint_count > node->prefer_taint_count) {
        const taint_t *taint = untolerated_taint(pod, node);
        if (taint) {
            char reason[sizeof reasons[0].text];
            snprintf(reason, sizeof reason, "node(s) had untolerated taint {%s: %s}", taint->key,
                     taint->value);
            kl_sched_reason_add(reasons, reason_count, MAX_REASONS, reason);
            return 0;
        }
    }
    if (pod->node_selector && !selector_matches(pod, node)) {
        kl_sched_reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_SELECTOR]);
        return 0;
    }
    /* Like Kubernetes' resource fit: every shortage on a node is counted. */
    int fits = 1;
    if (view->pods_count + 1 > view->pods_allocatable) {
        kl_sched_reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_PODS]);
        fits = 0;
    }
    if (pod->cpu_milli > 0
        && view->cpu_requested_milli + pod->cpu_milli > view->cpu_allocatable_milli) {
        kl_sched_reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_CPU]);
        fits = 0;
    }
    if (pod->memory_bytes > 0
        && view->memory_requested_bytes + pod->memory_bytes > view->memory_allocatable_bytes) {
        kl_sched_reason_add(reasons, reason_count, MAX_REASONS, builtin_reasons[REASON_MEMORY]);
        fits = 0;
    }
    if (!fits)
        return 0;
    if (ops && ops->filter) {
        char reason[128] = "";
        if (ops->filter(state, pod_view, view, reason, sizeof reason) != 0) {
            reason[sizeof reason - 1] = '\0';
            kl_sched_reason_add(reasons, reason_count, MAX_REASONS,
                                reason[0] ? reason
                                          : "node(s) were rejected by the scheduler plugin");
            return 0;
        }
    }
    return 1;
}
