/* Unit tests for keelctl's printers: AGE, pod and node STATUS, table layout. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "keelctl/describe.h"
#include "keelctl/printers.h"

static void test_age(void)
{
    static const struct {
        long long seconds;
        const char *text;
    } cases[] = {{0, "0s"},       {5, "5s"},          {119, "119s"},       {120, "2m"},
                 {200, "3m20s"},  {180, "3m"},        {600, "10m"},        {3599, "59m"},
                 {7200, "120m"},  {3 * 3600, "3h"},   {9000 + 3 * 3600, "5h30m"},
                 {10 * 3600, "10h"}, {4 * 86400, "4d"}, {3 * 86400 + 4 * 3600, "3d4h"},
                 {40 * 86400, "40d"}, {800 * 86400, "2y70d"}, {3650 * 86400LL, "10y"},
                 {-1, "0s"},      {-5, "<invalid>"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[32];
        kl_age_format(cases[i].seconds, buf, sizeof buf);
        is_str(buf, cases[i].text, "age of %lld seconds", cases[i].seconds);
    }
    time_t when;
    ok(kl_timestamp_parse("2026-01-02T03:04:05Z", &when) == 0 && when == 1767323045,
       "RFC 3339 UTC timestamp parses");
    ok(kl_timestamp_parse("2026-01-02T04:04:05.123+01:00", &when) == 0 && when == 1767323045,
       "fraction and offset are understood");
    ok(kl_timestamp_parse("2026-01-02 03:04:05", &when) < 0, "a timestamp without T is refused");
    ok(kl_timestamp_parse("2026-13-02T03:04:05Z", &when) < 0, "month 13 is refused");

    json_t *pod = json_pack("{s:{s:s}}", "metadata", "creationTimestamp", "2026-01-02T03:04:05Z");
    char buf[32];
    kl_object_age(pod, 1767323045 + 7, buf, sizeof buf);
    is_str(buf, "7s", "object age from creationTimestamp");
    json_object_del(json_object_get(pod, "metadata"), "creationTimestamp");
    kl_object_age(pod, 1767323045, buf, sizeof buf);
    is_str(buf, "<unknown>", "no creationTimestamp gives <unknown>");
    json_decref(pod);
}

static json_t *load(const char *text)
{
    json_error_t error;
    json_t *v = json_loads(text, 0, &error);
    if (!v)
        diag("fixture does not load: %s", error.text);
    return v;
}

static void check_pod(const char *json, const char *status, const char *ready, long long restarts,
                      const char *what)
{
    json_t *pod = load(json);
    char buf[128];
    kl_pod_status_text(pod, buf, sizeof buf);
    is_str(buf, status, "%s: STATUS", what);
    kl_pod_ready_text(pod, buf, sizeof buf);
    is_str(buf, ready, "%s: READY", what);
    is_int(kl_pod_restarts(pod), restarts, "%s: RESTARTS", what);
    json_decref(pod);
}

static void test_pod_status(void)
{
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Pending\"}}", "Pending",
              "0/1", 0, "unscheduled pod");
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Pending\","
              "\"containerStatuses\":[{\"state\":{\"waiting\":{\"reason\":\"ContainerCreating\"}}}]}}",
              "ContainerCreating", "0/1", 0, "container being created");
    check_pod("{\"spec\":{\"containers\":[{},{}]},\"status\":{\"phase\":\"Running\","
              "\"containerStatuses\":[{\"ready\":true,\"restartCount\":2,\"state\":{\"running\":{}}},"
              "{\"ready\":true,\"restartCount\":1,\"state\":{\"running\":{}}}]}}",
              "Running", "2/2", 3, "two running containers");
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Succeeded\","
              "\"containerStatuses\":[{\"ready\":false,\"state\":{\"terminated\":"
              "{\"exitCode\":0,\"reason\":\"Completed\"}}}]}}",
              "Completed", "0/1", 0, "completed pod");
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Failed\","
              "\"containerStatuses\":[{\"state\":{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\"}}}]}}",
              "Error", "0/1", 0, "failed pod");
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Failed\","
              "\"containerStatuses\":[{\"state\":{\"terminated\":{\"exitCode\":3}}}]}}",
              "ExitCode:3", "0/1", 0, "terminated without a reason");
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Failed\","
              "\"containerStatuses\":[{\"state\":{\"terminated\":{\"exitCode\":137,\"signal\":9}}}]}}",
              "Signal:9", "0/1", 0, "killed by a signal");
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Pending\","
              "\"containerStatuses\":[{\"state\":{\"waiting\":{\"reason\":\"ErrImagePull\"}}}]}}",
              "ErrImagePull", "0/1", 0, "image pull error");
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Running\","
              "\"containerStatuses\":[{\"restartCount\":4,\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}}]}}",
              "CrashLoopBackOff", "0/1", 4, "crash loop");
    check_pod("{\"spec\":{\"containers\":[{},{}]},\"status\":{\"phase\":\"Running\","
              "\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}],"
              "\"containerStatuses\":[{\"ready\":true,\"state\":{\"running\":{}}},"
              "{\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":\"Completed\"}}}]}}",
              "NotReady", "1/2", 0, "one of two containers completed");
    check_pod("{\"metadata\":{\"deletionTimestamp\":\"2026-01-01T00:00:00Z\"},"
              "\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Running\"}}",
              "Terminating", "0/1", 0, "pod being deleted");
    check_pod("{\"spec\":{\"initContainers\":[{},{}],\"containers\":[{}]},\"status\":{\"phase\":\"Pending\","
              "\"initContainerStatuses\":[{\"state\":{\"terminated\":{\"exitCode\":0}}},"
              "{\"state\":{\"running\":{}}}]}}",
              "Init:1/2", "0/1", 0, "second init container running");
    check_pod("{\"spec\":{\"containers\":[{}]},\"status\":{\"phase\":\"Failed\",\"reason\":\"Evicted\"}}",
              "Evicted", "0/1", 0, "status.reason wins over the phase");
}

static void test_node_status(void)
{
    json_t *node = load("{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\",\"labels\":"
                        "{\"node-role.kubernetes.io/worker\":\"\",\"node-role.kubernetes.io/control-plane\":\"\"}},"
                        "\"spec\":{},\"status\":{\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
    char buf[128];
    kl_node_status_text(node, buf, sizeof buf);
    is_str(buf, "Ready", "node with Ready=True");
    kl_node_roles_text(node, buf, sizeof buf);
    is_str(buf, "control-plane,worker", "roles are sorted and joined");
    json_object_set_new(json_object_get(node, "spec"), "unschedulable", json_true());
    kl_node_status_text(node, buf, sizeof buf);
    is_str(buf, "Ready,SchedulingDisabled", "cordoned node");
    json_decref(node);
    node = load("{\"kind\":\"Node\",\"metadata\":{\"name\":\"n2\"},\"status\":{\"conditions\":"
                "[{\"type\":\"Ready\",\"status\":\"Unknown\"}]}}");
    kl_node_status_text(node, buf, sizeof buf);
    is_str(buf, "NotReady", "node with Ready=Unknown");
    kl_node_roles_text(node, buf, sizeof buf);
    is_str(buf, "<none>", "no roles");
    json_decref(node);
}

/* Captures what a printer writes. */
static char *capture_table(const json_t *items, const char *kind, kl_output_format_t format,
                           bool all_namespaces, time_t now)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    kl_error_t err;
    if (kl_print_objects(out, items, kind, format, false, all_namespaces, now, &err) < 0)
        diag("print failed: %s", err.text);
    fclose(out);
    return text;
}

