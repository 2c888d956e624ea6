/* keelctl's command plumbing and its simplest commands: the shared pieces
 * (errors, requests to the master, kinds, namespaces, targets, object keys)
 * and delete, describe and version. Each turns its arguments into api.*
 * requests to the master (docs/protocol.md section 3) and prints the replies
 * kubectl's way; apply/create live in apply.c, get in commands_get.c, the
 * node edits in commands_nodes.c. */
#include <stdarg.h>
#include <string.h>

#include <keelson/version.h>

#include "commands_internal.h"
#include "describe.h"
#include "manifest.h"
#include "workloads.h"

static const char usage_line[] =
    "Usage: keelctl [apply|create|get|delete|describe|version|help] ... (see 'keelctl help')";

void kl_cli_init(kl_cli_t *cli)
{
    memset(cli, 0, sizeof *cli);
    cli->timeout_ms = KL_CLI_DEFAULT_TIMEOUT_MS;
    cli->format = KL_OUTPUT_TABLE;
    cli->out = stdout;
    cli->err = stderr;
}

void kl_cli_fini(kl_cli_t *cli)
{
    kl_bus_client_destroy(&cli->client);
}

int kl_cli_fail(kl_cli_t *cli, const char *fmt, ...)
{
    va_list ap;
    fflush(cli->out);
    fputs("error: ", cli->err);
    va_start(ap, fmt);
    vfprintf(cli->err, fmt, ap);
    va_end(ap);
    fputc('\n', cli->err);
    fflush(cli->err);
    return 1;
}

int kl_cli_usage_error(kl_cli_t *cli, const char *fmt, ...)
{
    va_list ap;
    fflush(cli->out);
    fputs("error: ", cli->err);
    va_start(ap, fmt);
    vfprintf(cli->err, fmt, ap);
    va_end(ap);
    fprintf(cli->err, "\n%s\n", usage_line);
    fflush(cli->err);
    return 1;
}

const char *kl_cli_kind_of(const char *resource)
{
    static const char *const pods[] = {"pods", "pod", "po", "Pod", NULL};
    static const char *const nodes[] = {"nodes", "node", "no", "Node", NULL};
    static const char *const leases[] = {"leases", "lease", "Lease", NULL};
    for (size_t i = 0; resource && pods[i]; i++)
        if (strcmp(resource, pods[i]) == 0)
            return "Pod";
    for (size_t i = 0; resource && nodes[i]; i++)
        if (strcmp(resource, nodes[i]) == 0)
            return "Node";
    for (size_t i = 0; resource && leases[i]; i++)
        if (strcmp(resource, leases[i]) == 0)
            return "Lease";
    return kl_workload_kind_of(resource);
}

bool kl_cli_is_cluster_scoped(const char *kind)
{
    return kind && strcmp(kind, "Node") == 0;
}

const char *kl_cli_namespace_of(const kl_cli_t *cli)
{
    return cli->namespace_name ? cli->namespace_name : KL_CLI_DEFAULT_NAMESPACE;
}

/* One api.* request. `payload` is stolen. A missing reply means the master
 * is not there (or not answering): later requests are not even tried, so a
 * long manifest does not wait out one timeout per object. */
json_t *kl_cli_call(kl_cli_t *cli, const char *method, json_t *payload, int timeout_ms,
                    kl_error_t *err)
{
    kl_error_t local;
    kl_error_clear(err);
    if (cli->unreachable) {
        json_decref(payload);
        kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot reach keelson at %s", cli->config.server);
        return NULL;
    }
    if (!cli->client) {
        cli->client = kl_bus_client_new(cli->config.server, &local);
        if (!cli->client) {
            json_decref(payload);
            cli->unreachable = true;
            kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot reach keelson at %s: %s",
                         cli->config.server, local.text);
            return NULL;
        }
    }
    json_t *reply = kl_bus_request(cli->client, method, payload, timeout_ms, &local);
    json_decref(payload);
    if (!reply) {
        if (local.code == KL_ERR_TIMEOUT) {
            cli->unreachable = true;
            kl_error_set(err, KL_ERR_TIMEOUT, "cannot reach keelson at %s: no reply to %s within %d ms",
                         cli->config.server, method, timeout_ms);
        } else {
            *err = local;
        }
    }
    return reply;
}

