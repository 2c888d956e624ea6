/* Unit tests of the scheduler cache: filters, accounting, the queue, the
 * "0/N nodes are available" message and the handling of plugin answers. */
#include <stdint.h>
#include <string.h>
#include <jansson.h>

#include "objects.h"
#include "sched_cache.h"
#include "tap.h"

#define NOW 1700000000000LL  /* 2023-11-14T22:13:20Z */

static json_t *make_node(const char *name, const char *cpu, const char *memory, int pods,
                         int ready, const char *heartbeat, int unschedulable)
{
    json_t *node = json_pack("{s:s, s:{s:s, s:s}, s:{s:b}, s:{s:{s:s, s:s, s:i}, s:[{s:s, s:s, s:s}]}}",
                             "kind", "Node", "metadata", "name", name, "resourceVersion", "1",
                             "spec", "unschedulable", unschedulable,
                             "status", "allocatable", "cpu", cpu, "memory", memory, "pods", pods,
                             "conditions", "type", "Ready", "status", ready ? "True" : "False",
                             "lastHeartbeatTime", heartbeat);
    return node;
}

static json_t *make_pod(const char *name, const char *cpu, const char *memory,
                        const char *node_name)
{
    json_t *resources = json_object();
    json_t *requests = json_object();
    if (cpu)
        json_object_set_new(requests, "cpu", json_string(cpu));
    if (memory)
        json_object_set_new(requests, "memory", json_string(memory));
    json_object_set_new(resources, "requests", requests);
    json_t *pod = json_pack("{s:s, s:{s:s, s:s, s:s}, s:{s:[{s:s, s:s, s:o}]}, s:{s:s}}",
                            "kind", "Pod", "metadata", "name", name, "namespace", "default",
                            "resourceVersion", "2", "spec", "containers", "name", "c",
                            "image", "busybox", "resources", resources,
                            "status", "phase", "Pending");
    if (node_name)
        json_object_set_new(json_object_get(pod, "spec"), "nodeName", json_string(node_name));
    return pod;
}

static void add_node(kl_sched_cache_t *cache, json_t *node)
{
    kl_error_t err;
    if (kl_sched_cache_node_upsert(cache, node, NOW, &err) < 0)
        diag("node upsert failed: %s", err.text);
    json_decref(node);
}

static void add_pod(kl_sched_cache_t *cache, json_t *pod)
{
    kl_error_t err;
    if (kl_sched_cache_pod_upsert(cache, pod, NOW, &err) < 0)
        diag("pod upsert failed: %s", err.text);
    json_decref(pod);
}

static kl_sched_outcome_t decide(kl_sched_cache_t *cache, const char *key,
                                 const kl_sched_policy_t *policy, char *node, char *message)
{
    node[0] = message[0] = '\0';
    return kl_sched_cache_decide(cache, key, policy, NOW, node, 64, message, 256);
}

#define FRESH "2023-11-14T22:13:10Z"  /* 10 s before NOW */
#define STALE "2023-11-14T22:10:00Z"  /* 200 s before NOW */

static void test_parsing(void)
{
    int64_t ms = 0;
    kl_error_t err;
    ok(kl_time_parse_rfc3339("2023-11-14T22:13:20Z", &ms, &err) == 0 && ms == NOW,
       "RFC 3339 time parses to epoch milliseconds");
    ok(kl_time_parse_rfc3339("2023-11-14T23:13:20.250+01:00", &ms, &err) == 0
       && ms == NOW + 250, "fractions and offsets are honoured");
    ok(kl_time_parse_rfc3339("yesterday", &ms, &err) < 0 && strstr(err.text, "yesterday"),
       "a malformed time is refused naming it");
    is_int(kl_sched_backoff_ms(1), 1000, "first back-off is 1s");
    is_int(kl_sched_backoff_ms(3), 4000, "back-off doubles");
    is_int(kl_sched_backoff_ms(20), 60000, "back-off stops at 60s");

    int64_t cpu = 0, memory = 0;
    json_t *pod = json_pack("{s:{s:[{s:{s:{s:s}, s:{s:s, s:s}}}, {s:{s:{s:s, s:s}}}]}}",
                            "spec", "containers", "resources", "requests", "cpu", "250m",
                            "limits", "cpu", "1", "memory", "64Mi",
                            "resources", "requests", "cpu", "1", "memory", "1Gi");
    ok(kl_pod_requests(pod, &cpu, &memory, &err) == 0, "pod requests sum");
    is_int(cpu, 1250, "cpu requests are summed; requests win over limits");
    is_int(memory, 64LL * 1024 * 1024 + 1024LL * 1024 * 1024, "limits stand in for a missing request");
    json_decref(pod);
    pod = json_pack("{s:{s:[{s:{s:{s:s}}}]}}", "spec", "containers", "resources", "requests",
                    "cpu", "lots");
    ok(kl_pod_requests(pod, &cpu, &memory, &err) < 0
       && strstr(err.text, "spec.containers[0].resources.requests.cpu"),
       "a bad quantity names its field: %s", err.text);
    json_decref(pod);
}

