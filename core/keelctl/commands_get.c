/* `keelctl get`: named objects through api.get or a list through api.list,
 * printed as a table, wide, json, yaml or names; with -w it keeps printing
 * the changes that api.watch long polls bring. */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "commands_internal.h"
#include "workloads.h"

/* How long one watch long poll may wait on the server (protocol maximum is 60 s). */
#define KL_CLI_WATCH_POLL_MS 30000

/* The api.list / api.watch payload: -n or -A, -l, --field-selector, and
 * `name` (NULL for the whole list). */
static json_t *list_payload(const kl_cli_t *cli, const char *kind, const char *name)
{
    json_t *payload = json_pack("{s:s}", "kind", kind);
    if (!kl_cli_is_cluster_scoped(kind) && !cli->all_namespaces)
        json_object_set_new(payload, "namespace", json_string(kl_cli_namespace_of(cli)));
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

/* One object as a watch prints it: a table row whose widths carry over from
 * the rows before, so the columns line up, or one json/yaml/name document. */
static void print_watch_object(kl_cli_t *cli, const json_t *object, const char *kind,
                               size_t *widths, size_t columns, time_t now)
{
    bool all_namespaces = cli->all_namespaces && !kl_cli_is_cluster_scoped(kind);
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
        kl_cli_fail(cli, "%s", err.text);
    json_decref(one);
}

/* Long polls api.watch from `resource_version` and prints every event's
 * object until a signal ends the process; returns only on an error. */
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
        json_t *reply = kl_cli_call(cli, "api.watch", payload,
                                    KL_CLI_WATCH_POLL_MS + cli->timeout_ms, &err);
        if (!reply && err.code == KL_ERR_EXPIRED) {
            /* Fell behind the server's history: resume from a fresh list. */
            json_t *list = kl_cli_call(cli, "api.list", list_payload(cli, kind, name),
                                       cli->timeout_ms, &err);
            if (!list) {
                json_decref(version);
                return kl_cli_fail(cli, "%s", err.text);
            }
            json_decref(version);
            version = json_incref(json_object_get(json_object_get(list, "metadata"),
                                                  "resourceVersion"));
            json_decref(list);
            continue;
        }
        if (!reply) {
            json_decref(version);
            return kl_cli_fail(cli, "%s", err.text);
        }
        json_t *events = json_object_get(reply, "events");
        if (!json_is_array(events)) {
            json_decref(reply);
            json_decref(version);
            return kl_cli_fail(cli, "the server's watch reply has no events list");
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
    kl_cli_target_list_t targets;
    int rc = kl_cli_parse_targets(cli, argc, args, "get", false, &targets);
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
    bool all_namespaces = cli->all_namespaces && !kl_cli_is_cluster_scoped(kind);
    json_t *items = json_array();
    json_t *resource_version = NULL;
    kl_error_t err;
    if (named > 0 && !cli->watch) {
        size_t index;
        json_t *name;
        json_array_foreach(targets.names, index, name) {
            json_t *object = kl_cli_call(cli, "api.get",
                                         kl_cli_object_key(cli, kind, json_string_value(name),
                                                           NULL),
                                         cli->timeout_ms, &err);
            if (!object) {
                rc = kl_cli_fail(cli, "%s", err.text);
                if (cli->unreachable)
                    break;
                continue;
            }
            json_array_append_new(items, object);
        }
    } else {
        const char *name = named ? json_string_value(json_array_get(targets.names, 0)) : NULL;
        json_t *list = kl_cli_call(cli, "api.list", list_payload(cli, kind, name), cli->timeout_ms,
                                   &err);
        if (!list) {
            json_decref(items);
            json_decref(targets.names);
            return kl_cli_fail(cli, "%s", err.text);
        }
        json_t *list_items = json_object_get(list, "items");
        if (!json_is_array(list_items)) {
            json_decref(list);
            json_decref(items);
            json_decref(targets.names);
            return kl_cli_fail(cli, "the server's list reply has no items");
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
        if (all_namespaces || kl_cli_is_cluster_scoped(kind))
            fprintf(cli->err, "No resources found\n");
        else
            fprintf(cli->err, "No resources found in %s namespace.\n", kl_cli_namespace_of(cli));
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
            rc = kl_cli_fail(cli, "%s", err.text);
    }
    json_decref(items);
    if (cli->watch && rc == 0)
        rc = watch(cli, kind, named ? json_string_value(json_array_get(targets.names, 0)) : NULL,
                   resource_version, widths, sizeof widths / sizeof widths[0]);
    json_decref(resource_version);
    json_decref(targets.names);
    return rc;
}
