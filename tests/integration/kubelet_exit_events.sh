#!/bin/sh
# Exit notification end to end: a runc worker whose sync tick is 30 s still
# reports a container's exit within a couple of seconds, because the runtime
# tells the kubelet (runtime ABI 1.2 events) instead of waiting to be polled,
# and a newly assigned pod starts at once rather than on the next tick.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "runc containers need root"
command -v runc >/dev/null && command -v umoci >/dev/null || skip_all "runc and umoci are not installed"

sh "$KEELSON_SRCDIR/scripts/build-busybox-image.sh" "$WORK/images/busybox" 1.35 >"$WORK/image.log" 2>&1 \
    || skip_all "cannot build the busybox image"
worker_config="node_name = \"ew\";
roles = [ \"worker\" ];
bus = { master = \"$SERVER\"; };
runtime = { plugin = \"runc\"; settings = { image_store = \"$WORK/images\"; state_dir = \"$WORK/state\"; }; };
kubelet = { cpu = \"2\"; memory = \"2Gi\"; heartbeat_ms = 1000; sync_ms = 30000; };"
start_daemon master "$(master_config)"
start_daemon ew "$worker_config"
wait_for 20 nodes_ready 1
ok $? "runc worker Ready"
grep -q "events yes" "$WORK/ew.log"
ok $? "the kubelet polls the runtime's exit notifications"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
# Two pods in turn: a 30 s tick could by chance fall right after one exit,
# hardly after both.
for name in first second; do
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: main\n    image: busybox:1.35\n    command: ["/bin/sleep", "1"]\n' \
        "$name" >"$WORK/$name.yaml"
    start=$(now_ms)
    keelctl apply -f "$WORK/$name.yaml" >/dev/null 2>&1
    wait_for 10 pod_phase_is "$name" Succeeded
    ok $? "pod $name Succeeded within 10 s of apply, with a 30 s sync tick"
    took=$(($(now_ms) - start))
    [ "$took" -lt 5000 ]
    ok $? "pod $name: apply to Succeeded took $took ms (a one-second sleep)"
done
done_testing
