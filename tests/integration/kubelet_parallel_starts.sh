#!/bin/sh
# Parallel container starts: a runtime that declares
# KL_RUNTIME_CONCURRENT_STARTS (runtime ABI 1.3) has its containers pulled
# and started on the kubelet's start workers, several at once. Each sim
# start() here takes LATENCY ms, so a batch of 8 pods takes about
# 8 x LATENCY one at a time and about 2 x LATENCY on the default four
# workers. Also: a pod deleted while its container starts leaves no
# container behind, a kubelet stopped meanwhile exits cleanly, and a bad
# worker count is refused at start-up.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"

LATENCY=500
PODS=8
serial_ms=$((PODS * LATENCY))
now_ms() { echo $(($(date +%s%N) / 1000000)); }

worker_config() {  # worker_config NAME LATENCY KUBELET-EXTRA SIM-EXTRA
    cat <<CONF
node_name = "$1";
roles = [ "worker" ];
bus = { master = "$SERVER"; };
runtime = { plugin = "sim"; settings = { start_latency_ms = $2; $4 }; };
kubelet = { cpu = "8"; memory = "16Gi"; heartbeat_ms = 1000; sync_ms = 50; $3 };
CONF
}

pod_yaml() {  # pod_yaml NAME NODE BATCH
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  labels: {batch: %s}\nspec:\n  nodeName: %s\n  containers: [{name: c, image: sim}]\n' \
        "$1" "$3" "$2"
}

count_running() {
    keelctl get pods -l "batch=$1" -o json 2>/dev/null \
        | jq '[.items[] | select(.status.phase == "Running")] | length'
}
all_running() { [ "$(count_running "$1")" = "$PODS" ]; }

# run_batch NODE: PODS pods bound to NODE at once; sets took to the ms from
# apply until all are Running, or to "" when they are not within 30 s.
run_batch() {
    for i in $(seq 1 $PODS); do pod_yaml "$1-$i" "$1" "$1"; done >"$WORK/$1.yaml"
    start=$(now_ms)
    keelctl apply -f "$WORK/$1.yaml" >/dev/null 2>&1
    took=""
    wait_for 30 all_running "$1" && took=$(($(now_ms) - start))
}

start_daemon master "$(master_config)"
start_daemon par "$(worker_config par $LATENCY "" "")"
start_daemon one "$(worker_config one $LATENCY "start_workers = 1;" "")"
start_daemon ser "$(worker_config ser $LATENCY "" "concurrent_starts = false;")"
wait_for 30 nodes_ready 3
ok $? "three sim workers Ready"
grep -q "parallel starts 4)" "$WORK/par.log"
ok $? "a runtime that allows it gets the default 4 start workers"
# A new thread names itself when it first runs, a moment after it is made.
four_named_starts() { [ "$(cat /proc/"$PID_par"/task/*/comm | grep -c '^kl-starts$')" = 4 ]; }
wait_for 10 four_named_starts
ok $? "its four start workers show as kl-starts threads"
four_named_starts || cat /proc/"$PID_par"/task/*/comm | sort | uniq -c | sed 's/^/#   /'
grep -q "parallel starts 1)" "$WORK/one.log"
ok $? "kubelet.start_workers = 1 reaches the kubelet"
grep -q "parallel starts no)" "$WORK/ser.log"
ok $? "a runtime that does not declare concurrent starts keeps them on the kubelet's thread"

run_batch par
[ -n "$took" ] && [ "$took" -lt $((serial_ms / 2)) ]
ok $? "4 workers: $PODS pods Running in ${took:-(never)} ms, under half of $serial_ms ms"
run_batch one
[ -n "$took" ] && [ "$took" -ge $((serial_ms * 9 / 10)) ]
ok $? "1 worker: $PODS pods Running in ${took:-(never)} ms, about $serial_ms ms"
run_batch ser
[ -n "$took" ] && [ "$took" -ge $((serial_ms * 9 / 10)) ]
ok $? "no workers: $PODS pods Running in ${took:-(never)} ms, about $serial_ms ms"

# The same Events and status as starts on the kubelet's thread.
keelctl get events -o json >"$WORK/events.json" 2>/dev/null
for reason in Pulled Created Started; do
    n=$(jq --arg r "$reason" '[.items[] | select(.involvedObject.name == "par-1" and .reason == $r)] | length' \
        "$WORK/events.json")
    [ "$n" = 1 ]
    ok $? "pod par-1 has one $reason Event (found $n)"
done
[ "$(pod_field par-3 '.status.containerStatuses[0].state | keys[0]')" = running ]
ok $? "pod par-3 reports its container running"

# Deleted while its start is under way: the container is removed when the
# start returns.
start_daemon slow "$(worker_config slow 2000 "" "")"
wait_for 30 nodes_ready 4
ok $? "a worker whose starts take 2 s is Ready"
pod_yaml doomed slow doomed | keelctl apply -f - >/dev/null 2>&1
wait_for 10 grep -q "pod default/doomed assigned" "$WORK/slow.log"
ok $? "pod doomed reaches the slow worker"
keelctl delete pod doomed >/dev/null 2>&1
ok $? "pod doomed deleted while its container starts"
wait_for 10 grep -q "default/doomed container c: its pod went while it started; removing container" "$WORK/slow.log"
ok $? "its container is removed once the start returns"
! grep -q "removing container .* failed" "$WORK/slow.log"
ok $? "and the removal succeeded"

# Stopped while a start is under way: the kubelet waits for it and exits
# cleanly (done_testing checks for sanitizer reports).
pod_yaml late slow late | keelctl apply -f - >/dev/null 2>&1
wait_for 10 grep -q "pod default/late assigned" "$WORK/slow.log"
ok $? "pod late reaches the slow worker"
# shellcheck disable=SC2154 # set by start_daemon
kill "$PID_slow"
(sleep 10; kill -9 "$PID_slow" 2>/dev/null) &
watchdog=$!
wait "$PID_slow"
rc=$?
kill "$watchdog" 2>/dev/null
[ $rc -eq 0 ]
ok $? "a kubelet stopped during a start exits cleanly within 10 s (exit $rc)"

# A bad worker count is refused with the file, the line and the limit.
for bad in 0 65 '"four"'; do
    worker_config badpool 0 "start_workers = $bad;" "" >"$WORK/badpool.conf"
    "$KEELSOND" --check -c "$WORK/badpool.conf" >"$WORK/badpool.out" 2>&1
    rc=$?
    [ $rc -ne 0 ] && grep -q "badpool.conf:5: .*start_workers.* must be" "$WORK/badpool.out"
    ok $? "start_workers = $bad refused: $(tr -d '\n' <"$WORK/badpool.out")"
done
done_testing
