/* The API server core over the memory store, without a bus: every method of
 * the protocol, optimistic concurrency, selectors, and long-poll watches
 * answered through the reply callback. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apiserver.h"
#include "bus.h"
#include "objects.h"
#include "tap.h"

static kl_apiserver_t *api;

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (!v)
        diag("bad test JSON: %s: %s", jerr.text, text);
    return v;
}

/* Calls a method with a JSON text payload; on error fills `err`. */
static json_t *call(const char *method, const char *payload, kl_error_t *err)
{
    json_t *p = parse(payload);
    kl_error_clear(err);
    json_t *reply = kl_apiserver_handle(api, method, p, err);
    json_decref(p);
    return reply;
}

static json_t *must(const char *method, const char *payload)
{
    kl_error_t err;
    json_t *reply = call(method, payload, &err);
    if (!reply)
        diag("%s %s failed: %s", method, payload, err.text);
    return reply;
}

static void fails(const char *method, const char *payload, int code, const char *expected,
                  const char *what)
{
    kl_error_t err;
    json_t *reply = call(method, payload, &err);
    ok(!reply && err.code == code && strstr(err.text, expected), "%s fails: %s", what, expected);
    if (reply || err.code != code || !strstr(err.text, expected))
        diag("got code %d \"%s\"", err.code, err.text);
    json_decref(reply);
}

static const char *rv(const json_t *object)
{
    return json_string_value(json_object_get(json_object_get(object, "metadata"), "resourceVersion"));
}

static char *pod_json(const char *name, const char *ns, const char *app)
{
    char *text = NULL;
    if (asprintf(&text,
                 "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\","
                 "\"namespace\":\"%s\",\"labels\":{\"app\":\"%s\"}},\"spec\":{\"containers\":"
                 "[{\"name\":\"c\",\"image\":\"busybox\"}]}}}", name, ns, app) < 0)
        return NULL;
    return text;
}

static json_t *create_pod(const char *name, const char *ns, const char *app)
{
    char *text = pod_json(name, ns, app);
    json_t *reply = must("create", text);
    free(text);
    return reply;
}

static size_t items(const char *payload)
{
    json_t *list = must("list", payload);
    size_t n = json_array_size(json_object_get(list, "items"));
    json_decref(list);
    return n;
}

/* ---- deferred replies, captured ------------------------------------ */

typedef struct captured {
    int calls;
    json_t *reply;
    kl_error_t err;
} captured_t;

static void capture(void *token, json_t *reply, const kl_error_t *err, void *arg)
{
    (void)arg;
    captured_t *c = token;
    c->calls++;
    json_decref(c->reply);
    c->reply = reply;
    if (err)
        c->err = *err;
    else
        kl_error_clear(&c->err);
}

static void release(captured_t *c)
{
    json_decref(c->reply);
    memset(c, 0, sizeof *c);
}

static void start_watch(kl_apiserver_t *server, const char *payload, captured_t *c, int64_t now)
{
    json_t *p = parse(payload);
    kl_apiserver_watch(server, p, c, now);
    json_decref(p);
}

static size_t event_count(const json_t *reply)
{
    return json_array_size(json_object_get(reply, "events"));
}

static const char *event_type(const json_t *reply, size_t i)
{
    return json_string_value(json_object_get(json_array_get(json_object_get(reply, "events"), i), "type"));
}

static const char *event_name(const json_t *reply, size_t i)
{
    const json_t *object = json_object_get(json_array_get(json_object_get(reply, "events"), i), "object");
    return json_string_value(json_object_get(json_object_get(object, "metadata"), "name"));
}

typedef struct published {
    int count;
    char topic[64];
    char type[16];
} published_t;

static void on_publish(const char *topic, const char *text, size_t length, void *arg)
{
    published_t *p = arg;
    json_t *event = json_loadb(text, length, 0, NULL);
    p->count++;
    snprintf(p->topic, sizeof p->topic, "%s", topic);
    snprintf(p->type, sizeof p->type, "%s", json_string_value(json_object_get(event, "type")));
    json_decref(event);
}

static kl_plugin_t *load_store(void)
{
    kl_error_t err;
    kl_plugin_t *plugin = kl_plugin_load(KL_KIND_STORE, "memory", NULL, &err);
    if (!plugin || kl_plugin_configure(plugin, NULL, NULL, NULL, &err) < 0) {
        diag("cannot load the memory store: %s", err.text);
        kl_plugin_destroy(&plugin);
    }
    return plugin;
}