static void test_tables(void)
{
    json_t *items = load(
        "[{\"kind\":\"Pod\",\"metadata\":{\"name\":\"web\",\"namespace\":\"default\","
        "\"creationTimestamp\":\"2026-01-02T03:04:05Z\"},\"spec\":{\"nodeName\":\"n1\","
        "\"containers\":[{}]},\"status\":{\"phase\":\"Running\",\"containerStatuses\":"
        "[{\"ready\":true,\"state\":{\"running\":{}}}]}},"
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"a-much-longer-name\",\"namespace\":\"team\","
        "\"creationTimestamp\":\"2026-01-02T03:00:05Z\"},\"spec\":{\"containers\":[{}]},"
        "\"status\":{\"phase\":\"Pending\"}}]");
    time_t now = 1767323045 + 5;
    char *text = capture_table(items, "Pod", KL_OUTPUT_TABLE, false, now);
    diag("table:\n%s", text);
    is_str(text,
           "NAME                 READY   STATUS    RESTARTS   AGE\n"
           "web                  1/1     Running   0          5s\n"
           "a-much-longer-name   0/1     Pending   0          4m5s\n",
           "pod table has kubectl's columns and alignment");
    free(text);

    text = capture_table(items, "Pod", KL_OUTPUT_WIDE, true, now);
    is_str(text,
           "NAMESPACE   NAME                 READY   STATUS    RESTARTS   AGE    NODE\n"
           "default     web                  1/1     Running   0          5s     n1\n"
           "team        a-much-longer-name   0/1     Pending   0          4m5s   <none>\n",
           "wide table with all namespaces adds NAMESPACE first and NODE last");
    free(text);

    text = capture_table(items, "Pod", KL_OUTPUT_NAME, false, now);
    is_str(text, "pod/web\npod/a-much-longer-name\n", "-o name prints kind/name");
    free(text);

    text = capture_table(items, "Pod", KL_OUTPUT_JSON, false, now);
    json_t *list = json_loads(text, 0, NULL);
    ok(list && strcmp(json_string_value(json_object_get(list, "kind")), "List") == 0 &&
           json_array_size(json_object_get(list, "items")) == 2,
       "-o json of many objects prints a v1 List");
    json_decref(list);
    free(text);

    text = capture_table(items, "Pod", KL_OUTPUT_YAML, false, now);
    ok(text && strstr(text, "kind: List\n") && strstr(text, "- kind: Pod\n"),
       "-o yaml of many objects prints a List in YAML");
    free(text);
    json_decref(items);

    json_t *nodes = load("[{\"kind\":\"Node\",\"metadata\":{\"name\":\"worker-1\","
                         "\"creationTimestamp\":\"2026-01-02T03:04:05Z\"},\"status\":{"
                         "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
                         "\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\"},"
                         "\"nodeInfo\":{\"kubeletVersion\":\"v0.1.0\"}}}]");
    text = capture_table(nodes, "Node", KL_OUTPUT_WIDE, false, now);
    is_str(text,
           "NAME       STATUS   ROLES    AGE   VERSION   CPU   MEMORY\n"
           "worker-1   Ready    <none>   5s    v0.1.0    4     8Gi\n",
           "wide node table adds CPU and MEMORY capacity");
    free(text);
    json_decref(nodes);

    kl_output_format_t format;
    kl_error_t err;
    ok(kl_output_format_parse("wide", &format, &err) == 0 && format == KL_OUTPUT_WIDE,
       "-o wide parses");
    ok(kl_output_format_parse("xml", &format, &err) < 0 && strstr(err.text, "\"xml\""),
       "an unknown output format is refused naming it: %s", err.text);
}

