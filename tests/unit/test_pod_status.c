/* Unit tests of the kubelet's pod state machine: phases per restart policy
 * and container outcome, restart back-off, and the status object. */
#include <string.h>
#include <jansson.h>

#include "node_info.h"
#include "pod_status.h"
#include "tap.h"

#define T0 1700000000000LL

static json_t *make_pod(const char *policy, int containers)
{
    json_t *list = json_array();
    for (int i = 0; i < containers; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        json_array_append_new(list, json_pack("{s:s, s:s}", "name", name, "image", "busybox"));
    }
    json_t *spec = json_pack("{s:o}", "containers", list);
    if (policy)
        json_object_set_new(spec, "restartPolicy", json_string(policy));
    return json_pack("{s:{s:s}, s:o}", "metadata", "name", "p", "spec", spec);
}

static void track_for(kl_pod_track_t *track, const char *policy, int containers)
{
    json_t *pod = make_pod(policy, containers);
    kl_error_t err;
    if (kl_pod_track_init(track, pod, T0, &err) < 0)
        diag("init failed: %s", err.text);
    json_decref(pod);
}

static kl_container_status_t runtime_status(kl_container_state_t state, int exit_code)
{
    kl_container_status_t status = {0};
    status.state = state;
    status.exit_code = exit_code;
    status.started_at_ms = T0 + 100;
    if (state == KL_CONTAINER_EXITED)
        status.finished_at_ms = T0 + 5000;
    return status;
}

/* Starts container i and reports it running. */
static void run(kl_pod_track_t *track, size_t i, const char *id)
{
    kl_container_status_t running = runtime_status(KL_CONTAINER_RUNNING, 0);
    kl_container_started(&track->containers[i], id, T0);
    kl_container_observe(&track->containers[i], track->policy, &running, T0 + 100);
}

static int exit_with(kl_pod_track_t *track, size_t i, int code, int64_t now)
{
    kl_container_status_t exited = runtime_status(KL_CONTAINER_EXITED, code);
    return kl_container_observe(&track->containers[i], track->policy, &exited, now);
}

static void test_policy_and_backoff(void)
{
    kl_restart_policy_t policy;
    kl_error_t err;
    ok(kl_restart_policy_parse(NULL, &policy, &err) == 0 && policy == KL_RESTART_ALWAYS,
       "no restartPolicy means Always");
    ok(kl_restart_policy_parse("OnFailure", &policy, &err) == 0
       && policy == KL_RESTART_ON_FAILURE, "OnFailure parses");
    ok(kl_restart_policy_parse("Sometimes", &policy, &err) < 0
       && strstr(err.text, "spec.restartPolicy") && strstr(err.text, "Sometimes"),
       "an unknown policy is refused naming the field: %s", err.text);
    ok(kl_restart_wanted(KL_RESTART_ALWAYS, 0) && kl_restart_wanted(KL_RESTART_ALWAYS, 3),
       "Always restarts any exit");
    ok(!kl_restart_wanted(KL_RESTART_ON_FAILURE, 0) && kl_restart_wanted(KL_RESTART_ON_FAILURE, 1),
       "OnFailure restarts only failures");
    ok(!kl_restart_wanted(KL_RESTART_NEVER, 1), "Never restarts nothing");
    is_int(kl_restart_backoff_ms(0), 1000, "first restart after 1s");
    is_int(kl_restart_backoff_ms(1), 2000, "then 2s");
    is_int(kl_restart_backoff_ms(4), 16000, "then doubling");
    is_int(kl_restart_backoff_ms(5), 30000, "capped at 30s");
    is_int(kl_restart_backoff_ms(100), 30000, "and stays capped");

    kl_pod_track_t track;
    json_t *bad = json_pack("{s:{s:[{s:s}]}}", "spec", "containers", "name", "c");
    ok(kl_pod_track_init(&track, bad, T0, &err) < 0
       && strstr(err.text, "spec.containers[0].image"), "a container without image is refused: %s",
       err.text);
    json_decref(bad);
}