static void test_crud(void)
{
    kl_error_t err;
    json_t *web = create_pod("web", "default", "web");
    ok(web != NULL, "create a pod");
    is_str(rv(web), "1", "first object has resourceVersion 1");
    ok(json_string_value(json_object_get(json_object_get(web, "metadata"), "uid")) != NULL, "uid set");
    is_str(json_string_value(json_object_get(json_object_get(web, "status"), "phase")), "Pending",
           "status defaulted");
    fails("create", "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\"},"
                    "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"x\"}]}}}",
          KL_ERR_EXISTS, "pods \"web\" already exists", "duplicate create");
    fails("create", "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"bad\"},"
                    "\"spec\":{\"containers\":[{\"name\":\"c\"}]}}}",
          KL_ERR_INVALID, "Pod \"bad\" is invalid: spec.containers[0].image: Required value",
          "invalid create");
    fails("create", "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Foo\"}}", KL_ERR_INVALID,
          "unknown kind \"Foo\": keelson serves Pod, Node, ReplicaSet, Deployment, Event and Lease", "unknown kind");
    fails("create", "{\"object\":[]}", KL_ERR_INVALID, "\"object\" must be a JSON object",
          "object not an object");
    fails("frobnicate", "{}", KL_ERR_INVALID, "api has no method \"frobnicate\"", "unknown method");

    json_t *got = must("get", "{\"kind\":\"Pod\",\"namespace\":\"default\",\"name\":\"web\"}");
    ok(got && json_equal(got, web), "get returns what create returned");
    json_decref(got);
    got = must("get", "{\"kind\":\"Pod\",\"name\":\"web\"}");
    ok(got != NULL, "get defaults the namespace");
    json_decref(got);
    fails("get", "{\"kind\":\"Pod\",\"name\":\"nope\"}", KL_ERR_NOT_FOUND, "pods \"nope\" not found",
          "get of an absent pod");
    fails("get", "{\"kind\":\"Pod\"}", KL_ERR_INVALID, "name is required", "get without a name");
    fails("get", "{\"kind\":\"Pod\",\"name\":\"web\",\"namespace\":\"Bad_NS\"}", KL_ERR_INVALID,
          "namespace \"Bad_NS\"", "get with a bad namespace");

    json_decref(create_pod("api", "default", "api"));
    json_decref(create_pod("web", "prod", "web"));
    json_decref(must("create", "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":"
                               "{\"name\":\"node-1\"},\"status\":{\"allocatable\":{\"cpu\":\"4\"}}}}"));
    json_t *list = must("list", "{\"kind\":\"Pod\"}");
    is_str(json_string_value(json_object_get(list, "kind")), "PodList", "list kind");
    is_str(json_string_value(json_object_get(json_object_get(list, "metadata"), "resourceVersion")),
           "4", "list resourceVersion is the store revision");
    is_int(json_array_size(json_object_get(list, "items")), 3, "list across namespaces");
    ok(rv(json_array_get(json_object_get(list, "items"), 0)) != NULL, "listed items carry resourceVersion");
    json_decref(list);
    is_int(items("{\"kind\":\"Pod\",\"namespace\":\"default\"}"), 2, "list one namespace");
    is_int(items("{\"kind\":\"Pod\",\"labelSelector\":\"app=web\"}"), 2, "list by label");
    is_int(items("{\"kind\":\"Pod\",\"labelSelector\":\"app!=web\"}"), 1, "list by label inequality");
    is_int(items("{\"kind\":\"Pod\",\"fieldSelector\":\"metadata.namespace=prod\"}"), 1, "list by field");
    is_int(items("{\"kind\":\"Node\"}"), 1, "list nodes");
    fails("list", "{\"kind\":\"Pod\",\"labelSelector\":\"app in web\"}", KL_ERR_INVALID,
          "label selector \"app in web\"", "bad label selector");
    fails("list", "{\"kind\":\"Pod\",\"fieldSelector\":\"spec.image=x\"}", KL_ERR_INVALID,
          "field \"spec.image\" is not supported", "unsupported field selector");

    /* update: stale resourceVersion, then the right one */
    /* Replies are shared with the server: change a deep copy. */
    json_t *update = json_pack("{s:o}", "object", json_deep_copy(web));
    json_t *object = json_object_get(update, "object");
    json_object_set_new(json_object_get(json_object_get(object, "metadata"), "labels"), "tier",
                        json_string("front"));
    json_object_set_new(json_object_get(object, "status"), "phase", json_string("Running"));
    json_object_set_new(json_object_get(object, "metadata"), "resourceVersion", json_string("999"));
    kl_error_clear(&err);
    json_t *updated = kl_apiserver_handle(api, "update", update, &err);
    ok(!updated && err.code == KL_ERR_CONFLICT, "update with a stale resourceVersion conflicts");
    is_str(err.text, "Operation cannot be fulfilled on pods \"web\": the object has been modified; "
                     "please apply your changes to the latest version and try again",
           "conflict message is Kubernetes'");
    json_object_set_new(json_object_get(object, "metadata"), "resourceVersion", json_string("1"));
    updated = kl_apiserver_handle(api, "update", update, &err);
    ok(updated != NULL, "update with the current resourceVersion");
    is_str(rv(updated), "5", "update gets a new resourceVersion");
    is_str(json_string_value(json_object_get(json_object_get(json_object_get(updated, "metadata"),
                                                             "labels"), "tier")),
           "front", "metadata replaced");
    is_str(json_string_value(json_object_get(json_object_get(updated, "status"), "phase")), "Pending",
           "status kept by update");
    ok(json_equal(json_object_get(json_object_get(updated, "metadata"), "uid"),
                  json_object_get(json_object_get(web, "metadata"), "uid")), "uid kept");
    json_decref(updated);
    json_object_set_new(json_object_get(object, "metadata"), "uid", json_string("other"));
    json_object_del(json_object_get(object, "metadata"), "resourceVersion");
    updated = kl_apiserver_handle(api, "update", update, &err);
    ok(!updated && err.code == KL_ERR_INVALID && strstr(err.text, "metadata.uid") &&
       strstr(err.text, "field is immutable"), "uid is immutable: %s", err.text);
    json_decref(updated);
    json_decref(update);

    /* update_status replaces only status */
    json_t *status_update = parse("{\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":"
                                  "{\"name\":\"web\",\"namespace\":\"default\"},\"spec\":{\"containers\":[]},"
                                  "\"status\":{\"phase\":\"Running\"}}}");
    updated = kl_apiserver_handle(api, "update_status", status_update, &err);
    ok(updated != NULL, "update_status");
    is_str(json_string_value(json_object_get(json_object_get(updated, "status"), "phase")), "Running",
           "status replaced");
    is_int(json_array_size(json_object_get(json_object_get(updated, "spec"), "containers")), 1,
           "spec untouched by update_status");
    is_str(rv(updated), "6", "update_status writes a new revision");
    json_decref(updated);
    json_decref(status_update);
    fails("update_status", "{\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\","
                           "\"resourceVersion\":\"2\"},\"status\":{\"phase\":\"Failed\"}}}",
          KL_ERR_CONFLICT, "Operation cannot be fulfilled on pods \"web\"", "stale update_status");
    fails("update_status", "{\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"web\"},"
                           "\"status\":{\"phase\":\"Dancing\"}}}",
          KL_ERR_INVALID, "status.phase: Unsupported value: \"Dancing\"", "invalid status");
    fails("update_status", "{\"object\":{\"kind\":\"Pod\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"ghost\"},"
                           "\"status\":{}}}",
          KL_ERR_NOT_FOUND, "pods \"ghost\" not found", "update_status of an absent pod");

    /* bind */
    json_t *bound = must("bind", "{\"namespace\":\"default\",\"name\":\"api\",\"nodeName\":\"node-1\"}");
    is_str(json_string_value(json_object_get(json_object_get(bound, "spec"), "nodeName")), "node-1",
           "bind sets spec.nodeName");
    json_decref(bound);
    fails("bind", "{\"namespace\":\"default\",\"name\":\"api\",\"nodeName\":\"node-2\"}", KL_ERR_CONFLICT,
          "pod api is already assigned to node \"node-1\"", "binding to another node");
    bound = must("bind", "{\"namespace\":\"default\",\"name\":\"api\",\"nodeName\":\"node-1\"}");
    ok(bound != NULL, "binding again to the same node is accepted");
    is_str(rv(bound), "7", "... without a new write");
    json_decref(bound);
    fails("bind", "{\"name\":\"api\"}", KL_ERR_INVALID, "nodeName must be a valid node name",
          "bind without nodeName");
    is_int(items("{\"kind\":\"Pod\",\"fieldSelector\":\"spec.nodeName=node-1\"}"), 1,
           "list by spec.nodeName");

    /* delete */
    fails("delete", "{\"kind\":\"Pod\",\"name\":\"web\",\"resourceVersion\":\"1\"}", KL_ERR_CONFLICT,
          "Operation cannot be fulfilled on pods \"web\"", "delete with a stale resourceVersion");
    json_t *deleted = must("delete", "{\"kind\":\"Pod\",\"name\":\"web\",\"resourceVersion\":\"6\"}");
    is_str(kl_object_name(deleted), "web", "delete returns the object");
    json_decref(deleted);
    fails("get", "{\"kind\":\"Pod\",\"name\":\"web\"}", KL_ERR_NOT_FOUND, "not found", "deleted pod is gone");
    fails("delete", "{\"kind\":\"Pod\",\"name\":\"web\"}", KL_ERR_NOT_FOUND, "pods \"web\" not found",
          "delete of an absent pod");
    is_int(items("{\"kind\":\"Pod\"}"), 2, "two pods left");
    json_decref(web);
}

