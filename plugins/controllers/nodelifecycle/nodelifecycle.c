/* controller/nodelifecycle: marks nodes whose kubelet stopped heartbeating
 * (renewing its Lease, or posting Ready) NotReady, taints them and evicts
 * their pods so owners recreate them elsewhere. This file holds its
 * settings and control loop; health.c tracks heartbeats and judges nodes,
 * actions.c writes the NotReady condition, taints and evictions. */
/*
 * controllers = ( { plugin = "nodelifecycle";
 *                   settings = { grace_period_ms = 40000; eviction_timeout_ms = 5000; }; } );
 *
 * grace_period_ms defaults to Kubernetes' 40 s. eviction_timeout_ms stands
 * in for the 300 s toleration of node.kubernetes.io/unreachable that
 * Kubernetes' admission adds to every pod; its default is short (5 s) so
 * failover shows in tests, and a pod's own NoExecute toleration (with or
 * without tolerationSeconds) overrides it. As in Kubernetes, no pod is
 * evicted while every node is NotReady (one worker alone never is): that
 * looks like the control plane's network, not the nodes.
 *
 * Liveness comes from the node's Lease kube-node-lease/<node> (its
 * spec.renewTime) when the node has one, as in Kubernetes; a node without a
 * Lease is judged by its Ready condition's lastHeartbeatTime instead.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include <keelson/controller.h>
#include <keelson/kit.h>

#include "nodelifecycle.h"

#define WATCH_WAIT_MAX_MS 500

static int queue_visit(const json_t *node, void *arg)
{
    nodelifecycle_t *self = arg;
    const char *name = nodelifecycle_node_name(node);
    if (name && *name)
        kl_workqueue_add(self->queue, name, self->host->monotonic_ms(self->host), 0);
    return 0;
}

/* ---- plugin ops --------------------------------------------------------- */

static void nodelifecycle_close(void *state)
{
    nodelifecycle_t *self = state;
    if (!self)
        return;
    kl_informer_destroy(&self->nodes);
    kl_informer_destroy(&self->leases);
    kl_workqueue_destroy(&self->queue);
    json_decref(self->seen);
    free(self);
}

