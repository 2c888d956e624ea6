#!/bin/sh
# Events in a store of their own (events_store), as large Kubernetes
# clusters give events an etcd of their own: a master on sqlite keeps its
# Events in the memory store. Events are written, listed, watched and
# described as before; after a master restart the pods are still there and
# the volatile Events are gone, and new ones arrive. Resource versions of
# Events count on their own.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
. "$KEELSON_SRCDIR/tests/integration/events.sh"

MASTER_CONF=$(master_config sqlite firstfit)
MASTER_CONF=$(printf '%s\n' "$MASTER_CONF" | sed "s|store = { plugin = \"sqlite\"; };|store = { plugin = \"sqlite\"; settings = { path = \"$WORK/store.db\"; }; };\nevents_store = { plugin = \"memory\"; };|")
start_daemon master "$MASTER_CONF"
start_daemon w1 "$(sim_worker_config w1)"
wait_for 30 nodes_ready 1
ok $? "master on sqlite with Events in the memory store, and one worker Ready"


sim_pod_yaml first | keelctl apply -f - >/dev/null
wait_for 20 pod_phase_is first Running
ok $? "a pod runs"
wait_for 10 has_events first
ok $? "its Events are listed: $(events_of first)"
keelctl describe pod first 2>/dev/null | grep -q "Started"
ok $? "describe shows them"

first_event_rv=$(keelctl get events -o json | jq -r '[.items[].metadata.resourceVersion | tonumber] | min')
pod_rv=$(pod_field first .metadata.resourceVersion)
[ "$first_event_rv" = 1 ] && [ "$pod_rv" -gt 1 ]
ok $? "Events count their resource versions on their own: the first is 1 (the pod is at $pod_rv)"

watch_sees_events_of second
ok $? "a watch on Events sees the next pod's"

# A restart: the pods are durable in sqlite, the Events were in memory.
kill "$PID_master"
for _ in $(seq 50); do kill -0 "$PID_master" 2>/dev/null || break; sleep 0.1; done
start_daemon master "$MASTER_CONF"
wait_for 30 keelctl get pods
[ "$(keelctl get pods -o json | jq '.items | length')" = 2 ]
ok $? "after a master restart both pods are still there"
[ -z "$(events_of first)" ]
ok $? "and the Events, kept in memory, are gone"
sim_pod_yaml third | keelctl apply -f - >/dev/null
wait_for 20 pod_phase_is third Running
wait_for 10 has_events third
ok $? "new Events arrive: $(events_of third)"

done_testing
