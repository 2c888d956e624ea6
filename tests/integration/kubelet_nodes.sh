#!/bin/sh
# One worker keelsond serves many simulated nodes (kubelet node_count):
# every node registers and stays Ready, pods bound to any of them run, a
# deleted pod's containers go, and keelctl logs reaches the right kubelet
# or says clearly why it cannot.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
NODES=200
start_daemon master "$(master_config)"
start_daemon many "node_name = \"many\";
roles = [ \"worker\" ];
bus = { master = \"$SERVER\"; };
runtime = { plugin = \"sim\"; settings = { start_delay_ms = 20; }; };
kubelet = { cpu = \"4\"; memory = \"8Gi\"; max_pods = 10; heartbeat_ms = 1000; sync_ms = 50; node_count = $NODES; };"
wait_for 60 nodes_ready $NODES
ok $? "$NODES simulated nodes of one process are Ready"
keelctl get nodes -o json >"$WORK/nodes.json" 2>/dev/null
[ "$(jq -r '[.items[].metadata.name] | sort | first' "$WORK/nodes.json")" = many-0000 ] \
    && [ "$(jq -r '[.items[].metadata.name] | sort | last' "$WORK/nodes.json")" = "many-$(printf %04d $((NODES - 1)))" ]
ok $? "nodes are named many-0000 .. many-$(printf %04d $((NODES - 1)))"
[ "$(jq -r '[.items[].metadata.annotations["keelson.io/kubelet-service"]] | unique | join(",")' "$WORK/nodes.json")" = kubelet-many ]
ok $? "every node names the one kubelet service that serves it"

# Heartbeats keep flowing: two intervals later every node is still Ready
# and its heartbeat time moved.
first=$(jq -r '.items[] | select(.metadata.name == "many-0100") | .status.conditions[0].lastHeartbeatTime' "$WORK/nodes.json")
sleep 2.5
heartbeat_moved() {
    now=$(keelctl get node many-0100 -o json | jq -r '.status.conditions[0].lastHeartbeatTime')
    [ -n "$now" ] && [ "$now" != "$first" ]
}
wait_for 5 heartbeat_moved
ok $? "heartbeats of node many-0100 keep coming ($first -> $now)"
nodes_ready $NODES
ok $? "all $NODES nodes still Ready"

for i in $(seq 1 100); do
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p%03d\n  labels: {batch: many}\nspec:\n  containers:\n  - name: c\n    image: sim\n    resources: {requests: {cpu: 100m, memory: 64Mi}}\n' "$i"
done >"$WORK/pods.yaml"
keelctl apply -f "$WORK/pods.yaml" >/dev/null 2>&1
ok $? "apply 100 pods"
all_running() {
    [ "$(keelctl get pods -l batch=many -o json | jq '[.items[] | select(.status.phase == "Running")] | length')" = 100 ]
}
wait_for 60 all_running
ok $? "all 100 pods Running on the simulated nodes"
spread=$(keelctl get pods -l batch=many -o json | jq '[.items[].spec.nodeName] | unique | length')
[ "$spread" -gt 1 ]
ok $? "the pods run on $spread different nodes of the one process"

# A pod bound to a node nobody serves stays with that node: no kubelet of
# this process may take it.
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: elsewhere}\nspec:\n  nodeName: ghost-1\n  containers: [{name: c, image: sim}]\n' >"$WORK/elsewhere.yaml"
keelctl apply -f "$WORK/elsewhere.yaml" >/dev/null 2>&1
sleep 1
[ "$(pod_field elsewhere '.status.phase')" = Pending ] && [ "$(pod_field elsewhere '.status.containerStatuses')" = null ]
ok $? "a pod bound to an unserved node is left alone"

keelctl logs elsewhere >"$WORK/logs-ghost.out" 2>&1
[ $? -ne 0 ] && grep -q "cannot reach the kubelet of node ghost-1" "$WORK/logs-ghost.out"
ok $? "logs of a pod on an unreachable kubelet: $(head -1 "$WORK/logs-ghost.out")"
keelctl logs nosuchpod >"$WORK/logs-none.out" 2>&1
[ $? -ne 0 ] && grep -q 'pod "nosuchpod" not found' "$WORK/logs-none.out"
ok $? "logs of a missing pod: $(head -1 "$WORK/logs-none.out")"
keelctl logs p001 >"$WORK/logs-p001.out" 2>&1
rc=$?
if grep -q "keeps no container logs" "$WORK/logs-p001.out"; then
    ok $((rc == 0)) "logs reach the kubelet, whose sim runtime keeps no logs: $(head -1 "$WORK/logs-p001.out")"
else
    ok $rc "logs of a simulated pod are served ($(wc -c <"$WORK/logs-p001.out") bytes)"
fi
keelctl logs p001 -c nope >"$WORK/logs-nope.out" 2>&1
[ $? -ne 0 ] && grep -q -E 'container "nope" is not in pod "p001"|keeps no container logs' "$WORK/logs-nope.out"
ok $? "logs of an unknown container: $(head -1 "$WORK/logs-nope.out")"

keelctl delete pod p001 p002 >/dev/null 2>&1
gone() { ! grep -q "pod default/p002 is gone" "$WORK/many.log" && return 1; return 0; }
wait_for 10 gone
ok $? "the kubelet removes the containers of deleted pods"

rss=$(awk '/VmRSS/ {print $2}' "/proc/$PID_many/status")
ticks=$(awk '{print $14 + $15}' "/proc/$PID_many/stat")
sleep 5
ticks2=$(awk '{print $14 + $15}' "/proc/$PID_many/stat")
diag "worker with $NODES nodes and 98 pods: RSS ${rss} KiB, CPU $(( (ticks2 - ticks) * 100 / $(getconf CLK_TCK) / 5 ))% over 5 s"
kill -0 "$PID_many"
ok $? "the worker is still running"
done_testing
