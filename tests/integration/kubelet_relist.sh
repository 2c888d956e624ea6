#!/bin/sh
# The relist period: a running container's state is read from a runtime
# without exit notifications (sim) once per kubelet.relist_ms, not on every
# sync tick, while a starting one is still watched every tick. Two sim
# workers with a 50 ms tick differ only in relist_ms (3 s and 100 ms); a pod
# whose container runs for 300 ms is seen Running at once on both, and
# Succeeded on the first only at its next relist.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"

worker() {  # worker NAME RELIST_MS
    cat <<CONF
node_name = "$1";
roles = [ "worker" ];
bus = { master = "$SERVER"; };
runtime = { plugin = "sim"; settings = { start_delay_ms = 50; }; };
kubelet = { cpu = "8"; memory = "16Gi"; heartbeat_ms = 1000; sync_ms = 50; relist_ms = $2; };
CONF
}
start_daemon master "$(master_config)"
start_daemon slow "$(worker slow 3000)"
start_daemon fast "$(worker fast 100)"
wait_for 20 nodes_ready 2
ok $? "two sim workers Ready"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
pod_on() {  # pod_on NAME NODE: a pod pinned to NODE whose container runs 300 ms
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  annotations: {sim.keelson.io/run-ms: "300"}\nspec:\n  nodeName: %s\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: busybox:1.35\n' \
        "$1" "$2" >"$WORK/$1.yaml"
    keelctl apply -f "$WORK/$1.yaml" >/dev/null 2>&1
}
phase_of() { pod_field "$1" .status.phase; }

for node in slow fast; do
    start=$(now_ms)
    pod_on "on-$node" "$node"
    wait_for 10 pod_phase_is "on-$node" Succeeded
    ok $? "pod on $node Succeeded"
    eval "took_$node=$(($(now_ms) - start))"
done
diag "apply to Succeeded: $took_slow ms with a 3 s relist, $took_fast ms with 100 ms"
[ "$took_slow" -ge 2000 ] && [ "$took_slow" -lt 8000 ]
ok $? "with a 3 s relist the exit is seen at the next relist ($took_slow ms, expected 2-8 s)"
[ "$took_fast" -lt 2000 ]
ok $? "with a 100 ms relist within 2 s ($took_fast ms)"

# A starting container is still polled every tick: Running shows long
# before the 3 s relist would come round.
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: long-on-slow}\nspec:\n  nodeName: slow\n  containers:\n  - name: main\n    image: busybox:1.35\n' \
    >"$WORK/long.yaml"
start=$(now_ms)
keelctl apply -f "$WORK/long.yaml" >/dev/null 2>&1
wait_for 10 pod_phase_is long-on-slow Running
ok $? "a long-running pod on the slow-relist worker is Running"
took=$(($(now_ms) - start))
[ "$took" -lt 2000 ]
ok $? "Running within 2 s of apply ($took ms), not at the next relist"
done_testing
