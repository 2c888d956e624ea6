/* Private to keelctl's command files (commands.c, apply.c, commands_get.c,
 * commands_nodes.c, workloads.c): the plumbing they share for talking to the master,
 * reporting errors and naming objects. Not part of the command list in
 * commands.h. */
#ifndef KL_KEELCTL_COMMANDS_INTERNAL_H
#define KL_KEELCTL_COMMANDS_INTERNAL_H

#include <stdbool.h>
#include <jansson.h>
#include <keelson/error.h>

#include "commands.h"

/* Attempts of a read-modify-write (apply, node edits, scale, rollout undo)
 * that races another writer. */
#define KL_CLI_UPDATE_ATTEMPTS 3

/* Prints "error: MESSAGE" (no usage hint); returns 1. */
int kl_cli_fail(kl_cli_t *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True for kinds that live outside namespaces (Node). */
bool kl_cli_is_cluster_scoped(const char *kind);

/* The namespace -n names, or "default". */
const char *kl_cli_namespace_of(const kl_cli_t *cli);

/* One api.* request; `payload` is stolen. NULL (with `err` set) on failure. */
json_t *kl_cli_call(kl_cli_t *cli, const char *method, json_t *payload, int timeout_ms,
                    kl_error_t *err);

/* Puts a manifest object in the namespace -n names, or refuses (printing
 * why, at `where`) when it names another: -1. */
int kl_cli_settle_namespace(kl_cli_t *cli, json_t *object, const char *where);

/* delete -f: every object of cli->filename, with `policy` as the
 * propagationPolicy (NULL: the server's default). Returns an exit code. */
int kl_cli_delete_manifest(kl_cli_t *cli, const char *policy);

/* The objects a command names: one kind and the names given. */
typedef struct kl_cli_target_list {
    const char *kind;
    json_t *names; /* array of strings */
} kl_cli_target_list_t;

/* Parses "TYPE [NAME...]" or "TYPE/NAME..."; the caller always frees
 * targets->names. Returns 0, or an exit code after a usage error. */
int kl_cli_parse_targets(kl_cli_t *cli, int argc, char **args, const char *verb, bool need_names,
                         kl_cli_target_list_t *targets);

/* {kind, name[, namespace]} for api.get/api.delete; a NULL namespace_name means -n's. */
json_t *kl_cli_object_key(const kl_cli_t *cli, const char *kind, const char *name,
                          const char *namespace_name);

#endif
