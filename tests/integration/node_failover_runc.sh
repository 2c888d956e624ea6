#!/bin/sh
# node_failover with real runc containers: a killed worker's pods run again
# on the other worker, and when the worker returns its kubelet removes the
# containers of the evicted pods, which kept running while it was away.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "runc containers need root"
command -v runc >/dev/null && command -v umoci >/dev/null || skip_all "runc and umoci are not installed"
command -v jq >/dev/null 2>&1 || skip_all "jq is not installed"
sh "$KEELSON_SRCDIR/scripts/build-busybox-image.sh" "$WORK/images/busybox" 1.35 >"$WORK/image.log" 2>&1 \
    || skip_all "cannot build the busybox image"

# Containers outlive a killed keelsond: whatever happens, none is left behind.
runc_cleanup() {
    for root in "$WORK"/state-*/runc-root; do
        [ -d "$root" ] || continue
        runc --root "$root" list -q 2>/dev/null | while read -r id; do runc --root "$root" delete --force "$id" 2>/dev/null; done
    done
}
trap 'stop_daemons; runc_cleanup; cleanup' EXIT INT TERM

REPLICAS=3
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

start_daemon master "$(master_config memory spread "controllers = ( $CONTROLLERS );" | sed 's/node_timeout_ms = 6000/node_timeout_ms = 2000/')"
worker_config() {
    cat <<CONF
node_name = "$1";
roles = [ "worker" ];
bus = { master = "$SERVER"; };
runtime = { plugin = "runc"; settings = { image_store = "$WORK/images"; state_dir = "$WORK/state-$1"; }; };
kubelet = { cpu = "2"; memory = "2Gi"; heartbeat_ms = 500; sync_ms = 100; };
CONF
}
for w in w1 w2; do start_daemon "$w" "$(worker_config "$w")"; done
wait_for 20 nodes_ready 2
ok $? "two runc workers Ready"

container='{name: main, image: "busybox:1.35", command: ["/bin/sleep", "600"], resources: {requests: {cpu: 100m, memory: 16Mi}}}'
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
      terminationGracePeriodSeconds: 1
      containers: [$container]
YAML
else
    for i in $(seq 1 $REPLICAS); do
        printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: web-%d, labels: {app: web}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers: [%s]\n' "$i" "$container"
    done >"$WORK/app.yaml"
fi
keelctl apply -f "$WORK/app.yaml" >"$WORK/apply.out" 2>&1
ok $? "apply the workload ($REPLICAS replicas)"
pods_json() { keelctl get pods -l app=web -o json 2>/dev/null; }
running_is() { [ "$(pods_json | jq '[.items[] | select(.status.phase == "Running")] | length')" = "$1" ]; }
wait_for 90 running_is $REPLICAS
ok $? "$REPLICAS pods Running in runc containers"
pods_json >"$WORK/before.json"
victim=$(jq -r '[.items[].spec.nodeName] | group_by(.) | max_by(length) | .[0]' "$WORK/before.json")
survivor=w1; [ "$victim" = w1 ] && survivor=w2
on_victim=$(jq -r --arg n "$victim" '[.items[] | select(.spec.nodeName == $n) | .metadata.name] | join(" ")' "$WORK/before.json")
ids=$(jq -r --arg n "$victim" '.items[] | select(.spec.nodeName == $n) | .status.containerStatuses[0].containerID' "$WORK/before.json" | sed 's|^[a-z]*://||')
diag "$victim runs $on_victim (containers: $(echo $ids))"
runc_running() { runc --root "$WORK/state-$1/runc-root" list 2>/dev/null | awk 'NR > 1 && $3 == "running" { print $1 }'; }
runs_all() { for id in $ids; do runc_running "$victim" | grep -qx "$id" || return 1; done; }
[ -n "$ids" ] && runs_all
ok $? "their containers run under runc on $victim"

eval "victim_pid=\$PID_$victim"
kill -9 "$victim_pid"
killed_at=$(date +%s%N)
node_unknown() { [ "$(keelctl get node "$1" -o json 2>/dev/null | jq -r '.status.conditions[] | select(.type == "Ready") | .status')" = Unknown ]; }
wait_for 15 node_unknown "$victim"
ok $? "$victim marked NotReady after $(( ($(date +%s%N) - killed_at) / 1000000 )) ms"

moved() {
    pods_json >"$WORK/sample.json" || return 1
    if [ -n "$USE_DEPLOYMENT" ]; then
        jq -e --arg n "$survivor" --argjson r $REPLICAS \
            '[.items[] | select(.status.phase == "Running" and .spec.nodeName == $n)] | length == $r' "$WORK/sample.json"
    else
        jq -e --arg n "$victim" '[.items[] | select(.spec.nodeName == $n)] | length == 0' "$WORK/sample.json"
    fi
}
wait_for 60 moved
ok $? "pods of $victim moved away after $(( ($(date +%s%N) - killed_at) / 1000000 )) ms"
[ "$(jq '[.items[].metadata.name] | length == (unique | length)' "$WORK/sample.json")" = true ]
ok $? "no two pod objects share a name"

start_daemon "$victim" "$(worker_config "$victim")"
wait_for 20 nodes_ready 2
ok $? "$victim Ready again"
none_left() { for id in $ids; do runc_running "$victim" | grep -qx "$id" && return 1; done; return 0; }
wait_for 30 none_left
ok $? "the returning kubelet stopped the containers of the evicted pods"
pods_json >"$WORK/final.json"
[ "$(jq --arg n "$victim" '[.items[] | select(.spec.nodeName == $n)] | length' "$WORK/final.json")" = 0 ]
ok $? "no pod object is bound to $victim"
if [ -n "$USE_DEPLOYMENT" ]; then
    [ "$(jq '[.items[] | select(.status.phase == "Running")] | length' "$WORK/final.json")" = $REPLICAS ]
    ok $? "exactly $REPLICAS pods Running"
fi
done_testing
