/* keelctl's commands (apply, create, get, delete, describe, version, cordon,
 * uncordon, taint), each turning its arguments into api.* requests to the
 * master and printing the replies. Each returns the process exit code: 0, or
 * 1 after printing "error: ..." on the error stream. */
#ifndef KL_KEELCTL_COMMANDS_H
#define KL_KEELCTL_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include <keelson/error.h>

#include "bus.h"
#include "client_config.h"
#include "printers.h"

#define KL_CLI_DEFAULT_TIMEOUT_MS 5000
#define KL_CLI_DEFAULT_NAMESPACE "default"

typedef struct kl_cli {
    kl_client_config_t config;   /* where the master is */
    int timeout_ms;              /* per request */
    const char *namespace_name;  /* -n; NULL means "default" (borrowed) */
    bool all_namespaces;         /* -A */
    kl_output_format_t format;   /* -o */
    const char *label_selector;  /* -l (borrowed) */
    const char *field_selector;  /* --field-selector (borrowed) */
    bool watch;                  /* -w */
    bool client_only;            /* version --client */
    const char *filename;        /* -f (borrowed) */
    kl_bus_client_t *client;     /* connected on the first request; owned */
    bool unreachable;            /* the master did not answer: stop asking */
    FILE *out;                   /* borrowed: stdout normally */
    FILE *err;                   /* borrowed: stderr normally */
} kl_cli_t;

/* Fills defaults (streams stdout/stderr, table output, 5 s timeout). */
void kl_cli_init(kl_cli_t *cli);
/* Closes the connection; the struct may be reused after kl_cli_init. */
void kl_cli_fini(kl_cli_t *cli);

/* Prints "error: MESSAGE" and the one-line usage hint; returns 1. */
int kl_cli_usage_error(kl_cli_t *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Maps pods|pod|po and nodes|node|no to "Pod" / "Node"; NULL otherwise. */
const char *kl_cli_kind_of(const char *resource);

/* `args` are the positional arguments after the command name. */
int kl_cmd_apply(kl_cli_t *cli, int argc, char **args, bool create_only);
int kl_cmd_get(kl_cli_t *cli, int argc, char **args);
int kl_cmd_delete(kl_cli_t *cli, int argc, char **args);
int kl_cmd_describe(kl_cli_t *cli, int argc, char **args);
int kl_cmd_version(kl_cli_t *cli, int argc, char **args);
/* cordon/uncordon NODE...: set or clear spec.unschedulable. */
int kl_cmd_cordon(kl_cli_t *cli, int argc, char **args, bool cordon);
/* taint nodes NODE key=value:Effect | key:Effect | key[=value][:Effect]- ... */
int kl_cmd_taint(kl_cli_t *cli, int argc, char **args);

#endif
