#!/bin/sh
# One master and ten simulated workers: 200 pods are scheduled, every one
# bound, no node over its pod limit, and all reach Running.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
start_daemon master "$(master_config)"
for i in $(seq 1 10); do
    start_daemon "sim$i" "$(sim_worker_config "sim-$(printf %02d "$i")" 20)"
done
wait_for 30 nodes_ready 10
ok $? "ten simulated workers Ready"

for i in $(seq 1 200); do
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p%03d\n  labels: {batch: b1}\nspec:\n  containers:\n  - name: c\n    image: sim\n    resources: {requests: {cpu: 100m, memory: 64Mi}}\n' "$i"
done >"$WORK/pods.yaml"
start=$(date +%s%N)
keelctl apply -f "$WORK/pods.yaml" >"$WORK/apply.out" 2>&1
ok $? "apply 200 pods"
[ "$(grep -c created "$WORK/apply.out")" = 200 ]
ok $? "200 pods created"

all_running() {
    [ "$(keelctl get pods -l batch=b1 -o json | jq '[.items[] | select(.status.phase == "Running")] | length')" = 200 ]
}
wait_for 60 all_running
ok $? "all 200 pods Running"
diag "apply to all Running: $(( ($(date +%s%N) - start) / 1000000 )) ms"

keelctl get pods -o json >"$WORK/pods.json"
[ "$(jq '[.items[] | select(.spec.nodeName == null or .spec.nodeName == "")] | length' "$WORK/pods.json")" = 0 ]
ok $? "every pod bound"
[ "$(jq '[.items[].spec.nodeName] | unique | length' "$WORK/pods.json")" = 10 ]
ok $? "pods spread over all ten nodes (each holds at most 20)"
[ "$(jq '[.items[].spec.nodeName] | group_by(.) | map(length) | max' "$WORK/pods.json")" -le 20 ]
ok $? "no node holds more than its max_pods"

# One more pod does not fit anywhere: it stays Pending with the reason.
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: extra}\nspec:\n  containers: [{name: c, image: sim}]\n' >"$WORK/extra.yaml"
keelctl apply -f "$WORK/extra.yaml" >/dev/null 2>&1
unschedulable() {
    pod_field extra '.status.conditions[]? | select(.type == "PodScheduled") | .message' | grep -q "0/10 nodes are available: 10 Too many pods"
}
wait_for 15 unschedulable
ok $? "the 201st pod is Pending: $(pod_field extra '.status.conditions[]? | select(.type == "PodScheduled") | .message')"

# A worker that disappears: the master keeps serving.
kill -9 "$PID_sim1"
sleep 1
keelctl get pods -l batch=b1 -o json | jq -e '.items | length == 200' >/dev/null
ok $? "after a worker is killed the API still serves all 200 pods"
done_testing
