#!/bin/sh
# A runc worker is killed with SIGKILL and started again: its running
# container is adopted (same id, still Running, restartCount unchanged), a
# container of a pod deleted meanwhile is removed, and keelctl logs (and
# logs -f) prints the container's output.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "runc containers need root"
command -v runc >/dev/null && command -v umoci >/dev/null || skip_all "runc and umoci are not installed"

sh "$KEELSON_SRCDIR/scripts/build-busybox-image.sh" "$WORK/images/busybox" 1.35 >"$WORK/image.log" 2>&1 \
    || skip_all "cannot build the busybox image"
worker_config="node_name = \"rw\";
roles = [ \"worker\" ];
bus = { master = \"$SERVER\"; };
runtime = { plugin = \"runc\"; settings = { image_store = \"$WORK/images\"; state_dir = \"$WORK/state\"; }; };
kubelet = { cpu = \"2\"; memory = \"2Gi\"; heartbeat_ms = 1000; sync_ms = 100; };"
start_daemon master "$(master_config)"
start_daemon rw "$worker_config"
wait_for 20 nodes_ready 1
ok $? "runc worker Ready"
grep -q "list yes" "$WORK/rw.log" || skip_all "the runc runtime has no list() yet (runtime ABI 1.1)"

cat >"$WORK/pods.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox:1.35
    command: ["/bin/sh", "-c", "echo hello from sleeper; i=0; while [ \$i -lt 60 ]; do echo tick \$i; i=\$((i+1)); sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: doomed}
spec:
  containers:
  - name: main
    image: busybox:1.35
    command: ["/bin/sleep", "60"]
YAML
keelctl apply -f "$WORK/pods.yaml" >/dev/null 2>&1
wait_for 60 pod_phase_is sleeper Running && wait_for 30 pod_phase_is doomed Running
ok $? "two sleeping pods Running"
id_before=$(pod_field sleeper '.status.containerStatuses[0].containerID')
restarts_before=$(pod_field sleeper '.status.containerStatuses[0].restartCount')

has_hello() { keelctl logs sleeper 2>/dev/null | grep -q "hello from sleeper"; }
wait_for 10 has_hello
ok $? "keelctl logs prints the container's output"
timeout 4 "$KEELCTL_BIN" --server "$SERVER" logs sleeper -f >"$WORK/follow.out" 2>&1
ticks=$(grep -c "^tick" "$WORK/follow.out")
[ "$ticks" -ge 2 ]
ok $? "keelctl logs -f keeps printing new lines ($ticks ticks in 4 s)"

kill -9 "$PID_rw"
sleep 0.5
keelctl delete pod doomed >/dev/null 2>&1
doomed_id=$(echo "$id_before" | sed 's|keelson://||')
start_daemon rw "$worker_config"
adopted() { grep -q "adopted container main" "$WORK/rw.log"; }
wait_for 20 adopted
ok $? "the restarted kubelet adopts the running container"
sleep 1
id_after=$(pod_field sleeper '.status.containerStatuses[0].containerID')
[ -n "$id_before" ] && [ "$id_after" = "$id_before" ]
ok $? "the same container is reported ($id_after)"
pod_phase_is sleeper Running
ok $? "the pod is still Running"
[ "$(pod_field sleeper '.status.containerStatuses[0].restartCount')" = "$restarts_before" ]
ok $? "restartCount unchanged ($restarts_before)"
removed() { grep -q "left-over container main of pod default/doomed" "$WORK/rw.log"; }
wait_for 20 removed
ok $? "the container of the pod deleted while the kubelet was down is removed"
has_hello
ok $? "logs still served after the restart"

# Deleting a pod does not block the kubelet for the grace period: the
# node keeps its heartbeat while the container ends.
keelctl delete pod sleeper >/dev/null 2>&1
wait_for 20 sh -c "! runc --root '$WORK/state' list 2>/dev/null | grep -q running"
ok $? "the deleted pod's container ends"
nodes_ready 1
ok $? "the node stayed Ready"
[ "$doomed_id" != "" ]
done_testing
