/* keelctl's workload commands: scale, rollout status|history|undo, the
 * Events of an object, and the warning that a kind's controller is absent. */
#ifndef KL_KEELCTL_WORKLOADS_H
#define KL_KEELCTL_WORKLOADS_H

#include <stdio.h>
#include <jansson.h>

#include "commands.h"

/* Flags only these commands read; main() fills them. */
typedef struct kl_workload_flags {
    long long replicas;     /* --replicas; -1 when not given */
    int timeout_ms;         /* --timeout for rollout status; 0: default (10 minutes) */
    long long to_revision;  /* --to-revision; 0: the previous revision */
    const char *cascade;    /* --cascade for delete: orphan|background (borrowed; NULL: background) */
} kl_workload_flags_t;

void kl_workload_flags_init(kl_workload_flags_t *flags);

/* Maps rs|replicaset|replicasets, deploy|deployment|deployments and
 * ev|event|events to their kinds; NULL otherwise. */
const char *kl_workload_kind_of(const char *resource);

/* scale deploy/NAME --replicas=N (also rs/NAME, or TYPE NAME). */
int kl_cmd_scale(kl_cli_t *cli, const kl_workload_flags_t *flags, int argc, char **args);
/* rollout status|history|undo deploy/NAME. */
int kl_cmd_rollout(kl_cli_t *cli, const kl_workload_flags_t *flags, int argc, char **args);

/* Prints "Warning: no deployment controller is running: ..." on cli->err
 * when the server's api.info does not list the controller acting on `kind`
 * (ReplicaSet or Deployment); silent for other kinds or when api.info fails. */
void kl_workloads_warn_missing_controller(kl_cli_t *cli, const char *kind);

/* "orphan" -> "Orphan", "background" -> "Background"; NULL (after printing
 * a usage error) for anything else. NULL input gives NULL without a message. */
const char *kl_workloads_propagation_policy(kl_cli_t *cli, const char *cascade, int *rc);

/* delete with --cascade (NULL: the server's default, Background); defined in
 * commands.c beside delete itself. */
int kl_cmd_delete_cascade(kl_cli_t *cli, int argc, char **args, const char *cascade);

/* describe of a ReplicaSet or Deployment (borrowed). */
void kl_describe_workload(FILE *out, const json_t *object);
/* Appends the "Events:" section of `object` (borrowed) from api.list Event. */
void kl_workloads_print_events(kl_cli_t *cli, const json_t *object);

#endif
