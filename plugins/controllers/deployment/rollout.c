/* controllers/deployment: the rollout. Picks the ReplicaSet of the current
 * template, moves pods to it from the old ones by the Deployment's strategy
 * (RollingUpdate within maxSurge and maxUnavailable, or Recreate), and
 * deletes old sets beyond revisionHistoryLimit. */
#include <stdlib.h>
#include <string.h>

#include "deployment.h"

/* maxSurge / maxUnavailable: an int, or a percentage of `total` rounded up
 * (surge) or down (unavailable), as Kubernetes does. */
static int64_t int_or_percent(const json_t *value, int64_t total, int64_t fallback_percent, int round_up)
{
    if (json_is_integer(value))
        return json_integer_value(value);
    int64_t percent = fallback_percent;
    const char *text = json_string_value(value);
    if (text) {
        char *end;
        long n = strtol(text, &end, 10);
        if (end != text && strcmp(end, "%") == 0 && n >= 0)
            percent = n;
    }
    int64_t scaled = percent * total;
    return round_up ? (scaled + 99) / 100 : scaled / 100;
}

/* Oldest revision first: those are scaled down first. */
static int compare_revision(const void *a, const void *b)
{
    int64_t ra = deployment_set_revision(*(json_t *const *)a);
    int64_t rb = deployment_set_revision(*(json_t *const *)b);
    return ra < rb ? -1 : ra > rb;
}

static int64_t available_of(const json_t *rs)
{
    /* A status written before the last scale-down may still count pods the
     * ReplicaSet is deleting; never count more than it is asked to keep. */
    int64_t available = deployment_int_field(rs, "status", "availableReplicas", 0);
    int64_t wanted = deployment_int_field(rs, "spec", "replicas", 1);
    return available < wanted ? available : wanted;
}

/* RollingUpdate: scale the new set up within maxSurge, then old ones down
 * within maxUnavailable, both from the ReplicaSets' last known status. */
static int rollout_rolling(dp_pass_t *p, json_t *new_set, json_t **old, size_t old_count, int64_t replicas,
                           int64_t max_surge, int64_t max_unavailable, kl_error_t *err)
{
    int64_t all = deployment_int_field(new_set, "spec", "replicas", 1);
    for (size_t i = 0; i < old_count; i++)
        all += deployment_int_field(old[i], "spec", "replicas", 1);
    int64_t new_replicas = deployment_int_field(new_set, "spec", "replicas", 1);
    if (new_replicas > replicas) {
        if (deployment_scale_set(p, new_set, replicas, 0, err) < 0)
            return -1;
    } else if (new_replicas < replicas) {
        int64_t room = replicas + max_surge - all;
        int64_t up = replicas - new_replicas;
        if (room < up)
            up = room;
        if (up > 0 && deployment_scale_set(p, new_set, new_replicas + up, 0, err) < 0)
            return -1;
    }
    /* Old sets down: first their unhealthy pods, then as availability allows. */
    int64_t old_pods = 0;
    all = deployment_int_field(new_set, "spec", "replicas", 1);
    for (size_t i = 0; i < old_count; i++) {
        old_pods += deployment_int_field(old[i], "spec", "replicas", 1);
        all += deployment_int_field(old[i], "spec", "replicas", 1);
    }
    if (old_pods == 0)
        return 0;
    int64_t min_available = replicas - max_unavailable;
    int64_t new_unavailable = deployment_int_field(new_set, "spec", "replicas", 1) - available_of(new_set);
    int64_t budget = all - min_available - (new_unavailable > 0 ? new_unavailable : 0);
    for (size_t i = 0; i < old_count && budget > 0; i++) {
        int64_t want = deployment_int_field(old[i], "spec", "replicas", 1);
        int64_t unhealthy = want - available_of(old[i]);
        int64_t down = unhealthy < budget ? unhealthy : budget;
        if (down <= 0)
            continue;
        if (deployment_scale_set(p, old[i], want - down, 0, err) < 0)
            return -1;
        budget -= down;
    }
    int64_t available = available_of(new_set);
    for (size_t i = 0; i < old_count; i++)
        available += available_of(old[i]);
    int64_t down_total = available - min_available;
    for (size_t i = 0; i < old_count && down_total > 0; i++) {
        int64_t want = deployment_int_field(old[i], "spec", "replicas", 1);
        if (want == 0)
            continue;
        int64_t down = want < down_total ? want : down_total;
        if (deployment_scale_set(p, old[i], want - down, 0, err) < 0)
            return -1;
        down_total -= down;
    }
    return 0;
}

/* Recreate: every old set to zero, then the new set to `replicas` as the
 * newest revision; *new_set is the set it creates, when it does, so this
 * pass's status already names it. */
