/* controllers/replicaset internals shared by its files: the controller, the
 * pods one ReplicaSet's pass sorted, and the steps one file lends another.
 * Never installed. Functions are listed by the file that defines them. */
#ifndef KL_CONTROLLERS_REPLICASET_H
#define KL_CONTROLLERS_REPLICASET_H

#include <stdint.h>
#include <jansson.h>
#include <keelson/kit.h>

#define RS_REQUEST_MS 5000  /* timeout of each API request */

/* The open controller: its informers, work queue and per-ReplicaSet bookkeeping. */
typedef struct rs_controller {
    const kl_host_t *host;
    kl_informer_t *sets;
    kl_informer_t *pods;
    kl_workqueue_t *queue;
    json_t *expectations;  /* "ns/name" -> {"rv": revision, "deadline": ms} */
    json_t *failures;      /* "ns/name" -> consecutive failures */
    int64_t observed_pod_rv;
    int64_t resync_ms;
    uint64_t random_state;
} rs_controller_t;

/* One ReplicaSet's pods, sorted by how it relates to them. */
typedef struct rs_pod_sets {
    const json_t *rs;
    const char *uid;
    const char *ns;
    const json_t *match_labels;
    json_t *owned;     /* pods this ReplicaSet controls (borrowed refs, incref'd) */
    json_t *orphans;   /* matching pods no controller owns */
    json_t *released;  /* owned pods that no longer match the selector */
} rs_pod_sets_t;

/* ownership.c */

/* Whether the pod has Succeeded or Failed, never to run again. */
int replicaset_pod_terminated(const json_t *pod);
/* Whether the pod's Ready condition is True. */
int replicaset_pod_ready(const json_t *pod);
/* Informer visitor: sorts the namespace's pods into sets->owned, orphans and released. */
int replicaset_sort_pods(const json_t *pod, void *arg);
/* Adds our controller reference to a still-matching orphan; the caller owns the reply. */
json_t *replicaset_adopt(rs_controller_t *self, const rs_pod_sets_t *sets, const json_t *orphan,
                         kl_error_t *err);
/* Removes our reference from a pod; raises *rv to the revision written. */
int replicaset_release(rs_controller_t *self, const rs_pod_sets_t *sets, const json_t *pod, int64_t *rv,
                       kl_error_t *err);
/* qsort comparator over json_t *: the pods to delete first sort first. */
int replicaset_compare_for_delete(const void *a, const void *b);

/* pods.c */

/* Creates one pod from the ReplicaSet's template; the caller owns the reply. */
json_t *replicaset_create_pod(rs_controller_t *self, const rs_pod_sets_t *sets, kl_error_t *err);
/* Deletes a pod (gone already counts as done); raises *rv to the revision written. */
int replicaset_delete_pod(rs_controller_t *self, const char *ns, const char *name, int64_t *rv,
                          kl_error_t *err);

/* status.c */

/* Writes the ReplicaSet's status from its owned pods when it changed. */
int replicaset_update_status(rs_controller_t *self, const json_t *rs, const json_t *owned, kl_error_t *err);

#endif
