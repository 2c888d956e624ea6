/* Pod, Node, workload and Lease validation, defaulting and helpers: every rejected field must
 * be named with its Kubernetes path. */
#include <string.h>

#include "objects.h"
#include "tap.h"

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (!v)
        diag("bad test JSON: %s: %s", jerr.text, text);
    return v;
}

static const char *base_pod =
    "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"labels\":{\"app\":\"web\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"busybox\",\"command\":[\"sleep\",\"1\"],"
    "\"env\":[{\"name\":\"A\",\"value\":\"1\"}],"
    "\"resources\":{\"requests\":{\"cpu\":\"250m\",\"memory\":\"64Mi\"},"
    "\"limits\":{\"cpu\":\"1\",\"memory\":\"128Mi\"}}}]}}";

/* Applies a JSON merge patch to the base pod and checks the error text. */
static void rejects(const char *base, const char *patch, const char *expected, const char *what)
{
    json_t *object = parse(base);
    json_t *p = parse(patch);
    json_object_update_recursive(object, p);
    kl_error_t err = {0, ""};
    int rc = kl_object_set_defaults(object, &err);
    rc = rc < 0 ? rc : kl_object_validate(object, &err);
    ok(rc == -1 && err.code == KL_ERR_INVALID && strstr(err.text, expected) != NULL,
       "%s is rejected", what);
    if (rc != -1 || !strstr(err.text, expected))
        diag("got \"%s\", wanted it to contain \"%s\"", err.text, expected);
    json_decref(object);
    json_decref(p);
}

static void test_valid_pod(void)
{
    json_t *pod = parse(base_pod);
    kl_error_t err = {0, ""};
    is_int(kl_object_prepare_create(pod, &err), 0, "a valid pod is accepted");
    if (err.code)
        diag("%s", err.text);
    is_str(kl_object_namespace(pod), "default", "namespace defaults to default");
    is_str(json_string_value(json_object_get(json_object_get(pod, "spec"), "restartPolicy")),
           "Always", "restartPolicy defaults to Always");
    is_int(json_integer_value(json_object_get(json_object_get(pod, "spec"),
                                              "terminationGracePeriodSeconds")),
           30, "terminationGracePeriodSeconds defaults to 30");
    is_str(kl_pod_phase(pod), "Pending", "status.phase defaults to Pending");
    const char *uid = kl_object_uid(pod);
    ok(uid && strlen(uid) == 36 && uid[14] == '4' && strchr("89ab", uid[19]) && uid[8] == '-',
       "uid is a version 4 UUID (%s)", uid ? uid : "none");
    const char *ts = json_string_value(json_object_get(json_object_get(pod, "metadata"),
                                                       "creationTimestamp"));
    ok(ts && strlen(ts) == 20 && ts[10] == 'T' && ts[19] == 'Z',
       "creationTimestamp is RFC 3339 UTC (%s)", ts ? ts : "none");
    is_str(kl_object_kind(pod), "Pod", "kind accessor");
    is_str(kl_object_name(pod), "web", "name accessor");
    is_str(kl_object_label(pod, "app"), "web", "label accessor");
    ok(kl_object_label(pod, "nope") == NULL, "absent label is NULL");
    ok(kl_pod_node_name(pod) == NULL, "unbound pod has no nodeName");

    json_t *second = parse(base_pod);
    kl_object_prepare_create(second, &err);
    ok(strcmp(kl_object_uid(second), uid) != 0, "two creates get different uids");
    json_decref(second);

    int64_t cpu = -1, memory = -1;
    is_int(kl_pod_requests(pod, &cpu, &memory, NULL), 0, "kl_pod_requests succeeds");
    is_int(cpu, 250, "cpu request in millicores");
    is_int(memory, 64 * 1024 * 1024, "memory request in bytes");

    is_int(kl_object_revision(pod), 0, "no resourceVersion means revision 0");
    kl_object_set_resource_version(pod, 42);
    is_str(kl_object_resource_version(pod), "42", "resourceVersion set as a string");
    is_int(kl_object_revision(pod), 42, "revision parsed back");
    json_object_set_new(json_object_get(pod, "metadata"), "resourceVersion", json_string("4x"));
    is_int(kl_object_revision(pod), -1, "malformed resourceVersion gives -1");
    json_decref(pod);
}

