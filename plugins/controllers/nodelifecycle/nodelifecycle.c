/* controller/nodelifecycle: marks nodes whose kubelet stopped heartbeating
 * (renewing its Lease, or posting Ready) NotReady, taints them and evicts
 * their pods so owners recreate them elsewhere. */
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <keelson/controller.h>
#include <keelson/kit.h>

#define TAINT_UNREACHABLE "node.kubernetes.io/unreachable"
#define TAINT_NOT_READY "node.kubernetes.io/not-ready"
#define REQUEST_TIMEOUT_MS 10000
#define WATCH_WAIT_MAX_MS 500
#define FOREVER INT64_MAX
#define LEASE_NAMESPACE "kube-node-lease"

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

/* ---- small helpers ------------------------------------------------------ */

static void format_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* RFC 3339 as the API writes it: 2024-05-01T10:00:00Z, optionally with a
 * fraction or a numeric offset. Returns -1 on anything else. */
static int parse_time(const char *text, int64_t *ms)
{
    if (!text)
        return -1;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return -1;
    int64_t millis = 0;
    if (*rest == '.') {
        int64_t scale = 100;
        for (rest++; *rest >= '0' && *rest <= '9'; rest++) {
            millis += (*rest - '0') * scale;
            scale /= 10;
        }
    }
    int64_t offset_s = 0;
    if (*rest == '+' || *rest == '-') {
        int hours, minutes;
        if (sscanf(rest + 1, "%2d:%2d", &hours, &minutes) != 2)
            return -1;
        offset_s = (int64_t)(hours * 3600 + minutes * 60) * (*rest == '-' ? -1 : 1);
        rest += 6;
    } else if (*rest == 'Z' || *rest == 'z') {
        rest++;
    } else {
        return -1;
    }
    if (*rest)
        return -1;
    *ms = ((int64_t)timegm(&tm) - offset_s) * 1000 + millis;
    return 0;
}

static const char *node_name(const json_t *node)
{
    return json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
}

static json_t *ready_condition(const json_t *node)
{
    size_t i;
    json_t *condition;
    json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), i, condition) {
        const char *type = json_string_value(json_object_get(condition, "type"));
        if (type && strcmp(type, "Ready") == 0)
            return condition;
    }
    return NULL;
}

/* "True", "False", "Unknown", or NULL when the kubelet never posted one. */
static const char *ready_status(const json_t *node)
{
    return json_string_value(json_object_get(ready_condition(node), "status"));
}

static int has_taint(const json_t *node, const char *key)
{
    size_t i;
    json_t *taint;
    json_array_foreach(json_object_get(json_object_get(node, "spec"), "taints"), i, taint) {
        const char *k = json_string_value(json_object_get(taint, "key"));
        const char *effect = json_string_value(json_object_get(taint, "effect"));
        if (k && effect && strcmp(k, key) == 0 && strcmp(effect, "NoExecute") == 0)
            return 1;
    }
    return 0;
}

static json_t *node_state(nodelifecycle_t *self, const char *name)
{
    json_t *state = json_object_get(self->seen, name);
    if (!state) {
        state = json_pack("{s:s, s:s, s:I, s:I}", "beat", "", "lease", "", "at", (json_int_t)0,
                          "since", (json_int_t)0);
        json_object_set_new(self->seen, name, state);
    }
    return state;
}

static int64_t state_int(const json_t *state, const char *field)
{
    return (int64_t)json_integer_value(json_object_get(state, field));
}

static void state_set(json_t *state, const char *field, int64_t value)
{
    json_object_set_new(state, field, json_integer((json_int_t)value));
}

/* ---- informer events ---------------------------------------------------- */

static int has_lease(const nodelifecycle_t *self, const char *name)
{
    return kl_informer_get(self->leases, LEASE_NAMESPACE, name) != NULL;
}