static void test_fit(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256], key[128];
    add_node(cache, make_node("b-node", "2", "4Gi", 110, 1, FRESH, 0));
    add_node(cache, make_node("a-node", "1", "1Gi", 110, 1, FRESH, 0));
    is_int(kl_sched_cache_node_count(cache), 2, "two nodes cached");

    add_pod(cache, make_pod("small", "500m", "256Mi", NULL));
    is_int(kl_sched_cache_queue_length(cache), 1, "an unbound pending pod is queued");
    ok(kl_sched_cache_next(cache, NOW, key, sizeof key) == 0, "the queue yields it");
    is_str(key, "default/small", "by its namespace/name key");
    is_int(decide(cache, key, NULL, node, message), KL_SCHED_PLACED, "small pod fits");
    is_str(node, "a-node", "without a plugin the first feasible node in name order wins");

    add_pod(cache, make_pod("big-cpu", "1500m", "1Gi", NULL));
    is_int(decide(cache, "default/big-cpu", NULL, node, message), KL_SCHED_PLACED,
           "a pod too big for a-node fits elsewhere");
    is_str(node, "b-node", "insufficient cpu on a-node sends it to b-node");

    add_pod(cache, make_pod("huge", "500m", "8Gi", NULL));
    is_int(decide(cache, "default/huge", NULL, node, message), KL_SCHED_UNSCHEDULABLE,
           "a pod bigger than every node does not fit");
    is_str(message, "0/2 nodes are available: 2 Insufficient memory.",
           "the message counts the reason");

    add_pod(cache, make_pod("huge2", "3", "8Gi", NULL));
    decide(cache, "default/huge2", NULL, node, message);
    is_str(message, "0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory.",
           "every shortage of a node is counted, ties in name order");

    /* Requests of pods bound to a node count against it. */
    add_pod(cache, make_pod("bound", "1", "100Mi", "b-node"));
    kl_sched_node_t view;
    ok(kl_sched_cache_node_view(cache, "b-node", &view) == 0, "node view available");
    is_int(view.cpu_requested_milli, 1000, "a bound pod's cpu is accounted");
    is_int(view.pods_count, 1, "a bound pod is counted");
    decide(cache, "default/big-cpu", NULL, node, message);
    is_str(message, "0/2 nodes are available: 2 Insufficient cpu.",
           "bound pods use up allocatable cpu");

    /* Finished pods free their node. */
    json_t *done = make_pod("bound", "1", "100Mi", "b-node");
    json_object_set_new(json_object_get(done, "metadata"), "resourceVersion", json_string("9"));
    json_object_set_new(json_object_get(done, "status"), "phase", json_string("Succeeded"));
    add_pod(cache, done);
    kl_sched_cache_node_view(cache, "b-node", &view);
    is_int(view.cpu_requested_milli, 0, "a Succeeded pod no longer counts");
    is_int(view.pods_count, 0, "nor does it count as a pod");

    /* An older version arriving late is ignored. */
    add_pod(cache, make_pod("bound", "1", "100Mi", "b-node"));
    kl_sched_cache_node_view(cache, "b-node", &view);
    is_int(view.pods_count, 0, "a stale (lower resourceVersion) pod update is ignored");

    kl_sched_cache_pod_remove(cache, "default", "bound");
    is_int(kl_sched_cache_pod_count(cache), 4, "a removed pod leaves the cache");
    kl_sched_cache_destroy(&cache);
    kl_sched_cache_destroy(&cache);
    ok(cache == NULL, "destroy nulls the pointer and accepts NULL");
}