static void test_watch_history(void)
{
    /* Revisions so far: 1 web, 2 api, 3 prod/web, 4 node, 5 update, 6 status, 7 bind, 8 delete. */
    json_t *reply = must("watch", "{\"kind\":\"Pod\",\"namespace\":\"default\",\"resourceVersion\":\"0\"}");
    is_int(event_count(reply), 6, "watch from 0 (an empty store's list) returns every event since");
    is_str(json_string_value(json_object_get(reply, "resourceVersion")), "8", "... resuming at the current revision");
    json_decref(reply);
    reply = must("watch", "{\"kind\":\"Pod\",\"namespace\":\"default\"}");
    is_int(event_count(reply), 0, "watch without a resourceVersion starts from now");
    json_decref(reply);

    reply = must("watch", "{\"kind\":\"Pod\",\"namespace\":\"default\",\"resourceVersion\":\"1\"}");
    is_int(event_count(reply), 5, "events after revision 1 in namespace default");
    is_str(event_type(reply, 0), "ADDED", "first: api added");
    is_str(event_name(reply, 0), "api", "... api");
    is_str(event_type(reply, 1), "MODIFIED", "then web updated");
    is_str(event_type(reply, 2), "MODIFIED", "then web status");
    is_str(event_type(reply, 3), "MODIFIED", "then api bound");
    is_str(event_type(reply, 4), "DELETED", "then web deleted");
    const json_t *last = json_object_get(json_array_get(json_object_get(reply, "events"), 4), "object");
    is_str(json_string_value(json_object_get(json_object_get(last, "status"), "phase")), "Running",
           "DELETED carries the last state");
    is_str(json_string_value(json_object_get(reply, "resourceVersion")), "8", "resume at 8");
    json_decref(reply);

    reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":8,\"labelSelector\":\"app=web\"}");
    is_int(event_count(reply), 0, "a numeric resourceVersion is accepted too");
    json_decref(reply);
    reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"0\",\"labelSelector\":\"app=web\"}");
    json_decref(reply);
    reply = must("watch", "{\"kind\":\"Node\",\"resourceVersion\":\"2\"}");
    is_int(event_count(reply), 1, "node watch sees only nodes");
    is_str(event_name(reply, 0), "node-1", "... node-1");
    json_decref(reply);
    reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"2\",\"fieldSelector\":\"spec.nodeName=node-1\"}");
    is_int(event_count(reply), 1, "field selector filters watch events");
    json_decref(reply);
    /* Objects entering or leaving a selector's view. */
    reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"1\",\"labelSelector\":\"tier=front\"}");
    is_int(event_count(reply), 3, "a label watch sees web from when it gained tier=front");
    is_str(event_type(reply, 0), "ADDED", "... gaining the label reads as ADDED");
    is_str(event_type(reply, 1), "MODIFIED", "... then MODIFIED while it matches");
    is_str(event_type(reply, 2), "DELETED", "... then its deletion");
    json_decref(reply);
    reply = must("watch", "{\"kind\":\"Pod\",\"namespace\":\"default\",\"resourceVersion\":\"6\","
                          "\"fieldSelector\":\"spec.nodeName=\"}");
    is_int(event_count(reply), 2, "an unbound-pods watch after revision 6 sees two events");
    is_str(event_type(reply, 0), "DELETED", "... binding api reads as DELETED (it left the view)");
    is_str(event_name(reply, 0), "api", "... for api");
    is_str(json_string_value(json_object_get(json_object_get(json_object_get(json_array_get(
               json_object_get(reply, "events"), 0), "object"), "spec"), "nodeName")),
           "node-1", "... carrying the new state");
    is_str(event_type(reply, 1), "DELETED", "... then web deleted");
    json_decref(reply);
    fails("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"x1\"}", KL_ERR_INVALID, "resourceVersion",
          "malformed resourceVersion");
    fails("watch", "{\"kind\":\"Pod\",\"timeoutMs\":-5}", KL_ERR_INVALID, "timeoutMs", "negative timeout");
}

