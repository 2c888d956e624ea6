/* keelctl's workload commands (scale, rollout) and the pieces other
 * commands borrow for ReplicaSets, Deployments and Events. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keelson/template_hash.h>

#include "commands_internal.h"
#include "printers.h"
#include "workloads.h"

#define KL_ROLLOUT_DEFAULT_TIMEOUT_MS (10 * 60 * 1000)
#define KL_ROLLOUT_POLL_US 300000
#define KL_HASH_LABEL "pod-template-hash"
#define KL_REVISION "deployment.kubernetes.io/revision"

void kl_workload_flags_init(kl_workload_flags_t *flags)
{
    memset(flags, 0, sizeof *flags);
    flags->replicas = -1;
}

static const char *meta_string(const json_t *object, const char *key)
{
    return json_string_value(json_object_get(json_object_get(object, "metadata"), key));
}

static long long int_field(const json_t *object, const char *section, const char *key, long long fallback)
{
    const json_t *value = json_object_get(json_object_get(object, section), key);
    return json_is_integer(value) ? (long long)json_integer_value(value) : fallback;
}

const char *kl_workload_kind_of(const char *resource)
{
    static const struct {
        const char *name;
        const char *kind;
    } names[] = {{"rs", "ReplicaSet"},         {"replicaset", "ReplicaSet"},
                 {"replicasets", "ReplicaSet"}, {"ReplicaSet", "ReplicaSet"},
                 {"deploy", "Deployment"},     {"deployment", "Deployment"},
                 {"deployments", "Deployment"}, {"Deployment", "Deployment"},
                 {"ev", "Event"},              {"event", "Event"},
                 {"events", "Event"},          {"Event", "Event"}};
    for (size_t i = 0; resource && i < sizeof names / sizeof names[0]; i++)
        if (strcmp(resource, names[i].name) == 0)
            return names[i].kind;
    return NULL;
}

/* "deploy/web" or "deploy web": the kind and name, or an exit code. */
static int parse_target(kl_cli_t *cli, int argc, char **args, const char *verb, const char **kind,
                        char *name, size_t name_size)
{
    char type[64];
    if (argc >= 1 && strchr(args[0], '/')) {
        const char *slash = strchr(args[0], '/');
        if ((size_t)(slash - args[0]) >= sizeof type || !slash[1])
            return kl_cli_usage_error(cli, "\"%s\" is not of the form TYPE/NAME", args[0]);
        snprintf(type, sizeof type, "%.*s", (int)(slash - args[0]), args[0]);
        snprintf(name, name_size, "%s", slash + 1);
        if (argc > 1)
            return kl_cli_usage_error(cli, "%s takes one object, found \"%s\" too", verb, args[1]);
    } else if (argc == 2) {
        snprintf(type, sizeof type, "%.63s", args[0]);
        snprintf(name, name_size, "%s", args[1]);
    } else {
        return kl_cli_usage_error(cli, "%s needs one object, as in deploy/NAME", verb);
    }
    *kind = kl_workload_kind_of(type);
    if (!*kind || strcmp(*kind, "Event") == 0)
        return kl_cli_usage_error(cli, "cannot %s \"%s\": give a deployment (deploy/NAME) or a "
                                       "replica set (rs/NAME)", verb, type);
    return 0;
}

static json_t *get_object(kl_cli_t *cli, const char *kind, const char *name, kl_error_t *err)
{
    json_t *key = json_pack("{s:s, s:s, s:s}", "kind", kind, "namespace", kl_cli_namespace_of(cli),
                            "name", name);
    return kl_cli_call(cli, "api.get", key, cli->timeout_ms, err);
}

static const char *kind_resource(const char *kind)
{
    return strcmp(kind, "Deployment") == 0 ? "deployment.apps" : "replicaset.apps";
}

/* ---- scale -------------------------------------------------------------- */

