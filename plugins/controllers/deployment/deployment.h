/* controllers/deployment internals shared by its files: the controller, one
 * reconcile pass of one Deployment, and the steps one file lends another.
 * Never installed. Functions are listed by the file that defines them. */
#ifndef KL_CONTROLLERS_DEPLOYMENT_H
#define KL_CONTROLLERS_DEPLOYMENT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/kit.h>
#include <keelson/template_hash.h>

#define DP_REQUEST_MS 5000                /* timeout of each API request */
#define DP_HASH_LABEL "pod-template-hash"  /* which template a ReplicaSet runs */

/* The open controller: its informers, work queue and per-Deployment bookkeeping. */
typedef struct dp_controller {
    const kl_host_t *host;
    kl_informer_t *deployments;
    kl_informer_t *sets;
    kl_workqueue_t *queue;
    json_t *expectations;  /* "ns/name" -> {"rv", "deadline"} */
    json_t *failures;      /* "ns/name" -> consecutive failures */
    int64_t observed_set_rv;
    int64_t resync_ms;
    int64_t quiet_until[2];  /* per informer: after a failed watch, no poll before this */
} dp_controller_t;

/* One reconcile of one Deployment: what it read and the highest revision it wrote. */
typedef struct dp_pass {
    dp_controller_t *self;
    const json_t *deployment;
    const char *ns;
    const char *uid;
    int64_t written_rv;
    json_t *owned;    /* ReplicaSets this Deployment controls */
    json_t *orphans;  /* matching ReplicaSets nothing controls */
} dp_pass_t;

/* replicasets.c */

/* object[section][key] when it is an integer, else `fallback`. */
int64_t deployment_int_field(const json_t *object, const char *section, const char *key, int64_t fallback);
/* The revision annotation of a ReplicaSet, 0 when it has none. */
int64_t deployment_set_revision(const json_t *rs);
/* host->request that consumes `payload`; the revision written is what the next pass waits for. */
json_t *deployment_request(dp_pass_t *p, const char *method, json_t *payload, kl_error_t *err);
/* Informer visitor: sorts the pass's namespace's ReplicaSets into p->owned and p->orphans. */
int deployment_collect_set(const json_t *rs, void *arg);
/* Adopts a matching orphan ReplicaSet after re-reading it and its Deployment from the API. */
int deployment_adopt_set(dp_pass_t *p, const json_t *orphan, kl_error_t *err);
/* Creates the ReplicaSet of the current template; the caller owns the reply. */
json_t *deployment_create_set(dp_pass_t *p, const char *hash, int64_t replicas, int64_t revision,
                              kl_error_t *err);
/* Sets spec.replicas (and the revision when > 0) of `rs`, updating `rs` in place. */
int deployment_scale_set(dp_pass_t *p, json_t *rs, int64_t replicas, int64_t revision, kl_error_t *err);

/* rollout.c */

/* One step of the strategy and history pruning; reports what the status is judged by. */
int deployment_rollout(dp_pass_t *p, json_t **new_set, int64_t *replicas, int64_t *max_unavailable,
                       kl_error_t *err);

/* status.c */

/* Writes the Deployment's status (counts and conditions) when it changed. */
int deployment_write_status(dp_pass_t *p, const json_t *new_set, int64_t replicas, int64_t max_unavailable,
                            kl_error_t *err);

#endif