static void test_long_poll(void)
{
    published_t pub = {0, "", ""};
    kl_apiserver_set_reply(api, capture, NULL);
    kl_apiserver_set_publish(api, on_publish, &pub);

    captured_t any = {0}, web = {0}, node1 = {0}, unbound = {0}, nodes = {0}, bad = {0}, now = {0};
    start_watch(api, "{\"kind\":\"Pod\",\"timeoutMs\":1000}", &any, 0);
    start_watch(api, "{\"kind\":\"Pod\",\"labelSelector\":\"app=web\",\"timeoutMs\":1000}", &web, 0);
    start_watch(api, "{\"kind\":\"Pod\",\"fieldSelector\":\"spec.nodeName=node-1\"}", &node1, 0);
    start_watch(api, "{\"kind\":\"Pod\",\"fieldSelector\":\"spec.nodeName=\",\"namespace\":\"default\"}",
                &unbound, 0);
    start_watch(api, "{\"kind\":\"Node\",\"timeoutMs\":500}", &nodes, 0);
    start_watch(api, "{\"kind\":\"Pod\",\"resourceVersion\":\"3\"}", &now, 0);
    start_watch(api, "{\"kind\":\"Blob\"}", &bad, 0);
    is_int(bad.calls, 1, "a bad watch is answered at once");
    is_int(bad.err.code, KL_ERR_INVALID, "... with an error");
    ok(bad.reply == NULL, "... and no body");
    is_int(now.calls, 1, "a watch with events already waiting is answered at once");
    ok(event_count(now.reply) > 0, "... with them");
    is_int(kl_apiserver_pending_watches(api), 5, "five watches parked");

    json_decref(create_pod("db", "default", "db"));
    is_int(any.calls, 1, "an unfiltered watcher is woken by a create");
    is_int(event_count(any.reply), 1, "... with one event");
    is_str(event_type(any.reply, 0), "ADDED", "... ADDED");
    is_str(json_string_value(json_object_get(any.reply, "resourceVersion")), "9", "... resume at 9");
    is_int(web.calls, 0, "a label-filtered watcher is not woken by a non-match");
    is_int(unbound.calls, 1, "the unbound-pods watcher sees the new pod");
    is_int(node1.calls, 0, "the node-1 watcher does not");
    is_int(nodes.calls, 0, "the node watcher does not");
    is_int(pub.count, 1, "the change is published");
    is_str(pub.topic, "api.pod", "... on api.pod");
    is_str(pub.type, "ADDED", "... as ADDED");

    json_decref(must("bind", "{\"name\":\"db\",\"nodeName\":\"node-1\"}"));
    is_int(node1.calls, 1, "binding wakes the watcher pinned to that node");
    is_str(event_type(node1.reply, 0), "ADDED", "... as ADDED: the pod entered its view");
    is_str(event_name(node1.reply, 0), "db", "... for db");
    is_int(kl_apiserver_pending_watches(api), 2, "two still parked");

    kl_apiserver_tick(api, 499);
    is_int(nodes.calls, 0, "no timeout before the deadline");
    kl_apiserver_tick(api, 500);
    is_int(nodes.calls, 1, "the node watch times out at its deadline");
    is_int(event_count(nodes.reply), 0, "... with no events");
    is_str(json_string_value(json_object_get(nodes.reply, "resourceVersion")), "10",
           "... resuming at the current revision");
    is_int(web.calls, 0, "the web watch is still parked");

    /* The pod watch resumes from its reply without missing anything. */
    char payload[128];
    snprintf(payload, sizeof payload, "{\"kind\":\"Pod\",\"resourceVersion\":\"%s\"}",
             json_string_value(json_object_get(any.reply, "resourceVersion")));
    release(&any);
    start_watch(api, payload, &any, 0);
    is_int(any.calls, 1, "resuming a watch returns what happened since");
    is_int(event_count(any.reply), 1, "... the bind");
    is_str(event_type(any.reply, 0), "MODIFIED", "... as MODIFIED");

    is_int(kl_apiserver_pending_watches(api), 1, "one left before shutdown");
    kl_apiserver_destroy(&api);
    is_int(web.calls, 1, "shutdown answers the parked watch");
    is_int(event_count(web.reply), 0, "... with no events");
    ok(api == NULL, "destroy nulls the pointer");
    captured_t *all[] = {&any, &web, &node1, &unbound, &nodes, &bad, &now};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        release(all[i]);
}