static void test_node_filters(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256];
    add_node(cache, make_node("n1", "4", "8Gi", 110, 1, FRESH, 1));
    add_node(cache, make_node("n2", "4", "8Gi", 110, 1, FRESH, 1));
    add_node(cache, make_node("n3", "4", "1Gi", 110, 1, FRESH, 0));
    add_node(cache, make_node("n4", "4", "1Gi", 110, 1, FRESH, 0));
    add_node(cache, make_node("n5", "4", "1Gi", 110, 1, FRESH, 0));
    add_pod(cache, make_pod("p", "100m", "2Gi", NULL));
    is_int(decide(cache, "default/p", NULL, node, message), KL_SCHED_UNSCHEDULABLE,
           "nothing fits");
    is_str(message, "0/5 nodes are available: 3 Insufficient memory, 2 node(s) were unschedulable.",
           "the aggregated message matches Kubernetes' wording");

    add_node(cache, make_node("n6", "4", "8Gi", 110, 0, FRESH, 0));
    add_node(cache, make_node("n7", "4", "8Gi", 110, 1, STALE, 0));
    decide(cache, "default/p", NULL, node, message);
    is_str(message, "0/7 nodes are available: 3 Insufficient memory, 2 node(s) were not ready, "
           "2 node(s) were unschedulable.",
           "Ready False and a stale heartbeat both make a node not ready");

    add_node(cache, make_node("n8", "4", "8Gi", 1, 1, FRESH, 0));
    add_pod(cache, make_pod("filler", NULL, NULL, "n8"));
    decide(cache, "default/p", NULL, node, message);
    ok(strstr(message, "1 Too many pods") != NULL, "a full node reports too many pods: %s",
       message);

    /* A node becoming healthy wakes a backed-off pod. */
    char key[64];
    kl_sched_cache_next(cache, NOW, key, sizeof key);
    kl_sched_cache_backoff(cache, "default/p", NOW);
    ok(kl_sched_cache_next(cache, NOW, key, sizeof key) < 0, "a backed-off pod is not due yet");
    is_int(kl_sched_cache_next_due_ms(cache, NOW), 1000, "it is due after 1s");
    ok(kl_sched_cache_next(cache, NOW + 1000, key, sizeof key) == 0, "and due after its back-off");
    kl_sched_cache_backoff(cache, "default/p", NOW);
    is_int(kl_sched_cache_next_due_ms(cache, NOW), 2000, "the second back-off is 2s");
    json_t *healed = make_node("n7", "4", "8Gi", 110, 1, FRESH, 0);
    json_object_set_new(json_object_get(healed, "metadata"), "resourceVersion", json_string("5"));
    add_node(cache, healed);
    is_int(kl_sched_cache_next_due_ms(cache, NOW), 0, "a node change makes it due now");
    ok(kl_sched_cache_next(cache, NOW, key, sizeof key) == 0, "it is yielded again");
    is_int(decide(cache, key, NULL, node, message), KL_SCHED_PLACED, "and now fits");
    is_str(node, "n7", "on the healed node");

    json_t *broken = json_pack("{s:{s:s}, s:{s:{s:s}}}", "metadata", "name", "bad",
                               "status", "allocatable", "cpu", "many");
    kl_error_t err;
    ok(kl_sched_cache_node_upsert(cache, broken, NOW, &err) < 0
       && strstr(err.text, "status.allocatable.cpu"), "a malformed node is refused: %s", err.text);
    json_decref(broken);
    kl_sched_cache_destroy(&cache);
}

static void test_assume(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256], key[64];
    add_node(cache, make_node("only", "1", "1Gi", 110, 1, FRESH, 0));
    add_pod(cache, make_pod("first", "600m", "100Mi", NULL));
    add_pod(cache, make_pod("second", "600m", "100Mi", NULL));
    kl_sched_cache_next(cache, NOW, key, sizeof key);
    is_str(key, "default/first", "arrival order is kept");
    is_int(decide(cache, key, NULL, node, message), KL_SCHED_PLACED, "first fits");
    ok(kl_sched_cache_assume(cache, key, node) == 0, "first is assumed on its node");
    is_int(decide(cache, key, NULL, node, message), KL_SCHED_SKIPPED,
           "an assumed pod is not scheduled twice");
    kl_sched_cache_next(cache, NOW, key, sizeof key);
    is_str(key, "default/second", "then the second");
    is_int(decide(cache, key, NULL, node, message), KL_SCHED_UNSCHEDULABLE,
           "assumed resources prevent double-booking");
    is_str(message, "0/1 nodes are available: 1 Insufficient cpu.", "the reason is cpu");

    /* The watch shows the bind: the assumption turns into a real binding. */
    json_t *bound = make_pod("first", "600m", "100Mi", "only");
    json_object_set_new(json_object_get(bound, "metadata"), "resourceVersion", json_string("3"));
    add_pod(cache, bound);
    kl_sched_node_t view;
    kl_sched_cache_node_view(cache, "only", &view);
    is_int(view.cpu_requested_milli, 600, "the confirmed bind is counted once");
    is_int(view.pods_count, 1, "one pod on the node");

    /* A failed bind releases the reservation. */
    kl_sched_cache_t *other = kl_sched_cache_new(40000);
    add_node(other, make_node("only", "1", "1Gi", 110, 1, FRESH, 0));
    add_pod(other, make_pod("x", "600m", "100Mi", NULL));
    kl_sched_cache_next(other, NOW, key, sizeof key);
    kl_sched_cache_assume(other, key, "only");
    kl_sched_cache_node_view(other, "only", &view);
    is_int(view.cpu_requested_milli, 600, "an assumed pod reserves cpu");
    kl_sched_cache_forget(other, key, 1, NOW);
    kl_sched_cache_node_view(other, "only", &view);
    is_int(view.cpu_requested_milli, 0, "forgetting releases it");
    is_int(kl_sched_cache_next_due_ms(other, NOW), 1000, "and the pod retries after back-off");
    kl_sched_cache_destroy(&other);

    /* Relist drops what the API no longer has. */
    json_t *items = json_array();
    json_array_append_new(items, make_pod("second", "600m", "100Mi", NULL));
    is_int(kl_sched_cache_pods_replace(cache, items, NOW), 0, "relist of one pod");
    json_decref(items);
    is_int(kl_sched_cache_pod_count(cache), 1, "relist removed the vanished pod");
    kl_sched_cache_node_view(cache, "only", &view);
    is_int(view.cpu_requested_milli, 0, "and its resources");
    kl_sched_cache_destroy(&cache);
}

