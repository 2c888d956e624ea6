#!/bin/sh
# Events in an etcd store of their own beside the objects' etcd store, the
# way large Kubernetes clusters split them (here two key prefixes of one
# loopback etcd): both stores are shared, so keelsond can run eight API
# servers, every one serving Events from the events store; Event keys land under the
# events prefix only, and a watch on Events through any API server sees
# new ones.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
. "$KEELSON_SRCDIR/tests/integration/events.sh"
. "$KEELSON_SRCDIR/tests/integration/etcd.sh"

etcd_start 1
ok $? "a one-member etcd on port $ETCD_BASE ($(cat "$WORK/etcd-start.err"))"
E0=http://127.0.0.1:$ETCD_BASE

start_daemon master "$(cat <<CONF
node_name = "master";
roles = [ "master" ];
bus = { listen = [ "$SERVER" ]; events = [ "$EVENTS" ]; };
store = { plugin = "etcd"; settings = { endpoints = [ "$E0" ]; prefix = "/objects"; }; };
events_store = { plugin = "etcd"; settings = { endpoints = [ "$E0" ]; prefix = "/events"; }; };
apiserver = { workers = 8; };
scheduler = { plugin = "firstfit"; node_timeout_ms = 6000; };
CONF
)"
start_daemon w1 "$(sim_worker_config w1)"
wait_for 30 nodes_ready 1
ok $? "master with objects and Events in two etcd stores, and one worker Ready"
grep -q "running 8 API servers" "$WORK/master.log"
ok $? "both stores are shared, so eight API servers run as configured"

keys_under() {  # keys_under PREFIX: how many etcd keys start with it
    start=$(printf '%s' "$1" | base64 -w0)
    end=$(printf '%s' "$1" | sed 's/.$/\x7f/' | base64 -w0)
    curl -s -m 5 -X POST "$E0/v3/kv/range" \
        -d "{\"key\":\"$start\",\"range_end\":\"$end\",\"count_only\":true}" | jq -r '.count // "0"'
}

sim_pod_yaml first | keelctl apply -f - >/dev/null
wait_for 20 pod_phase_is first Running
ok $? "a pod runs"
wait_for 10 has_events first
ok $? "its Events are listed: $(events_of first)"
events_keys=$(keys_under /events/)
object_event_keys=$(keys_under /objects/registry/events/)
[ "$events_keys" -gt 0 ] && [ "$object_event_keys" = 0 ]
ok $? "Event keys are under the events prefix only ($events_keys there, $object_event_keys among the objects)"
[ "$(keys_under /objects/registry/pods/)" -gt 0 ]
ok $? "the pod is under the objects prefix"

watch_sees_events_of second
ok $? "a watch on Events sees the next pod's"

done_testing