static void *nodelifecycle_open(const kl_host_t *host, kl_error_t *err)
{
    long long grace = host->setting_int(host, "grace_period_ms", 40000);
    long long eviction = host->setting_int(host, "eviction_timeout_ms", 5000);
    long long resync = host->setting_int(host, "resync_ms", 1000);
    if (grace < 100 || grace > 86400000LL) {
        kl_error_set(err, KL_ERR_INVALID, "grace_period_ms = %lld: must be between 100 and 86400000", grace);
        return NULL;
    }
    if (eviction < 0 || eviction > 86400000LL) {
        kl_error_set(err, KL_ERR_INVALID, "eviction_timeout_ms = %lld: must be between 0 and 86400000",
                     eviction);
        return NULL;
    }
    if (resync < 50 || resync > 60000) {
        kl_error_set(err, KL_ERR_INVALID, "resync_ms = %lld: must be between 50 and 60000", resync);
        return NULL;
    }
    nodelifecycle_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the nodelifecycle controller");
        return NULL;
    }
    self->host = host;
    self->grace_ms = grace;
    self->eviction_ms = eviction;
    self->resync_ms = resync;
    self->seen = json_object();
    self->queue = kl_workqueue_new(100, 5000);
    self->nodes = kl_informer_new(host, "Node", NULL, NULL, err);
    if (self->nodes)
        self->leases = kl_informer_new(host, "Lease", NULL, "metadata.namespace=" LEASE_NAMESPACE, err);
    if (!self->seen || !self->queue || !self->nodes || !self->leases) {
        if (self->nodes && self->leases)
            kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the nodelifecycle controller");
        nodelifecycle_close(self);
        return NULL;
    }
    kl_informer_set_handler(self->nodes, nodelifecycle_on_node, self);
    kl_informer_set_handler(self->leases, nodelifecycle_on_lease, self);
    return self;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int nodelifecycle_run(void *state, kl_error_t *err)
{
    (void)err;
    nodelifecycle_t *self = state;
    const kl_host_t *host = self->host;
    host->log(host, KL_LOG_INFO, "grace period %" PRId64 " ms, eviction timeout %" PRId64 " ms",
              self->grace_ms, self->eviction_ms);
    int64_t next_resync = 0, backoff = 100;
    while (!host->stopping(host)) {
        int64_t now = host->monotonic_ms(host);
        if (kl_informer_synced(self->nodes) && kl_informer_synced(self->leases)) {
            /* Heartbeat age grows with time alone, so the level is looked at
             * again periodically, not only on events. */
            if (now >= next_resync) {
                kl_informer_each(self->nodes, queue_visit, self);
                next_resync = now + self->resync_ms;
            }
            nodelifecycle_update_disruption(self);
            char *key;
            /* Back to the informer before heartbeats seen go older than half
             * the grace period; the rest of the queue waits for one poll. */
            while (!host->stopping(host) && now - self->observed_ms < self->grace_ms / 2
                   && (key = kl_workqueue_pop(self->queue, now)) != NULL) {
                int64_t recheck = FOREVER;
                kl_error_t rerr = {0, ""};
                if (nodelifecycle_reconcile(self, key, &recheck, &rerr) < 0) {
                    int64_t delay = kl_workqueue_retry(self->queue, key, host->monotonic_ms(host));
                    host->log(host, rerr.code == KL_ERR_CONFLICT ? KL_LOG_DEBUG : KL_LOG_WARN,
                              "node %s: %s; retrying in %" PRId64 " ms", key, rerr.text, delay);
                } else {
                    kl_workqueue_forget(self->queue, key);
                    if (recheck != FOREVER)
                        kl_workqueue_add(self->queue, key, host->monotonic_ms(host), recheck);
                }
                free(key);
                now = host->monotonic_ms(host);
            }
        }
        now = host->monotonic_ms(host);
        int64_t wait = kl_workqueue_wait_ms(self->queue, now);
        if (wait < 0 || wait > WATCH_WAIT_MAX_MS)
            wait = WATCH_WAIT_MAX_MS;
        if (next_resync - now < wait)
            wait = next_resync - now < 0 ? 0 : next_resync - now;
        kl_error_t perr = {0, ""};
        /* Leases first and without waiting: the Node watch below is the one
         * long poll, so renewals are read at least every WATCH_WAIT_MAX_MS. */
        if (kl_informer_poll(self->leases, 0, &perr) < 0
            || kl_informer_poll(self->nodes, (int)wait, &perr) < 0) {
            if (!self->api_failing)
                host->log(host, KL_LOG_WARN, "watching nodes and leases failed (%s); retrying", perr.text);
            self->api_failing = 1;
            sleep_ms(backoff);
            backoff = backoff * 2 > 1000 ? 1000 : backoff * 2;
            continue;
        }
        self->observed_ms = host->monotonic_ms(host);
        if (self->api_failing)
            host->log(host, KL_LOG_INFO, "watching nodes and leases again");
        self->api_failing = 0;
        backoff = 100;
    }
    return 0;
}

static const kl_controller_ops_t ops = {
    .open = nodelifecycle_open,
    .close = nodelifecycle_close,
    .run = nodelifecycle_run,
};

static const kl_setting_spec_t settings[] = {
    {"grace_period_ms", KL_SETTING_INT, 0,
     "heartbeat silence after which a node is marked NotReady (default 40000, as Kubernetes)"},
    {"eviction_timeout_ms", KL_SETTING_INT, 0,
     "how long pods without a matching toleration stay on a NotReady node (default 5000; "
     "Kubernetes tolerates 300 s)"},
    {"resync_ms", KL_SETTING_INT, 0, "how often every node is looked at again (default 1000)"},
    KL_SETTINGS_END,
};

KL_CONTROLLER_PLUGIN("nodelifecycle", "1.0",
                     "marks silent nodes NotReady, taints them and evicts their pods", settings, ops);
