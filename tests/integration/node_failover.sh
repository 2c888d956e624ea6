#!/bin/sh
# A worker dies (kill -9): nodelifecycle marks its node NotReady, taints it
# and evicts its pods; they run again on the other workers, none twice, and
# the returning worker becomes Ready and runs none of the evicted pods.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
command -v jq >/dev/null 2>&1 || skip_all "jq is not installed"

REPLICAS=6
# The Deployment path needs the replicaset and deployment controllers; with
# bare pods the test checks eviction alone (nothing recreates the pods).
CONTROLLERS='{ plugin = "nodelifecycle"; settings = { grace_period_ms = 2000; eviction_timeout_ms = 2000; }; }'
USE_DEPLOYMENT=1
for c in replicaset deployment gc; do
    found=""
    for dir in $(echo "${KEELSON_PLUGIN_PATH:-}" | tr ':' ' '); do
        [ -e "$dir/controller_$c.so" ] && found=1
    done
    if [ -n "$found" ]; then
        CONTROLLERS="$CONTROLLERS, { plugin = \"$c\"; }"
    elif [ "$c" != gc ]; then
        USE_DEPLOYMENT=""
    fi
done
[ -n "$USE_DEPLOYMENT" ] || diag "controller_replicaset/deployment not built: bare pods, eviction only"

# A setting out of range stops keelsond with a sentence naming it.
master_config memory spread 'controllers = ( { plugin = "nodelifecycle"; settings = { grace_period_ms = 5; }; } );' >"$WORK/bad.conf"
timeout 20 "$KEELSOND" -c "$WORK/bad.conf" >"$WORK/bad.log" 2>&1
[ $? -ne 0 ] && grep -q "controller/nodelifecycle.*grace_period_ms = 5: must be between 100 and" "$WORK/bad.log"
ok $? "grace_period_ms = 5 is refused: $(grep -o 'grace_period_ms = 5: [^;]*' "$WORK/bad.log" | head -1)"

start_daemon master "$(master_config memory spread "controllers = ( $CONTROLLERS );" | sed 's/node_timeout_ms = 6000/node_timeout_ms = 2000/')"
worker_config() {
    sim_worker_config "$1" 110 "start_delay_ms = 50;" | sed 's/heartbeat_ms = 1000/heartbeat_ms = 500/'
}
for i in 1 2 3; do start_daemon "w$i" "$(worker_config "w$i")"; done
wait_for 30 nodes_ready 3
ok $? "three workers Ready"

if [ -n "$USE_DEPLOYMENT" ]; then
    cat >"$WORK/app.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: $REPLICAS
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: c, image: sim, resources: {requests: {cpu: 100m, memory: 64Mi}}}
YAML
else
    for i in $(seq 1 $REPLICAS); do
        printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: web-%d\n  labels: {app: web}\nspec:\n  containers:\n  - {name: c, image: sim, resources: {requests: {cpu: 100m, memory: 64Mi}}}\n' "$i"
    done >"$WORK/app.yaml"
fi
# An unrelated object that must survive everything below.
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: keeper, labels: {app: keeper}}\nspec:\n  nodeName: nowhere\n  containers: [{name: c, image: sim}]\n' >"$WORK/keeper.yaml"
keelctl apply -f "$WORK/app.yaml" >"$WORK/apply.out" 2>&1
ok $? "apply the workload ($REPLICAS replicas)"
keelctl apply -f "$WORK/keeper.yaml" >/dev/null 2>&1
ok $? "apply a pod bound to a node that does not exist"

pods_json() { keelctl get pods -l app=web -o json 2>/dev/null; }
running_count() { pods_json | jq '[.items[] | select(.status.phase == "Running")] | length'; }
running_is() { [ "$(running_count)" = "$1" ]; }
wait_for 30 running_is $REPLICAS
ok $? "$REPLICAS pods Running"
pods_json >"$WORK/before.json"
jq -r '.items[] | "\(.metadata.name) \(.spec.nodeName)"' "$WORK/before.json" | sed 's/^/# /'
# The victim is a worker holding at least one pod.
victim=$(jq -r '[.items[].spec.nodeName] | group_by(.) | max_by(length) | .[0]' "$WORK/before.json")
on_victim=$(jq -r --arg n "$victim" '[.items[] | select(.spec.nodeName == $n) | .metadata.name] | join(" ")' "$WORK/before.json")
[ -n "$on_victim" ]
ok $? "worker $victim runs pods: $on_victim"

eval "victim_pid=\$PID_$victim"
kill -9 "$victim_pid"
killed_at=$(date +%s%N)
diag "killed $victim (pid $victim_pid)"