static kl_sched_pod_refresh_t refresh_of(const char *name, int64_t rv, int64_t generation,
                                         const char *node, const char *phase)
{
    return (kl_sched_pod_refresh_t){.namespace_name = "default", .name = name,
                                    .resource_version = rv, .spec_generation = generation,
                                    .node_name = node, .phase = phase};
}

/* A bound pod's change read from a few fields, as the watch's peek does. */
static void test_refresh(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256], key[64];
    kl_sched_node_t view;
    add_node(cache, make_node("only", "1", "1Gi", 110, 1, FRESH, 0));
    json_t *pod = make_pod("p", "600m", "100Mi", NULL);
    json_object_set_new(json_object_get(pod, "metadata"), "generation", json_integer(1));
    add_pod(cache, pod);
    kl_sched_pod_refresh_t update = refresh_of("p", 3, 1, "", "Pending");
    is_int(kl_sched_cache_pod_refresh(cache, &update), 0, "an unbound pod needs its object");
    update = refresh_of("p", 3, 2, "only", "Pending");
    is_int(kl_sched_cache_pod_refresh(cache, &update), 0,
           "a new spec generation needs the object");
    update = refresh_of("ghost", 3, 1, "only", "Pending");
    is_int(kl_sched_cache_pod_refresh(cache, &update), 0, "an unknown pod needs its object");
    kl_sched_cache_next(cache, NOW, key, sizeof key);
    is_int(decide(cache, key, NULL, node, message), KL_SCHED_PLACED, "the pod fits");
    kl_sched_cache_assume(cache, key, node);

    update = refresh_of("p", 3, 1, "only", "Pending");
    is_int(kl_sched_cache_pod_refresh(cache, &update), 1, "the bind's echo is taken from fields");
    kl_sched_cache_node_view(cache, "only", &view);
    is_int(view.cpu_requested_milli, 600, "the bound pod counts once");
    is_int(kl_sched_cache_next(cache, NOW, key, sizeof key), -1, "and is not queued");
    ok(kl_sched_cache_pod_object(cache, "default/p") == NULL,
       "a bound pod's object is not kept");
    kl_sched_cache_forget(cache, "default/p", 1, NOW);
    kl_sched_cache_node_view(cache, "only", &view);
    is_int(view.cpu_requested_milli, 600, "a bound pod is no assumption to forget");

    update = refresh_of("p", 2, 1, "only", "Succeeded");
    is_int(kl_sched_cache_pod_refresh(cache, &update), 1, "a stale change is taken");
    kl_sched_cache_node_view(cache, "only", &view);
    is_int(view.cpu_requested_milli, 600, "and ignored");
    update = refresh_of("p", 4, 1, "only", "Succeeded");
    is_int(kl_sched_cache_pod_refresh(cache, &update), 1, "a finished pod is taken from fields");
    kl_sched_cache_node_view(cache, "only", &view);
    is_int(view.cpu_requested_milli, 0, "and frees its requests");
    is_int(view.pods_count, 0, "and its pod slot");
    kl_sched_cache_destroy(&cache);
}

static void test_queue_fairness(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char key[64];
    add_pod(cache, make_pod("a", NULL, NULL, NULL));
    kl_sched_cache_next(cache, NOW, key, sizeof key);
    kl_sched_cache_backoff(cache, "default/a", NOW);
    add_pod(cache, make_pod("b", NULL, NULL, NULL));
    add_pod(cache, make_pod("c", NULL, NULL, NULL));
    kl_sched_cache_next(cache, NOW + 1000, key, sizeof key);
    is_str(key, "default/b", "new pods keep their order");
    add_pod(cache, make_pod("d", NULL, NULL, NULL));
    kl_sched_cache_next(cache, NOW + 1000, key, sizeof key);
    is_str(key, "default/c", "then the next new pod");
    kl_sched_cache_next(cache, NOW + 1000, key, sizeof key);
    is_str(key, "default/a", "a retry that fell due joins the queue before later arrivals");
    kl_sched_cache_next(cache, NOW + 1000, key, sizeof key);
    is_str(key, "default/d", "and the later arrival follows");
    ok(kl_sched_cache_next(cache, NOW + 1000, key, sizeof key) < 0, "the queue is empty");
    is_int(kl_sched_cache_next_due_ms(cache, NOW), -1, "nothing is due");
    kl_sched_cache_destroy(&cache);
}

/* ---- a fake plugin ---------------------------------------------------- */

typedef struct fake {
    int select_answer;
    int64_t scores[8];
    const char *reject;  /* node name the filter rejects */
    int select_calls;
} fake_t;

static int fake_filter(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node,
                       char *reason, size_t size)
{
    fake_t *fake = state;
    (void)pod;
    if (fake->reject && strcmp(node->name, fake->reject) == 0) {
        snprintf(reason, size, "node(s) had no GPU");
        return 1;
    }
    return 0;
}

static int64_t fake_score(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node)
{
    fake_t *fake = state;
    (void)pod;
    return fake->scores[node->name[1] - '0'];
}