static void on_node(const char *type, const json_t *node, void *arg)
{
    nodelifecycle_t *self = arg;
    const char *name = node_name(node);
    if (!name || !*name)
        return;
    int64_t now = self->host->monotonic_ms(self->host);
    if (strcmp(type, "DELETED") == 0) {
        json_object_del(self->seen, name);
        return;
    }
    json_t *state = node_state(self, name);
    const char *beat = json_string_value(json_object_get(ready_condition(node), "lastHeartbeatTime"));
    if (!beat)
        beat = "";
    /* First sight (a fresh node, or this controller just started) counts as
     * a heartbeat: a restart never evicts before a full grace period. A
     * node with a Lease is timed by the Lease alone. */
    int changed = strcmp(beat, json_string_value(json_object_get(state, "beat"))) != 0;
    json_object_set_new(state, "beat", json_string(beat));
    if (state_int(state, "at") == 0 || (changed && !has_lease(self, name)))
        state_set(state, "at", now);
    kl_workqueue_add(self->queue, name, now, 0);
}

/* A node Lease renewed (or first seen) is a heartbeat of the node it is
 * named after; a deleted one hands the node back to its Ready heartbeat. */
static void on_lease(const char *type, const json_t *lease, void *arg)
{
    nodelifecycle_t *self = arg;
    const char *name = node_name(lease);
    if (!name || !*name)
        return;
    int64_t now = self->host->monotonic_ms(self->host);
    json_t *state = node_state(self, name);
    if (strcmp(type, "DELETED") == 0) {
        json_object_set_new(state, "lease", json_string(""));
        return;
    }
    const char *renew = json_string_value(json_object_get(json_object_get(lease, "spec"), "renewTime"));
    if (!renew || !*renew)
        renew = "-";  /* a Lease never renewed still counts once, when first seen */
    if (strcmp(renew, json_string_value(json_object_get(state, "lease"))) != 0) {
        json_object_set_new(state, "lease", json_string(renew));
        state_set(state, "at", now);
    }
    kl_workqueue_add(self->queue, name, now, 0);
}

/* ---- writes ------------------------------------------------------------- */

/* Sets the Ready condition to Unknown, as Kubernetes does for a node whose
 * kubelet went silent. Conditional on the cached resourceVersion: a
 * heartbeat that lands first wins and the next pass looks again. Returns
 * the stored node (caller owns) or NULL. */
static json_t *mark_unknown(nodelifecycle_t *self, const json_t *node, int64_t silent_ms,
                            kl_error_t *err)
{
    json_t *copy = json_deep_copy(node);
    json_t *status = json_object_get(copy, "status");
    if (!json_is_object(status)) {
        status = json_object();
        json_object_set_new(copy, "status", status);
    }
    json_t *conditions = json_object_get(status, "conditions");
    if (!json_is_array(conditions)) {
        conditions = json_array();
        json_object_set_new(status, "conditions", conditions);
    }
    char now[32];
    format_time(self->host->realtime_ms(self->host), now, sizeof now);
    json_t *ready = ready_condition(copy);
    if (ready) {
        json_object_set_new(ready, "status", json_string("Unknown"));
        json_object_set_new(ready, "reason", json_string("NodeStatusUnknown"));
        json_object_set_new(ready, "message", json_string("Kubelet stopped posting node status."));
    } else {
        ready = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "Ready", "status", "Unknown", "reason",
                          "NodeStatusNeverUpdated", "message", "Kubelet never posted node status.",
                          "lastHeartbeatTime", now);
        json_array_append_new(conditions, ready);
    }
    json_object_set_new(ready, "lastTransitionTime", json_string(now));
    json_t *payload = json_pack("{s:o}", "object", copy);
    json_t *stored = self->host->request(self->host, "api.update_status", payload, REQUEST_TIMEOUT_MS, err);
    json_decref(payload);
    if (stored) {
        int lease = has_lease(self, node_name(node));
        self->host->log(self->host, KL_LOG_WARN, "node %s: no heartbeat for %" PRId64 " ms (%s); marked NotReady",
                        node_name(node), silent_ms,
                        lease ? "its Lease " LEASE_NAMESPACE " was not renewed" : "its Ready condition was not posted");
        kl_event_record(self->host, stored, "Warning", "NodeNotReady",
                        "Node %s status is now: NodeNotReady (no heartbeat for %" PRId64 " ms)",
                        node_name(node), silent_ms);
    }
    return stored;
}