static void test_phases(void)
{
    kl_pod_track_t track;

    track_for(&track, "Always", 2);
    kl_pod_track_refresh(&track, T0);
    is_str(track.phase, "Pending", "a new pod is Pending");
    run(&track, 0, "a");
    kl_pod_track_refresh(&track, T0);
    is_str(track.phase, "Pending", "Pending while one container is still starting");
    ok(!track.ready, "not ready yet");
    run(&track, 1, "b");
    kl_pod_track_refresh(&track, T0 + 200);
    is_str(track.phase, "Running", "Running when all containers run");
    ok(track.ready, "and ready");
    is_int(track.ready_since_ms, T0 + 200, "readiness records its transition time");
    uint64_t version = kl_pod_track_version(&track);
    kl_container_status_t still = runtime_status(KL_CONTAINER_RUNNING, 0);
    kl_container_observe(&track.containers[0], track.policy, &still, T0 + 300);
    kl_pod_track_refresh(&track, T0 + 300);
    ok(kl_pod_track_version(&track) == version, "an unchanged container leaves the version alone");
    ok(exit_with(&track, 0, 0, T0 + 6000) == 1, "Always restarts a clean exit");
    ok(kl_pod_track_version(&track) != version, "an exit changes the version");
    kl_pod_track_refresh(&track, T0 + 6000);
    is_str(track.phase, "Running", "a restarting container keeps the pod Running");
    ok(!track.ready, "but not ready");
    is_str(track.containers[0].reason, "CrashLoopBackOff", "the container waits in back-off");
    ok(!kl_container_start_due(&track.containers[0], &track, T0 + 6000),
       "not restarted before the back-off");
    track.containers[0].id[0] = '\0';  /* the kubelet removed the old container */
    ok(kl_container_start_due(&track.containers[0], &track, T0 + 7000),
       "restarted after 1s");
    kl_container_started(&track.containers[0], "a2", T0 + 7000);
    is_int(track.containers[0].restart_count, 1, "restartCount counts the restart");
    kl_pod_track_clear(&track);

    track_for(&track, "Never", 2);
    run(&track, 0, "a");
    run(&track, 1, "b");
    ok(exit_with(&track, 0, 0, T0 + 5000) == 0, "Never does not restart");
    kl_pod_track_refresh(&track, T0 + 5000);
    is_str(track.phase, "Running", "one container still running keeps the pod Running");
    exit_with(&track, 1, 0, T0 + 5000);
    kl_pod_track_refresh(&track, T0 + 5000);
    is_str(track.phase, "Succeeded", "Never: all exited 0 is Succeeded");
    ok(kl_pod_track_finished(&track), "a Succeeded pod is finished");
    ok(!kl_container_start_due(&track.containers[0], &track, T0 + 100000),
       "nothing starts in a finished pod");
    kl_pod_track_clear(&track);

    track_for(&track, "Never", 2);
    run(&track, 0, "a");
    run(&track, 1, "b");
    exit_with(&track, 0, 0, T0 + 5000);
    exit_with(&track, 1, 2, T0 + 5000);
    kl_pod_track_refresh(&track, T0 + 5000);
    is_str(track.phase, "Failed", "Never: any non-zero exit is Failed");
    kl_pod_track_clear(&track);

    track_for(&track, "OnFailure", 1);
    run(&track, 0, "a");
    ok(exit_with(&track, 0, 1, T0 + 5000) == 1, "OnFailure restarts a failure");
    kl_pod_track_refresh(&track, T0 + 5000);
    is_str(track.phase, "Running", "OnFailure: a failed container being restarted is Running");
    track.containers[0].id[0] = '\0';
    kl_container_started(&track.containers[0], "a2", T0 + 6000);
    kl_container_status_t running = runtime_status(KL_CONTAINER_RUNNING, 0);
    kl_container_observe(&track.containers[0], track.policy, &running, T0 + 6000);
    ok(exit_with(&track, 0, 1, T0 + 9000) == 1, "fails again");
    is_int(track.containers[0].next_start_ms, T0 + 9000 + 2000,
           "the second restart backs off 2s");
    track.containers[0].id[0] = '\0';
    kl_container_started(&track.containers[0], "a3", T0 + 11000);
    kl_container_observe(&track.containers[0], track.policy, &running, T0 + 11000);
    ok(exit_with(&track, 0, 0, T0 + 12000) == 0, "OnFailure does not restart success");
    kl_pod_track_refresh(&track, T0 + 12000);
    is_str(track.phase, "Succeeded", "OnFailure: all exited 0 is Succeeded");
    is_int(track.containers[0].restart_count, 2, "two restarts were counted");
    kl_pod_track_clear(&track);

    track_for(&track, "Always", 1);
    kl_error_t err;
    kl_error_set(&err, KL_ERR_NOT_FOUND, "image \"nope\" not found");
    kl_container_start_failed(&track.containers[0], &err, T0);
    is_str(track.containers[0].reason, "ErrImagePull", "a missing image is ErrImagePull");
    is_str(track.containers[0].message, "image \"nope\" not found", "with the runtime's message");
    ok(!kl_container_start_due(&track.containers[0], &track, T0 + 500), "retried after back-off");
    ok(kl_container_start_due(&track.containers[0], &track, T0 + 1000), "after 1s");
    kl_error_set(&err, KL_ERR_INVALID, "command is empty");
    kl_container_start_failed(&track.containers[0], &err, T0 + 1000);
    is_str(track.containers[0].reason, "CreateContainerError", "other failures are CreateContainerError");
    is_int(track.containers[0].next_start_ms, T0 + 3000, "the second failure backs off 2s");
    kl_pod_track_refresh(&track, T0 + 1000);
    is_str(track.phase, "Pending", "a pod whose container cannot start is Pending");
    kl_pod_track_clear(&track);
}