static void test_expired(kl_plugin_t *store)
{
    kl_error_t err;
    api = kl_apiserver_new(store, 3, &err);
    ok(api != NULL, "an apiserver with a history of 3");
    if (!api)
        return;
    for (int i = 0; i < 5; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        json_decref(create_pod(name, "default", "x"));
    }
    /* Older than the in-memory window: read back from the store's history. */
    json_t *reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"1\"}");
    is_int(event_count(reply), 4, "watch from before the window is served from the store's history");
    is_str(event_name(reply, 0), "p1", "... starting right after revision 1");
    is_str(event_type(reply, 0), "ADDED", "... as ADDED");
    json_decref(reply);
    /* Once the store compacted that history too, the watch has expired. */
    const kl_store_ops_t *ops = store->ops;
    kl_error_t cerr;
    ok(ops->compact && ops->compact(store->state, 3, &cerr) == 0, "store compacted up to revision 3");
    fails("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"1\"}", KL_ERR_EXPIRED,
          "too old resource version: 1", "watch from before the compacted history");
    reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"2\"}");
    is_int(event_count(reply), 3, "watch from the window's edge gets the 3 kept events");
    is_str(event_name(reply, 0), "p2", "... starting with p2");
    json_decref(reply);
    captured_t c = {0};
    kl_apiserver_set_reply(api, capture, NULL);
    start_watch(api, "{\"kind\":\"Pod\",\"resourceVersion\":\"1\"}", &c, 0);
    is_int(c.err.code, KL_ERR_EXPIRED, "a long-poll watch gets Expired too");
    release(&c);
    kl_apiserver_destroy(&api);
}