/* Adds (add != 0) or removes the NoExecute taint `key` through api.update,
 * conditional on the node's resourceVersion. */
static int set_taint(nodelifecycle_t *self, const json_t *node, const char *key, int add, kl_error_t *err)
{
    json_t *copy = json_deep_copy(node);
    json_object_del(copy, "status");
    json_t *spec = json_object_get(copy, "spec");
    if (!json_is_object(spec)) {
        spec = json_object();
        json_object_set_new(copy, "spec", spec);
    }
    json_t *taints = json_object_get(spec, "taints");
    json_t *kept = json_array();
    size_t i;
    json_t *taint;
    json_array_foreach(taints, i, taint) {
        const char *k = json_string_value(json_object_get(taint, "key"));
        const char *effect = json_string_value(json_object_get(taint, "effect"));
        if (!add && k && effect && strcmp(k, key) == 0 && strcmp(effect, "NoExecute") == 0)
            continue;
        json_array_append(kept, taint);
    }
    if (add) {
        char now[32];
        format_time(self->host->realtime_ms(self->host), now, sizeof now);
        json_array_append_new(kept, json_pack("{s:s, s:s, s:s}", "key", key, "effect", "NoExecute",
                                              "timeAdded", now));
    }
    if (json_array_size(kept) > 0)
        json_object_set_new(spec, "taints", kept);
    else {
        json_decref(kept);
        json_object_del(spec, "taints");
    }
    json_t *payload = json_pack("{s:o}", "object", copy);
    json_t *stored = self->host->request(self->host, "api.update", payload, REQUEST_TIMEOUT_MS, err);
    json_decref(payload);
    if (!stored)
        return -1;
    json_decref(stored);
    self->host->log(self->host, KL_LOG_INFO, "node %s: %s taint %s:NoExecute", node_name(node),
                    add ? "added" : "removed", key);
    return 0;
}

/* How long `pod` tolerates the NoExecute taint `key`: Kubernetes' rules,
 * the smallest tolerationSeconds of the matching tolerations, FOREVER when
 * one matches without seconds, and the controller's eviction timeout when
 * none matches (Kubernetes' admission adds a 300 s toleration instead). */
static int64_t toleration_ms(const nodelifecycle_t *self, const json_t *pod, const char *key)
{
    int matched = 0;
    int64_t best = FOREVER;
    size_t i;
    json_t *toleration;
    json_array_foreach(json_object_get(json_object_get(pod, "spec"), "tolerations"), i, toleration) {
        const char *k = json_string_value(json_object_get(toleration, "key"));
        const char *op = json_string_value(json_object_get(toleration, "operator"));
        const char *value = json_string_value(json_object_get(toleration, "value"));
        const char *effect = json_string_value(json_object_get(toleration, "effect"));
        int exists = op && strcmp(op, "Exists") == 0;
        if (effect && *effect && strcmp(effect, "NoExecute") != 0)
            continue;
        if (k && *k ? strcmp(k, key) != 0 : !exists)
            continue;
        if (!exists && value && *value)  /* the taint has no value */
            continue;
        matched = 1;
        json_t *seconds = json_object_get(toleration, "tolerationSeconds");
        if (json_is_integer(seconds)) {
            json_int_t s = json_integer_value(seconds);
            int64_t ms = s <= 0 ? 0 : (s > INT64_MAX / 2000 ? FOREVER : (int64_t)s * 1000);
            if (ms < best)
                best = ms;
        }
    }
    return matched ? best : self->eviction_ms;
}

