#!/bin/sh
# Scheduling on a real master and three simulated workers: a nodeSelector
# picks its node, taints keep untolerating pods off, cordon and uncordon work
# through keelctl, spread evens 30 pods out and binpack packs them.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"

worker_config() {  # worker_config NAME LABELS
    cat <<CONF
node_name = "$1";
roles = [ "worker" ];
bus = { master = "$SERVER"; };
runtime = { plugin = "sim"; settings = { start_delay_ms = 50; }; };
kubelet = { cpu = "8"; memory = "16Gi"; max_pods = 110; heartbeat_ms = 1000; sync_ms = 50;
            labels = { $2 }; };
CONF
}

start_cluster() {  # start_cluster PLUGIN
    start_daemon master "$(master_config memory "$1")"
    start_daemon w1 "$(worker_config w1 'disk = "ssd";')"
    start_daemon w2 "$(worker_config w2 'disk = "hdd";')"
    start_daemon w3 "$(worker_config w3 'disk = "hdd";')"
    wait_for 30 nodes_ready 3
}

# pod_yaml NAME [SPEC-LINES]: a pod asking 500m cpu and 512Mi.
pod_yaml() {
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  labels: {test: sched}\nspec:\n%b  containers:\n  - name: c\n    image: sim\n    resources: {requests: {cpu: 500m, memory: 512Mi}}\n' "$1" "${2:-}"
}
node_of() { pod_field "$1" '.spec.nodeName // ""'; }
bound() { [ -n "$(node_of "$1")" ]; }
# Pods per node, as "w1=N w2=N w3=N".
spread_of() {
    keelctl get pods -l test=sched -o json | jq -r '[.items[].spec.nodeName] | group_by(.) | map("\(.[0])=\(length)") | join(" ")'
}
all_bound() {
    [ "$(keelctl get pods -l test=sched -o json | jq '[.items[] | select((.spec.nodeName // "") != "")] | length')" = "$1" ]
}

start_cluster spread
ok $? "master with scheduler/spread and three workers Ready"

pod_yaml picky '  nodeSelector: {disk: ssd}\n' | keelctl apply -f - >/dev/null
wait_for 15 bound picky
[ "$(node_of picky)" = w1 ]
ok $? "a pod selecting disk=ssd lands on w1 (got \"$(node_of picky)\")"

pod_yaml nowhere '  nodeSelector: {disk: tape}\n' | keelctl apply -f - >/dev/null
reason_is() {
    pod_field "$1" '.status.conditions[]? | select(.type == "PodScheduled") | .message' | grep -qF "$2"
}
wait_for 15 reason_is nowhere "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
ok $? "a selector no node matches is reported in Kubernetes' words"
keelctl delete pod nowhere >/dev/null

out=$(keelctl taint nodes w2 dedicated=infra:NoSchedule 2>&1)
[ "$out" = "node/w2 tainted" ]
ok $? "keelctl taint adds a taint: $out"
keelctl get node w2 -o json | jq -e '.spec.taints == [{"key":"dedicated","value":"infra","effect":"NoSchedule"}]' >/dev/null
ok $? "the taint is stored on the node"
keelctl taint nodes w2 dedicated=other:NoSchedule >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "a second taint with the same key and effect is refused"
keelctl taint nodes w2 'bad key:NoSchedule' >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "a malformed taint is refused"
out=$(keelctl cordon w3 2>&1)
[ "$out" = "node/w3 cordoned" ]
ok $? "keelctl cordon: $out"
keelctl get nodes | grep -E '^w3 +Ready,SchedulingDisabled' >/dev/null
ok $? "get nodes shows w3 Ready,SchedulingDisabled"
[ "$(keelctl cordon w3 2>&1)" = "node/w3 already cordoned" ]
ok $? "cordoning twice says so"

# The scheduler sees node changes through its watch; give it a moment.
sleep 1
for i in 1 2 3 4; do pod_yaml "plain$i"; done | keelctl apply -f - >/dev/null
wait_for 15 all_bound 5
ok $? "four more pods are bound"
[ "$(spread_of)" = "w1=5" ]
ok $? "with w2 tainted and w3 cordoned every pod lands on w1 ($(spread_of))"

pod_yaml tolerant '  tolerations: [{key: dedicated, operator: Equal, value: infra, effect: NoSchedule}]\n' | keelctl apply -f - >/dev/null
wait_for 15 bound tolerant
[ "$(node_of tolerant)" = w2 ]
ok $? "a pod tolerating the taint may use w2, the emptiest (got \"$(node_of tolerant)\")"

out=$(keelctl uncordon w3 2>&1)
[ "$out" = "node/w3 uncordoned" ]
ok $? "keelctl uncordon: $out"
sleep 1
pod_yaml after-uncordon | keelctl apply -f - >/dev/null
wait_for 15 bound after-uncordon
[ "$(node_of after-uncordon)" = w3 ]
ok $? "after uncordon new pods go to w3 again (got \"$(node_of after-uncordon)\")"

out=$(keelctl taint nodes w2 dedicated:NoSchedule- 2>&1)
[ "$out" = "node/w2 untainted" ]
ok $? "keelctl taint with a trailing - removes it: $out"
keelctl get node w2 -o json | jq -e '.spec.taints == null' >/dev/null
ok $? "no taint is left on w2"
keelctl taint nodes w2 dedicated- >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "removing a taint that is not there is an error"

keelctl delete pods $(keelctl get pods -l test=sched -o json | jq -r '.items[].metadata.name') >/dev/null
no_pods() { [ "$(keelctl get pods -l test=sched -o json | jq '.items | length')" = 0 ]; }
wait_for 15 no_pods
sleep 1
for i in $(seq 1 30); do pod_yaml "s$i"; done | keelctl apply -f - >/dev/null
wait_for 30 all_bound 30
ok $? "spread: 30 pods bound"
[ "$(spread_of)" = "w1=10 w2=10 w3=10" ]
ok $? "spread puts 10 pods on each node ($(spread_of))"

stop_daemons
start_cluster binpack
ok $? "master restarted with scheduler/binpack"
for i in $(seq 1 30); do pod_yaml "b$i"; done | keelctl apply -f - >/dev/null
wait_for 30 all_bound 30
ok $? "binpack: 30 pods bound"
# 8 cpu per node holds 16 pods of 500m: 30 pods need two nodes.
[ "$(spread_of)" = "w1=16 w2=14" ]
ok $? "binpack fills w1, then w2, and leaves w3 empty ($(spread_of))"
done_testing