static void test_requests_from_limits(void)
{
    json_t *pod = parse(
        "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":["
        "{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"cpu\":\"2\",\"memory\":\"1Gi\"}}},"
        "{\"name\":\"b\",\"image\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"0.5\"},"
        "\"limits\":{\"cpu\":\"1\",\"memory\":\"1Mi\"}}},"
        "{\"name\":\"c\",\"image\":\"i\"}]}}");
    int64_t cpu = 0, memory = 0;
    is_int(kl_pod_requests(pod, &cpu, &memory, NULL), 0, "requests of a pod with limits only");
    is_int(cpu, 2500, "limits stand in for missing cpu requests (2 + 0.5)");
    is_int(memory, 1024LL * 1024 * 1024 + 1024 * 1024, "limits stand in for memory requests");
    json_decref(pod);
}

static void test_invalid_pods(void)
{
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"\"}]}}",
            "Pod \"web\" is invalid: spec.containers[0].image: Required value", "empty image");
    json_t *noimage = parse(base_pod);
    json_object_del(json_array_get(json_object_get(json_object_get(noimage, "spec"), "containers"), 0),
                    "image");
    kl_error_t err = {0, ""};
    kl_object_set_defaults(noimage, &err);
    is_int(kl_object_validate(noimage, &err), -1, "missing image fails");
    is_str(err.text, "Pod \"web\" is invalid: spec.containers[0].image: Required value",
           "missing image message is exactly Kubernetes'");
    json_decref(noimage);

    rejects(base_pod, "{\"kind\":\"Foo\"}", "unknown kind \"Foo\": keelson serves Pod, Node, ReplicaSet, Deployment, Event and Lease",
            "unknown kind");
    rejects(base_pod, "{\"apiVersion\":\"v2\"}", "apiVersion: Unsupported value: \"v2\"",
            "wrong apiVersion");
    rejects(base_pod, "{\"metadata\":{\"name\":\"Web_1\"}}", "metadata.name: Invalid value: \"Web_1\"",
            "uppercase name");
    rejects(base_pod, "{\"metadata\":{\"name\":\"\"}}", "metadata.name: Required value", "empty name");
    rejects(base_pod, "{\"metadata\":{\"namespace\":\"a.b\"}}",
            "metadata.namespace: Invalid value: \"a.b\"", "namespace with a dot");
    rejects(base_pod, "{\"metadata\":{\"labels\":{\"app\":\"-bad\"}}}",
            "metadata.labels[app]: Invalid value: \"-bad\"", "bad label value");
    rejects(base_pod, "{\"metadata\":{\"labels\":{\"bad key\":\"x\"}}}",
            "metadata.labels: Invalid value: \"bad key\"", "bad label key");
    rejects(base_pod, "{\"metadata\":{\"labels\":{\"app\":3}}}",
            "metadata.labels[app]: Invalid value: integer: must be a string", "non-string label");
    rejects(base_pod, "{\"metadata\":{\"annotations\":{\"note\":true}}}",
            "metadata.annotations[note]", "non-string annotation");
    rejects(base_pod, "{\"spec\":{\"containers\":[]}}", "spec.containers: Required value",
            "no containers");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\"},{\"name\":\"a\",\"image\":\"i\"}]}}",
            "spec.containers[1].name: Duplicate value: \"a\"", "duplicate container names");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"A\",\"image\":\"i\"}]}}",
            "spec.containers[0].name: Invalid value: \"A\"", "container name not a label");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"command\":[\"x\",1]}]}}",
            "spec.containers[0].command[1]: Invalid value: integer", "non-string command item");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"args\":\"x\"}]}}",
            "spec.containers[0].args: Invalid value: string: must be an array", "args not an array");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"env\":[{\"value\":\"1\"}]}]}}",
            "spec.containers[0].env[0].name: Required value", "env without name");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"env\":[{\"name\":\"A\",\"value\":1}]}]}}",
            "spec.containers[0].env[0].value: Invalid value: integer", "env value not a string");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"workingDir\":5}]}}",
            "spec.containers[0].workingDir", "workingDir not a string");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"-1\"}}}]}}",
            "spec.containers[0].resources.requests.cpu: Invalid value: \"-1\"", "negative cpu");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"limits\":{\"memory\":\"lots\"}}}]}}",
            "spec.containers[0].resources.limits.memory: Invalid value: \"lots\"", "garbage memory");
    rejects(base_pod, "{\"spec\":{\"containers\":[{\"name\":\"a\",\"image\":\"i\",\"resources\":{\"requests\":{\"cpu\":\"2\"},\"limits\":{\"cpu\":\"1\"}}}]}}",
            "spec.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1",
            "request above limit");
    rejects(base_pod, "{\"spec\":{\"restartPolicy\":\"Sometimes\"}}",
            "spec.restartPolicy: Unsupported value: \"Sometimes\"", "bad restartPolicy");
    rejects(base_pod, "{\"spec\":{\"terminationGracePeriodSeconds\":-1}}",
            "spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0",
            "negative grace period");
    rejects(base_pod, "{\"spec\":{\"terminationGracePeriodSeconds\":\"30\"}}",
            "spec.terminationGracePeriodSeconds: Invalid value: string", "grace period as string");
    rejects(base_pod, "{\"spec\":{\"nodeName\":7}}", "spec.nodeName: Invalid value: integer",
            "nodeName not a string");
    rejects(base_pod, "{\"status\":{\"phase\":\"Dancing\"}}", "status.phase: Unsupported value",
            "bad phase");
    rejects(base_pod, "{\"spec\":{\"nodeSelector\":{\"disk\":1}}}",
            "Pod \"web\" is invalid: spec.nodeSelector[disk]: Invalid value: integer: must be a string",
            "a nodeSelector value that is not a string");
    rejects(base_pod, "{\"spec\":{\"nodeSelector\":[\"disk=ssd\"]}}",
            "spec.nodeSelector: Invalid value: array", "a nodeSelector that is not a map");
    rejects(base_pod, "{\"spec\":{\"nodeSelector\":{\"bad key\":\"x\"}}}",
            "spec.nodeSelector: Invalid value: \"bad key\"", "a nodeSelector key that is no label key");
    rejects(base_pod, "{\"spec\":{\"tolerations\":{}}}", "spec.tolerations: Invalid value: object",
            "tolerations not an array");
    rejects(base_pod, "{\"spec\":{\"tolerations\":[{\"key\":\"gpu\",\"operator\":\"Maybe\"}]}}",
            "spec.tolerations[0].operator: Unsupported value: \"Maybe\": supported values: "
            "\"Equal\", \"Exists\"", "a bad toleration operator");
    rejects(base_pod, "{\"spec\":{\"tolerations\":[{\"key\":\"gpu\",\"operator\":\"Exists\"},"
            "{\"key\":\"gpu\",\"effect\":\"Sometimes\"}]}}",
            "spec.tolerations[1].effect: Unsupported value: \"Sometimes\"", "a bad toleration effect");
    rejects(base_pod, "{\"spec\":{\"tolerations\":[{\"operator\":\"Equal\",\"value\":\"x\"}]}}",
            "spec.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when "
            "`key` is empty", "Equal without a key");
    rejects(base_pod, "{\"spec\":{\"tolerations\":[{\"key\":\"gpu\",\"operator\":\"Exists\","
            "\"value\":\"yes\"}]}}", "spec.tolerations[0].value: Invalid value: \"yes\": value must "
            "be empty", "Exists with a value");
    rejects(base_pod, "{\"spec\":{\"tolerations\":[{\"key\":\"gpu\",\"value\":7}]}}",
            "spec.tolerations[0].value: Invalid value: integer", "a toleration value that is no string");
    rejects(base_pod, "{\"spec\":{\"tolerations\":[{\"key\":\"gpu\",\"effect\":\"NoSchedule\","
            "\"tolerationSeconds\":30}]}}",
            "spec.tolerations[0].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute'",
            "tolerationSeconds without NoExecute");
    {
        json_t *pod = parse(base_pod);
        json_t *patch = parse("{\"spec\":{\"nodeSelector\":{\"disktype\":\"ssd\"},\"tolerations\":["
                              "{\"key\":\"gpu\",\"operator\":\"Equal\",\"value\":\"yes\",\"effect\":\"NoSchedule\"},"
                              "{\"key\":\"spot\",\"operator\":\"Exists\"},{\"operator\":\"Exists\"},"
                              "{\"key\":\"gone\",\"operator\":\"Exists\",\"effect\":\"NoExecute\","
                              "\"tolerationSeconds\":60}]}}");
        json_object_update_recursive(pod, patch);
        kl_error_t perr = {0, ""};
        int rc = kl_object_set_defaults(pod, &perr);
        is_int(rc < 0 ? rc : kl_object_validate(pod, &perr), 0,
               "a pod with a nodeSelector and tolerations is valid");
        if (perr.code)
            diag("%s", perr.text);
        json_decref(patch);
        json_decref(pod);
    }

    kl_error_t e = {0, ""};
    json_t *array = json_array();
    is_int(kl_object_validate(array, &e), -1, "an array is not an object");
    ok(strstr(e.text, "must be a JSON object") != NULL, "message says so: %s", e.text);
    json_decref(array);
}

