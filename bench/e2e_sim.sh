#!/bin/sh
# End to end: time from `keelctl apply` of N pods to all of them Running on
# simulated workers (default 1000 pods over 10 workers), and the resident
# memory of an idle master and an idle worker.
# usage: bench/e2e_sim.sh BUILDDIR [PODS] [WORKERS]
set -u
build=${1:?usage: e2e_sim.sh BUILDDIR [PODS] [WORKERS]}
pods=${2:-1000}
workers=${3:-10}
work=$(mktemp -d /tmp/keelson-bench.XXXXXX)
port=$((42000 + $$ % 1000 * 4))
server="tcp://127.0.0.1:$port"
pids=""
trap 'for p in $pids; do kill $p 2>/dev/null; done; sleep 0.5; rm -rf "$work"' EXIT
KEELSON_PLUGIN_PATH="$build/tests/plugins"; export KEELSON_PLUGIN_PATH

cat >"$work/master.conf" <<CONF
node_name = "master";
roles = [ "master" ];
bus = { listen = [ "$server" ]; };
store = { plugin = "memory"; };
scheduler = { plugin = "firstfit"; };
CONF
"$build/core/keelsond" -c "$work/master.conf" -l warn 2>"$work/master.log" &
master=$!; pids="$pids $master"
for i in $(seq 1 "$workers"); do
    cat >"$work/w$i.conf" <<CONF
node_name = "sim-$i";
roles = [ "worker" ];
bus = { master = "$server"; };
runtime = { plugin = "sim"; settings = { start_delay_ms = 0; }; };
kubelet = { cpu = "64"; memory = "256Gi"; max_pods = $(( pods / workers + 10 )); sync_ms = 50; };
CONF
    "$build/core/keelsond" -c "$work/w$i.conf" -l warn 2>"$work/w$i.log" &
    pids="$pids $!"
    [ "$i" = 1 ] && worker=$!
done
kc() { "$build/core/keelctl/keelctl" --server "$server" "$@"; }
for _ in $(seq 100); do
    [ "$(kc get nodes -o json 2>/dev/null | jq '.items | length')" = "$workers" ] && break
    sleep 0.2
done
sleep 2
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
echo "idle resident memory: master $(( $(rss $master) / 1024 )) MiB, worker $(( $(rss $worker) / 1024 )) MiB (with $workers workers attached)"

for i in $(seq 1 "$pods"); do
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: e2e-%05d\n  labels: {run: e2e}\nspec:\n  containers:\n  - name: c\n    image: sim\n    resources: {requests: {cpu: 10m, memory: 16Mi}}\n' "$i"
done >"$work/pods.yaml"
start=$(date +%s%N)
kc apply -f "$work/pods.yaml" >/dev/null
applied=$(date +%s%N)
while :; do
    running=$(kc get pods -l run=e2e -o json | jq '[.items[] | select(.status.phase == "Running")] | length')
    [ "$running" = "$pods" ] && break
    [ $(( ($(date +%s%N) - start) / 1000000000 )) -gt 120 ] && { echo "timed out with $running Running"; exit 1; }
    sleep 0.05
done
end=$(date +%s%N)
echo "$pods sim pods: apply took $(( (applied - start) / 1000000 )) ms; apply to all Running $(( (end - start) / 1000000 )) ms"
echo "resident memory after the run: master $(( $(rss $master) / 1024 )) MiB, worker $(( $(rss $worker) / 1024 )) MiB"