static int fake_select(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *const *nodes,
                       size_t count, kl_error_t *err)
{
    fake_t *fake = state;
    (void)pod;
    (void)nodes;
    (void)count;
    fake->select_calls++;
    if (fake->select_answer == -1)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "1 node(s) were too warm");
    return fake->select_answer;
}

static void test_plugin(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256];
    add_node(cache, make_node("n0", "4", "8Gi", 110, 1, FRESH, 0));
    add_node(cache, make_node("n1", "4", "8Gi", 110, 1, FRESH, 0));
    add_node(cache, make_node("n2", "4", "8Gi", 110, 1, FRESH, 0));
    add_pod(cache, make_pod("p", "100m", "1Mi", NULL));
    fake_t fake = {0};
    kl_scheduler_ops_t ops = {0};
    kl_sched_policy_t policy = {.ops = &ops, .state = &fake, .label = "scheduler/fake"};

    ops.score = fake_score;
    fake.scores[0] = 10;
    fake.scores[1] = 90;
    fake.scores[2] = 90;
    decide(cache, "default/p", &policy, node, message);
    is_str(node, "n1", "highest score wins, ties go to the first name");
    fake.scores[0] = -5;
    fake.scores[1] = -1;
    fake.scores[2] = -7;
    is_int(decide(cache, "default/p", &policy, node, message), KL_SCHED_PLACED,
           "negative scores do not stop scheduling");
    is_str(node, "n0", "negative scores count as 0, so the first node wins");
    fake.scores[2] = 1000;
    decide(cache, "default/p", &policy, node, message);
    is_str(node, "n2", "scores above 100 are clamped, not ignored");

    ops.filter = fake_filter;
    fake.reject = "n2";
    decide(cache, "default/p", &policy, node, message);
    is_str(node, "n0", "the plugin filter removes a node before scoring");
    fake.reject = NULL;

    ops.select = fake_select;
    fake.select_answer = 2;
    decide(cache, "default/p", &policy, node, message);
    is_str(node, "n2", "select() overrides scoring");
    fake.select_answer = 7;
    is_int(decide(cache, "default/p", &policy, node, message), KL_SCHED_UNSCHEDULABLE,
           "an out-of-range index is not a decision");
    ok(strstr(message, "scheduler/fake") && strstr(message, "7"),
       "the message names the plugin and the index: %s", message);
    fake.select_answer = -3;
    is_int(decide(cache, "default/p", &policy, node, message), KL_SCHED_UNSCHEDULABLE,
           "a negative index other than -1 is garbage too");
    fake.select_answer = -1;
    is_int(decide(cache, "default/p", &policy, node, message), KL_SCHED_UNSCHEDULABLE,
           "select() may refuse every node");
    is_str(message, "0/3 nodes are available: 1 node(s) were too warm.",
           "its sentence reaches the message");
    fake.select_answer = 0;
    fake.reject = "n0";
    int calls = fake.select_calls;
    decide(cache, "default/p", &policy, node, message);
    is_str(node, "n1", "select() indexes only the feasible nodes");
    is_int(fake.select_calls, calls + 1, "select() is called once per decision");

    add_node(cache, make_node("n3", "1", "8Gi", 110, 1, FRESH, 0));
    fake.reject = "n0";
    add_pod(cache, make_pod("q", "2", "1Mi", NULL));
    json_t *full0 = make_pod("f0", "4", "1Mi", "n1");
    json_t *full1 = make_pod("f1", "4", "1Mi", "n2");
    add_pod(cache, full0);
    add_pod(cache, full1);
    calls = fake.select_calls;
    decide(cache, "default/q", &policy, node, message);
    is_str(message, "0/4 nodes are available: 3 Insufficient cpu, 1 node(s) had no GPU.",
           "plugin filter reasons are counted with the built-in ones");
    is_int(fake.select_calls, calls, "select() is not called without feasible nodes");
    kl_sched_cache_destroy(&cache);
}

/* A node with labels and taints given as JSON texts (either may be NULL). */
static json_t *make_placed_node(const char *name, const char *labels, const char *taints)
{
    json_t *node = make_node(name, "4", "8Gi", 110, 1, FRESH, 0);
    if (labels)
        json_object_set_new(json_object_get(node, "metadata"), "labels",
                            json_loads(labels, 0, NULL));
    if (taints)
        json_object_set_new(json_object_get(node, "spec"), "taints", json_loads(taints, 0, NULL));
    return node;
}

/* A pod with a nodeSelector and tolerations given as JSON texts. */
static json_t *make_placed_pod(const char *name, const char *selector, const char *tolerations)
{
    json_t *pod = make_pod(name, "100m", "1Mi", NULL);
    json_t *spec = json_object_get(pod, "spec");
    if (selector)
        json_object_set_new(spec, "nodeSelector", json_loads(selector, 0, NULL));
    if (tolerations)
        json_object_set_new(spec, "tolerations", json_loads(tolerations, 0, NULL));
    return pod;
}

