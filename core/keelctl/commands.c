/* keelctl's commands: each turns its arguments into api.* requests to the
 * master (docs/protocol.md section 3) and prints the replies kubectl's way. */
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <keelson/version.h>

#include "commands.h"
#include "describe.h"
#include "manifest.h"
#include "workloads.h"

/* How long one watch long poll may wait on the server (protocol maximum is 60 s). */
#define KL_CLI_WATCH_POLL_MS 30000
/* Retries of an apply whose update raced another writer. */
#define KL_CLI_APPLY_ATTEMPTS 3

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

static int fail(kl_cli_t *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(kl_cli_t *cli, const char *fmt, ...)
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

static bool is_cluster_scoped(const char *kind)
{
    return kind && strcmp(kind, "Node") == 0;
}

static const char *namespace_of(const kl_cli_t *cli)
{
    return cli->namespace_name ? cli->namespace_name : KL_CLI_DEFAULT_NAMESPACE;
}

/* One api.* request. `payload` is stolen. A missing reply means the master
 * is not there (or not answering): later requests are not even tried, so a
 * long manifest does not wait out one timeout per object. */
static json_t *call(kl_cli_t *cli, const char *method, json_t *payload, int timeout_ms,
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

typedef struct target_list {
    const char *kind;
    json_t *names; /* array of strings */
} target_list_t;

/* Returns 0, or an exit code after printing a usage error. */
static int parse_targets(kl_cli_t *cli, int argc, char **args, const char *verb, bool need_names,
                         target_list_t *targets)
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

static json_t *object_key(const kl_cli_t *cli, const char *kind, const char *name,
                          const char *namespace_name)
{
    json_t *payload = json_pack("{s:s, s:s}", "kind", kind, "name", name);
    if (!is_cluster_scoped(kind))
        json_object_set_new(payload, "namespace",
                            json_string(namespace_name ? namespace_name : namespace_of(cli)));
    return payload;
}

static void object_ref(const json_t *object, const char *kind, char *buf, size_t size)
{
    char singular[64];
    kl_kind_singular(json_string_value(json_object_get(object, "kind")) ?
                         json_string_value(json_object_get(object, "kind")) : kind,
                     singular, sizeof singular);
    snprintf(buf, size, "%s/%s", singular,
             json_string_value(json_object_get(json_object_get(object, "metadata"), "name")));
}

/* ---- apply / create ---------------------------------------------------- */

/* Puts the object in the namespace -n names, or refuses when it says another. */
static int settle_namespace(kl_cli_t *cli, json_t *object, const char *where)
{
    const char *kind = json_string_value(json_object_get(object, "kind"));
    if (is_cluster_scoped(kind))
        return 0;
    json_t *metadata = json_object_get(object, "metadata");
    json_t *own = json_object_get(metadata, "namespace");
    if (own && !json_is_string(own)) {
        fail(cli, "%s: metadata.namespace must be a string", where);
        return -1;
    }
    if (own && cli->namespace_name && strcmp(json_string_value(own), cli->namespace_name) != 0) {
        fail(cli, "%s: the namespace from the provided object \"%s\" does not match the namespace "
                  "\"%s\" given with -n",
             where, json_string_value(own), cli->namespace_name);
        return -1;
    }
    if (!own)
        json_object_set_new(metadata, "namespace", json_string(namespace_of(cli)));
    return 0;
}

static int apply_one(kl_cli_t *cli, const json_t *manifest_object, const char *where,
                     bool create_only)
{
    json_t *object = json_deep_copy(manifest_object);
    const char *kind = json_string_value(json_object_get(object, "kind"));
    const char *name = json_string_value(json_object_get(json_object_get(object, "metadata"), "name"));
    char ref[300];
    object_ref(object, kind, ref, sizeof ref);
    if (settle_namespace(cli, object, where) < 0) {
        json_decref(object);
        return -1;
    }
    const char *namespace_name =
        json_string_value(json_object_get(json_object_get(object, "metadata"), "namespace"));
    kl_error_t err;
    json_t *reply = call(cli, "api.create", json_pack("{s:O}", "object", object), cli->timeout_ms,
                         &err);
    if (reply) {
        fprintf(cli->out, "%s created\n", ref);
        json_decref(reply);
        kl_workloads_warn_missing_controller(cli, kind); /* kind lives in object */
        json_decref(object);
        return 0;
    }
    for (int attempt = 0; err.code == KL_ERR_EXISTS && !create_only &&
                          attempt < KL_CLI_APPLY_ATTEMPTS;
         attempt++) {
        /* Update against the revision just read: a write in between gives
         * Conflict, and then the loop reads again. */
        json_t *current = call(cli, "api.get", object_key(cli, kind, name, namespace_name),
                               cli->timeout_ms, &err);
        if (!current)
            break;
        json_t *version = json_object_get(json_object_get(current, "metadata"), "resourceVersion");
        if (version)
            json_object_set(json_object_get(object, "metadata"), "resourceVersion", version);
        json_decref(current);
        reply = call(cli, "api.update", json_pack("{s:O}", "object", object), cli->timeout_ms,
                     &err);
        if (reply) {
            fprintf(cli->out, "%s configured\n", ref);
            json_decref(reply);
            kl_workloads_warn_missing_controller(cli, kind); /* kind lives in object */
            json_decref(object);
            return 0;
        }
        if (err.code != KL_ERR_CONFLICT)
            break;
        err.code = KL_ERR_EXISTS;
    }
    json_decref(object);
    if (cli->unreachable)
        fail(cli, "%s", err.text); /* about the master, not this object */
    else
        fail(cli, "%s: %s", where, err.text);
    return -1;
}

int kl_cmd_apply(kl_cli_t *cli, int argc, char **args, bool create_only)
{
    const char *verb = create_only ? "create" : "apply";
    if (!cli->filename)
        return kl_cli_usage_error(cli, "%s needs -f FILE (or -f - for standard input)", verb);
    if (argc > 0)
        return kl_cli_usage_error(cli, "%s takes no arguments besides -f, found \"%s\"", verb,
                                  args[0]);
    kl_error_t err;
    kl_manifest_t *manifest = kl_manifest_load(cli->filename, &err);
    if (!manifest)
        return fail(cli, "%s", err.text);
    int rc = 0;
    if (kl_manifest_size(manifest) == 0)
        rc = fail(cli, "no objects passed to %s in %s", verb, cli->filename);
    for (size_t i = 0; i < kl_manifest_size(manifest); i++) {
        const json_t *object = kl_manifest_object(manifest, i);
        if (!object) {
            rc = fail(cli, "%s: %s", kl_manifest_where(manifest, i),
                      kl_manifest_problem(manifest, i));
            continue;
        }
        if (cli->unreachable) {
            rc = 1;
            break;
        }
        if (apply_one(cli, object, kl_manifest_where(manifest, i), create_only) < 0)
            rc = 1;
    }
    kl_manifest_destroy(&manifest);
    return rc;
}

/* ---- get ----------------------------------------------------------------- */

static json_t *list_payload(const kl_cli_t *cli, const char *kind, const char *name)
{
    json_t *payload = json_pack("{s:s}", "kind", kind);
    if (!is_cluster_scoped(kind) && !cli->all_namespaces)
        json_object_set_new(payload, "namespace", json_string(namespace_of(cli)));
    if (cli->label_selector)
        json_object_set_new(payload, "labelSelector", json_string(cli->label_selector));
    if (name || cli->field_selector) {
        /* A named watch is a list narrowed to that name. */
        char selector[1024];
        snprintf(selector, sizeof selector, "%s%s%s%s", name ? "metadata.name=" : "",
                 name ? name : "", name && cli->field_selector ? "," : "",
                 cli->field_selector ? cli->field_selector : "");
        json_object_set_new(payload, "fieldSelector", json_string(selector));
    }
    return payload;
}

static void interrupted(int signal_number)
{
    (void)signal_number;
    /* A watch holds nothing the kernel does not reclaim, and a pending long
     * poll must not delay the exit: leave at once, successfully. */
    _exit(0);
}

static void print_watch_object(kl_cli_t *cli, const json_t *object, const char *kind,
                               size_t *widths, size_t columns, time_t now)
{
    bool all_namespaces = cli->all_namespaces && !is_cluster_scoped(kind);
    if (cli->format == KL_OUTPUT_TABLE || cli->format == KL_OUTPUT_WIDE) {
        json_t *rows = json_pack("[o]", kl_table_row(object, kind, cli->format == KL_OUTPUT_WIDE,
                                                     all_namespaces, now));
        kl_table_print(cli->out, rows, widths, columns);
        json_decref(rows);
        return;
    }
    if (cli->format == KL_OUTPUT_YAML)
        fputs("---\n", cli->out);
    json_t *one = json_pack("[O]", object);
    kl_error_t err;
    if (kl_print_objects(cli->out, one, kind, cli->format, true, all_namespaces, now, &err) < 0)
        fail(cli, "%s", err.text);
    json_decref(one);
}

static int watch(kl_cli_t *cli, const char *kind, const char *name, json_t *resource_version,
                 size_t *widths, size_t columns)
{
    struct sigaction action = {.sa_handler = interrupted};
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGTERM, &action, NULL);
    json_t *version = json_incref(resource_version);
    for (;;) {
        json_t *payload = list_payload(cli, kind, name);
        json_object_set_new(payload, "resourceVersion", version ? json_incref(version)
                                                                : json_string("0"));
        json_object_set_new(payload, "timeoutMs", json_integer(KL_CLI_WATCH_POLL_MS));
        kl_error_t err;
        json_t *reply = call(cli, "api.watch", payload, KL_CLI_WATCH_POLL_MS + cli->timeout_ms,
                             &err);
        if (!reply && err.code == KL_ERR_EXPIRED) {
            /* Fell behind the server's history: resume from a fresh list. */
            json_t *list = call(cli, "api.list", list_payload(cli, kind, name), cli->timeout_ms,
                                &err);
            if (!list) {
                json_decref(version);
                return fail(cli, "%s", err.text);
            }
            json_decref(version);
            version = json_incref(json_object_get(json_object_get(list, "metadata"),
                                                  "resourceVersion"));
            json_decref(list);
            continue;
        }
        if (!reply) {
            json_decref(version);
            return fail(cli, "%s", err.text);
        }
        json_t *events = json_object_get(reply, "events");
        if (!json_is_array(events)) {
            json_decref(reply);
            json_decref(version);
            return fail(cli, "the server's watch reply has no events list");
        }
        size_t index;
        json_t *event;
        time_t now = time(NULL);
        json_array_foreach(events, index, event)
            print_watch_object(cli, json_object_get(event, "object"), kind, widths, columns, now);
        json_t *next = json_object_get(reply, "resourceVersion");
        if (next) {
            json_decref(version);
            version = json_incref(next);
        }
        json_decref(reply);
    }
}

int kl_cmd_get(kl_cli_t *cli, int argc, char **args)
{
    target_list_t targets;
    int rc = parse_targets(cli, argc, args, "get", false, &targets);
    if (rc) {
        json_decref(targets.names);
        return rc;
    }
    const char *kind = targets.kind;
    size_t named = json_array_size(targets.names);
    if (cli->watch && named > 1) {
        json_decref(targets.names);
        return kl_cli_usage_error(cli, "watch one named object at a time, or a whole list");
    }
    bool all_namespaces = cli->all_namespaces && !is_cluster_scoped(kind);
    json_t *items = json_array();
    json_t *resource_version = NULL;
    kl_error_t err;
    if (named > 0 && !cli->watch) {
        size_t index;
        json_t *name;
        json_array_foreach(targets.names, index, name) {
            json_t *object = call(cli, "api.get",
                                  object_key(cli, kind, json_string_value(name), NULL),
                                  cli->timeout_ms, &err);
            if (!object) {
                rc = fail(cli, "%s", err.text);
                if (cli->unreachable)
                    break;
                continue;
            }
            json_array_append_new(items, object);
        }
    } else {
        const char *name = named ? json_string_value(json_array_get(targets.names, 0)) : NULL;
        json_t *list = call(cli, "api.list", list_payload(cli, kind, name), cli->timeout_ms, &err);
        if (!list) {
            json_decref(items);
            json_decref(targets.names);
            return fail(cli, "%s", err.text);
        }
        json_t *list_items = json_object_get(list, "items");
        if (!json_is_array(list_items)) {
            json_decref(list);
            json_decref(items);
            json_decref(targets.names);
            return fail(cli, "the server's list reply has no items");
        }
        json_array_extend(items, list_items);
        resource_version = json_incref(json_object_get(json_object_get(list, "metadata"),
                                                       "resourceVersion"));
        json_decref(list);
    }
    kl_workloads_warn_missing_controller(cli, kind);
    time_t now = time(NULL);
    size_t widths[16] = {0};
    bool table = cli->format == KL_OUTPUT_TABLE || cli->format == KL_OUTPUT_WIDE;
    if (json_array_size(items) == 0 && named == 0 && (table || cli->format == KL_OUTPUT_NAME) &&
        !cli->watch) {
        if (all_namespaces || is_cluster_scoped(kind))
            fprintf(cli->err, "No resources found\n");
        else
            fprintf(cli->err, "No resources found in %s namespace.\n", namespace_of(cli));
    } else if (cli->watch && table) {
        json_t *rows = json_array();
        json_array_append_new(rows, kl_table_header(kind, cli->format == KL_OUTPUT_WIDE,
                                                    all_namespaces));
        size_t index;
        json_t *item;
        json_array_foreach(items, index, item)
            json_array_append_new(rows, kl_table_row(item, kind, cli->format == KL_OUTPUT_WIDE,
                                                     all_namespaces, now));
        kl_table_print(cli->out, rows, widths, sizeof widths / sizeof widths[0]);
        json_decref(rows);
    } else if (cli->watch) {
        size_t index;
        json_t *item;
        json_array_foreach(items, index, item)
            print_watch_object(cli, item, kind, widths, 0, now);
    } else if (json_array_size(items) > 0 || named == 0) {
        if (kl_print_objects(cli->out, items, kind, cli->format, named == 1, all_namespaces, now,
                             &err) < 0)
            rc = fail(cli, "%s", err.text);
    }
    json_decref(items);
    if (cli->watch && rc == 0)
        rc = watch(cli, kind, named ? json_string_value(json_array_get(targets.names, 0)) : NULL,
                   resource_version, widths, sizeof widths / sizeof widths[0]);
    json_decref(resource_version);
    json_decref(targets.names);
    return rc;
}

/* ---- delete ------------------------------------------------------------ */

/* propagationPolicy of the running delete (--cascade); NULL: the server's default. */
static const char *delete_policy;

static int delete_one(kl_cli_t *cli, const char *kind, const char *name, const char *namespace_name,
                      const char *where)
{
    kl_error_t err;
    json_t *payload = object_key(cli, kind, name, namespace_name);
    if (delete_policy)
        json_object_set_new(payload, "propagationPolicy", json_string(delete_policy));
    json_t *reply = call(cli, "api.delete", payload, cli->timeout_ms, &err);
    if (!reply) {
        if (where && !cli->unreachable)
            fail(cli, "%s: %s", where, err.text);
        else
            fail(cli, "%s", err.text);
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
        kl_error_t err;
        kl_manifest_t *manifest = kl_manifest_load(cli->filename, &err);
        if (!manifest)
            return fail(cli, "%s", err.text);
        for (size_t i = 0; i < kl_manifest_size(manifest) && !cli->unreachable; i++) {
            json_t *object = kl_manifest_object(manifest, i);
            const char *where = kl_manifest_where(manifest, i);
            if (!object) {
                rc = fail(cli, "%s: %s", where, kl_manifest_problem(manifest, i));
                continue;
            }
            json_t *copy = json_deep_copy(object);
            if (settle_namespace(cli, copy, where) < 0) {
                json_decref(copy);
                rc = 1;
                continue;
            }
            json_t *metadata = json_object_get(copy, "metadata");
            if (delete_one(cli, json_string_value(json_object_get(copy, "kind")),
                           json_string_value(json_object_get(metadata, "name")),
                           json_string_value(json_object_get(metadata, "namespace")), where) < 0)
                rc = 1;
            json_decref(copy);
        }
        kl_manifest_destroy(&manifest);
        return rc;
    }
    target_list_t targets;
    rc = parse_targets(cli, argc, args, "delete", true, &targets);
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
    target_list_t targets;
    int rc = parse_targets(cli, argc, args, "describe", true, &targets);
    if (rc) {
        json_decref(targets.names);
        return rc;
    }
    size_t index;
    json_t *name;
    json_array_foreach(targets.names, index, name) {
        kl_error_t err;
        json_t *object = call(cli, "api.get",
                              object_key(cli, targets.kind, json_string_value(name), NULL),
                              cli->timeout_ms, &err);
        if (!object) {
            rc = fail(cli, "%s", err.text);
            if (cli->unreachable)
                break;
            continue;
        }
        if (index > 0)
            fputs("\n\n", cli->out);
        if (is_cluster_scoped(targets.kind)) {
            char selector[600];
            snprintf(selector, sizeof selector, "spec.nodeName=%s", json_string_value(name));
            json_t *pods = call(cli, "api.list",
                                json_pack("{s:s, s:s}", "kind", "Pod", "fieldSelector", selector),
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
    json_t *pong = call(cli, "bus.ping", json_object(), cli->timeout_ms, &err);
    if (!pong)
        return fail(cli, "%s", err.text);
    json_decref(pong);
    fprintf(cli->out, "Server: %s (bus protocol %s)\n", cli->config.server, KL_BUS_PROTOCOL);
    return 0;
}

/* ---- cordon / uncordon / taint ------------------------------------------ */

/* Changes a node's spec in place. Returns 1 when it changed it, 0 when there
 * was nothing to change, -1 after writing the reason to `why`. */
typedef int (*node_edit_fn)(json_t *spec, void *arg, char *why, size_t why_size);

/* Reads the node, edits it and writes it back against the revision read; a
 * write racing another writer (Conflict) starts over from a fresh read.
 * Returns what the edit returned, or -1 after printing the error. */
static int node_edit(kl_cli_t *cli, const char *name, node_edit_fn edit, void *arg)
{
    kl_error_t err;
    for (int attempt = 0; attempt < KL_CLI_APPLY_ATTEMPTS; attempt++) {
        json_t *node = call(cli, "api.get", object_key(cli, "Node", name, NULL), cli->timeout_ms,
                            &err);
        if (!node)
            break;
        json_t *spec = json_object_get(node, "spec");
        if (!json_is_object(spec)) {
            spec = json_object();
            json_object_set_new(node, "spec", spec);
        }
        char why[512] = "";
        int changed = edit(spec, arg, why, sizeof why);
        if (changed <= 0) {
            json_decref(node);
            if (changed < 0)
                fail(cli, "%s", why);
            return changed;
        }
        json_t *reply = call(cli, "api.update", json_pack("{s:o}", "object", node),
                             cli->timeout_ms, &err);
        if (reply) {
            json_decref(reply);
            return 1;
        }
        if (err.code != KL_ERR_CONFLICT)
            break;
    }
    fail(cli, "%s", err.text);
    return -1;
}

static int edit_unschedulable(json_t *spec, void *arg, char *why, size_t why_size)
{
    bool cordon = *(bool *)arg;
    (void)why;
    (void)why_size;
    if (json_is_true(json_object_get(spec, "unschedulable")) == cordon)
        return 0;
    if (cordon)
        json_object_set_new(spec, "unschedulable", json_true());
    else
        json_object_del(spec, "unschedulable");  /* false is the default, as kubectl leaves it */
    return 1;
}

int kl_cmd_cordon(kl_cli_t *cli, int argc, char **args, bool cordon)
{
    const char *verb = cordon ? "cordon" : "uncordon";
    if (argc < 1)
        return kl_cli_usage_error(cli, "%s needs the name of a node: keelctl %s NODE", verb, verb);
    int rc = 0;
    for (int i = 0; i < argc && !cli->unreachable; i++) {
        int changed = node_edit(cli, args[i], edit_unschedulable, &cordon);
        if (changed < 0)
            rc = 1;
        else
            fprintf(cli->out, "node/%s %s%s\n", args[i], changed ? "" : "already ",
                    cordon ? "cordoned" : "uncordoned");
    }
    fflush(cli->out);
    return rc;
}

/* One taint argument: key[=value]:Effect to add; key[[=value]:Effect]- to
 * remove (an absent effect removes the key with every effect). */
typedef struct taint_spec {
    char key[320];
    char value[80];
    char effect[32];  /* "" only for a removal by key */
    bool has_value;
    bool remove;
} taint_spec_t;

static bool taint_effect_known(const char *effect)
{
    return strcmp(effect, "NoSchedule") == 0 || strcmp(effect, "PreferNoSchedule") == 0
           || strcmp(effect, "NoExecute") == 0;
}

static int taint_spec_parse(const char *text, taint_spec_t *spec, char *why, size_t why_size)
{
    memset(spec, 0, sizeof *spec);
    size_t length = strlen(text);
    if (length > 0 && text[length - 1] == '-') {
        spec->remove = true;
        length--;
    }
    char body[512];
    if (length == 0 || length >= sizeof body) {
        snprintf(why, why_size, "invalid taint spec \"%.200s\": expected key=value:Effect, key:Effect, "
                 "or key[:Effect]- to remove", text);
        return -1;
    }
    memcpy(body, text, length);
    body[length] = '\0';
    char *colon = strrchr(body, ':');
    if (colon) {
        *colon = '\0';
        snprintf(spec->effect, sizeof spec->effect, "%s", colon + 1);
        if (!taint_effect_known(spec->effect)) {
            snprintf(why, why_size, "invalid taint spec \"%.200s\": unknown effect \"%.200s\" (supported: "
                     "NoSchedule, PreferNoSchedule, NoExecute)", text, colon + 1);
            return -1;
        }
    } else if (!spec->remove) {
        snprintf(why, why_size, "invalid taint spec \"%.200s\": a taint to add needs an effect, as in "
                 "%.200s:NoSchedule", text, body);
        return -1;
    }
    char *equals = strchr(body, '=');
    if (equals) {
        *equals = '\0';
        spec->has_value = true;
        if (strlen(equals + 1) >= sizeof spec->value) {
            snprintf(why, why_size, "invalid taint spec \"%.200s\": the value is longer than 63 "
                     "characters", text);
            return -1;
        }
        snprintf(spec->value, sizeof spec->value, "%s", equals + 1);
    }
    if (!body[0] || strlen(body) >= sizeof spec->key || strpbrk(body, " \t:=")) {
        snprintf(why, why_size, "invalid taint spec \"%.200s\": the key must be a non-empty label key",
                 text);
        return -1;
    }
    snprintf(spec->key, sizeof spec->key, "%s", body);
    return 0;
}

typedef struct taint_edit {
    const taint_spec_t *specs;
    int count;
    const char *node;
    int added, removed;
} taint_edit_t;

static int edit_taints(json_t *spec, void *arg, char *why, size_t why_size)
{
    taint_edit_t *edit = arg;
    json_t *taints = json_object_get(spec, "taints");
    json_t *fresh = json_array();
    edit->added = edit->removed = 0;
    if (json_is_array(taints))
        json_array_extend(fresh, taints);
    for (int s = 0; s < edit->count; s++) {
        const taint_spec_t *t = &edit->specs[s];
        bool found = false;
        for (size_t i = json_array_size(fresh); i-- > 0;) {
            json_t *taint = json_array_get(fresh, i);
            const char *key = json_string_value(json_object_get(taint, "key"));
            const char *effect = json_string_value(json_object_get(taint, "effect"));
            if (!key || strcmp(key, t->key) != 0)
                continue;
            if (t->effect[0] && (!effect || strcmp(effect, t->effect) != 0))
                continue;
            found = true;
            if (t->remove) {
                json_array_remove(fresh, i);
                edit->removed++;
            }
        }
        if (t->remove && !found) {
            json_decref(fresh);
            snprintf(why, why_size, "taint \"%s%s%s\" not found on node %s", t->key,
                     t->effect[0] ? ":" : "", t->effect, edit->node);
            return -1;
        }
        if (!t->remove && found) {
            json_decref(fresh);
            snprintf(why, why_size, "node %s already has a %s taint with effect %s", edit->node,
                     t->key, t->effect);
            return -1;
        }
        if (!t->remove) {
            json_t *taint = json_pack("{s:s, s:s}", "key", t->key, "effect", t->effect);
            if (t->has_value)
                json_object_set_new(taint, "value", json_string(t->value));
            json_array_append_new(fresh, taint);
            edit->added++;
        }
    }
    if (json_array_size(fresh) == 0)
        json_object_del(spec, "taints");
    else
        json_object_set(spec, "taints", fresh);
    json_decref(fresh);
    return 1;
}

int kl_cmd_taint(kl_cli_t *cli, int argc, char **args)
{
    if (argc < 3)
        return kl_cli_usage_error(cli, "taint needs a node and at least one taint: keelctl taint "
                                       "nodes NODE key=value:Effect | key:Effect | key[:Effect]-");
    const char *kind = kl_cli_kind_of(args[0]);
    if (!kind || strcmp(kind, "Node") != 0)
        return kl_cli_usage_error(cli, "only nodes can be tainted, not \"%s\"", args[0]);
    taint_spec_t *specs = calloc((size_t)argc - 2, sizeof *specs);
    if (!specs)
        return fail(cli, "out of memory");
    char why[512];
    for (int i = 2; i < argc; i++) {
        if (taint_spec_parse(args[i], &specs[i - 2], why, sizeof why) < 0) {
            free(specs);
            return kl_cli_usage_error(cli, "%s", why);
        }
    }
    taint_edit_t edit = {.specs = specs, .count = argc - 2, .node = args[1]};
    int changed = node_edit(cli, args[1], edit_taints, &edit);
    free(specs);
    if (changed < 0)
        return 1;
    /* kubectl's words: only removals untaint, anything else taints. */
    fprintf(cli->out, "node/%s %s\n", args[1], edit.added == 0 ? "untainted" : "tainted");
    fflush(cli->out);
    return 0;
}