static void test_many_creates(kl_plugin_t *store)
{
    kl_error_t err;
    api = kl_apiserver_new(store, 0, &err);
    json_t *payload = parse("{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\","
                            "\"labels\":{\"app\":\"bulk\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
                            "\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}]}}}");
    json_t *meta = json_object_get(json_object_get(payload, "object"), "metadata");
    int created = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 20000; i++) {
        char name[32];
        snprintf(name, sizeof name, "bulk-%05d", i);
        json_object_set_new(meta, "name", json_string(name));
        json_t *reply = kl_apiserver_handle(api, "create", payload, &err);
        created += reply != NULL;
        json_decref(reply);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double elapsed = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    is_int(created, 20000, "20000 creates");
    diag("20000 creates through the API core in %.3f s (%.1f us each)", elapsed, elapsed * 50.0);
    is_int(items("{\"kind\":\"Pod\",\"labelSelector\":\"app=bulk\"}"), 20000, "all listed");
    json_t *reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"1\"}");
    is_int(event_count(reply), KL_APISERVER_WATCH_MAX_EVENTS, "a watch reply is capped");
    is_str(json_string_value(json_object_get(reply, "resourceVersion")), "1001",
           "... and resumes right after its last event");
    is_str(event_name(reply, 0), "bulk-00001", "... which starts after the given revision");
    json_decref(reply);
    json_decref(payload);
    kl_apiserver_destroy(&api);
}

/* The actor over a real broker: requests, error replies, published events,
 * a long poll woken by a write, a watch timeout, and a parked watch answered
 * at shutdown. */
