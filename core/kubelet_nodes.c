/* The nodes a kubelet serves: registration, status heartbeats and Leases,
 * pipelined on one bus client, and the dispatch of that client's replies. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "kubelet_internal.h"
#include "log.h"
#include "node_info.h"
#include "objects.h"

/* ---- nodes: pipelined registration and heartbeats ----------------------- */

static int node_send(kubelet_t *self, knode_t *node, node_op_t op, const char *method,
                     json_t *payload, int64_t now)
{
    uint64_t id = 0;
    kl_error_t err;
    int rc = kl_bus_send(self->node_api, method, payload, &id, &err);
    json_decref(payload);
    if (rc < 0) {
        kl_debug(COMPONENT, "node %s: cannot send %s: %s", node->name, method, err.text);
        return -1;
    }
    snprintf(node->request_key, sizeof node->request_key, "%" PRIu64, id);
    zhashx_insert(self->node_requests, node->request_key, node);
    node->op = op;
    node->sent_ms = now;
    self->node_in_flight++;
    return 0;
}

/* The Node without its resourceVersion: the kubelet is the only writer of
 * its node's status, so its writes are unconditional. */
static json_t *node_write_payload(const json_t *object)
{
    json_t *copy = json_copy((json_t *)object);
    json_t *metadata = json_deep_copy(json_object_get(object, "metadata"));
    json_object_del(metadata, "resourceVersion");
    json_object_set_new(copy, "metadata", metadata);
    return json_pack("{s:o}", "object", copy);
}

static void node_retry_later(kubelet_t *self, knode_t *node, const char *what,
                             const kl_error_t *err, int64_t now)
{
    if (!node->complaining)
        kl_warn(COMPONENT, "%s node %s failed (%s); retrying", what, node->name, err->text);
    node->complaining = 1;
    if (node->registered) {
        node->due_ms = now + self->heartbeat_ms;
        return;
    }
    node->due_ms = now + node->retry_ms;
    node->retry_ms = node->retry_ms * 2 > REGISTER_RETRY_MAX_MS ? REGISTER_RETRY_MAX_MS
                                                                : node->retry_ms * 2;
}

/* ---- node Leases ---------------------------------------------------------- */

/* The whole Lease each time, written without a resourceVersion: only this
 * kubelet holds its node's Lease, so a renewal need not read it first. No
 * ownerReference to the Node: the API would look the owner up on every
 * renewal, and nothing collects Leases by owner here. */
static json_t *lease_payload(const kubelet_t *self, const knode_t *node, int64_t now)
{
    char renew_time[KL_TIMESTAMP_SIZE];
    kl_micro_time_format(now, renew_time);
    return json_pack("{s:{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s}}}", "object",
                     "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
                     "metadata", "name", node->name, "namespace", KL_NODE_LEASE_NAMESPACE,
                     "spec", "holderIdentity", node->name,
                     "leaseDurationSeconds", self->lease_duration_s, "renewTime", renew_time);
}

static void lease_send(kubelet_t *self, knode_t *node, int64_t now)
{
    if (node->lease_op != LEASE_IDLE)
        return;  /* the one in flight renews it; its timeout frees the slot */
    json_t *payload = lease_payload(self, node, now);
    uint64_t id = 0;
    kl_error_t err;
    kl_error_clear(&err);
    int rc = payload ? kl_bus_send(self->node_api, node->lease_exists ? "api.update"
                                                                      : "api.create",
                                   payload, &id, &err)
                     : kl_error_set(&err, KL_ERR_INTERNAL, "out of memory");
    json_decref(payload);
    if (rc < 0) {
        kl_debug(COMPONENT, "node %s: cannot send its lease renewal: %s", node->name, err.text);
        return;
    }
    snprintf(node->lease_request_key, sizeof node->lease_request_key, "%" PRIu64, id);
    zhashx_insert(self->lease_requests, node->lease_request_key, node);
    node->lease_op = node->lease_exists ? LEASE_RENEWING : LEASE_CREATING;
    node->lease_sent_ms = now;
    self->node_in_flight++;
}

static void lease_failed(knode_t *node, const kl_error_t *err)
{
    if (!node->lease_complaining)
        kl_warn(COMPONENT, "renewing lease %s/%s failed (%s); retrying with the next heartbeat",
                KL_NODE_LEASE_NAMESPACE, node->name, err->text);
    node->lease_complaining = 1;
}

static void lease_reply(kubelet_t *self, knode_t *node, json_t *reply, const kl_error_t *err,
                        int64_t now)
{
    lease_op_t op = node->lease_op;
    node->lease_op = LEASE_IDLE;
    if (reply) {
        json_decref(reply);
        if (!node->lease_exists)
            kl_debug(COMPONENT, "lease %s/%s created", KL_NODE_LEASE_NAMESPACE, node->name);
        if (node->lease_complaining)
            kl_info(COMPONENT, "renewals of lease %s/%s are getting through again",
                    KL_NODE_LEASE_NAMESPACE, node->name);
        node->lease_exists = 1;
        node->lease_complaining = 0;
        return;
    }
    /* Created before (a restart), or deleted meanwhile: switch and renew
     * right away rather than lose a whole heartbeat. */
    if ((op == LEASE_CREATING && err->code == KL_ERR_EXISTS)
        || (op == LEASE_RENEWING && err->code == KL_ERR_NOT_FOUND)) {
        node->lease_exists = op == LEASE_CREATING;
        lease_send(self, node, now);
        return;
    }
    lease_failed(node, err);
}