/* Places a fresh pod and returns the outcome; node and message are filled. */
static kl_sched_outcome_t place(kl_sched_cache_t *cache, const kl_sched_policy_t *policy,
                                const char *selector, const char *tolerations, char *node,
                                char *message)
{
    static int serial;
    char name[32];
    snprintf(name, sizeof name, "placed-%d", ++serial);
    add_pod(cache, make_placed_pod(name, selector, tolerations));
    char key[64];
    snprintf(key, sizeof key, "default/%s", name);
    kl_sched_outcome_t outcome = decide(cache, key, policy, node, message);
    kl_sched_cache_pod_remove(cache, "default", name);
    return outcome;
}

static void test_selector_filter(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256];
    add_node(cache, make_placed_node("n1", "{\"disk\":\"hdd\",\"zone\":\"a\"}", NULL));
    add_node(cache, make_placed_node("n2", "{\"disk\":\"ssd\",\"zone\":\"a\"}", NULL));
    add_node(cache, make_placed_node("n3", "{\"disk\":\"ssd\",\"zone\":\"b\"}", NULL));
    add_node(cache, make_placed_node("n4", NULL, NULL));

    is_int(place(cache, NULL, "{\"disk\":\"ssd\"}", NULL, node, message), KL_SCHED_PLACED,
           "a pod selecting disk=ssd is placed");
    is_str(node, "n2", "on the first node labelled disk=ssd");
    place(cache, NULL, "{\"disk\":\"ssd\",\"zone\":\"b\"}", NULL, node, message);
    is_str(node, "n3", "every selector pair must match");
    place(cache, NULL, "{}", NULL, node, message);
    is_str(node, "n1", "an empty selector matches every node");
    is_int(place(cache, NULL, "{\"disk\":\"nvme\"}", NULL, node, message), KL_SCHED_UNSCHEDULABLE,
           "a selector no node matches leaves the pod unschedulable");
    is_str(message, "0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector.",
           "in Kubernetes' words");

    /* A label change is seen at the next decision. */
    json_t *relabelled = make_placed_node("n4", "{\"disk\":\"nvme\"}", NULL);
    json_object_set_new(json_object_get(relabelled, "metadata"), "resourceVersion",
                        json_string("5"));
    add_node(cache, relabelled);
    is_int(place(cache, NULL, "{\"disk\":\"nvme\"}", NULL, node, message), KL_SCHED_PLACED,
           "relabelling a node makes it match");
    is_str(node, "n4", "the relabelled node is chosen");

    kl_error_t err;
    json_t *bad = make_placed_pod("bad-selector", "{\"disk\":7}", NULL);
    ok(kl_sched_cache_pod_upsert(cache, bad, NOW, &err) < 0
       && strstr(err.text, "spec.nodeSelector[disk]"), "a malformed selector is refused: %s",
       err.text);
    json_decref(bad);
    kl_sched_cache_destroy(&cache);
}