static const char *base_node =
    "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-1\"},"
    "\"spec\":{\"unschedulable\":false,\"taints\":[{\"key\":\"gpu\",\"value\":\"yes\",\"effect\":\"NoSchedule\"}]},"
    "\"status\":{\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\",\"pods\":\"110\"},"
    "\"allocatable\":{\"cpu\":\"3500m\",\"memory\":\"7Gi\",\"pods\":110}}}";

static void test_nodes(void)
{
    json_t *node = parse(base_node);
    kl_error_t err = {0, ""};
    is_int(kl_object_prepare_create(node, &err), 0, "a valid node is accepted");
    if (err.code)
        diag("%s", err.text);
    ok(kl_object_namespace(node) == NULL, "a node has no namespace");
    ok(json_object_get(node, "status") && !kl_pod_phase(node), "a node gets no pod phase");
    json_decref(node);

    rejects(base_node, "{\"metadata\":{\"namespace\":\"default\"}}",
            "Node \"node-1\" is invalid: metadata.namespace: Forbidden", "namespaced node");
    rejects(base_node, "{\"spec\":{\"unschedulable\":\"yes\"}}",
            "spec.unschedulable: Invalid value: string: must be a boolean", "unschedulable not bool");
    rejects(base_node, "{\"spec\":{\"taints\":{}}}", "spec.taints: Invalid value: object",
            "taints not an array");
    rejects(base_node, "{\"spec\":{\"taints\":[{\"key\":\"gpu\",\"effect\":\"Maybe\"}]}}",
            "spec.taints[0].effect: Unsupported value: \"Maybe\"", "bad taint effect");
    rejects(base_node, "{\"status\":{\"capacity\":{\"cpu\":\"four\"}}}",
            "status.capacity.cpu: Invalid value: \"four\"", "garbage capacity");
    rejects(base_node, "{\"status\":{\"allocatable\":{\"pods\":\"-3\"}}}",
            "status.allocatable.pods: Invalid value: \"-3\"", "negative pods");
}