/* ---- targets: "pods web db" or "pod/web node/n1" -------------------- */

/* Returns 0, or an exit code after printing a usage error. */
int kl_cli_parse_targets(kl_cli_t *cli, int argc, char **args, const char *verb, bool need_names,
                         kl_cli_target_list_t *targets)
{
    targets->kind = NULL;
    targets->names = json_array();
    if (argc < 1)
        return kl_cli_usage_error(cli, "you must specify the type of resource to %s (pods, nodes, replicasets, deployments, events or leases)",
                                  verb);
    if (strchr(args[0], '/')) {
        for (int i = 0; i < argc; i++) {
            char type[64];
            const char *slash = strchr(args[i], '/');
            size_t length = slash ? (size_t)(slash - args[i]) : 0;
            if (!slash || length >= sizeof type || !slash[1])
                return kl_cli_usage_error(cli, "\"%s\" is not of the form TYPE/NAME", args[i]);
            memcpy(type, args[i], length);
            type[length] = '\0';
            const char *kind = kl_cli_kind_of(type);
            if (!kind)
                return kl_cli_usage_error(cli, "unknown resource type \"%s\" (pods, nodes, replicasets, deployments, events or leases)", type);
            if (targets->kind && strcmp(kind, targets->kind) != 0)
                return kl_cli_usage_error(cli, "give resources of one type at a time");
            targets->kind = kind;
            json_array_append_new(targets->names, json_string(slash + 1));
        }
        return 0;
    }
    targets->kind = kl_cli_kind_of(args[0]);
    if (!targets->kind)
        return kl_cli_usage_error(cli, "unknown resource type \"%s\" (pods, nodes, replicasets, deployments, events or leases)", args[0]);
    for (int i = 1; i < argc; i++)
        json_array_append_new(targets->names, json_string(args[i]));
    if (need_names && json_array_size(targets->names) == 0)
        return kl_cli_usage_error(cli, "you must specify the name of the %s to %s",
                                  strcmp(targets->kind, "Node") == 0 ? "node" : "pod", verb);
    return 0;
}

json_t *kl_cli_object_key(const kl_cli_t *cli, const char *kind, const char *name,
                          const char *namespace_name)
{
    json_t *payload = json_pack("{s:s, s:s}", "kind", kind, "name", name);
    if (!kl_cli_is_cluster_scoped(kind))
        json_object_set_new(payload, "namespace",
                            json_string(namespace_name ? namespace_name
                                                       : kl_cli_namespace_of(cli)));
    return payload;
}

/* ---- namespaces of manifest objects ------------------------------------- */

/* Puts the object in the namespace -n names, or refuses when it says another. */
int kl_cli_settle_namespace(kl_cli_t *cli, json_t *object, const char *where)
{
    const char *kind = json_string_value(json_object_get(object, "kind"));
    if (kl_cli_is_cluster_scoped(kind))
        return 0;
    json_t *metadata = json_object_get(object, "metadata");
    json_t *own = json_object_get(metadata, "namespace");
    if (own && !json_is_string(own)) {
        kl_cli_fail(cli, "%s: metadata.namespace must be a string", where);
        return -1;
    }
    if (own && cli->namespace_name && strcmp(json_string_value(own), cli->namespace_name) != 0) {
        kl_cli_fail(cli, "%s: the namespace from the provided object \"%s\" does not match the "
                         "namespace \"%s\" given with -n",
                    where, json_string_value(own), cli->namespace_name);
        return -1;
    }
    if (!own)
        json_object_set_new(metadata, "namespace", json_string(kl_cli_namespace_of(cli)));
    return 0;
}

/* ---- delete ------------------------------------------------------------ */

/* propagationPolicy of the running delete (--cascade); NULL: the server's default. */
static const char *delete_policy;

