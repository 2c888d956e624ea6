#!/bin/sh
# An events store that runs out of space (a sqlite file on a 192 KiB
# tmpfs): Event writes fail with the store's reason, every Event that was
# acknowledged is still there after a master restart, and pod writes to the
# main store go on being acknowledged and kept.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip_all "mounting a small tmpfs needs root"
FULL="$WORK/full"
mkdir -p "$FULL" && mount -t tmpfs -o size=192k tmpfs "$FULL" 2>/dev/null || skip_all "cannot mount a small tmpfs"
full_cleanup() {
    stop_daemons
    umount "$FULL" 2>/dev/null
    cleanup
}
trap full_cleanup EXIT INT TERM

MASTER_CONF=$(master_config sqlite firstfit | sed "s|store = { plugin = \"sqlite\"; };|store = { plugin = \"sqlite\"; settings = { path = \"$WORK/store.db\"; }; };\nevents_store = { plugin = \"sqlite\"; settings = { path = \"$FULL/events.db\"; }; };|")
start_daemon master "$MASTER_CONF"
wait_for 20 keelctl get pods
ok $? "master with its Events on a small tmpfs serves the API"

filler=$(head -c 3000 /dev/zero | tr '\0' x)
event_yaml() {
    printf 'apiVersion: v1\nkind: Event\nmetadata: {name: %s}\ninvolvedObject: {kind: Pod, name: x, namespace: default}\nreason: Filler\nmessage: "%s"\ntype: Normal\n' "$1" "$filler"
}
pod_yaml() {
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec: {containers: [{name: c, image: sim}]}\n' "$1"
}
# A watch of Events across the failure: it must show only what was kept.
"$KEELCTL_BIN" --server "$SERVER" get events -w -o json >"$WORK/watch.out" 2>&1 &
watch_pid=$!
sleep 0.5
acked=0
i=0
while [ $i -lt 300 ]; do
    i=$((i + 1))
    event_yaml "e$i" >"$WORK/event.yaml"
    keelctl apply -f "$WORK/event.yaml" >"$WORK/event.out" 2>&1 || break
    acked=$((acked + 1))
done
[ $i -lt 300 ] && grep -q "events.db.*disk is full" "$WORK/event.out"
ok $? "once the events store is full an Event write fails with its reason after $acked acknowledged: $(cut -c1-160 "$WORK/event.out")"
grep -q "events store: .*failing the burst's Event writes" "$WORK/master.log"
ok $? "the master logs the failed events commit"

pod_yaml after-full | keelctl apply -f - >"$WORK/pod.out" 2>&1
ok $? "a pod write to the main store is still acknowledged: $(cat "$WORK/pod.out")"
kill -0 "$PID_master" 2>/dev/null
ok $? "the master is still running"

sleep 1
kill -INT "$watch_pid" 2>/dev/null
wait "$watch_pid" 2>/dev/null
watched=$(jq -s '[.[] | select(.reason == "Filler") | .metadata.name] | unique | length' "$WORK/watch.out" 2>/dev/null)
[ "$watched" = "$acked" ]
ok $? "the watch showed the $acked acknowledged Events and not the one whose commit failed ($watched)"

stored_events() { keelctl get events -o json 2>/dev/null | jq '[.items[] | select(.reason == "Filler")] | length'; }
[ "$(stored_events)" = "$acked" ]
ok $? "every acknowledged Event is listed ($(stored_events) of $acked)"

kill "$PID_master"
for _ in $(seq 50); do kill -0 "$PID_master" 2>/dev/null || break; sleep 0.1; done
start_daemon master "$MASTER_CONF"
wait_for 20 keelctl get pods
[ "$(stored_events)" = "$acked" ] && keelctl get pod after-full >/dev/null 2>&1
ok $? "after a restart the $acked acknowledged Events and the pod are still there"

done_testing