static void test_names(void)
{
    ok(kl_name_is_dns1123_label("a-b-1"), "a-b-1 is a label");
    ok(!kl_name_is_dns1123_label("a.b"), "a.b is not a label");
    ok(!kl_name_is_dns1123_label("-a"), "-a is not a label");
    char long_label[65];
    memset(long_label, 'a', 64);
    long_label[64] = '\0';
    ok(!kl_name_is_dns1123_label(long_label), "64 characters is too long for a label");
    ok(kl_name_is_dns1123_subdomain("a.b-c.d"), "a.b-c.d is a subdomain");
    ok(!kl_name_is_dns1123_subdomain("a..b"), "a..b is not a subdomain");
    char why[256];
    is_int(kl_label_key_check("example.com/app", why, sizeof why), 0, "prefixed label key");
    is_int(kl_label_key_check("Example.com/app", why, sizeof why), -1, "uppercase prefix rejected");
    is_int(kl_label_key_check("a/b/c", why, sizeof why), -1, "two slashes rejected");
    is_int(kl_label_value_check("", why, sizeof why), 0, "empty label value allowed");
    is_int(kl_label_value_check("A_b.c-1", why, sizeof why), 0, "mixed label value allowed");
    is_int(kl_label_value_check("a b", why, sizeof why), -1, "space in label value rejected");
    ok(kl_kind_lookup("Pod") && kl_kind_lookup("Pod")->namespaced, "Pod is namespaced");
    ok(kl_kind_lookup("Node") && !kl_kind_lookup("Node")->namespaced, "Node is cluster-scoped");
    ok(kl_kind_lookup("pod") == NULL, "kinds are case-sensitive");
}

