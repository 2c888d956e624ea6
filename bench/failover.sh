#!/bin/sh
# Node failover: time from a worker's death (kill -9) to all of its pods
# Running elsewhere, for 10, 100 and 1,000 pods on the dead node; then the
# time to scale a Deployment from 0 to 10,000 replicas over 1,000 sim nodes.
# usage: bench/failover.sh BUILDDIR [SIZES] [SCALE_REPLICAS] [SCALE_NODES]
set -u
build=${1:?usage: failover.sh BUILDDIR [SIZES] [SCALE_REPLICAS] [SCALE_NODES]}
sizes=${2:-10 100 1000}
scale_replicas=${3:-10000}
scale_nodes=${4:-1000}
grace_ms=2000
eviction_ms=2000
limit_s=${FAILOVER_LIMIT_S:-300}
work=$(mktemp -d /tmp/keelson-bench.XXXXXX)
port=$((43000 + $$ % 1000 * 4))
server="tcp://127.0.0.1:$port"
pids=""
stop_all() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    pids=""
}
trap 'stop_all; [ -n "${KEEP_WORK:-}" ] && echo "work dir kept: $work" || rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM PIPE
KEELSON_PLUGIN_PATH=${KEELSON_PLUGIN_PATH:-$build/tests/plugins}; export KEELSON_PLUGIN_PATH
command -v jq >/dev/null || { echo "failover.sh needs jq"; exit 1; }
for c in nodelifecycle replicaset deployment; do
    [ -e "$KEELSON_PLUGIN_PATH/controller_$c.so" ] || { echo "controller_$c.so not in $KEELSON_PLUGIN_PATH: build it first"; exit 1; }
done
gc=""; [ -e "$KEELSON_PLUGIN_PATH/controller_gc.so" ] && gc=', { plugin = "gc"; }'

kc() { "$build/core/keelctl/keelctl" --server "$server" --request-timeout 30000 "$@"; }
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

start_master() {  # start_master GRACE EVICTION NODE_TIMEOUT
    cat >"$work/master.conf" <<CONF
node_name = "master";
roles = [ "master" ];
bus = { listen = [ "$server" ]; };
store = { plugin = "memory"; };
scheduler = { plugin = "spread"; node_timeout_ms = $3; };
controllers = ( { plugin = "nodelifecycle"; settings = { grace_period_ms = $1; eviction_timeout_ms = $2; }; },
                { plugin = "replicaset"; }, { plugin = "deployment"; }$gc );
CONF
    "$build/core/keelsond" -c "$work/master.conf" -l warn 2>"$work/master.log" &
    pids="$pids $!"
}
start_worker() {  # start_worker NAME MAX_PODS HEARTBEAT_MS [NODE_COUNT]
    cat >"$work/$1.conf" <<CONF
node_name = "$1";
roles = [ "worker" ];
bus = { master = "$server"; };
runtime = { plugin = "sim"; settings = { start_delay_ms = 0; }; };
kubelet = { cpu = "1000"; memory = "4000Gi"; max_pods = $2; heartbeat_ms = $3; sync_ms = 50; node_count = ${4:-1}; };
CONF
    "$build/core/keelsond" -c "$work/$1.conf" -l warn 2>"$work/$1.log" &
    last_pid=$!
    pids="$pids $!"
}
ready_nodes() {
    kc get nodes -o json 2>/dev/null \
        | jq '[.items[] | select(.status.conditions[]? | .type == "Ready" and .status == "True")] | length'
}
wait_nodes() {  # wait_nodes COUNT SECONDS
    end=$(($(date +%s) + $2))
    while [ "$(date +%s)" -le "$end" ]; do
        [ "$(ready_nodes)" = "$1" ] && return 0
        sleep 0.5
    done
    return 1
}
count_pods() { kc get pods -l app=bench --field-selector "$1" -o name 2>/dev/null | grep -c .; }
deployment() {  # deployment REPLICAS
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bench}\nspec:\n  replicas: %d\n  selector: {matchLabels: {app: bench}}\n  template:\n    metadata: {labels: {app: bench}}\n    spec:\n      containers:\n      - {name: c, image: sim, resources: {requests: {cpu: 1m, memory: 1Mi}}}\n' "$1"
}