static void test_taint_filter(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256];
    add_node(cache, make_placed_node("n1", NULL,
                                     "[{\"key\":\"gpu\",\"value\":\"yes\",\"effect\":\"NoSchedule\"}]"));
    add_node(cache, make_placed_node("n2", NULL,
                                     "[{\"key\":\"maint\",\"effect\":\"NoExecute\"}]"));
    is_int(place(cache, NULL, NULL, NULL, node, message), KL_SCHED_UNSCHEDULABLE,
           "a pod without tolerations fits on no tainted node");
    is_str(message, "0/2 nodes are available: 1 node(s) had untolerated taint {gpu: yes}, "
           "1 node(s) had untolerated taint {maint: }.",
           "each untolerated taint is named like Kubernetes does");

    place(cache, NULL, NULL, "[{\"key\":\"gpu\",\"operator\":\"Equal\",\"value\":\"yes\","
          "\"effect\":\"NoSchedule\"}]", node, message);
    is_str(node, "n1", "Equal with the same key, value and effect tolerates NoSchedule");
    place(cache, NULL, NULL, "[{\"key\":\"gpu\",\"value\":\"yes\"}]", node, message);
    is_str(node, "n1", "the default operator is Equal, and no effect matches every effect");
    is_int(place(cache, NULL, NULL, "[{\"key\":\"gpu\",\"value\":\"no\"}]", node, message),
           KL_SCHED_UNSCHEDULABLE, "Equal with another value does not tolerate");
    is_int(place(cache, NULL, NULL, "[{\"key\":\"gpu\",\"value\":\"yes\",\"effect\":\"NoExecute\"}]",
                 node, message), KL_SCHED_UNSCHEDULABLE, "a toleration of another effect does not");
    place(cache, NULL, NULL, "[{\"key\":\"gpu\",\"operator\":\"Exists\"}]", node, message);
    is_str(node, "n1", "Exists tolerates any value of its key");
    place(cache, NULL, NULL, "[{\"key\":\"maint\",\"operator\":\"Exists\",\"effect\":\"NoExecute\"}]",
          node, message);
    is_str(node, "n2", "a NoExecute taint is tolerated by a NoExecute toleration");
    place(cache, NULL, NULL, "[{\"operator\":\"Exists\"}]", node, message);
    is_str(node, "n1", "an empty key with Exists tolerates every taint");

    /* Only the first untolerated taint of a node is reported. */
    add_node(cache, make_placed_node("n3", NULL,
                                     "[{\"key\":\"a\",\"value\":\"1\",\"effect\":\"NoSchedule\"},"
                                     "{\"key\":\"b\",\"value\":\"2\",\"effect\":\"NoSchedule\"}]"));
    place(cache, NULL, NULL, "[{\"key\":\"a\",\"operator\":\"Exists\"}]", node, message);
    ok(strstr(message, "1 node(s) had untolerated taint {b: 2}") != NULL,
       "a node needs every hard taint tolerated: %s", message);

    /* PreferNoSchedule never filters; it only costs score. */
    add_node(cache, make_placed_node("n0", NULL,
                                     "[{\"key\":\"old\",\"effect\":\"PreferNoSchedule\"}]"));
    add_node(cache, make_placed_node("n7", NULL, NULL));
    is_int(place(cache, NULL, NULL, NULL, node, message), KL_SCHED_PLACED,
           "a PreferNoSchedule taint does not filter");
    is_str(node, "n0", "so the built-in choice still takes the first name");
    fake_t fake = {0};
    kl_scheduler_ops_t ops = {.score = fake_score};
    kl_sched_policy_t policy = {.ops = &ops, .state = &fake, .label = "scheduler/fake"};
    fake.scores[0] = 50;
    fake.scores[7] = 50;
    place(cache, &policy, NULL, NULL, node, message);
    is_str(node, "n7", "with equal scores the node without the soft taint wins");
    fake.scores[0] = 50 + KL_SCHED_PREFER_NO_SCHEDULE_PENALTY + 1;
    place(cache, &policy, NULL, NULL, node, message);
    is_str(node, "n0", "but the soft taint only lowers the score a little");
    fake.scores[0] = 50;
    place(cache, &policy, NULL, "[{\"key\":\"old\",\"operator\":\"Exists\","
          "\"effect\":\"PreferNoSchedule\"}]", node, message);
    is_str(node, "n0", "a tolerated soft taint costs nothing");

    kl_error_t err;
    json_t *bad = make_placed_pod("bad-toleration", NULL, "[{\"key\":\"a\",\"operator\":\"Maybe\"}]");
    ok(kl_sched_cache_pod_upsert(cache, bad, NOW, &err) < 0
       && strstr(err.text, "spec.tolerations[0].operator"), "a malformed toleration is refused: %s",
       err.text);
    json_decref(bad);
    bad = make_placed_node("n5", NULL, "[{\"key\":\"a\",\"effect\":\"Sometimes\"}]");
    ok(kl_sched_cache_node_upsert(cache, bad, NOW, &err) < 0
       && strstr(err.text, "Node \"n5\": spec.taints[0].effect"),
       "a malformed taint is refused: %s", err.text);
    json_decref(bad);
    kl_sched_cache_destroy(&cache);
}

static void test_cordon_filter(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256];
    add_node(cache, make_node("n1", "4", "8Gi", 110, 1, FRESH, 1));
    is_int(place(cache, NULL, NULL, NULL, node, message), KL_SCHED_UNSCHEDULABLE,
           "a cordoned node takes no pod");
    is_str(message, "0/1 nodes are available: 1 node(s) were unschedulable.", "in Kubernetes' words");
    is_int(place(cache, NULL, NULL, "[{\"key\":\"node.kubernetes.io/unschedulable\","
                 "\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]", node, message),
           KL_SCHED_PLACED, "unless the pod tolerates the cordon");
    json_t *uncordoned = make_node("n1", "4", "8Gi", 110, 1, FRESH, 0);
    json_object_set_new(json_object_get(uncordoned, "metadata"), "resourceVersion",
                        json_string("3"));
    add_node(cache, uncordoned);
    is_int(place(cache, NULL, NULL, NULL, node, message), KL_SCHED_PLACED,
           "uncordoning lets pods in again");
    kl_sched_cache_destroy(&cache);
}

/* Many nodes: scoring looks at a sample from a rotating start, the choice
 * among equal scores is still the first name, and the built-in choice stays
 * the first feasible node. */
static int64_t score_fifty(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node)
{
    int *calls = state;
    (void)pod;
    (*calls)++;
    return strcmp(node->name, "n0150") == 0 ? 60 : 50;
}