static void test_encode_and_copy(void)
{
    json_t *v = parse("{\"s\":\"q\\\"b\\\\n\\n\\t\\u0001\\u00e9\\u2028/\",\"i\":-9223372036854775807,"
                      "\"z\":0,\"r\":1.5,\"e\":1e300,\"t\":true,\"f\":false,\"n\":null,"
                      "\"a\":[],\"o\":{},\"nested\":[{\"k\":[1,[2,{\"x\":\"y\"}]]}],\"\":\"empty key\"}");
    size_t length = 0;
    char *mine = kl_json_encode(v, &length);
    char *theirs = json_dumps(v, JSON_COMPACT);
    is_str(mine, theirs, "kl_json_encode writes what json_dumps(JSON_COMPACT) writes");
    is_int(length, theirs ? strlen(theirs) : 0, "... and reports its length");
    free(mine);
    free(theirs);
    json_t *scalar = json_integer(42);
    mine = kl_json_encode(scalar, NULL);
    is_str(mine, "42", "a bare scalar encodes too");
    free(mine);
    json_decref(scalar);
    json_decref(v);

    json_t *pod = parse(base_pod);
    json_t *copy = kl_object_copy_for_write(pod);
    json_object_set_new(json_object_get(copy, "metadata"), "name", json_string("other"));
    json_object_set_new(json_object_get(copy, "spec"), "nodeName", json_string("n1"));
    json_object_set_new(copy, "status", json_object());
    is_str(kl_object_name(pod), "web", "changing the copy's metadata leaves the original");
    ok(kl_pod_node_name(pod) == NULL, "changing the copy's spec leaves the original");
    ok(json_object_get(pod, "status") == NULL, "changing the copy's top level leaves the original");
    ok(json_object_get(json_object_get(copy, "spec"), "containers")
           == json_object_get(json_object_get(pod, "spec"), "containers"),
       "deeper values are shared, not copied");
    json_decref(copy);
    json_decref(pod);
}

static const char *base_replicaset =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"web\"},"
    "\"spec\":{\"replicas\":3,\"selector\":{\"matchLabels\":{\"app\":\"web\"}},"
    "\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},"
    "\"spec\":{\"containers\":[{\"name\":\"main\",\"image\":\"busybox\"}]}}}}";