static void test_bus_actor(void)
{
    kl_error_t err;
    kl_broker_t *broker = kl_broker_new((const char *[]){"inproc://api-test", NULL},
                                        (const char *[]){"inproc://api-test-events", NULL}, &err);
    ok(broker != NULL, "broker up");
    if (!broker) {
        diag("%s", err.text);
        return;
    }
    kl_plugin_t *store = load_store();
    kl_apiserver_config_t config = {.bus_endpoint = "inproc://api-test", .store = store};
    zactor_t *actor = zactor_new(kl_apiserver_actor, &config);
    is_int(config.failed, 0, "the API actor starts");
    if (config.failed)
        diag("%s", config.error.text);
    kl_bus_client_t *client = kl_bus_client_new("inproc://api-test", &err);
    kl_bus_client_t *watcher = kl_bus_client_new("inproc://api-test", &err);
    kl_bus_subscriber_t *sub = kl_bus_subscriber_new("inproc://api-test-events", "api.", &err);
    zclock_sleep(100);  /* let the subscription reach the broker */

    char *text = pod_json("web", "default", "web");
    json_t *payload = parse(text);
    free(text);
    json_t *created = kl_bus_request(client, "api.create", payload, 2000, &err);
    ok(created != NULL, "api.create over the bus");
    is_str(rv(created), "1", "... stored at revision 1");
    json_decref(created);
    json_t *again = kl_bus_request(client, "api.create", payload, 2000, &err);
    ok(!again && err.code == KL_ERR_EXISTS && strstr(err.text, "pods \"web\" already exists"),
       "an error reply keeps its code and message: %s", err.text);
    json_decref(again);

    char topic[64] = "";
    json_t *event = kl_bus_subscriber_recv(sub, topic, sizeof topic, 2000, &err);
    is_str(topic, "api.pod", "the create is published on api.pod");
    is_str(json_string_value(json_object_get(event, "type")), "ADDED", "... as ADDED");
    json_decref(event);

    json_t *watch = parse("{\"kind\":\"Pod\",\"labelSelector\":\"app=db\",\"timeoutMs\":5000}");
    uint64_t id = 0;
    kl_bus_send(watcher, "api.watch", watch, &id, &err);
    json_decref(watch);
    zclock_sleep(50);
    text = pod_json("db", "default", "db");
    json_t *db = parse(text);
    free(text);
    int64_t t0 = zclock_mono();
    json_decref(kl_bus_request(client, "api.create", db, 2000, &err));
    json_decref(db);
    json_t *woken = kl_bus_recv(watcher, NULL, 2000, &err);
    ok(woken && event_count(woken) == 1 && zclock_mono() - t0 < 1000,
       "a parked watch is answered by the matching write");
    is_str(event_name(woken, 0), "db", "... with the db pod");
    json_decref(woken);

    watch = parse("{\"kind\":\"Node\",\"timeoutMs\":200}");
    t0 = zclock_mono();
    json_t *timed_out = kl_bus_request(watcher, "api.watch", watch, 3000, &err);
    int64_t waited = zclock_mono() - t0;
    json_decref(watch);
    ok(timed_out && event_count(timed_out) == 0, "a watch with no events times out empty");
    ok(waited >= 150 && waited < 1500, "... after about its timeoutMs (%d ms)", (int)waited);
    json_decref(timed_out);

    watch = parse("{\"kind\":\"Node\",\"timeoutMs\":60000}");
    kl_bus_send(watcher, "api.watch", watch, &id, &err);
    json_decref(watch);
    zclock_sleep(50);
    zactor_destroy(&actor);
    json_t *last = kl_bus_recv(watcher, NULL, 2000, &err);
    ok(last && event_count(last) == 0, "shutdown answers a parked watch with no events");
    json_decref(last);

    json_decref(payload);
    kl_bus_subscriber_destroy(&sub);
    kl_bus_client_destroy(&watcher);
    kl_bus_client_destroy(&client);
    kl_plugin_destroy(&store);
    kl_broker_destroy(&broker);
}

/* Makes `api` a new apiserver on `store` for one test (the caller saves
 * and restores the old one); 0, with a failed check, when it cannot. */
static int use_fresh_api(kl_plugin_t *store, const char *purpose)
{
    kl_error_t err;
    kl_apiserver_t *fresh = kl_apiserver_new(store, 0, &err);
    if (!fresh) {
        ok(0, "a fresh apiserver for %s: %s", purpose, err.text);
        return 0;
    }
    api = fresh;
    return 1;
}

/* Parsed watch selectors are shared by their text: more distinct selectors
 * than the server keeps, each asked again, still filter exactly. */
static void test_selector_memo(kl_plugin_t *store)
{
    kl_apiserver_t *saved = api;
    if (!use_fresh_api(store, "the selector memo"))
        return;
    enum { PODS = 20 };
    for (int i = 0; i < PODS; i++) {
        char name[32], app[32];
        snprintf(name, sizeof name, "memo-%d", i);
        snprintf(app, sizeof app, "m%d", i);
        json_decref(create_pod(name, "default", app));
    }
    int exact = 1;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < PODS; i++) {
            char payload[160], name[32];
            snprintf(payload, sizeof payload,
                     "{\"kind\":\"Pod\",\"resourceVersion\":\"0\",\"labelSelector\":\"app=m%d\"}", i);
            snprintf(name, sizeof name, "memo-%d", i);
            json_t *reply = must("watch", payload);
            if (event_count(reply) != 1 || !event_name(reply, 0) || strcmp(event_name(reply, 0), name) != 0) {
                diag("round %d, app=m%d: %zu events", round, i, event_count(reply));
                exact = 0;
            }
            json_decref(reply);
        }
    ok(exact, "%d label selectors asked three times each see exactly their own pod", PODS);
    json_t *reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"0\","
                                  "\"labelSelector\":\"app=m1\",\"fieldSelector\":\"spec.nodeName=n9\"}");
    is_int(event_count(reply), 0, "the same label selector with a field selector is a different selector");
    json_decref(reply);
    reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"0\",\"labelSelector\":\"\","
                          "\"fieldSelector\":\"\"}");
    is_int(event_count(reply), PODS, "empty selectors match every pod");
    json_decref(reply);
    reply = must("watch", "{\"kind\":\"Pod\",\"resourceVersion\":\"0\"}");
    is_int(event_count(reply), PODS, "... as absent ones do");
    json_decref(reply);
    kl_apiserver_destroy(&api);
    api = saved;
}