static void test_status_json(void)
{
    kl_pod_track_t track;
    track_for(&track, "Always", 2);
    run(&track, 0, "abc");
    kl_pod_track_refresh(&track, T0 + 1000);
    json_t *status = kl_pod_status_build(&track);
    is_str(json_string_value(json_object_get(status, "phase")), "Pending", "status phase");
    json_t *conditions = json_object_get(status, "conditions");
    is_int(json_array_size(conditions), 4, "four conditions");
    json_t *ready = json_array_get(conditions, 1);
    is_str(json_string_value(json_object_get(ready, "type")), "Ready", "Ready condition");
    is_str(json_string_value(json_object_get(ready, "status")), "False", "not ready");
    is_str(json_string_value(json_object_get(ready, "reason")), "ContainersNotReady", "reason");
    is_str(json_string_value(json_object_get(ready, "message")),
           "containers with unready status: [c1]", "names the unready container");
    json_t *c0 = json_array_get(json_object_get(status, "containerStatuses"), 0);
    is_str(json_string_value(json_object_get(c0, "containerID")), "keelson://abc",
           "containerID carries the keelson scheme");
    is_str(json_string_value(json_object_get(json_object_get(json_object_get(c0, "state"),
                                                             "running"), "startedAt")),
           "2023-11-14T22:13:20Z", "running.startedAt is RFC 3339");
    ok(json_is_true(json_object_get(c0, "ready")), "running container is ready");
    json_t *c1 = json_array_get(json_object_get(status, "containerStatuses"), 1);
    json_t *waiting = json_object_get(json_object_get(c1, "state"), "waiting");
    ok(waiting != NULL, "a container not yet started is waiting");
    is_str(json_string_value(json_object_get(waiting, "reason")), "ContainerCreating",
           "with reason ContainerCreating");
    json_t *again = kl_pod_status_build(&track);
    ok(json_equal(status, again), "the status is deterministic (no needless writes)");
    json_decref(again);
    json_decref(status);

    exit_with(&track, 0, 137, T0 + 9000);
    status = kl_pod_status_build(&track);
    c0 = json_array_get(json_object_get(status, "containerStatuses"), 0);
    json_t *last = json_object_get(json_object_get(c0, "lastState"), "terminated");
    is_int(json_integer_value(json_object_get(last, "exitCode")), 137, "lastState keeps the exit");
    is_str(json_string_value(json_object_get(last, "reason")), "Error", "non-zero exit is Error");
    is_str(json_string_value(json_object_get(json_object_get(json_object_get(c0, "state"),
                                                             "waiting"), "reason")),
           "CrashLoopBackOff", "the container waits to restart");
    json_decref(status);
    kl_pod_track_clear(&track);
}

static void test_node_object(void)
{
    kl_error_t err;
    json_t *labels = json_pack("{s:s}", "zone", "a");
    json_t *node = kl_node_object_new("w1", labels, 2500, 4LL << 30, 110, "sim://1.0", T0, &err);
    ok(node != NULL, "a Node object is built");
    json_t *status = json_object_get(node, "status");
    is_str(json_string_value(json_object_get(json_object_get(status, "capacity"), "cpu")),
           "2500m", "capacity cpu as a quantity");
    is_str(json_string_value(json_object_get(json_object_get(status, "allocatable"), "memory")),
           "4Gi", "allocatable memory as a quantity");
    is_str(json_string_value(json_object_get(json_object_get(status, "capacity"), "pods")),
           "110", "pod capacity");
    json_t *node_labels = json_object_get(json_object_get(node, "metadata"), "labels");
    is_str(json_string_value(json_object_get(node_labels, "kubernetes.io/hostname")), "w1",
           "hostname label");
    is_str(json_string_value(json_object_get(node_labels, "zone")), "a", "configured label");
    is_str(json_string_value(json_object_get(json_object_get(status, "nodeInfo"),
                                             "kubeletVersion")),
           "keelson-" KL_VERSION_STRING, "kubelet version");
    json_t *ready = json_array_get(json_object_get(status, "conditions"), 0);
    is_str(json_string_value(json_object_get(ready, "reason")), "KubeletReady", "Ready reason");
    kl_node_heartbeat(node, T0 + 61000);
    is_str(json_string_value(json_object_get(ready, "lastHeartbeatTime")),
           "2023-11-14T22:14:21Z", "a heartbeat moves lastHeartbeatTime");
    is_str(json_string_value(json_object_get(ready, "lastTransitionTime")),
           "2023-11-14T22:13:20Z", "but not lastTransitionTime");
    json_decref(node);
    json_object_set_new(labels, "bad", json_integer(3));
    ok(kl_node_object_new("w1", labels, 1000, 1 << 20, 110, "sim", T0, &err) == NULL
       && strstr(err.text, "\"bad\""), "a non-string label is refused: %s", err.text);
    json_decref(labels);
    int64_t cpu = 0, memory = 0;
    ok(kl_node_capacity_detect(&cpu, &memory, &err) == 0 && cpu >= 1000 && memory > 0,
       "machine capacity is detected");
}