static void test_workload_kinds(void)
{
    kl_error_t err = {0, ""};
    json_t *rs = parse(base_replicaset);
    ok(kl_object_set_defaults(rs, &err) == 0 && kl_object_validate(rs, &err) == 0,
       "a valid ReplicaSet (%s)", err.text);
    json_decref(rs);
    json_t *deployment = parse(base_replicaset);
    json_object_set_new(deployment, "kind", json_string("Deployment"));
    json_object_del(json_object_get(deployment, "spec"), "replicas");
    ok(kl_object_set_defaults(deployment, &err) == 0 && kl_object_validate(deployment, &err) == 0,
       "a valid Deployment (%s)", err.text);
    const json_t *spec = json_object_get(deployment, "spec");
    is_int(json_integer_value(json_object_get(spec, "replicas")), 1, "replicas default to 1");
    is_str(json_string_value(json_object_get(json_object_get(json_object_get(spec, "strategy"), "rollingUpdate"),
                                             "maxSurge")), "25%", "maxSurge defaults to 25%%");
    json_decref(deployment);
    rejects(base_replicaset, "{\"spec\":{\"replicas\":-2}}",
            "ReplicaSet \"web\" is invalid: spec.replicas: Invalid value: -2: must be greater than or equal to 0",
            "negative replicas");
    rejects(base_replicaset, "{\"spec\":{\"selector\":{\"matchLabels\":{\"app\":\"db\"}}}}",
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`",
            "selector not matching its template");
    rejects(base_replicaset, "{\"spec\":{\"selector\":{\"matchLabels\":null}}}",
            "spec.selector.matchLabels: Required value", "empty selector");
    rejects(base_replicaset, "{\"spec\":{\"selector\":{\"matchLabels\":{\"bad key!\":\"x\"}}}}",
            "spec.selector.matchLabels", "invalid selector key");
    rejects(base_replicaset, "{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"main\"}]}}}}",
            "ReplicaSet \"web\" is invalid: spec.template.spec.containers[0].image: Required value",
            "the template is checked as a pod spec, with its path");
    rejects(base_replicaset, "{\"apiVersion\":\"v1\"}",
            "apiVersion: Unsupported value: \"v1\": supported values: \"apps/v1\"", "wrong apiVersion");
    rejects(base_replicaset, "{\"kind\":\"Deployment\",\"spec\":{\"strategy\":{\"type\":\"Sideways\"}}}",
            "spec.strategy.type: Unsupported value: \"Sideways\"", "unknown strategy");
    rejects(base_replicaset, "{\"kind\":\"Deployment\",\"spec\":{\"strategy\":{\"rollingUpdate\":{\"maxSurge\":\"lots\"}}}}",
            "spec.strategy.rollingUpdate.maxSurge: Invalid value", "bad maxSurge");
    rejects(base_replicaset, "{\"kind\":\"Deployment\",\"spec\":{\"strategy\":{\"rollingUpdate\":{\"maxSurge\":0,\"maxUnavailable\":0}}}}",
            "may not be 0 when maxSurge is 0", "zero surge and zero unavailable");
    rejects(base_pod, "{\"metadata\":{\"uid\":\"u1\",\"ownerReferences\":[{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
            "\"name\":\"web\",\"uid\":\"u1\"}]}}", "an object cannot own itself", "owner cycle of one");
    rejects(base_pod, "{\"metadata\":{\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"x\",\"uid\":\"u\"}]}}",
            "metadata.ownerReferences[0].apiVersion: Required value", "owner reference without apiVersion");
}

static const char *base_lease =
    "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
    "\"metadata\":{\"name\":\"w1\",\"namespace\":\"kube-node-lease\"},"
    "\"spec\":{\"holderIdentity\":\"w1\",\"leaseDurationSeconds\":40,"
    "\"renewTime\":\"2026-11-29T04:38:00.123456Z\"}}";

static void test_leases(void)
{
    kl_error_t err = {0, ""};
    const kl_kind_info_t *info = kl_kind_lookup("Lease");
    ok(info && info->namespaced && strcmp(info->resource, "leases") == 0
       && strcmp(info->api_version, "coordination.k8s.io/v1") == 0,
       "Lease is served, namespaced, as leases in coordination.k8s.io/v1");
    json_t *lease = parse(base_lease);
    ok(kl_object_set_defaults(lease, &err) == 0 && kl_object_validate(lease, &err) == 0,
       "a valid node Lease (%s)", err.text);
    json_decref(lease);
    lease = parse("{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"Lease\","
                  "\"metadata\":{\"name\":\"bare\"}}");
    ok(kl_object_set_defaults(lease, &err) == 0 && kl_object_validate(lease, &err) == 0,
       "a Lease without spec is valid, as in Kubernetes (%s)", err.text);
    is_str(kl_object_namespace(lease), "default", "a Lease defaults to namespace default");
    json_decref(lease);
    lease = parse(base_lease);
    json_object_set_new(json_object_get(lease, "spec"), "renewTime",
                        json_string("2026-11-29T04:38:00+02:00"));
    ok(kl_object_validate(lease, &err) == 0, "renewTime with a numeric offset is valid (%s)",
       err.text);
    json_decref(lease);
    rejects(base_lease, "{\"spec\":{\"leaseDurationSeconds\":0}}",
            "Lease \"w1\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
            "leaseDurationSeconds 0");
    rejects(base_lease, "{\"spec\":{\"leaseDurationSeconds\":-5}}",
            "spec.leaseDurationSeconds: Invalid value: -5: must be greater than 0",
            "negative leaseDurationSeconds");
    rejects(base_lease, "{\"spec\":{\"leaseDurationSeconds\":\"40\"}}",
            "spec.leaseDurationSeconds: Invalid value: string: must be an integer",
            "leaseDurationSeconds as a string");
    rejects(base_lease, "{\"spec\":{\"holderIdentity\":7}}",
            "spec.holderIdentity: Invalid value: integer: must be a string", "holderIdentity a number");
    rejects(base_lease, "{\"spec\":{\"renewTime\":\"yesterday\"}}",
            "spec.renewTime: Invalid value: \"yesterday\": must be an RFC 3339 time",
            "renewTime that is not a time");
    rejects(base_lease, "{\"spec\":{\"renewTime\":\"2026-13-01T00:00:00Z\"}}",
            "spec.renewTime: Invalid value: \"2026-13-01T00:00:00Z\"", "renewTime in month 13");
    rejects(base_lease, "{\"spec\":{\"renewTime\":\"2026-11-29T04:38:00.Z\"}}",
            "spec.renewTime", "renewTime with an empty fraction");
    rejects(base_lease, "{\"spec\":{\"renewTime\":\"2026-11-29T04:38:00\"}}",
            "spec.renewTime", "renewTime without a zone");
    rejects(base_lease, "{\"spec\":{\"renewTime\":12}}",
            "spec.renewTime: Invalid value: integer: must be a string", "renewTime a number");
    rejects(base_lease, "{\"spec\":[]}", "Lease \"w1\" is invalid: spec: Invalid value: array: must be an object",
            "spec an array");
    rejects(base_lease, "{\"apiVersion\":\"v1\"}",
            "apiVersion: Unsupported value: \"v1\": supported values: \"coordination.k8s.io/v1\"",
            "Lease with apiVersion v1");
    rejects(base_lease, "{\"metadata\":{\"namespace\":\"Kube_Node\"}}",
            "metadata.namespace: Invalid value: \"Kube_Node\"", "Lease in a malformed namespace");
    char stamp[KL_TIMESTAMP_SIZE];
    kl_micro_time_format(1795927080123LL, stamp);
    is_str(stamp, "2026-11-29T04:38:00.123000Z", "MicroTime has six fraction digits");
    ok(kl_timestamp_is_valid(stamp), "and is a valid RFC 3339 time");
    ok(!kl_timestamp_is_valid("2026-02-30T00:00:00Z") && !kl_timestamp_is_valid(NULL)
       && !kl_timestamp_is_valid("2026-11-29T04:38:00Zjunk"),
       "February 30th, NULL and trailing text are not times");
}

int main(void)
{
    test_encode_and_copy();
    test_workload_kinds();
    test_valid_pod();
    test_requests_from_limits();
    test_invalid_pods();
    test_nodes();
    test_names();
    test_leases();
    return done_testing();
}