/* Deletes the pods bound to `name` whose toleration of `key` ran out after
 * `down_ms` NotReady. Returns the ms until the next pod is due (FOREVER:
 * none), or -1 with err filled. */
static int64_t evict_pods(nodelifecycle_t *self, const char *name, const char *key, int64_t down_ms,
                          kl_error_t *err)
{
    char selector[320];
    snprintf(selector, sizeof selector, "spec.nodeName=%s", name);
    json_t *payload = json_pack("{s:s, s:s}", "kind", "Pod", "fieldSelector", selector);
    json_t *list = self->host->request(self->host, "api.list", payload, REQUEST_TIMEOUT_MS, err);
    json_decref(payload);
    if (!list)
        return -1;
    int64_t next = FOREVER;
    int failed = 0;
    size_t evicted = 0, i;
    json_t *pod;
    json_array_foreach(json_object_get(list, "items"), i, pod) {
        if (self->host->stopping(self->host))
            break;
        int64_t tolerated = toleration_ms(self, pod, key);
        if (tolerated != FOREVER && down_ms < tolerated) {
            if (tolerated - down_ms < next)
                next = tolerated - down_ms;
            continue;
        }
        if (tolerated == FOREVER)
            continue;
        const json_t *metadata = json_object_get(pod, "metadata");
        const char *ns = json_string_value(json_object_get(metadata, "namespace"));
        const char *pod_name = json_string_value(json_object_get(metadata, "name"));
        const char *rv = json_string_value(json_object_get(metadata, "resourceVersion"));
        if (!pod_name)
            continue;
        /* The resourceVersion keeps a same-named pod created meanwhile safe. */
        json_t *del = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", ns ? ns : "default",
                                "name", pod_name);
        if (rv)
            json_object_set_new(del, "resourceVersion", json_string(rv));
        kl_error_t derr = {0, ""};
        json_t *gone = self->host->request(self->host, "api.delete", del, REQUEST_TIMEOUT_MS, &derr);
        json_decref(del);
        if (!gone) {
            if (derr.code != KL_ERR_NOT_FOUND) {
                if (!failed && err)
                    *err = derr;
                failed = 1;
            }
            continue;
        }
        evicted++;
        kl_event_record(self->host, gone, "Warning", "TaintManagerEviction",
                        "Marking for deletion Pod %s/%s: node %s NotReady for %" PRId64 " ms",
                        ns ? ns : "default", pod_name, name, down_ms);
        json_decref(gone);
    }
    json_decref(list);
    if (evicted)
        self->host->log(self->host, KL_LOG_WARN, "node %s: evicted %zu pod(s) after %" PRId64 " ms NotReady",
                        name, evicted, down_ms);
    return failed ? -1 : next;
}

/* ---- reconcile ---------------------------------------------------------- */

/* Brings one node to its level. Returns 0 (with *recheck_ms the time until
 * something becomes due, FOREVER for nothing) or -1 with err filled. */