static int rollout_recreate(dp_pass_t *p, const char *hash, json_t **new_set, json_t **old, size_t old_count,
                            int64_t replicas, int64_t max_revision, kl_error_t *err)
{
    int64_t old_live = 0;  /* pods the old sets still have */
    for (size_t i = 0; i < old_count; i++)
        old_live += deployment_int_field(old[i], "status", "replicas", 0)
                    + deployment_int_field(old[i], "spec", "replicas", 1);
    int rc = 0;
    for (size_t i = 0; i < old_count && rc == 0; i++)
        rc = deployment_scale_set(p, old[i], 0, 0, err);
    /* Recreate starts new pods only once every old one is gone. */
    if (rc == 0 && old_live == 0) {
        if (!*new_set) {
            json_t *created = deployment_create_set(p, hash, replicas, max_revision + 1, err);
            if (!created) {
                rc = -1;
            } else {
                json_array_append_new(p->owned, created);
                *new_set = created;
            }
        } else {
            rc = deployment_scale_set(p, *new_set, replicas,
                                      deployment_set_revision(*new_set) < max_revision ? max_revision + 1 : 0,
                                      err);
        }
    }
    return rc;
}

/* revisionHistoryLimit: old sets scaled to nothing, oldest beyond it go. */
static void prune_history(dp_pass_t *p, json_t **old, size_t old_count)
{
    int64_t limit = deployment_int_field(p->deployment, "spec", "revisionHistoryLimit", 10);
    size_t idle = 0;
    for (size_t i = 0; i < old_count; i++)
        if (deployment_int_field(old[i], "spec", "replicas", 1) == 0
            && deployment_int_field(old[i], "status", "replicas", 0) == 0)
            idle++;
    for (size_t i = 0; i < old_count && (int64_t)idle > limit; i++) {
        if (deployment_int_field(old[i], "spec", "replicas", 1) != 0
            || deployment_int_field(old[i], "status", "replicas", 0) != 0)
            continue;
        kl_error_t derr = {0, ""};
        json_t *reply = deployment_request(p, "api.delete",
                                           json_pack("{s:s, s:s, s:s}", "kind", "ReplicaSet", "namespace",
                                                     p->ns, "name", kl_object_meta(old[i], "name")),
                                           &derr);
        if (reply || derr.code == KL_ERR_NOT_FOUND)
            idle--;
        json_decref(reply);
    }
}

int deployment_rollout(dp_pass_t *p, json_t **new_set_out, int64_t *replicas_out,
                       int64_t *max_unavailable_out, kl_error_t *err)
{
    const json_t *spec = json_object_get(p->deployment, "spec");
    size_t i;
    json_t *rs;
    char hash[16];
    kl_template_hash(json_object_get(spec, "template"), hash, sizeof hash);
    int64_t replicas = deployment_int_field(p->deployment, "spec", "replicas", 1);
    const json_t *strategy = json_object_get(spec, "strategy");
    const char *type = json_string_value(json_object_get(strategy, "type"));
    int recreate = type && strcmp(type, "Recreate") == 0;
    const json_t *rolling_spec = json_object_get(strategy, "rollingUpdate");
    int64_t max_surge = recreate ? 0 : int_or_percent(json_object_get(rolling_spec, "maxSurge"), replicas, 25, 1);
    int64_t max_unavailable = recreate ? replicas
                                       : int_or_percent(json_object_get(rolling_spec, "maxUnavailable"),
                                                        replicas, 25, 0);
    if (max_unavailable > replicas)
        max_unavailable = replicas;
    if (!recreate && max_surge == 0 && max_unavailable == 0)
        max_unavailable = 1;  /* as Kubernetes: a rollout must be able to move */

    json_t *new_set = NULL;
    size_t count = json_array_size(p->owned);
    json_t **old = calloc(count ? count : 1, sizeof *old);
    size_t old_count = 0;
    int64_t max_revision = 0;
    json_array_foreach(p->owned, i, rs) {
        const char *have = json_string_value(
            json_object_get(json_object_get(json_object_get(rs, "metadata"), "labels"), DP_HASH_LABEL));
        if (deployment_set_revision(rs) > max_revision)
            max_revision = deployment_set_revision(rs);
        if (!new_set && have && strcmp(have, hash) == 0)
            new_set = rs;
        else
            old[old_count++] = rs;
    }
    qsort(old, old_count, sizeof *old, compare_revision);
    int rc = 0;
    if (recreate) {
        rc = rollout_recreate(p, hash, &new_set, old, old_count, replicas, max_revision, err);
    } else {
        if (!new_set) {
            int64_t all = 0;
            for (i = 0; i < old_count; i++)
                all += deployment_int_field(old[i], "spec", "replicas", 1);
            int64_t start = old_count == 0 ? replicas : replicas + max_surge - all;
            if (start > replicas)
                start = replicas;
            if (start < 0)
                start = 0;
            json_t *created = deployment_create_set(p, hash, start, max_revision + 1, err);
            if (!created) {
                rc = -1;
            } else {
                json_array_append_new(p->owned, created);
                new_set = created;
            }
        } else if (deployment_set_revision(new_set) < max_revision) {
            /* An old template came back (rollout undo): it is the newest now. */
            rc = deployment_scale_set(p, new_set, deployment_int_field(new_set, "spec", "replicas", 1),
                                      max_revision + 1, err);
        }
        if (rc == 0 && new_set)
            rc = rollout_rolling(p, new_set, old, old_count, replicas, max_surge, max_unavailable, err);
    }
    if (rc == 0)
        prune_history(p, old, old_count);
    free(old);
    *new_set_out = new_set;
    *replicas_out = replicas;
    *max_unavailable_out = max_unavailable;
    return rc;
}