/* A node just got registered: the Events Kubernetes' kubelet records then
 * (once per node and kubelet run), and its Lease without waiting a
 * heartbeat. */
static void node_now_registered(kubelet_t *self, knode_t *node, int64_t now)
{
    kl_info(COMPONENT, "node %s registered", node->name);
    if (!node->announced) {
        node->announced = 1;
        kl_kubelet_events_record(self->events, node->object, NULL, "Normal", "Starting", now,
                                 "Starting kubelet.");
        kl_kubelet_events_record(self->events, node->object, NULL, "Normal", "NodeReady", now,
                                 "Node %s status is now: NodeReady", node->name);
    }
    lease_send(self, node, now);
}

static void node_reply(kubelet_t *self, knode_t *node, json_t *reply, const kl_error_t *err,
                       int64_t now)
{
    node_op_t op = node->op;
    node->op = NODE_IDLE;
    if (op == NODE_CREATING && !reply && err->code == KL_ERR_EXISTS) {
        /* Registered before (a restart): keep its metadata, replace status. */
        json_t *payload = json_pack("{s:s, s:s}", "kind", "Node", "name", node->name);
        if (node_send(self, node, NODE_GETTING, "api.get", payload, now) == 0)
            return;
    }
    if (op == NODE_GETTING && reply) {
        json_object_set(reply, "status", json_object_get(node->object, "status"));
        json_t *annotations = json_object_get(json_object_get(node->object, "metadata"),
                                              "annotations");
        json_t *metadata = json_object_get(reply, "metadata");
        if (json_is_object(metadata) && annotations) {
            if (!json_is_object(json_object_get(metadata, "annotations")))
                json_object_set_new(metadata, "annotations", json_object());
            json_object_update(json_object_get(metadata, "annotations"), annotations);
        }
        /* api.update keeps status and update_status keeps metadata: the
         * annotation naming this kubelet's service rides on the update. */
        json_t *payload = node_write_payload(reply);
        json_decref(reply);
        if (node_send(self, node, NODE_REPLACING, "api.update", payload, now) == 0)
            return;
        reply = NULL;
    }
    if (op == NODE_REPLACING && reply) {
        /* The spec and metadata are ours now; write the status. */
        json_object_set(reply, "status", json_object_get(node->object, "status"));
        json_decref(node->object);
        node->object = reply;
        json_t *payload = node_write_payload(node->object);
        if (node_send(self, node, NODE_HEARTBEAT, "api.update_status", payload, now) == 0) {
            node->registered = 1;
            node_now_registered(self, node, now);
            return;
        }
        reply = NULL;
    }
    if (reply) {
        json_decref(node->object);
        node->object = reply;
        int was_registered = node->registered;
        node->registered = 1;
        if (!was_registered)
            node_now_registered(self, node, now);
        else if (node->complaining)
            kl_info(COMPONENT, "heartbeats of node %s are getting through again", node->name);
        node->complaining = 0;
        node->retry_ms = 500;
        return;
    }
    kl_error_t failure = *err;
    if (failure.code == KL_OK)
        kl_error_set(&failure, KL_ERR_INTERNAL, "the API replied without the node");
    if (op == NODE_HEARTBEAT && failure.code == KL_ERR_NOT_FOUND) {
        kl_warn(COMPONENT, "node %s was deleted from the API; registering it again", node->name);
        node->registered = 0;
        node->due_ms = now;
        node->retry_ms = 500;
        return;
    }
    node_retry_later(self, node, op == NODE_HEARTBEAT ? "heartbeat of" : "registering",
                     &failure, now);
}

/* Handles every reply that has arrived on the pipelined client. */
void kl_kubelet_nodes_receive(kubelet_t *self)
{
    for (;;) {
        uint64_t id = 0;
        kl_error_t err;
        kl_error_clear(&err);
        json_t *reply = kl_bus_recv(self->node_api, &id, 0, &err);
        if (!reply && (err.code == KL_ERR_TIMEOUT || id == 0))
            return;
        char key[32];
        snprintf(key, sizeof key, "%" PRIu64, id);
        knode_t *node = zhashx_lookup(self->node_requests, key);
        if (!node) {
            node = zhashx_lookup(self->lease_requests, key);
            if (node) {
                zhashx_delete(self->lease_requests, key);
                self->node_in_flight--;
                lease_reply(self, node, reply, &err, now_ms());
            } else if (!kl_kubelet_status_reply(self, key, reply, &err)
                       && !kl_kubelet_events_reply(self->events, id, reply, &err, now_ms())) {
                json_decref(reply);  /* late: that request was given up */
            }
            continue;
        }
        zhashx_delete(self->node_requests, key);
        self->node_in_flight--;
        node_reply(self, node, reply, &err, now_ms());
    }
}