int kl_cmd_scale(kl_cli_t *cli, const kl_workload_flags_t *flags, int argc, char **args)
{
    const char *kind;
    char name[300];
    int rc = parse_target(cli, argc, args, "scale", &kind, name, sizeof name);
    if (rc)
        return rc;
    if (flags->replicas < 0)
        return kl_cli_usage_error(cli, "scale needs --replicas=COUNT (a number of 0 or more)");
    kl_error_t err;
    for (int attempt = 0; attempt < KL_CLI_UPDATE_ATTEMPTS; attempt++) {
        json_t *object = get_object(cli, kind, name, &err);
        if (!object)
            return kl_cli_fail(cli, "%s", err.text);
        json_t *spec = json_object_get(object, "spec");
        if (!json_is_object(spec)) {
            json_decref(object);
            return kl_cli_fail(cli, "%s \"%s\" has no spec", kind, name);
        }
        json_object_set_new(spec, "replicas", json_integer(flags->replicas));
        /* Written against the revision read: a racing writer gives Conflict. */
        json_t *reply = kl_cli_call(cli, "api.update", json_pack("{s:o}", "object", object),
                                    cli->timeout_ms, &err);
        if (reply) {
            json_decref(reply);
            fprintf(cli->out, "%s/%s scaled\n", kind_resource(kind), name);
            fflush(cli->out);
            kl_workloads_warn_missing_controller(cli, kind);
            return 0;
        }
        if (err.code != KL_ERR_CONFLICT)
            break;
    }
    return kl_cli_fail(cli, "%s", err.text);
}

/* ---- the deployment's ReplicaSets ---------------------------------------- */

static long long set_revision(const json_t *rs)
{
    const char *text = json_string_value(
        json_object_get(json_object_get(json_object_get(rs, "metadata"), "annotations"), KL_REVISION));
    return text ? strtoll(text, NULL, 10) : 0;
}

static int compare_revision(const void *a, const void *b)
{
    long long ra = set_revision(*(json_t *const *)a), rb = set_revision(*(json_t *const *)b);
    return ra < rb ? -1 : ra > rb;
}

/* The ReplicaSets the deployment controls (caller owns), by revision. */
static json_t *owned_sets(kl_cli_t *cli, const json_t *deployment, kl_error_t *err)
{
    json_t *list = kl_cli_call(cli, "api.list",
                               json_pack("{s:s, s:s}", "kind", "ReplicaSet", "namespace",
                                         kl_cli_namespace_of(cli)),
                               cli->timeout_ms, err);
    if (!list)
        return NULL;
    const char *uid = meta_string(deployment, "uid");
    json_t *owned = json_array();
    size_t i, j;
    json_t *rs, *ref;
    json_array_foreach(json_object_get(list, "items"), i, rs) {
        json_array_foreach(json_object_get(json_object_get(rs, "metadata"), "ownerReferences"), j, ref) {
            const char *ref_uid = json_string_value(json_object_get(ref, "uid"));
            if (uid && ref_uid && strcmp(uid, ref_uid) == 0 && json_is_true(json_object_get(ref, "controller"))) {
                json_array_append(owned, rs);
                break;
            }
        }
    }
    json_decref(list);
    size_t count = json_array_size(owned);
    json_t **order = calloc(count ? count : 1, sizeof *order);
    for (i = 0; i < count; i++)
        order[i] = json_incref(json_array_get(owned, i));
    qsort(order, count, sizeof *order, compare_revision);
    json_array_clear(owned);
    for (i = 0; i < count; i++)
        json_array_append_new(owned, order[i]);
    free(order);
    return owned;
}

/* ---- rollout ------------------------------------------------------------- */

/* One look at the rollout: 1 done, 0 in progress (message in buf), -1 error.
 * kubectl's test, read from the Deployment's status once the controller has
 * observed its latest generation, so `get deploy` right after agrees. */
