#!/bin/sh
# A master and a worker keelsond whose runtime is podman, with images pulled
# from a private registry on loopback: exit codes, env and args, a memory
# limit that ends in OOMKilled, ErrImagePull for an unknown image, and delete.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "podman containers need root"
command -v podman >/dev/null || skip_all "podman is not installed"
command -v docker-registry >/dev/null && command -v skopeo >/dev/null || skip_all "docker-registry and skopeo are needed"

REGISTRY_PORT=$((PORT + 5))
REGISTRY="127.0.0.1:$REGISTRY_PORT"
PODMAN_ROOT="$WORK/podman-root"
PODMAN_RUNROOT="$WORK/podman-run"
podman_here() {
    podman --root "$PODMAN_ROOT" --runroot "$PODMAN_RUNROOT" --tmpdir "$PODMAN_RUNROOT/libpod-tmp" \
        --runtime runc --cgroup-manager cgroupfs --events-backend file "$@"
}
finish() {
    podman_here rm --all --force --time 0 >/dev/null 2>&1
    podman_here rmi --all --force >/dev/null 2>&1
    # podman mounts its storage; unmount before the work dir goes.
    grep -o " $WORK/podman-[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m" 2>/dev/null; done
    for d in /sys/fs/cgroup/*/keelson-podman/kl-*; do [ -d "$d" ] && rmdir "$d"/* "$d" 2>/dev/null; done
    sh "$KEELSON_SRCDIR/scripts/registry.sh" stop "$WORK/registry" >/dev/null 2>&1
    cleanup
}
trap finish EXIT INT TERM

sh "$KEELSON_SRCDIR/scripts/registry.sh" start "$WORK/registry" "$REGISTRY_PORT" >"$WORK/registry.out" 2>&1
ok $? "registry started on $REGISTRY"
sh "$KEELSON_SRCDIR/scripts/push-test-image.sh" "$REGISTRY" >"$WORK/push.out" 2>&1
ok $? "busybox:1.35 pushed to the registry"

start_daemon master "$(master_config)"
start_daemon w1 "node_name = \"w1\";
roles = [ \"worker\" ];
bus = { master = \"$SERVER\"; };
runtime = { plugin = \"podman\"; settings = { root = \"$PODMAN_ROOT\"; runroot = \"$PODMAN_RUNROOT\"; }; };
kubelet = { cpu = \"2\"; memory = \"2Gi\"; heartbeat_ms = 1000; sync_ms = 100; };"
wait_for 20 nodes_ready 1
ok $? "the podman worker registered and Ready"

cat >"$WORK/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: succeeds}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: $REGISTRY/busybox:1.35
    command: ["/bin/sh", "-c"]
    args: ["echo \"\$GREETING \$1\" > /tmp/out; test \"\$(cat /tmp/out)\" = \"hello world\" || exit 9", "argv0", "world"]
    env:
    - {name: GREETING, value: hello}
---
apiVersion: v1
kind: Pod
metadata: {name: exit-three}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: $REGISTRY/busybox:1.35
    command: ["sh", "-c", "exit 3"]
---
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: $REGISTRY/busybox:1.35
    command: ["sh", "-c", "x=\$(head -c 100m /dev/zero | tr '\\\\0' a); echo survived"]
    resources:
      limits: {memory: 16Mi}
---
apiVersion: v1
kind: Pod
metadata: {name: no-image}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: $REGISTRY/busybox:9.9
---
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  restartPolicy: Never
  # sleep ignores SIGTERM as PID 1: keep the wait for SIGKILL short.
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: $REGISTRY/busybox:1.35
    command: ["sleep", "300"]
YAML
keelctl apply -f "$WORK/pods.yaml" >"$WORK/apply.out" 2>&1
ok $? "keelctl apply of five pods"

wait_for 60 pod_phase_is succeeds Succeeded
ok $? "pod succeeds reaches Succeeded (env and args reach the container)"
code=$(pod_field succeeds '.status.containerStatuses[0].state.terminated.exitCode')
[ "$code" = 0 ]
ok $? "its exit code 0 is reported (got $code)"

wait_for 60 pod_phase_is exit-three Failed
ok $? "pod exit-three reaches Failed"
code=$(pod_field exit-three '.status.containerStatuses[0].state.terminated.exitCode')
[ "$code" = 3 ]
ok $? "its exit code 3 is reported (got $code)"

wait_for 60 pod_phase_is hog Failed
ok $? "pod hog over its 16Mi memory limit reaches Failed"
reason=$(pod_field hog '.status.containerStatuses[0].state.terminated.reason')
code=$(pod_field hog '.status.containerStatuses[0].state.terminated.exitCode')
[ "$reason" = OOMKilled ] && [ "$code" = 137 ]
ok $? "it is reported OOMKilled with exit code 137 (got $reason, $code)"

no_image_waiting() {
    case "$(pod_field no-image '.status.containerStatuses[0].state.waiting.reason')" in
        ErrImagePull|ImagePullBackOff) true ;; *) false ;; esac
}
wait_for 60 no_image_waiting
ok $? "an unknown tag is reported as ErrImagePull (or its back-off)"
message=$(pod_field no-image '.status.containerStatuses[0].state.waiting.message')
case "$message" in *"busybox:9.9"*) true ;; *) false ;; esac
ok $? "the message names the image: $message"

wait_for 60 pod_phase_is sleeper Running
ok $? "pod sleeper is Running"
labelled=$(podman_here ps --filter label=io.keelson.pod.name=sleeper --format '{{.ID}}' 2>/dev/null | wc -l)
[ "$labelled" = 1 ]
ok $? "podman shows one container labelled with the pod's name (got $labelled)"

keelctl delete pod sleeper >/dev/null 2>&1
ok $? "delete pod sleeper"
gone() { [ "$(podman_here ps -a --filter label=io.keelson.pod.name=sleeper --format '{{.ID}}' 2>/dev/null | wc -l)" = 0 ]; }
wait_for 30 gone
ok $? "the kubelet removed the deleted pod's podman container"
for p in succeeds exit-three hog no-image; do keelctl delete pod "$p" >/dev/null 2>&1; done
all_gone() { [ "$(podman_here ps -a --format '{{.ID}}' 2>/dev/null | wc -l)" = 0 ]; }
wait_for 30 all_gone
ok $? "no podman containers are left after deleting every pod"
leftover=$(ls -d /sys/fs/cgroup/memory/keelson-podman/kl-* 2>/dev/null | wc -l)
[ "$leftover" = 0 ]
ok $? "no memory cgroups of keelson's are left (got $leftover)"
done_testing
