/* controller/nodelifecycle internals shared by its files: the controller's
 * state and the functions one file defines for another. Never installed.
 * Functions are listed by the file that defines them. */
#ifndef KL_CONTROLLER_NODELIFECYCLE_H
#define KL_CONTROLLER_NODELIFECYCLE_H

#include <stdint.h>
#include <jansson.h>
#include <keelson/kit.h>

#define FOREVER INT64_MAX  /* no deadline: nothing is due, or a toleration never runs out */
#define LEASE_NAMESPACE "kube-node-lease"  /* where kubelets keep their node Leases */

/* One open controller: its settings, watches, queue and what it saw of each node. */
typedef struct nodelifecycle {
    const kl_host_t *host;
    int64_t grace_ms;
    int64_t eviction_ms;
    int64_t resync_ms;
    kl_informer_t *nodes;
    kl_informer_t *leases;  /* Leases in kube-node-lease, named after nodes */
    kl_workqueue_t *queue;
    /* node name -> {"beat": last lastHeartbeatTime seen, "lease": last Lease
     * renewTime seen ("" without a Lease), "at": monotonic ms the liveness
     * signal last changed, "since": monotonic ms the node went NotReady or
     * 0}. While a Lease exists only its renewals move "at".
     * Kubernetes too times heartbeats by when it saw them change, not by the
     * kubelet's clock, so skew between machines cannot evict pods. */
    json_t *seen;
    /* When the informer last caught up with the API: heartbeats are only
     * known up to then, so silence is measured to it, not to now. A long
     * eviction pass or an API outage then never reads as dead kubelets. */
    int64_t observed_ms;
    int disrupted;      /* every known node is NotReady: evictions paused */
    int api_failing;    /* the last informer poll failed (log once) */
} nodelifecycle_t;

/* health.c */

/* metadata.name of a Node (or of a node's Lease, named after it). */
const char *nodelifecycle_node_name(const json_t *node);
/* The node's Ready condition (borrowed), NULL when it has none. */
json_t *nodelifecycle_ready_condition(const json_t *node);
/* 1 when the node named `name` has a Lease in kube-node-lease. */
int nodelifecycle_has_lease(const nodelifecycle_t *self, const char *name);
/* Node informer handler: records Ready heartbeats and queues the node. */
void nodelifecycle_on_node(const char *type, const json_t *node, void *arg);
/* Lease informer handler: records Lease renewals and queues their node. */
void nodelifecycle_on_lease(const char *type, const json_t *lease, void *arg);
/* Brings one node to its level; *recheck_ms is when to look again (FOREVER: never). */
int nodelifecycle_reconcile(nodelifecycle_t *self, const char *name, int64_t *recheck_ms,
                            kl_error_t *err);
/* Sets self->disrupted when every known node is NotReady, logging each change. */
void nodelifecycle_update_disruption(nodelifecycle_t *self);

/* actions.c */

/* 1 when the node carries the NoExecute taint `key`. */
int nodelifecycle_has_taint(const json_t *node, const char *key);
/* Sets the node's Ready condition to Unknown; the stored node (caller owns) or NULL. */
json_t *nodelifecycle_mark_unknown(nodelifecycle_t *self, const json_t *node, int64_t silent_ms,
                                   kl_error_t *err);
/* Adds (add != 0) or removes the node's NoExecute taint `key`. */
int nodelifecycle_set_taint(nodelifecycle_t *self, const json_t *node, const char *key, int add,
                            kl_error_t *err);
/* Deletes the node's pods whose toleration ran out; ms until the next is due, or -1. */
int64_t nodelifecycle_evict_pods(nodelifecycle_t *self, const char *name, const char *key,
                                 int64_t down_ms, kl_error_t *err);

#endif