/* Watchers pinned to a node, answered once after a burst of writes to
 * many nodes: each gets exactly its own node's events, entering its view
 * with the bind, and none of the other nodes'. */
static void test_pinned_burst(kl_plugin_t *store)
{
    kl_apiserver_t *saved = api;
    if (!use_fresh_api(store, "pinned watchers"))
        return;
    kl_apiserver_set_reply(api, capture, NULL);
    kl_apiserver_defer_watches(api, 1);
    enum { NODES = 4, PODS = 12 };
    captured_t pinned[NODES] = {{0}}, unbound = {0};
    for (int n = 0; n < NODES; n++) {
        char payload[128];
        snprintf(payload, sizeof payload,
                 "{\"kind\":\"Pod\",\"fieldSelector\":\"spec.nodeName=n%d\"}", n);
        start_watch(api, payload, &pinned[n], 0);
    }
    start_watch(api, "{\"kind\":\"Pod\",\"fieldSelector\":\"spec.nodeName=\"}", &unbound, 0);
    for (int i = 0; i < PODS; i++) {
        char name[32], payload[160];
        snprintf(name, sizeof name, "burst-%d", i);
        json_decref(create_pod(name, "default", "burst"));
        snprintf(payload, sizeof payload, "{\"name\":\"%s\",\"nodeName\":\"n%d\"}", name, i % NODES);
        json_decref(must("bind", payload));
    }
    int woken_early = 0;
    for (int n = 0; n < NODES; n++)
        woken_early += pinned[n].calls;
    is_int(woken_early, 0, "pinned watchers wait for the end of the burst");
    kl_apiserver_after_burst(api);
    int exact = 1;
    for (int n = 0; n < NODES; n++) {
        size_t count = event_count(pinned[n].reply);
        exact &= pinned[n].calls == 1 && count == PODS / NODES;
        for (size_t e = 0; e < count; e++) {
            const char *name = event_name(pinned[n].reply, e);
            const char *type = event_type(pinned[n].reply, e);
            exact &= name && atoi(name + strlen("burst-")) % NODES == n && type
                     && strcmp(type, "ADDED") == 0;
        }
        if (!exact)
            diag("node n%d: %d answers, %zu events", n, pinned[n].calls, count);
        release(&pinned[n]);
    }
    ok(exact, "each of %d pinned watchers gets its own %d pods, as ADDED, and no other's", NODES,
       PODS / NODES);
    is_int(unbound.calls, 1, "the unbound-pods watcher is answered once");
    is_int(event_count(unbound.reply), 2 * PODS, "... with every create and every bind");
    is_str(event_type(unbound.reply, 1), "DELETED", "... a bind read as leaving its view");
    release(&unbound);
    kl_apiserver_destroy(&api);
    api = saved;
}

int main(void)
{
    setenv("KEELSON_PLUGIN_PATH", "plugins/store/memory/.libs", 0);
    kl_error_t err;
    kl_plugin_t *store = load_store();
    ok(store != NULL, "memory store loaded");
    if (!store)
        return done_testing();
    ok(kl_apiserver_new(NULL, 0, &err) == NULL && err.code == KL_ERR_INVALID,
       "an apiserver needs a store");
    api = kl_apiserver_new(store, 0, &err);
    ok(api != NULL, "apiserver created");
    if (!api) {
        diag("%s", err.text);
        kl_plugin_destroy(&store);
        return done_testing();
    }
    test_crud();
    test_watch_history();
    test_long_poll();
    kl_plugin_destroy(&store);

    store = load_store();
    test_expired(store);
    kl_plugin_destroy(&store);

    store = load_store();
    test_many_creates(store);
    kl_plugin_destroy(&store);

    store = load_store();
    test_selector_memo(store);
    kl_plugin_destroy(&store);

    store = load_store();
    test_pinned_burst(store);
    kl_plugin_destroy(&store);

    test_bus_actor();
    return done_testing();
}