static void test_pull(void)
{
    kl_pull_policy_t policy = KL_PULL_NEVER;
    kl_error_t err;
    ok(kl_pull_policy_parse(NULL, "busybox", &policy, &err) == 0 && policy == KL_PULL_ALWAYS,
       "no tag defaults to Always");
    kl_pull_policy_parse(NULL, "busybox:latest", &policy, &err);
    is_int(policy, KL_PULL_ALWAYS, ":latest defaults to Always");
    kl_pull_policy_parse(NULL, "busybox:1.35", &policy, &err);
    is_int(policy, KL_PULL_IF_NOT_PRESENT, "a tag defaults to IfNotPresent");
    kl_pull_policy_parse(NULL, "127.0.0.1:5000/busybox", &policy, &err);
    is_int(policy, KL_PULL_ALWAYS, "a registry port is not a tag");
    kl_pull_policy_parse(NULL, "127.0.0.1:5000/busybox:1.35", &policy, &err);
    is_int(policy, KL_PULL_IF_NOT_PRESENT, "a tag after a registry port");
    kl_pull_policy_parse(NULL, "busybox@sha256:abcd", &policy, &err);
    is_int(policy, KL_PULL_IF_NOT_PRESENT, "a digest defaults to IfNotPresent");
    kl_pull_policy_parse("Never", "busybox", &policy, &err);
    is_int(policy, KL_PULL_NEVER, "an explicit Never wins over the default");
    ok(kl_pull_policy_parse("Sometimes", "busybox", &policy, &err) < 0
       && strstr(err.text, "imagePullPolicy") && strstr(err.text, "Sometimes"),
       "a bad policy is refused: %s", err.text);

    kl_pod_track_t track;
    track_for(&track, "Always", 1);
    kl_container_track_t *c = &track.containers[0];
    kl_error_set(&err, KL_ERR_NOT_FOUND, "image \"nope:1\" not found");
    kl_container_pull_failed(c, &err, T0);
    is_str(c->reason, "ErrImagePull", "the first failed pull is ErrImagePull");
    is_str(c->message, "image \"nope:1\" not found", "with the runtime's message");
    ok(!kl_container_start_due(c, &track, T0 + 500), "no retry inside the back-off");
    ok(kl_container_start_due(c, &track, T0 + 1000), "a retry after it");
    kl_container_pull_failed(c, &err, T0 + 1000);
    is_str(c->reason, "ImagePullBackOff", "a failing retry is ImagePullBackOff");
    ok(strstr(c->message, "Back-off pulling image") != NULL, "its message: %s", c->message);
    ok(!kl_container_start_due(c, &track, T0 + 2500), "the back-off doubles");
    kl_pod_track_refresh(&track, T0 + 1000);
    is_str(track.phase, "Pending", "a pod whose image does not pull stays Pending");
    kl_pod_track_clear(&track);

    track_for(&track, "Always", 1);
    c = &track.containers[0];
    kl_container_adopt(c, "ctr-7", 3);
    kl_container_status_t running = runtime_status(KL_CONTAINER_RUNNING, 0);
    kl_container_observe(c, track.policy, &running, T0 + 200);
    is_str(c->id, "ctr-7", "an adopted container keeps its id");
    is_int(c->restart_count, 3, "and the restart count the pod showed");
    is_int(c->started_ms, T0 + 100, "and its start time from the runtime");
    ok(!kl_container_start_due(c, &track, T0 + 300), "it is not started again");
    kl_pod_track_clear(&track);
}

int main(void)
{
    test_pull();
    test_node_object();
    test_policy_and_backoff();
    test_phases();
    test_status_json();
    return done_testing();
}
