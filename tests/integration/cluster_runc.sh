#!/bin/sh
# One master and two worker keelsond processes on loopback; pods applied
# with keelctl run as real runc containers from a real busybox image, and
# their status reaches Succeeded/Failed with the container's exit code.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "runc containers need root"
command -v runc >/dev/null && command -v umoci >/dev/null || skip_all "runc and umoci are not installed"

sh "$KEELSON_SRCDIR/scripts/build-busybox-image.sh" "$WORK/images/busybox" 1.35 >"$WORK/image.log" 2>&1
ok $? "busybox image built from busybox-static"

start_daemon master "$(master_config)"
for w in w1 w2; do
    start_daemon "$w" "node_name = \"$w\";
roles = [ \"worker\" ];
bus = { master = \"$SERVER\"; };
runtime = { plugin = \"runc\"; settings = { image_store = \"$WORK/images\"; state_dir = \"$WORK/state-$w\"; }; };
kubelet = { cpu = \"2\"; memory = \"2Gi\"; heartbeat_ms = 1000; sync_ms = 100; };"
done
wait_for 20 nodes_ready 2
ok $? "two workers registered and Ready"

cat >"$WORK/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: exit-seven
  labels: {app: it}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: 127.0.0.1:5000/busybox:1.35
    command: ["/bin/sh", "-c"]
    args: ["echo \$GREETING > /tmp/out; test \"\$(cat /tmp/out)\" = hello || exit 1; exit 7"]
    env:
    - {name: GREETING, value: hello}
    resources:
      requests: {cpu: 100m, memory: 32Mi}
      limits: {memory: 64Mi}
---
apiVersion: v1
kind: Pod
metadata:
  name: succeeds
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox:1.35
    command: ["/bin/true"]
YAML
keelctl apply -f "$WORK/pods.yaml" >"$WORK/apply.out" 2>&1
ok $? "keelctl apply of two pods"
grep -q "pod/exit-seven created" "$WORK/apply.out"
ok $? "apply reports the pod created"

wait_for 60 pod_phase_is exit-seven Failed
ok $? "pod exit-seven reaches Failed"
code=$(pod_field exit-seven '.status.containerStatuses[0].state.terminated.exitCode')
[ "$code" = 7 ]
ok $? "its container's exit code 7 is reported (got $code)"
node=$(pod_field exit-seven .spec.nodeName)
case "$node" in w1|w2) true ;; *) false ;; esac
ok $? "it ran on one of the workers ($node)"
ls "$WORK/state-$node" 2>/dev/null | grep -q .
ok $? "the container bundle lives on that worker ($node)"

wait_for 60 pod_phase_is succeeds Succeeded
ok $? "pod succeeds reaches Succeeded"
[ "$(pod_field succeeds '.status.containerStatuses[0].state.terminated.exitCode')" = 0 ]
ok $? "exit code 0 reported"

keelctl get pods -o wide >"$WORK/get.out" 2>&1
grep -q "exit-seven" "$WORK/get.out" && grep -q "Error" "$WORK/get.out" && grep -q "Completed" "$WORK/get.out"
ok $? "keelctl get pods shows Error and Completed"
uid=$(pod_field exit-seven .metadata.uid)
short_uid=$(printf %s "$uid" | cut -c1-8)
ls "$WORK/state-$node" | grep -q "$short_uid"
ok $? "the bundle is named after the pod ($short_uid)"
keelctl delete pod exit-seven >/dev/null 2>&1
ok $? "delete pod"
gone() { ! keelctl get pod exit-seven >/dev/null 2>&1; }
wait_for 10 gone
ok $? "deleted pod is gone from the API"
removed() { ! ls "$WORK/state-$node" | grep -q "$short_uid"; }
wait_for 15 removed
ok $? "the kubelet removed the deleted pod's container on $node"
done_testing