echo "== failover: grace ${grace_ms} ms + eviction ${eviction_ms} ms; heartbeat 500 ms; scheduler node_timeout ${grace_ms} ms"
# notready includes the grace period (heartbeat times have 1 s resolution, so
# up to 1 s less); "recovery" is running - notready - eviction: the time the
# controllers and scheduler take once the eviction is due.
printf '%-8s %-12s %-12s %-12s %s\n' pods notready_ms evicted_ms running_ms recovery_ms
for n in $sizes; do
    start_master $grace_ms $eviction_ms $grace_ms
    # The victim starts alone, so every replica lands on it.
    start_worker victim $((n + 10)) 500; victim_pid=$last_pid
    wait_nodes 1 60 || { echo "$n: victim not Ready: $(tail -2 "$work/victim.log")"; stop_all; continue; }
    deployment "$n" >"$work/app.yaml"
    kc apply -f "$work/app.yaml" >/dev/null || { echo "$n: apply failed"; stop_all; continue; }
    end=$(($(date +%s) + limit_s))
    while [ "$(count_pods status.phase=Running,spec.nodeName=victim)" != "$n" ] && [ "$(date +%s)" -le "$end" ]; do sleep 0.3; done
    start_worker spare1 $((n + 10)) 500
    start_worker spare2 $((n + 10)) 500
    wait_nodes 3 30 || { echo "$n: spares not Ready"; stop_all; continue; }
    kill -9 "$victim_pid"
    killed=$(date +%s%N)
    notready=""; evicted=""; running=""
    while [ "$(ms_since "$killed")" -lt $((limit_s * 1000)) ]; do
        if [ -z "$notready" ]; then
            s=$(kc get node victim -o json 2>/dev/null | jq -r '.status.conditions[] | select(.type == "Ready") | .status')
            [ "$s" = Unknown ] && notready=$(ms_since "$killed")
        fi
        if [ -z "$evicted" ] && [ "$(count_pods spec.nodeName=victim)" = 0 ]; then
            evicted=$(ms_since "$killed")
        fi
        if [ -n "$evicted" ] && [ "$(count_pods status.phase=Running,spec.nodeName!=victim)" = "$n" ]; then
            running=$(ms_since "$killed")
            break
        fi
        sleep 0.1
    done
    if [ -n "$running" ]; then
        printf '%-8s %-12s %-12s %-12s %s\n' "$n" "${notready:-?}" "$evicted" "$running" \
            "$((running - ${notready:-$grace_ms} - eviction_ms))"
    else
        echo "$n: not all pods Running elsewhere within ${limit_s} s (notready ${notready:-never}, evicted ${evicted:-never})"
    fi
    stop_all
done

echo "== scale: Deployment 0 -> $scale_replicas replicas over $scale_nodes sim nodes (2 workers, node_count $((scale_nodes / 2)))"
start_master 40000 5000 30000
start_worker sima $((scale_replicas / scale_nodes * 3 + 10)) 2000 $((scale_nodes / 2))
start_worker simb $((scale_replicas / scale_nodes * 3 + 10)) 2000 $((scale_nodes - scale_nodes / 2))
started=$(date +%s%N)
if ! wait_nodes "$scale_nodes" 180; then
    echo "only $(ready_nodes) of $scale_nodes nodes Ready after 180 s"
    exit 1
fi
echo "$scale_nodes nodes Ready after $(ms_since "$started") ms"
deployment 0 >"$work/app.yaml"
kc apply -f "$work/app.yaml" >/dev/null
deployment "$scale_replicas" >"$work/app.yaml"
start=$(date +%s%N)
kc apply -f "$work/app.yaml" >/dev/null
created_ms=""; running=0
while [ "$(ms_since "$start")" -lt $((limit_s * 1000)) ]; do
    total=$(count_pods "metadata.namespace=default")
    [ -z "$created_ms" ] && [ "$total" -ge "$scale_replicas" ] && created_ms=$(ms_since "$start")
    running=$(count_pods status.phase=Running)
    [ "$running" -ge "$scale_replicas" ] && break
    sleep 2
done
if [ "$running" -ge "$scale_replicas" ]; then
    echo "0 -> $scale_replicas replicas: all pods created after ${created_ms:-?} ms, all Running after $(ms_since "$start") ms"
else
    echo "0 -> $scale_replicas replicas: only $running Running after ${limit_s} s (pods created: ${created_ms:+after $created_ms ms})"
fi
spread=$(kc get pods -l app=bench -o json 2>/dev/null | jq '[.items[].spec.nodeName | select(. != null)] | group_by(.) | map(length) | "\(length) nodes used, \(min) to \(max) pods each"')
echo "placement: $spread"
notready=$(grep -c "marked NotReady" "$work/master.log")
echo "nodes wrongly marked NotReady during the scale-up: $notready"