static void test_sampling(void)
{
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256], name[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "n%04d", i);
        add_node(cache, make_node(name, "4", "8Gi", 110, 1, FRESH, 0));
    }
    int calls = 0;
    kl_scheduler_ops_t ops = {.score = score_fifty};
    kl_sched_policy_t policy = {.ops = &ops, .state = &calls, .label = "scheduler/fifty"};
    place(cache, &policy, NULL, NULL, node, message);
    is_int(calls, 420, "1000 nodes: 42%% of them are scored (50%% less 1%% per 125 nodes)");
    is_str(node, "n0150", "the best of the sample wins");
    calls = 0;
    place(cache, &policy, NULL, NULL, node, message);
    is_int(calls, 420, "the next decision scores as many");
    is_str(node, "n0420", "from where the last one stopped; ties go to the first name");
    kl_sched_cache_set_sample_percent(cache, 100);
    calls = 0;
    place(cache, &policy, NULL, NULL, node, message);
    is_int(calls, 1000, "a sample of 100%% scores every node");
    is_str(node, "n0150", "and finds the best");
    place(cache, NULL, NULL, NULL, node, message);
    is_str(node, "n0000", "the built-in choice is the first feasible node in name order");
    is_int(place(cache, &policy, "{\"disk\":\"none\"}", NULL, node, message),
           KL_SCHED_UNSCHEDULABLE, "no feasible node anywhere");
    is_str(message, "0/1000 nodes are available: 1000 node(s) didn't match Pod's node "
           "affinity/selector.", "every node was examined for the message");
    kl_sched_cache_destroy(&cache);
}

/* ---- a plugin that crashes --------------------------------------------- */

static int crash_calls;

static int64_t segfaulting_score(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node)
{
    (void)state;
    (void)pod;
    (void)node;
    crash_calls++;
    volatile uintptr_t stray = 16;  /* not NULL, so the sanitizers leave the fault to the kernel */
    *(volatile int *)stray = 1;
    return 0;
}

static int trapping_filter(void *state, const kl_sched_pod_t *pod, const kl_sched_node_t *node,
                           char *reason, size_t size)
{
    (void)state;
    (void)pod;
    (void)node;
    (void)reason;
    (void)size;
    crash_calls++;
    __builtin_trap();
}

static void test_plugin_crash(void)
{
    static const struct {
        kl_scheduler_ops_t ops;
        const char *signal;
    } crashes[] = {
        {{.score = segfaulting_score}, "SIGSEGV"},
        {{.filter = trapping_filter}, "SIGILL"},
    };
    for (size_t c = 0; c < sizeof crashes / sizeof crashes[0]; c++) {
        kl_sched_cache_t *cache = kl_sched_cache_new(40000);
        char node[64], message[256], expected[128];
        add_node(cache, make_node("n0", "4", "8Gi", 110, 1, FRESH, 0));
        add_node(cache, make_node("n1", "4", "8Gi", 110, 1, FRESH, 0));
        add_pod(cache, make_pod("p", "100m", "1Mi", NULL));
        add_pod(cache, make_pod("q", "100m", "1Mi", NULL));
        kl_sched_policy_t policy = {.ops = &crashes[c].ops, .label = "scheduler/crashy"};
        crash_calls = 0;
        ok(kl_sched_cache_plugin_crash(cache) == NULL, "%s: no crash before the first decision",
           crashes[c].signal);
        is_int(decide(cache, "default/p", &policy, node, message), KL_SCHED_UNSCHEDULABLE,
               "%s: the decision the plugin crashed in leaves the pod unschedulable", crashes[c].signal);
        snprintf(expected, sizeof expected, "scheduler/crashy crashed (%s", crashes[c].signal);
        ok(strstr(message, expected) && strncmp(message, "0/2 nodes are available: ", 25) == 0,
           "%s: the reason names the plugin and the signal: %s", crashes[c].signal, message);
        ok(kl_sched_cache_plugin_crash(cache) && strstr(kl_sched_cache_plugin_crash(cache), expected),
           "%s: the cache remembers the crash", crashes[c].signal);
        is_int(decide(cache, "default/q", &policy, node, message), KL_SCHED_UNSCHEDULABLE,
               "%s: later pods stay pending", crashes[c].signal);
        ok(strstr(message, expected) != NULL, "%s: with the same reason", crashes[c].signal);
        is_int(crash_calls, 1, "%s: the plugin is not called again after its crash", crashes[c].signal);
        is_int((int)kl_sched_cache_pod_count(cache), 2, "%s: both pods are still in the cache", crashes[c].signal);
        kl_sched_cache_destroy(&cache);
    }
    /* The process and the scheduler around it go on: a healthy decision. */
    kl_sched_cache_t *cache = kl_sched_cache_new(40000);
    char node[64], message[256];
    add_node(cache, make_node("n0", "4", "8Gi", 110, 1, FRESH, 0));
    add_pod(cache, make_pod("p", "100m", "1Mi", NULL));
    kl_scheduler_ops_t ops = {0};
    kl_sched_policy_t policy = {.ops = &ops, .label = "scheduler/none"};
    is_int(decide(cache, "default/p", &policy, node, message), KL_SCHED_PLACED,
           "after two crashes a new cache decides as usual");
    kl_sched_cache_destroy(&cache);
}

int main(void)
{
    test_selector_filter();
    test_taint_filter();
    test_cordon_filter();
    test_sampling();
    test_parsing();
    test_fit();
    test_node_filters();
    test_assume();
    test_refresh();
    test_queue_fairness();
    test_plugin();
    test_plugin_crash();
    return done_testing();
}