static void test_describe(void)
{
    json_t *pod = load(
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"exit-seven\",\"namespace\":\"team\","
        "\"labels\":{\"app\":\"demo\",\"tier\":\"batch\"}},"
        "\"spec\":{\"nodeName\":\"w1\",\"restartPolicy\":\"Never\",\"containers\":[{\"name\":\"c\","
        "\"image\":\"busybox:1.35\",\"command\":[\"/bin/sh\",\"-c\",\"exit 7\"],"
        "\"resources\":{\"requests\":{\"cpu\":\"100m\",\"memory\":\"64Mi\"},"
        "\"limits\":{\"cpu\":\"1\"}}},{\"name\":\"side\",\"image\":\"sim\","
        "\"resources\":{\"requests\":{\"cpu\":\"150m\",\"memory\":\"64Mi\"}}}]},"
        "\"status\":{\"phase\":\"Failed\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"False\"}],"
        "\"containerStatuses\":[{\"name\":\"c\",\"restartCount\":2,\"state\":{\"terminated\":"
        "{\"exitCode\":7,\"reason\":\"Error\"}}}]}}");
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    kl_describe_pod(out, pod);
    fclose(out);
    ok(strstr(text, "Name:             exit-seven\n") && strstr(text, "Namespace:        team\n") &&
           strstr(text, "Node:             w1\n") && strstr(text, "Status:           Failed\n"),
       "describe pod: name, namespace, node, status");
    ok(strstr(text, "Labels:           app=demo\n                  tier=batch\n") != NULL,
       "describe pod: one label per line");
    ok(strstr(text, "    Image:          busybox:1.35\n") && strstr(text, "      exit 7\n"),
       "describe pod: image and command");
    ok(strstr(text, "    State:          Terminated\n      Reason:       Error\n"
                    "      Exit Code:    7\n") != NULL,
       "describe pod: state, reason and exit code");
    ok(strstr(text, "    Restart Count:  2\n") && strstr(text, "    Limits:\n      cpu:     1\n") &&
           strstr(text, "    Requests:\n      cpu:     100m\n      memory:  64Mi\n"),
       "describe pod: restart count, limits and requests");
    ok(strstr(text, "  Ready              False\n") != NULL, "describe pod: conditions");
    if (!strstr(text, "Exit Code:    7"))
        diag("%s", text);
    free(text);

    json_t *node = load("{\"kind\":\"Node\",\"metadata\":{\"name\":\"w1\"},\"status\":{"
                        "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
                        "\"capacity\":{\"cpu\":\"4\",\"memory\":\"8Gi\"}}}");
    json_t *pods = json_pack("[O]", pod);
    text = NULL;
    out = open_memstream(&text, &size);
    kl_describe_node(out, node, pods);
    fclose(out);
    ok(strstr(text, "Status:             Ready\n") && strstr(text, "  cpu:      4\n"),
       "describe node: status and capacity");
    ok(strstr(text, "(1 in total)") && strstr(text, "exit-seven") && strstr(text, "250m") &&
           strstr(text, "128Mi"),
       "describe node: its pods with requests summed over containers");
    if (!strstr(text, "250m"))
        diag("%s", text);
    free(text);
    json_decref(pods);
    json_decref(node);
    json_decref(pod);
}

int main(void)
{
    test_age();
    test_pod_status();
    test_node_status();
    test_tables();
    test_describe();
    return done_testing();
}
