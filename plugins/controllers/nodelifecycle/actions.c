/* controller/nodelifecycle: what is done to a node judged unhealthy, and
 * undone once it is healthy again: its Ready condition set to Unknown, the
 * NoExecute taints added or removed, and the eviction of its pods whose
 * toleration of the taint ran out. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "nodelifecycle.h"

#define REQUEST_TIMEOUT_MS 10000

static void format_time(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int nodelifecycle_has_taint(const json_t *node, const char *key)
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

/* Sets the Ready condition to Unknown, as Kubernetes does for a node whose
 * kubelet went silent. Conditional on the cached resourceVersion: a
 * heartbeat that lands first wins and the next pass looks again. Returns
 * the stored node (caller owns) or NULL. */
json_t *nodelifecycle_mark_unknown(nodelifecycle_t *self, const json_t *node, int64_t silent_ms,
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
    json_t *ready = nodelifecycle_ready_condition(copy);
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
        int lease = nodelifecycle_has_lease(self, nodelifecycle_node_name(node));
        self->host->log(self->host, KL_LOG_WARN,
                        "node %s: no heartbeat for %" PRId64 " ms (%s); marked NotReady",
                        nodelifecycle_node_name(node), silent_ms,
                        lease ? "its Lease " LEASE_NAMESPACE " was not renewed" : "its Ready condition was not posted");
        kl_event_record(self->host, stored, "Warning", "NodeNotReady",
                        "Node %s status is now: NodeNotReady (no heartbeat for %" PRId64 " ms)",
                        nodelifecycle_node_name(node), silent_ms);
    }
    return stored;
}

/* Adds (add != 0) or removes the NoExecute taint `key` through api.update,
 * conditional on the node's resourceVersion. */
int nodelifecycle_set_taint(nodelifecycle_t *self, const json_t *node, const char *key, int add,
                            kl_error_t *err)
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
    self->host->log(self->host, KL_LOG_INFO, "node %s: %s taint %s:NoExecute",
                    nodelifecycle_node_name(node), add ? "added" : "removed", key);
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
int64_t nodelifecycle_evict_pods(nodelifecycle_t *self, const char *name, const char *key,
                                 int64_t down_ms, kl_error_t *err)
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
