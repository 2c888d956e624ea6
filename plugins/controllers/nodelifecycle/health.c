/* controller/nodelifecycle: heartbeat tracking and the node health decision.
 * Records when each node's liveness signal (its Lease's renewTime, or its
 * Ready condition's lastHeartbeatTime without a Lease) last changed, judges
 * a node silent past the grace period, and brings each node to its level
 * with the actions in actions.c. Also pauses evictions while every node is
 * NotReady. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "nodelifecycle.h"

#define TAINT_UNREACHABLE "node.kubernetes.io/unreachable"
#define TAINT_NOT_READY "node.kubernetes.io/not-ready"

/* ---- small helpers ------------------------------------------------------ */

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

const char *nodelifecycle_node_name(const json_t *node)
{
    return json_string_value(json_object_get(json_object_get(node, "metadata"), "name"));
}

json_t *nodelifecycle_ready_condition(const json_t *node)
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
    return json_string_value(json_object_get(nodelifecycle_ready_condition(node), "status"));
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

int nodelifecycle_has_lease(const nodelifecycle_t *self, const char *name)
{
    return kl_informer_get(self->leases, LEASE_NAMESPACE, name) != NULL;
}

void nodelifecycle_on_node(const char *type, const json_t *node, void *arg)
{
    nodelifecycle_t *self = arg;
    const char *name = nodelifecycle_node_name(node);
    if (!name || !*name)
        return;
    int64_t now = self->host->monotonic_ms(self->host);
    if (strcmp(type, "DELETED") == 0) {
        json_object_del(self->seen, name);
        return;
    }
    json_t *state = node_state(self, name);
    const char *beat =
        json_string_value(json_object_get(nodelifecycle_ready_condition(node), "lastHeartbeatTime"));
    if (!beat)
        beat = "";
    /* First sight (a fresh node, or this controller just started) counts as
     * a heartbeat: a restart never evicts before a full grace period. A
     * node with a Lease is timed by the Lease alone. */
    int changed = strcmp(beat, json_string_value(json_object_get(state, "beat"))) != 0;
    json_object_set_new(state, "beat", json_string(beat));
    if (state_int(state, "at") == 0 || (changed && !nodelifecycle_has_lease(self, name)))
        state_set(state, "at", now);
    kl_workqueue_add(self->queue, name, now, 0);
}

/* A node Lease renewed (or first seen) is a heartbeat of the node it is
 * named after; a deleted one hands the node back to its Ready heartbeat. */
void nodelifecycle_on_lease(const char *type, const json_t *lease, void *arg)
{
    nodelifecycle_t *self = arg;
    const char *name = nodelifecycle_node_name(lease);
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

/* ---- reconcile ---------------------------------------------------------- */

/* Brings one node to its level. Returns 0 (with *recheck_ms the time until
 * something becomes due, FOREVER for nothing) or -1 with err filled. */
int nodelifecycle_reconcile(nodelifecycle_t *self, const char *name, int64_t *recheck_ms,
                            kl_error_t *err)
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
            if (status && nodelifecycle_has_taint(node, TAINT_UNREACHABLE)) {
                if (nodelifecycle_set_taint(self, node, TAINT_UNREACHABLE, 0, err) < 0)
                    return -1;
                kl_event_record(self->host, node, "Normal", "NodeReady",
                                "Node %s status is now: NodeReady", name);
            }
            if (status && nodelifecycle_has_taint(node, TAINT_NOT_READY)
                && nodelifecycle_set_taint(self, node, TAINT_NOT_READY, 0, err) < 0)
                return -1;
            *recheck_ms = self->grace_ms - silent + 1;
            return 0;
        }
        json_t *stored = nodelifecycle_mark_unknown(self, node, silent, err);
        if (!stored)
            return -1;
        state_set(state, "since", now);
        int rc = nodelifecycle_has_taint(stored, TAINT_UNREACHABLE)
                     ? 0
                     : nodelifecycle_set_taint(self, stored, TAINT_UNREACHABLE, 1, err);
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
        const char *transition =
            json_string_value(json_object_get(nodelifecycle_ready_condition(node), "lastTransitionTime"));
        int64_t since = now;
        if (parse_time(transition, &since_real) == 0) {
            int64_t ago = self->host->realtime_ms(self->host) - since_real;
            if (ago > 0 && ago < now)
                since = now - ago;
        }
        state_set(state, "since", since);
    }
    if (!nodelifecycle_has_taint(node, key) && nodelifecycle_set_taint(self, node, key, 1, err) < 0)
        return -1;
    if (self->disrupted) {
        *recheck_ms = self->resync_ms;
        return 0;
    }
    int64_t down = now - state_int(state, "since");
    int64_t next = nodelifecycle_evict_pods(self, name, key, down, err);
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
    const char *name = nodelifecycle_node_name(node);
    const json_t *state = json_object_get(c->self->seen, name ? name : "");
    int stale = state && c->self->observed_ms - state_int(state, "at") > c->self->grace_ms;
    if ((status && strcmp(status, "True") != 0) || stale)
        c->not_ready++;
    return 0;
}

/* Kubernetes stops evicting when a whole zone is down: that points at the
 * control plane's own network rather than at the nodes. Here the cluster is
 * one zone. */
void nodelifecycle_update_disruption(nodelifecycle_t *self)
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
