#!/bin/sh
# Node heartbeats through a Lease, and the kubelet's Events: a sim worker
# renews kube-node-lease/<node>, keelctl lists it, a pod's describe shows
# Pulled/Created/Started (and Failed for an image that does not pull), and
# once the worker is killed its Lease stops and nodelifecycle marks the
# node NotReady on that account.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
command -v jq >/dev/null 2>&1 || skip_all "jq is not installed"

start_daemon master "$(master_config memory firstfit 'controllers = ( { plugin = "nodelifecycle"; settings = { grace_period_ms = 3000; eviction_timeout_ms = 60000; }; } );')"
start_daemon w1 "$(sim_worker_config w1 110 'start_delay_ms = 50; missing_images = [ "ghost:1" ];')"
wait_for 30 nodes_ready 1
ok $? "worker w1 Ready"

lease_json() { keelctl get lease w1 -n kube-node-lease -o json 2>/dev/null; }
lease_exists() { lease_json | jq -e '.spec.renewTime' >/dev/null; }
wait_for 10 lease_exists
ok $? "Lease kube-node-lease/w1 exists"
lease_json >"$WORK/lease1.json"
jq -e '.apiVersion == "coordination.k8s.io/v1" and .spec.holderIdentity == "w1" and .spec.leaseDurationSeconds == 40' "$WORK/lease1.json" >/dev/null
ok $? "it is held by w1 for 40 s: $(jq -c .spec "$WORK/lease1.json")"
first=$(jq -r .spec.renewTime "$WORK/lease1.json")
echo "$first" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$'
ok $? "renewTime is a MicroTime: $first"
renewed() { now=$(lease_json | jq -r .spec.renewTime); [ -n "$now" ] && [ "$now" != "$first" ]; }
wait_for 5 renewed
ok $? "renewTime advances (now $(lease_json | jq -r .spec.renewTime))"

keelctl get leases -n kube-node-lease >"$WORK/get.out" 2>&1
head -1 "$WORK/get.out" | grep -Eq '^NAME +HOLDER +AGE$' && grep -Eq '^w1 +w1 +[0-9]+s$' "$WORK/get.out"
ok $? "keelctl get leases -n kube-node-lease lists it"
sed 's/^/# /' "$WORK/get.out"
keelctl get leases >"$WORK/get-default.out" 2>&1
! grep -q '^w1 ' "$WORK/get-default.out"
ok $? "no Lease in the default namespace"
printf 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata: {name: bad, namespace: kube-node-lease}\nspec: {leaseDurationSeconds: 0}\n' >"$WORK/bad-lease.yaml"
keelctl apply -f "$WORK/bad-lease.yaml" >"$WORK/bad-lease.out" 2>&1
[ $? -ne 0 ] && grep -q 'spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0' "$WORK/bad-lease.out"
ok $? "a Lease of 0 s is refused: $(head -1 "$WORK/bad-lease.out")"

# Node events from registration.
keelctl get events -o json >"$WORK/events.json" 2>/dev/null
jq -e '[.items[] | select(.involvedObject.kind == "Node" and .involvedObject.name == "w1") | .reason] | index("Starting") != null and index("NodeReady") != null' "$WORK/events.json" >/dev/null
ok $? "the kubelet recorded Starting and NodeReady for w1"

printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: c, image: "sim:1"}]\n' >"$WORK/web.yaml"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: ghost}\nspec:\n  containers: [{name: c, image: "ghost:1"}]\n' >"$WORK/ghost.yaml"
keelctl apply -f "$WORK/web.yaml" >/dev/null 2>&1 && keelctl apply -f "$WORK/ghost.yaml" >/dev/null 2>&1
ok $? "apply pods web and ghost"
wait_for 20 pod_phase_is web Running
ok $? "web Running"
describe_has() { keelctl describe pod "$1" 2>/dev/null | grep -Eq "$2"; }
wait_for 10 describe_has web 'Started'
keelctl describe pod web >"$WORK/describe-web.out" 2>&1
grep -Eq 'Normal +Pulled .*Container image "sim:1" already present on machine' "$WORK/describe-web.out" \
    && ! grep -Eq 'Pulling' "$WORK/describe-web.out" \
    && grep -Eq 'Normal +Created .*Created container c' "$WORK/describe-web.out" \
    && grep -Eq 'Normal +Started .*Started container c' "$WORK/describe-web.out"
ok $? "describe pod web shows Pulled (image already present, no Pulling), Created and Started"
sed -n '/Events/,$p' "$WORK/describe-web.out" | sed 's/^/# /'
wait_for 10 describe_has ghost 'Warning +Failed'
keelctl describe pod ghost >"$WORK/describe-ghost.out" 2>&1
grep -Eq 'Warning +Failed .*Failed to pull image "ghost:1"' "$WORK/describe-ghost.out"
ok $? "describe pod ghost shows a Warning Failed pull"
wait_for 10 describe_has ghost 'BackOff +.*Back-off pulling image "ghost:1"'
ok $? "and BackOff while the pull keeps failing"
# The pull is retried every few seconds; the rate limit keeps one Failed.
sleep 3
keelctl get events -o json >"$WORK/events2.json" 2>/dev/null
[ "$(jq '[.items[] | select(.involvedObject.name == "ghost" and .reason == "Failed")] | length' "$WORK/events2.json")" = 1 ]
ok $? "one Failed event for ghost despite the retries"
jq -e '[.items[] | select(.involvedObject.name == "web" and .reason == "Started")][0] | .involvedObject.fieldPath == "spec.containers{c}" and .source.component == "kubelet" and .source.host == "w1"' "$WORK/events2.json" >/dev/null
ok $? "container events carry fieldPath and the kubelet's source"

# Deleting a pod stops its container: a Killing event.
keelctl delete pod web >/dev/null 2>&1
killing() { keelctl get events -o json 2>/dev/null | jq -e '[.items[] | select(.involvedObject.name == "web" and .reason == "Killing")] | length == 1' >/dev/null; }
wait_for 10 killing
ok $? "deleting web recorded Killing"

# The worker dies: the Lease stops, and the node goes NotReady because of it.
kill -9 "$PID_w1"
killed_at=$(date +%s%N)
last=$(lease_json | jq -r .spec.renewTime)
node_unknown() { [ "$(keelctl get node w1 -o json 2>/dev/null | jq -r '.status.conditions[] | select(.type == "Ready") | .status')" = Unknown ]; }
wait_for 15 node_unknown
ok $? "w1 NotReady $(( ($(date +%s%N) - killed_at) / 1000000 )) ms after kill -9"
[ "$(lease_json | jq -r .spec.renewTime)" = "$last" ]
ok $? "its Lease was not renewed since ($last)"
grep -q "node w1: no heartbeat for [0-9]* ms (its Lease kube-node-lease was not renewed); marked NotReady" "$WORK/master.log"
ok $? "nodelifecycle judged w1 by its Lease"
done_testing
