#!/bin/sh
# runtime/docker end to end: a private registry and a private dockerd in the
# test's folder, a master and a worker keelsond whose kubelet drives that
# dockerd; pods applied with keelctl pull from the registry and run.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "dockerd needs root"
for tool in dockerd docker-registry skopeo umoci curl jq; do
    command -v "$tool" >/dev/null || skip_all "$tool is not installed"
done

SCRIPTS="$KEELSON_SRCDIR/scripts"
REGISTRY="127.0.0.1:$((PORT + 4))"
SOCKET="$WORK/docker.sock"

# dockerd and the registry outlive keelsond: stop them after it, always.
docker_cleanup() {
    stop_daemons
    sh "$SCRIPTS/dockerd.sh" stop "$WORK" >/dev/null 2>&1
    sh "$SCRIPTS/registry.sh" stop "$WORK/registry" >/dev/null 2>&1
    cleanup
}
trap docker_cleanup EXIT INT TERM

engine() {  # engine PATH: GET from the private dockerd
    curl -s -m 10 --unix-socket "$SOCKET" "http://localhost/v1.41$1"
}
waiting_message() {  # waiting_message POD: why its container waits, or nothing
    pod_field "$1" '.status.containerStatuses[0].state.waiting.message // empty'
}
containers_of() {  # containers_of POD: ids of the containers dockerd holds for it
    engine "/containers/json?all=1&filters=$(printf '{"label":["io.keelson.pod.name=%s"]}' "$1" | jq -sRr @uri)" \
        | jq -r '.[].Id'
}

sh "$SCRIPTS/registry.sh" start "$WORK/registry" "$((PORT + 4))" >"$WORK/registry-start.log" 2>&1
ok $? "private registry answers on $REGISTRY"
sh "$SCRIPTS/push-test-image.sh" "$REGISTRY" >"$WORK/push.log" 2>&1
ok $? "busybox:1.35 pushed to it"
sh "$SCRIPTS/push-test-image.sh" "$REGISTRY" >>"$WORK/push.log" 2>&1
ok $? "pushing again is a no-op that succeeds"
sh "$SCRIPTS/dockerd.sh" start "$WORK" "$REGISTRY" >"$WORK/dockerd-start.log" 2>&1
ok $? "private dockerd answers on its socket" || { cat "$WORK/dockerd-start.log" | sed 's/^/# /'; }

start_daemon master "$(master_config)"
start_daemon worker "node_name = \"worker\";
roles = [ \"worker\" ];
bus = { master = \"$SERVER\"; };
runtime = { plugin = \"docker\"; settings = { socket = \"$SOCKET\"; timeout_ms = 20000; }; };
kubelet = { cpu = \"2\"; memory = \"2Gi\"; heartbeat_ms = 1000; sync_ms = 100; relist_ms = 30000; };"
wait_for 20 nodes_ready 1
ok $? "the worker with runtime/docker registered and is Ready"
# A 30 s relist: every exit below reaches the kubelet through dockerd's events.
grep -q "events yes" "$WORK/worker.log"
ok $? "the kubelet follows the runtime's exit notifications"

pod() {  # pod NAME IMAGE COMMAND-JSON ARGS-JSON [EXTRA-YAML]
    cat <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: $1
spec:
  restartPolicy: Never
  # A sleep ignores SIGTERM as PID 1: keep the wait for SIGKILL short.
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: $2
    command: $3
    args: $4
${5:-}
YAML
}
{
    pod succeeds "$REGISTRY/busybox:1.35" '["/bin/sh", "-c"]' \
        '["test \"$GREETING\" = hello && test \"$0\" = world && test \"$(pwd)\" = /tmp && echo done", "world"]' \
        "    workingDir: /tmp
    env:
    - {name: GREETING, value: hello}"
    pod exit-seven "$REGISTRY/busybox:1.35" '["/bin/sh", "-c", "exit 7"]' '[]'
    pod oom "$REGISTRY/busybox:1.35" '["/bin/sh", "-c"]' '["head -c 200m /dev/zero | tail"]' \
        "    resources:
      limits: {memory: 32Mi}"
    pod no-image "$REGISTRY/nosuch:1.0" '["/bin/true"]' '[]'
    pod no-command "$REGISTRY/busybox:1.35" '["/no/such/program"]' '[]'
} >"$WORK/pods.yaml"
keelctl apply -f "$WORK/pods.yaml" >"$WORK/apply.out" 2>&1
ok $? "keelctl apply of five pods"

wait_for 90 pod_phase_is succeeds Succeeded
ok $? "a pod pulled from the private registry reaches Succeeded (env, args and workingDir as asked)"
code=$(pod_field succeeds '.status.containerStatuses[0].state.terminated.exitCode')
[ "$code" = 0 ]
ok $? "its exit code 0 is reported (got $code)"

wait_for 60 pod_phase_is exit-seven Failed
ok $? "a pod exiting 7 reaches Failed"
code=$(pod_field exit-seven '.status.containerStatuses[0].state.terminated.exitCode')
[ "$code" = 7 ]
ok $? "its exit code 7 is reported (got $code)"
reason=$(pod_field exit-seven '.status.containerStatuses[0].state.terminated.reason')
[ "$reason" = Error ]
ok $? "with reason Error (got $reason)"

wait_for 60 pod_phase_is oom Failed
ok $? "a pod allocating beyond its 32Mi limit fails"
reason=$(pod_field oom '.status.containerStatuses[0].state.terminated.reason')
[ "$reason" = OOMKilled ]
ok $? "with reason OOMKilled (got $reason)"
id=$(containers_of oom | head -1)
limit=$(engine "/containers/$id/json" | jq -r .HostConfig.Memory)
[ "$limit" = 33554432 ]
ok $? "dockerd holds the limit as 33554432 bytes (got $limit)"

# The kubelet reports ErrImagePull first, then ImagePullBackOff between retries.
no_image_reason() {
    case $(pod_field no-image '.status.containerStatuses[0].state.waiting.reason') in
        ErrImagePull|ImagePullBackOff) true ;; *) false ;;
    esac
}
wait_for 30 no_image_reason
ok $? "an image the registry lacks leaves the pod waiting with ErrImagePull or ImagePullBackOff ($(pod_field no-image '.status.containerStatuses[0].state.waiting.reason'))"
message=$(waiting_message no-image)
diag "ErrImagePull message: $message"
case $message in *nosuch*) true ;; *) false ;; esac
ok $? "its message names the image"