node_ready_status() { keelctl get node "$1" -o json 2>/dev/null | jq -r '.status.conditions[] | select(.type == "Ready") | .status'; }
node_unknown() { [ "$(node_ready_status "$1")" = Unknown ]; }
wait_for 15 node_unknown "$victim"
ok $? "$victim marked NotReady after $(( ($(date +%s%N) - killed_at) / 1000000 )) ms"
keelctl get node "$victim" -o json >"$WORK/victim.json"
jq -e '.status.conditions[] | select(.type == "Ready") | .reason == "NodeStatusUnknown" and .message == "Kubelet stopped posting node status."' "$WORK/victim.json" >/dev/null
ok $? "its Ready condition says NodeStatusUnknown"
has_taint() { keelctl get node "$1" -o json 2>/dev/null | jq -e '[.spec.taints[]? | select(.key == "node.kubernetes.io/unreachable" and .effect == "NoExecute")] | length == 1' >/dev/null; }
wait_for 10 has_taint "$victim"
ok $? "$victim tainted node.kubernetes.io/unreachable:NoExecute"

# Sample the Running count while the pods move: it never exceeds REPLICAS.
none_on_victim() { [ "$(pods_json | jq --arg n "$victim" '[.items[] | select(.spec.nodeName == $n)] | length')" = 0 ]; }
max_running=0
end=$(($(date +%s) + 30))
moved=1
while [ "$(date +%s)" -le "$end" ]; do
    pods_json >"$WORK/sample.json" || continue
    n=$(jq '[.items[] | select(.status.phase == "Running")] | length' "$WORK/sample.json")
    [ "$n" -gt "$max_running" ] && max_running=$n
    if [ -n "$USE_DEPLOYMENT" ]; then
        jq -e --arg n "$victim" --argjson r $REPLICAS \
            '([.items[] | select(.status.phase == "Running" and .spec.nodeName != $n)] | length) == $r
             and ([.items[] | select(.spec.nodeName == $n)] | length) == 0' "$WORK/sample.json" >/dev/null \
            && { moved=0; break; }
    else
        jq -e --arg n "$victim" '[.items[] | select(.spec.nodeName == $n)] | length == 0' "$WORK/sample.json" >/dev/null \
            && { moved=0; break; }
    fi
    sleep 0.2
done
took=$(( ($(date +%s%N) - killed_at) / 1000000 ))
if [ -n "$USE_DEPLOYMENT" ]; then
    ok $moved "all $REPLICAS pods Running on the other two workers ${took} ms after the kill"
else
    ok $moved "the pods of $victim evicted ${took} ms after the kill"
fi
[ "$max_running" -le $REPLICAS ]
ok $? "Running pods never exceeded $REPLICAS in samples (max $max_running)"
pods_json >"$WORK/after.json"
[ "$(jq '[.items[].metadata.name] | length == (unique | length)' "$WORK/after.json")" = true ]
ok $? "no two pod objects share a name"
keelctl get pod keeper -o json >/dev/null 2>&1
ok $? "the unrelated pod is still there"
# Pods that were not on the dead node are the very same objects.
kept=$(jq -r --arg n "$victim" '.items[] | select(.spec.nodeName != $n) | .metadata.uid' "$WORK/before.json" | sort)
[ -n "$kept" ] && [ "$(jq -r '.items[].metadata.uid' "$WORK/after.json" | sort | grep -cxF "$kept")" = "$(echo "$kept" | wc -l)" ]
ok $? "the pods of the other workers kept their uids"
[ "$(keelctl get nodes -o json | jq '.items | length')" = 3 ]
ok $? "all three Node objects are still there"
if [ -n "$USE_DEPLOYMENT" ]; then
    keelctl apply -f "$WORK/app.yaml" >"$WORK/reapply.out" 2>&1 && ! grep -q created "$WORK/reapply.out"
    ok $? "the Deployment is still there: $(cat "$WORK/reapply.out")"
fi
[ "$(count_ready_nodes)" = 2 ]
ok $? "the two other workers stay Ready"
grep -q "node $victim: evicted" "$WORK/master.log"
ok $? "the master logged the eviction"
[ "$(grep "marked NotReady" "$WORK/master.log" | grep -vc "node $victim:")" = 0 ]
ok $? "no live worker was ever marked NotReady"

# The dead worker returns: Ready again, taint gone, none of the evicted pods.
start_daemon "$victim" "$(worker_config "$victim")"
wait_for 20 nodes_ready 3
ok $? "$victim Ready again after a restart"
no_taint() { ! has_taint "$1"; }
wait_for 10 no_taint "$victim"
ok $? "its unreachable taint is removed"
sleep 2
pods_json >"$WORK/final.json"
for pod in $on_victim; do
    jq -e --arg p "$pod" --arg n "$victim" '[.items[] | select(.metadata.name == $p and .spec.nodeName == $n)] | length == 0' "$WORK/final.json" >/dev/null || break
done
ok $? "$victim runs none of the evicted pods"
[ "$(jq '[.items[].metadata.name] | length == (unique | length)' "$WORK/final.json")" = true ]
ok $? "still no pod object twice"
if [ -n "$USE_DEPLOYMENT" ]; then
    [ "$(jq '[.items[] | select(.status.phase == "Running")] | length' "$WORK/final.json")" = $REPLICAS ]
    ok $? "exactly $REPLICAS pods Running"
fi
done_testing
