#!/bin/sh
# The eventttl controller with ttl_ms = 3000: a pod's kubelet Events exist
# and are deleted a few seconds later, not at once; an Event bumped to a
# later lastTimestamp lives until that time plus the TTL; a ttl_ms of 0 or
# below stops keelsond at start-up with a message naming the setting.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
command -v jq >/dev/null 2>&1 || skip_all "jq is not installed"

# --- start-up refusals ---------------------------------------------------
for bad in 0 -5; do
    printf 'node_name = "m";\nroles = [ "master" ];\nbus = { listen = [ "tcp://127.0.0.1:%s" ]; events = [ "tcp://127.0.0.1:%s" ]; };\nstore = { plugin = "memory"; };\nscheduler = { plugin = "firstfit"; };\ncontrollers = ( { plugin = "eventttl"; settings = { ttl_ms = %s; }; } );\n' \
        "$((PORT + 2))" "$((PORT + 3))" "$bad" >"$WORK/bad-ttl.conf"
    timeout 20 "$KEELSOND" -c "$WORK/bad-ttl.conf" >"$WORK/bad-ttl.out" 2>&1
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'setting ttl_ms' "$WORK/bad-ttl.out"
    ok $? "ttl_ms = $bad refused at start-up (exit $rc): $(grep -m1 'ttl_ms' "$WORK/bad-ttl.out")"
done

# --- a running cluster ---------------------------------------------------
start_daemon master "$(master_config memory firstfit 'controllers = ( { plugin = "eventttl"; settings = { ttl_ms = 3000; }; } );')"
start_daemon w1 "$(sim_worker_config w1)"
wait_for 30 nodes_ready 1
ok $? "worker w1 Ready"

# Events about pod $1, however many.
events_of() { keelctl get events -o json 2>/dev/null | jq --arg n "$1" '[.items[] | select(.involvedObject.name == $n)] | length'; }
has_events() { [ "$(events_of "$1")" -ge "$2" ]; }
no_events() { [ "$(events_of "$1")" = 0 ]; }
make_pod() {
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: main\n    image: busybox\n' "$1" >"$WORK/$1.yaml"
    keelctl apply -f "$WORK/$1.yaml" >/dev/null
}

make_pod first
ok $? "create pod first"
# Pulling, Pulled (busybox means :latest, so Always), Created, Started;
# watched for from the apply on, as the clock starts when they are made.
wait_for 20 has_events first 3
ok $? "pod first has its Events ($(events_of first))"
seen=$(date +%s%N)
# Stamps have whole seconds, so an Event is at least 2 s from expiry when
# made: half a second after they were seen they must all still be there.
sleep 0.5
has_events first 3
ok $? "its Events are still there 0.5 s later ($(events_of first))"
wait_for 20 pod_phase_is first Running
ok $? "pod first Running"
wait_for 10 no_events first
ok $? "its Events are deleted within 10 s"
diag "gone $((($(date +%s%N) - seen) / 1000000)) ms after first seen"

make_pod second
wait_for 20 has_events second 3
ok $? "pod second, made later, has fresh Events ($(events_of second))"
wait_for 20 pod_phase_is second Running
ok $? "pod second Running"
wait_for 10 no_events second
ok $? "and they expire too"

# An Event last active in the future (a bumped count) outlives the TTL from
# its firstTimestamp; the fractional, offset stamp exercises the parser.
later=$(date -u -d '+5 seconds' +%Y-%m-%dT%H:%M:%S.250+00:00)
old=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
cat >"$WORK/bumped.yaml" <<YAML
apiVersion: v1
kind: Event
metadata:
  name: bumped.1
  namespace: default
involvedObject:
  kind: Pod
  name: bumped
  namespace: default
reason: BackOff
message: bumped
type: Warning
count: 7
firstTimestamp: "$old"
lastTimestamp: "$later"
YAML
keelctl apply -f "$WORK/bumped.yaml" >/dev/null
ok $? "create an Event last active 5 s from now, first seen 1 h ago"
sleep 3
has_events bumped 1
ok $? "it is kept past the TTL from its firstTimestamp"
wait_for 12 no_events bumped
ok $? "it is deleted once its lastTimestamp is 3 s old"

# An Event with an unreadable lastTimestamp falls back to its creation.
sed -e 's/name: bumped.1/name: garbled.1/' -e 's/name: bumped$/name: garbled/' \
    -e "s/^lastTimestamp: .*/lastTimestamp: \"not a time\"/" -e '/^firstTimestamp/d' \
    "$WORK/bumped.yaml" >"$WORK/garbled.yaml"
keelctl apply -f "$WORK/garbled.yaml" >/dev/null
ok $? "create an Event whose lastTimestamp is not a time"
wait_for 10 no_events garbled
ok $? "it expires from its creationTimestamp"
kill -0 "$PID_master" 2>/dev/null
ok $? "the master is still running"
done_testing