no_command_reason() { [ -n "$(waiting_message no-command)" ]; }
wait_for 30 no_command_reason
ok $? "a command missing from the image is reported on the pod"
message=$(waiting_message no-command)
diag "no-command message: $message"
case $message in *no/such/program*) true ;; *) false ;; esac
ok $? "its message names the program"
# The kubelet retries with back-off, so a retry's container may exist for a
# moment; every container seen must be removed again, not kept.
seen=$(containers_of no-command)
diag "no-command containers seen: ${seen:-none}"
gone() {
    for id in $seen; do
        [ "$(engine "/containers/$id/json" | jq -r '.Id // empty')" = "" ] || return 1
    done
}
wait_for 10 gone
ok $? "the container that could not run was not left behind in dockerd"

# The kubelet keeps serving other pods while those two retry.
pod sleeper "$REGISTRY/busybox:1.35" '["/bin/sleep", "600"]' '[]' >"$WORK/sleeper.yaml"
keelctl apply -f "$WORK/sleeper.yaml" >/dev/null 2>&1
wait_for 60 pod_phase_is sleeper Running
ok $? "a later pod still reaches Running"
id=$(containers_of sleeper)
name=$(engine "/containers/$id/json" | jq -r .Name)
uid=$(pod_field sleeper .metadata.uid | tr -dc 'a-z0-9' | cut -c1-8)
[ "$name" = "/kl_default_sleeper_main_$uid" ]
ok $? "its container is named kl_default_sleeper_main_$uid (got $name)"
network=$(engine "/containers/$id/json" | jq -r .HostConfig.NetworkMode)
[ "$network" = host ]
ok $? "it uses host networking (got $network)"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
pod quick "$REGISTRY/busybox:1.35" '["/bin/sleep", "1"]' '[]' >"$WORK/quick.yaml"
start=$(now_ms)
keelctl apply -f "$WORK/quick.yaml" >/dev/null 2>&1
wait_for 20 pod_phase_is quick Succeeded
ok $? "a pod sleeping one second Succeeded"
took=$(($(now_ms) - start))
[ "$took" -lt 6000 ]
ok $? "apply to Succeeded took $took ms with a 30 s relist: dockerd's die event woke the kubelet"

keelctl delete pod sleeper >/dev/null 2>&1
ok $? "delete pod sleeper"
sleeper_gone() { [ -z "$(containers_of sleeper)" ] && engine /_ping >/dev/null; }
wait_for 30 sleeper_gone
ok $? "the kubelet removed its container from dockerd"

# dockerd going away must not take the kubelet with it.
sh "$SCRIPTS/dockerd.sh" stop "$WORK" >/dev/null 2>&1
pod after-stop "$REGISTRY/busybox:1.35" '["/bin/true"]' '[]' >"$WORK/after.yaml"
keelctl apply -f "$WORK/after.yaml" >/dev/null 2>&1
after_reported() { [ -n "$(waiting_message after-stop)" ]; }
wait_for 30 after_reported
ok $? "with dockerd stopped, a new pod reports why it cannot start"
message=$(waiting_message after-stop)
diag "message: $message"
case $message in *"dockerd is not answering"*) true ;; *) false ;; esac
ok $? "the message says dockerd is not answering"
kill -0 "$PID_worker" 2>/dev/null
ok $? "the worker keelsond is still running"
keelctl delete pod after-stop no-image no-command >/dev/null 2>&1

done_testing