/* Sends the registrations and heartbeats that are due; returns the ms until
 * the next one. Heartbeat times were spread over the interval at start, so
 * a thousand nodes send a steady trickle instead of a burst. */
int64_t kl_kubelet_nodes_step(kubelet_t *self, int64_t now)
{
    int64_t wait = self->heartbeat_ms;
    for (size_t i = 0; i < self->node_count; i++) {
        knode_t *node = &self->nodes[i];
        if (node->lease_op != LEASE_IDLE && now - node->lease_sent_ms >= NODE_REPLY_TIMEOUT_MS) {
            zhashx_delete(self->lease_requests, node->lease_request_key);
            self->node_in_flight--;
            node->lease_op = LEASE_IDLE;
            kl_error_t err;
            kl_error_set(&err, KL_ERR_TIMEOUT, "no reply within %d ms", NODE_REPLY_TIMEOUT_MS);
            lease_failed(node, &err);
        }
        if (node->op != NODE_IDLE) {
            if (now - node->sent_ms < NODE_REPLY_TIMEOUT_MS) {
                if (node->sent_ms + NODE_REPLY_TIMEOUT_MS - now < wait)
                    wait = node->sent_ms + NODE_REPLY_TIMEOUT_MS - now;
                continue;
            }
            zhashx_delete(self->node_requests, node->request_key);
            self->node_in_flight--;
            kl_error_t err;
            kl_error_set(&err, KL_ERR_TIMEOUT, "no reply within %d ms", NODE_REPLY_TIMEOUT_MS);
            node_op_t op = node->op;
            node->op = NODE_IDLE;
            node_retry_later(self, node, op == NODE_HEARTBEAT ? "heartbeat of" : "registering",
                             &err, now);
        }
        if (node->due_ms > now) {
            if (node->due_ms - now < wait)
                wait = node->due_ms - now;
            continue;
        }
        if (self->node_in_flight >= NODE_IN_FLIGHT_MAX) {
            wait = 0;
            break;
        }
        kl_node_heartbeat(node->object, now);
        if (!node->registered) {
            json_t *payload = json_pack("{s:O}", "object", node->object);
            node_send(self, node, NODE_CREATING, "api.create", payload, now);
            node->due_ms = now + self->heartbeat_ms;
        } else {
            /* The Ready condition's heartbeat goes on at the same pace as
             * the Lease: the scheduler's built-in filter times readiness by
             * lastHeartbeatTime against node_timeout_ms (as short as 2 s in
             * tests) and does not read Leases, so thinning these writes
             * would make live nodes unschedulable. A renewal writes less
             * than half of a status write (a ~330-byte Lease against a
             * ~780-byte sim Node), so both cost ~1.4x the heartbeat alone. */
            node_send(self, node, NODE_HEARTBEAT, "api.update_status",
                      node_write_payload(node->object), now);
            lease_send(self, node, now);
            node->due_ms = now + self->heartbeat_ms;
        }
    }
    return wait < 0 ? 0 : wait;
}

/* Keeps nodes alive while a fallback stop() blocks the loop. */
void kl_kubelet_nodes_pump(kubelet_t *self)
{
    kl_kubelet_nodes_receive(self);
    kl_kubelet_nodes_step(self, now_ms());
}

int kl_kubelet_nodes_setup(kubelet_t *self, kl_kubelet_config_t *config, kl_error_t *err)
{
    size_t count = config->node_count > 1 ? (size_t)config->node_count : 1;
    self->nodes = calloc(count, sizeof *self->nodes);
    self->node_by_name = zhashx_new();
    self->node_requests = zhashx_new();
    self->lease_requests = zhashx_new();
    if (!self->nodes || !self->node_by_name || !self->node_requests || !self->lease_requests)
        return kl_error_set(err, KL_ERR_INTERNAL, "out of memory for %zu node(s)", count);
    int64_t now = now_ms();
    for (size_t i = 0; i < count; i++) {
        knode_t *node = &self->nodes[i];
        char name[300];
        if (count == 1)
            snprintf(name, sizeof name, "%s", self->node_name);
        else
            snprintf(name, sizeof name, "%s-%04zu", self->node_name, i);
        node->name = strdup(name);
        node->index = i;
        node->retry_ms = 500;
        /* Spread the first registrations and so every later heartbeat. */
        node->due_ms = now + (int64_t)(i * (size_t)self->heartbeat_ms / count);
        if (!node->name)
            return kl_error_set(err, KL_ERR_INTERNAL, "out of memory for node %s", name);
        node->object = kl_node_object_new(name, config->labels, self->cpu_milli,
                                          self->memory_bytes, self->max_pods,
                                          self->runtime_version, now, err);
        if (!node->object)
            return -1;
        json_t *metadata = json_object_get(node->object, "metadata");
        json_object_set_new(metadata, "annotations",
                            json_pack("{s:s}", NODE_ANNOTATION_SERVICE, self->service_name));
        self->node_count = i + 1;
        if (zhashx_insert(self->node_by_name, node->name, node) < 0)
            return kl_error_set(err, KL_ERR_INVALID, "node name %s is used twice", name);
    }
    return 0;
}