static int reconcile(nodelifecycle_t *self, const char *name, int64_t *recheck_ms, kl_error_t *err)
{
    *recheck_ms = FOREVER;
    const json_t *node = kl_informer_get(self->nodes, "", name);
    if (!node) {
        json_object_del(self->seen, name);
        return 0;
    }
    json_t *state = node_state(self, name);
    int64_t now = self->host->monotonic_ms(self->host);
    if (state_int(state, "at") == 0)
        state_set(state, "at", now);
    const char *status = ready_status(node);
    if (!status || strcmp(status, "True") == 0) {
        int64_t silent = self->observed_ms - state_int(state, "at");
        if (silent <= self->grace_ms) {
            state_set(state, "since", 0);
            if (status && has_taint(node, TAINT_UNREACHABLE)) {
                if (set_taint(self, node, TAINT_UNREACHABLE, 0, err) < 0)
                    return -1;
                kl_event_record(self->host, node, "Normal", "NodeReady",
                                "Node %s status is now: NodeReady", name);
            }
            if (status && has_taint(node, TAINT_NOT_READY) && set_taint(self, node, TAINT_NOT_READY, 0, err) < 0)
                return -1;
            *recheck_ms = self->grace_ms - silent + 1;
            return 0;
        }
        json_t *stored = mark_unknown(self, node, silent, err);
        if (!stored)
            return -1;
        state_set(state, "since", now);
        int rc = has_taint(stored, TAINT_UNREACHABLE) ? 0 : set_taint(self, stored, TAINT_UNREACHABLE, 1, err);
        json_decref(stored);
        *recheck_ms = rc < 0 ? FOREVER : self->eviction_ms;
        return rc;
    }
    /* NotReady: "Unknown" (silent kubelet) or "False" (the kubelet says so). */
    const char *key = strcmp(status, "False") == 0 ? TAINT_NOT_READY : TAINT_UNREACHABLE;
    if (state_int(state, "since") == 0) {
        /* Seen NotReady for the first time (e.g. after a restart): the
         * condition's transition time says since when. */
        int64_t since_real;
        const char *transition = json_string_value(json_object_get(ready_condition(node), "lastTransitionTime"));
        int64_t since = now;
        if (parse_time(transition, &since_real) == 0) {
            int64_t ago = self->host->realtime_ms(self->host) - since_real;
            if (ago > 0 && ago < now)
                since = now - ago;
        }
        state_set(state, "since", since);
    }
    if (!has_taint(node, key) && set_taint(self, node, key, 1, err) < 0)
        return -1;
    if (self->disrupted) {
        *recheck_ms = self->resync_ms;
        return 0;
    }
    int64_t down = now - state_int(state, "since");
    int64_t next = evict_pods(self, name, key, down, err);
    if (next < 0)
        return -1;
    *recheck_ms = next;
    return 0;
}

typedef struct census {
    const nodelifecycle_t *self;
    size_t total;
    size_t not_ready;
} census_t;

static int census_visit(const json_t *node, void *arg)
{
    census_t *c = arg;
    c->total++;
    const char *status = ready_status(node);
    const json_t *state = json_object_get(c->self->seen, node_name(node) ? node_name(node) : "");
    int stale = state && c->self->observed_ms - state_int(state, "at") > c->self->grace_ms;
    if ((status && strcmp(status, "True") != 0) || stale)
        c->not_ready++;
    return 0;
}

/* Kubernetes stops evicting when a whole zone is down: that points at the
 * control plane's own network rather than at the nodes. Here the cluster is
 * one zone. */
static void update_disruption(nodelifecycle_t *self)
{
    census_t c = {self, 0, 0};
    kl_informer_each(self->nodes, census_visit, &c);
    int disrupted = c.total > 0 && c.not_ready == c.total;
    if (disrupted != self->disrupted)
        self->host->log(self->host, disrupted ? KL_LOG_WARN : KL_LOG_INFO,
                        disrupted ? "all %zu nodes are NotReady: pausing evictions"
                                  : "%zu node(s) Ready again: evictions resume",
                        disrupted ? c.total : c.total - c.not_ready);
    self->disrupted = disrupted;
}

static int queue_visit(const json_t *node, void *arg)
{
    nodelifecycle_t *self = arg;
    const char *name = node_name(node);
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
    kl_informer_set_handler(self->nodes, on_node, self);
    kl_informer_set_handler(self->leases, on_lease, self);
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
            update_disruption(self);
            char *key;
            /* Back to the informer before heartbeats seen go older than half
             * the grace period; the rest of the queue waits for one poll. */
            while (!host->stopping(host) && now - self->observed_ms < self->grace_ms / 2
                   && (key = kl_workqueue_pop(self->queue, now)) != NULL) {
                int64_t recheck = FOREVER;
                kl_error_t rerr = {0, ""};
                if (reconcile(self, key, &recheck, &rerr) < 0) {
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