static int delete_one(kl_cli_t *cli, const char *kind, const char *name, const char *namespace_name,
                      const char *where)
{
    kl_error_t err;
    json_t *payload = kl_cli_object_key(cli, kind, name, namespace_name);
    if (delete_policy)
        json_object_set_new(payload, "propagationPolicy", json_string(delete_policy));
    json_t *reply = kl_cli_call(cli, "api.delete", payload, cli->timeout_ms, &err);
    if (!reply) {
        if (where && !cli->unreachable)
            kl_cli_fail(cli, "%s: %s", where, err.text);
        else
            kl_cli_fail(cli, "%s", err.text);
        return -1;
    }
    char singular[64];
    kl_kind_singular(kind, singular, sizeof singular);
    fprintf(cli->out, "%s \"%s\" deleted\n", singular, name);
    fflush(cli->out);
    json_decref(reply);
    return 0;
}

int kl_cmd_delete_cascade(kl_cli_t *cli, int argc, char **args, const char *cascade)
{
    int rc;
    delete_policy = kl_workloads_propagation_policy(cli, cascade, &rc);
    if (rc)
        return rc;
    rc = kl_cmd_delete(cli, argc, args);
    delete_policy = NULL;
    return rc;
}

int kl_cmd_delete(kl_cli_t *cli, int argc, char **args)
{
    int rc = 0;
    if (cli->filename) {
        if (argc > 0)
            return kl_cli_usage_error(cli, "give either -f FILE or TYPE NAME to delete, not both");
        return kl_cli_delete_manifest(cli, delete_policy);
    }
    kl_cli_target_list_t targets;
    rc = kl_cli_parse_targets(cli, argc, args, "delete", true, &targets);
    if (rc == 0) {
        size_t index;
        json_t *name;
        json_array_foreach(targets.names, index, name) {
            if (delete_one(cli, targets.kind, json_string_value(name), NULL, NULL) < 0)
                rc = 1;
            if (cli->unreachable)
                break;
        }
    }
    json_decref(targets.names);
    return rc;
}

/* ---- describe ------------------------------------------------------------ */

int kl_cmd_describe(kl_cli_t *cli, int argc, char **args)
{
    kl_cli_target_list_t targets;
    int rc = kl_cli_parse_targets(cli, argc, args, "describe", true, &targets);
    if (rc) {
        json_decref(targets.names);
        return rc;
    }
    size_t index;
    json_t *name;
    json_array_foreach(targets.names, index, name) {
        kl_error_t err;
        json_t *object = kl_cli_call(cli, "api.get",
                                     kl_cli_object_key(cli, targets.kind, json_string_value(name),
                                                       NULL),
                                     cli->timeout_ms, &err);
        if (!object) {
            rc = kl_cli_fail(cli, "%s", err.text);
            if (cli->unreachable)
                break;
            continue;
        }
        if (index > 0)
            fputs("\n\n", cli->out);
        if (kl_cli_is_cluster_scoped(targets.kind)) {
            char selector[600];
            snprintf(selector, sizeof selector, "spec.nodeName=%s", json_string_value(name));
            json_t *pods = kl_cli_call(cli, "api.list",
                                       json_pack("{s:s, s:s}", "kind", "Pod", "fieldSelector",
                                                 selector),
                                       cli->timeout_ms, &err);
            kl_describe_node(cli->out, object, json_object_get(pods, "items"));
            json_decref(pods);
        } else if (strcmp(targets.kind, "Pod") == 0) {
            kl_describe_pod(cli->out, object);
        } else {
            kl_describe_workload(cli->out, object);
        }
        kl_workloads_print_events(cli, object);
        json_decref(object);
    }
    json_decref(targets.names);
    return rc;
}

/* ---- version --------------------------------------------------------- */

int kl_cmd_version(kl_cli_t *cli, int argc, char **args)
{
    if (argc > 0)
        return kl_cli_usage_error(cli, "version takes no arguments, found \"%s\"", args[0]);
    fprintf(cli->out, "Client Version: v%s\n", KL_VERSION_STRING);
    fflush(cli->out);
    if (cli->client_only)
        return 0;
    kl_error_t err;
    json_t *pong = kl_cli_call(cli, "bus.ping", json_object(), cli->timeout_ms, &err);
    if (!pong)
        return kl_cli_fail(cli, "%s", err.text);
    json_decref(pong);
    fprintf(cli->out, "Server: %s (bus protocol %s)\n", cli->config.server, KL_BUS_PROTOCOL);
    return 0;
}
