#!/bin/sh
# The runc runtime pulling its image with skopeo from a private registry on
# loopback: a pod from HOST:PORT/busybox:1.35 succeeds, an unknown tag ends
# in ErrImagePull naming the image.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "runc containers need root"
command -v runc >/dev/null && command -v umoci >/dev/null || skip_all "runc and umoci are not installed"
command -v docker-registry >/dev/null && command -v skopeo >/dev/null || skip_all "docker-registry and skopeo are needed"

REGISTRY_PORT=$((PORT + 6))
REGISTRY="127.0.0.1:$REGISTRY_PORT"
finish() {
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
runtime = { plugin = \"runc\"; settings = { image_store = \"$WORK/images\"; state_dir = \"$WORK/state\"; }; };
kubelet = { cpu = \"2\"; memory = \"2Gi\"; heartbeat_ms = 1000; sync_ms = 100; };"
wait_for 20 nodes_ready 1
ok $? "the runc worker registered and Ready"
[ ! -e "$WORK/images/busybox" ]
ok $? "the image store starts empty"

cat >"$WORK/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: pulled}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: $REGISTRY/busybox:1.35
    command: ["sh", "-c", "test -x /bin/busybox"]
---
apiVersion: v1
kind: Pod
metadata: {name: no-tag}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: $REGISTRY/busybox:9.9
YAML
keelctl apply -f "$WORK/pods.yaml" >"$WORK/apply.out" 2>&1
ok $? "keelctl apply of two pods"

wait_for 60 pod_phase_is pulled Succeeded
ok $? "pod pulled reaches Succeeded"
code=$(pod_field pulled '.status.containerStatuses[0].state.terminated.exitCode')
[ "$code" = 0 ]
ok $? "its exit code 0 is reported (got $code)"
umoci ls --layout "$WORK/images/busybox" 2>/dev/null | grep -qx 1.35
ok $? "skopeo copied busybox:1.35 into the image store"

no_tag_waiting() {
    case "$(pod_field no-tag '.status.containerStatuses[0].state.waiting.reason')" in
        ErrImagePull|ImagePullBackOff) true ;; *) false ;; esac
}
wait_for 60 no_tag_waiting
ok $? "an unknown tag is reported as ErrImagePull (or its back-off)"
message=$(pod_field no-tag '.status.containerStatuses[0].state.waiting.message')
case "$message" in *"busybox:9.9"*"manifest unknown"*) true ;; *) false ;; esac
ok $? "the message names the image and skopeo's reason: $message"
keelctl delete pod pulled >/dev/null 2>&1
keelctl delete pod no-tag >/dev/null 2>&1
done_testing