static int rollout_state(kl_cli_t *cli, const char *name, char *buf, size_t size, kl_error_t *err)
{
    json_t *deployment = get_object(cli, "Deployment", name, err);
    if (!deployment)
        return -1;
    long long generation = int_field(deployment, "metadata", "generation", 0);
    long long observed = int_field(deployment, "status", "observedGeneration", 0);
    long long replicas = int_field(deployment, "spec", "replicas", 1);
    long long total = int_field(deployment, "status", "replicas", 0);
    long long updated = int_field(deployment, "status", "updatedReplicas", 0);
    long long available = int_field(deployment, "status", "availableReplicas", 0);
    json_decref(deployment);
    if (observed < generation) {
        snprintf(buf, size, "Waiting for deployment spec update to be observed...");
        return 0;
    }
    if (updated < replicas)
        snprintf(buf, size, "Waiting for deployment \"%s\" rollout to finish: %lld out of %lld new "
                 "replicas have been updated...", name, updated, replicas);
    else if (total > updated)
        snprintf(buf, size, "Waiting for deployment \"%s\" rollout to finish: %lld old replicas are "
                 "pending termination...", name, total - updated);
    else if (available < updated)
        snprintf(buf, size, "Waiting for deployment \"%s\" rollout to finish: %lld of %lld updated "
                 "replicas are available...", name, available, updated);
    else {
        snprintf(buf, size, "deployment \"%s\" successfully rolled out", name);
        return 1;
    }
    return 0;
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int rollout_status(kl_cli_t *cli, const kl_workload_flags_t *flags, const char *name)
{
    int timeout = flags->timeout_ms > 0 ? flags->timeout_ms : KL_ROLLOUT_DEFAULT_TIMEOUT_MS;
    int64_t deadline = monotonic_ms() + timeout;
    char last[512] = "", line[512];
    kl_error_t err;
    for (;;) {
        int state = rollout_state(cli, name, line, sizeof line, &err);
        if (state < 0)
            return kl_cli_fail(cli, "%s", err.text);
        if (strcmp(line, last) != 0) {
            fprintf(cli->out, "%s\n", line);
            fflush(cli->out);
            snprintf(last, sizeof last, "%s", line);
        }
        if (state == 1)
            return 0;
        if (monotonic_ms() >= deadline)
            return kl_cli_fail(cli, "timed out waiting for the condition (rollout of deployment \"%s\" not "
                             "finished after %d ms)", name, timeout);
        usleep(KL_ROLLOUT_POLL_US);
    }
}

static int rollout_history(kl_cli_t *cli, const char *name)
{
    kl_error_t err;
    json_t *deployment = get_object(cli, "Deployment", name, &err);
    if (!deployment)
        return kl_cli_fail(cli, "%s", err.text);
    json_t *sets = owned_sets(cli, deployment, &err);
    json_decref(deployment);
    if (!sets)
        return kl_cli_fail(cli, "%s", err.text);
    fprintf(cli->out, "deployment.apps/%s\n", name);
    json_t *rows = json_array();
    json_array_append_new(rows, json_pack("[sss]", "REVISION", "REPLICASET", "CHANGE-CAUSE"));
    size_t i;
    json_t *rs;
    json_array_foreach(sets, i, rs) {
        char revision[32];
        snprintf(revision, sizeof revision, "%lld", set_revision(rs));
        const char *cause = json_string_value(json_object_get(
            json_object_get(json_object_get(rs, "metadata"), "annotations"), "kubernetes.io/change-cause"));
        json_array_append_new(rows, json_pack("[sss]", revision, meta_string(rs, "name"),
                                              cause ? cause : "<none>"));
    }
    kl_table_print(cli->out, rows, NULL, 0);
    json_decref(rows);
    json_decref(sets);
    return 0;
}

static int rollout_undo(kl_cli_t *cli, const kl_workload_flags_t *flags, const char *name)
{
    kl_error_t err;
    for (int attempt = 0; attempt < KL_CLI_UPDATE_ATTEMPTS; attempt++) {
        json_t *deployment = get_object(cli, "Deployment", name, &err);
        if (!deployment)
            return kl_cli_fail(cli, "%s", err.text);
        json_t *sets = owned_sets(cli, deployment, &err);
        if (!sets) {
            json_decref(deployment);
            return kl_cli_fail(cli, "%s", err.text);
        }
        size_t count = json_array_size(sets);
        const json_t *target = NULL;
        if (flags->to_revision > 0) {
            for (size_t i = 0; i < count; i++)
                if (set_revision(json_array_get(sets, i)) == flags->to_revision)
                    target = json_array_get(sets, i);
        } else if (count >= 2) {
            target = json_array_get(sets, count - 2);  /* the revision before the newest */
        }
        if (!target) {
            json_decref(sets);
            json_decref(deployment);
            if (flags->to_revision > 0)
                return kl_cli_fail(cli, "unable to find specified revision %lld in history of deployment \"%s\"",
                            flags->to_revision, name);
            return kl_cli_fail(cli, "no rollout history found for deployment \"%s\": nothing to undo", name);
        }
        json_t *template = json_deep_copy(json_object_get(json_object_get(target, "spec"), "template"));
        json_object_del(json_object_get(json_object_get(template, "metadata"), "labels"), KL_HASH_LABEL);
        long long revision = set_revision(target);
        json_decref(sets);
        json_object_set_new(json_object_get(deployment, "spec"), "template", template);
        json_t *reply = kl_cli_call(cli, "api.update", json_pack("{s:o}", "object", deployment),
                                    cli->timeout_ms, &err);
        if (reply) {
            json_decref(reply);
            fprintf(cli->out, "deployment.apps/%s rolled back (to revision %lld)\n", name, revision);
            fflush(cli->out);
            return 0;
        }
        if (err.code != KL_ERR_CONFLICT)
            break;
    }
    return kl_cli_fail(cli, "%s", err.text);
}

int kl_cmd_rollout(kl_cli_t *cli, const kl_workload_flags_t *flags, int argc, char **args)
{
    if (argc < 1)
        return kl_cli_usage_error(cli, "rollout needs a subcommand: status, history or undo");
    const char *sub = args[0];
    if (strcmp(sub, "status") != 0 && strcmp(sub, "history") != 0 && strcmp(sub, "undo") != 0)
        return kl_cli_usage_error(cli, "unknown rollout subcommand \"%s\" (status, history, undo)", sub);
    const char *kind;
    char name[300];
    int rc = parse_target(cli, argc - 1, args + 1, "rollout", &kind, name, sizeof name);
    if (rc)
        return rc;
    if (strcmp(kind, "Deployment") != 0)
        return kl_cli_usage_error(cli, "rollout works on deployments (deploy/NAME), not on %s", kind);
    if (strcmp(sub, "status") == 0)
        return rollout_status(cli, flags, name);
    if (strcmp(sub, "history") == 0)
        return rollout_history(cli, name);
    return rollout_undo(cli, flags, name);
}

/* ---- shared with get, apply, delete, describe ---------------------------- */

void kl_workloads_warn_missing_controller(kl_cli_t *cli, const char *kind)
{
    const char *controller = NULL, *plural = NULL;
    if (kind && strcmp(kind, "Deployment") == 0) {
        controller = "deployment";
        plural = "Deployments";
    } else if (kind && strcmp(kind, "ReplicaSet") == 0) {
        controller = "replicaset";
        plural = "ReplicaSets";
    }
    if (!controller || cli->unreachable)
        return;
    kl_error_t err;
    json_t *info = kl_cli_call(cli, "api.info", json_object(), cli->timeout_ms, &err);
    json_t *controllers = json_object_get(info, "controllers");
    if (!json_is_array(controllers)) {
        json_decref(info);
        return;  /* an older server: say nothing rather than something false */
    }
    size_t i;
    json_t *name;
    bool running = false;
    json_array_foreach(controllers, i, name)
        if (json_string_value(name) && strcmp(json_string_value(name), controller) == 0)
            running = true;
    json_decref(info);
    if (!running) {
        fflush(cli->out);
        fprintf(cli->err, "Warning: no %s controller is running: %s are stored but not acted on\n",
                controller, plural);
        fflush(cli->err);
    }
}

const char *kl_workloads_propagation_policy(kl_cli_t *cli, const char *cascade, int *rc)
{
    *rc = 0;
    if (!cascade)
        return NULL;
    if (strcmp(cascade, "orphan") == 0)
        return "Orphan";
    if (strcmp(cascade, "background") == 0 || strcmp(cascade, "true") == 0)
        return "Background";
    if (strcmp(cascade, "foreground") == 0)
        return "Foreground";
    *rc = kl_cli_usage_error(cli, "--cascade must be background, orphan or foreground, not \"%s\"",
                             cascade);
    return NULL;
}

void kl_describe_workload(FILE *out, const json_t *object)
{
    const char *kind = json_string_value(json_object_get(object, "kind"));
    fprintf(out, "%-16s%s\n", "Name:", meta_string(object, "name") ? meta_string(object, "name") : "");
    fprintf(out, "%-16s%s\n", "Namespace:", meta_string(object, "namespace") ? meta_string(object, "namespace") : "");
    fprintf(out, "%-16s%s\n", "Kind:", kind ? kind : "");
    fprintf(out, "%-16s%s\n", "Created:", meta_string(object, "creationTimestamp") ? meta_string(object, "creationTimestamp") : "<unknown>");
    const json_t *match = json_object_get(json_object_get(json_object_get(object, "spec"), "selector"),
                                          "matchLabels");
    fprintf(out, "%-16s", "Selector:");
    const char *key;
    json_t *value;
    bool first = true;
    json_object_foreach((json_t *)match, key, value) {
        fprintf(out, "%s%s=%s", first ? "" : ",", key, json_string_value(value) ? json_string_value(value) : "");
        first = false;
    }
    fputc('\n', out);
    const json_t *annotations = json_object_get(json_object_get(object, "metadata"), "annotations");
    first = true;
    json_object_foreach((json_t *)annotations, key, value) {
        fprintf(out, "%-16s%s=%s\n", first ? "Annotations:" : "", key,
                json_string_value(value) ? json_string_value(value) : "");
        first = false;
    }
    const json_t *ref = json_array_get(json_object_get(json_object_get(object, "metadata"), "ownerReferences"), 0);
    if (ref)
        fprintf(out, "%-16s%s/%s\n", "Controlled By:", json_string_value(json_object_get(ref, "kind")),
                json_string_value(json_object_get(ref, "name")));
    if (kind && strcmp(kind, "Deployment") == 0) {
        fprintf(out, "%-16s%lld desired | %lld updated | %lld total | %lld available | %lld unavailable\n",
                "Replicas:", int_field(object, "spec", "replicas", 1),
                int_field(object, "status", "updatedReplicas", 0), int_field(object, "status", "replicas", 0),
                int_field(object, "status", "availableReplicas", 0),
                int_field(object, "status", "unavailableReplicas", 0));
        const json_t *strategy = json_object_get(json_object_get(object, "spec"), "strategy");
        const char *type = json_string_value(json_object_get(strategy, "type"));
        fprintf(out, "%-16s%s\n", "StrategyType:", type ? type : "RollingUpdate");
    } else {
        fprintf(out, "%-16s%lld current / %lld desired\n", "Replicas:",
                int_field(object, "status", "replicas", 0), int_field(object, "spec", "replicas", 1));
        fprintf(out, "%-16s%lld Ready / %lld Available\n", "Pods Status:",
                int_field(object, "status", "readyReplicas", 0), int_field(object, "status", "availableReplicas", 0));
    }
    const json_t *conditions = json_object_get(json_object_get(object, "status"), "conditions");
    if (json_array_size(conditions) > 0) {
        fprintf(out, "Conditions:\n  %-14s %-8s %s\n", "Type", "Status", "Reason");
        size_t i;
        json_t *c;
        json_array_foreach(conditions, i, c)
            fprintf(out, "  %-14s %-8s %s\n", json_string_value(json_object_get(c, "type")) ? json_string_value(json_object_get(c, "type")) : "",
                    json_string_value(json_object_get(c, "status")) ? json_string_value(json_object_get(c, "status")) : "",
                    json_string_value(json_object_get(c, "reason")) ? json_string_value(json_object_get(c, "reason")) : "");
    }
}

static int compare_last_seen(const void *a, const void *b)
{
    const char *ta = json_string_value(json_object_get(*(json_t *const *)a, "lastTimestamp"));
    const char *tb = json_string_value(json_object_get(*(json_t *const *)b, "lastTimestamp"));
    return strcmp(ta ? ta : "", tb ? tb : "");
}

void kl_workloads_print_events(kl_cli_t *cli, const json_t *object)
{
    const char *uid = meta_string(object, "uid");
    const char *name = meta_string(object, "name");
    const char *kind = json_string_value(json_object_get(object, "kind"));
    const char *ns = meta_string(object, "namespace");
    kl_error_t err;
    /* The field selector has no involvedObject fields: filter here. */
    json_t *list = kl_cli_call(cli, "api.list",
                               json_pack("{s:s, s:s}", "kind", "Event", "namespace",
                                         ns && *ns ? ns : "default"),
                               cli->timeout_ms, &err);
    json_t *mine = json_array();
    size_t i;
    json_t *event;
    json_array_foreach(json_object_get(list, "items"), i, event) {
        const json_t *involved = json_object_get(event, "involvedObject");
        const char *involved_uid = json_string_value(json_object_get(involved, "uid"));
        const char *involved_name = json_string_value(json_object_get(involved, "name"));
        const char *involved_kind = json_string_value(json_object_get(involved, "kind"));
        if (uid && involved_uid && *involved_uid ? strcmp(uid, involved_uid) == 0
                                                 : (name && involved_name && kind && involved_kind
                                                    && strcmp(name, involved_name) == 0
                                                    && strcmp(kind, involved_kind) == 0))
            json_array_append(mine, event);
    }
    json_decref(list);
    size_t count = json_array_size(mine);
    if (count == 0) {
        fprintf(cli->out, "Events:          <none>\n");
        json_decref(mine);
        return;
    }
    json_t **order = calloc(count, sizeof *order);
    for (i = 0; order && i < count; i++)
        order[i] = json_array_get(mine, i);
    if (order)
        qsort(order, count, sizeof *order, compare_last_seen);
    fprintf(cli->out, "Events:\n");
    json_t *rows = json_array();
    json_array_append_new(rows, json_pack("[sssss]", "  Type", "Reason", "Age", "From", "Message"));
    time_t now = time(NULL);
    for (i = 0; order && i < count; i++) {
        char age[32], type[64];
        time_t when;
        const char *last = json_string_value(json_object_get(order[i], "lastTimestamp"));
        if (last && kl_timestamp_parse(last, &when) == 0)
            kl_age_format((int64_t)(now - when), age, sizeof age);
        else
            snprintf(age, sizeof age, "<unknown>");
        const char *event_type = json_string_value(json_object_get(order[i], "type"));
        const char *reason = json_string_value(json_object_get(order[i], "reason"));
        const char *from = json_string_value(json_object_get(json_object_get(order[i], "source"), "component"));
        const char *message = json_string_value(json_object_get(order[i], "message"));
        snprintf(type, sizeof type, "  %s", event_type ? event_type : "Normal");
        json_array_append_new(rows, json_pack("[sssss]", type, reason ? reason : "", age, from ? from : "",
                                              message ? message : ""));
    }
    kl_table_print(cli->out, rows, NULL, 0);
    json_decref(rows);
    free(order);
    json_decref(mine);
}
