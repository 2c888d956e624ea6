#!/bin/sh
# `keelctl get -w` against a real master and a simulated worker: it prints
# the pods there are, then each change as it happens, line by line even into
# a pipe or a file, follows one named pod, and leaves cleanly on SIGINT.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
start_daemon master "$(master_config)"
start_daemon sim1 "$(sim_worker_config sim-1 10)"
wait_for 30 nodes_ready 1
ok $? "a simulated worker is Ready"

pod_yaml() {
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers: [{name: c, image: sim}]\n' "$1"
}
pod_yaml before >"$WORK/before.yaml"
keelctl apply -f "$WORK/before.yaml" >/dev/null 2>&1
wait_for 15 pod_phase_is before Running
ok $? "a pod is Running before the watch starts"

# exec: $! is then keelctl itself, which the SIGINT below must reach.
(exec "$KEELCTL_BIN" --server "$SERVER" get pods -w >"$WORK/table.out" 2>"$WORK/table.err") &
table_pid=$!
(exec "$KEELCTL_BIN" --server "$SERVER" get pod later -w -o json >"$WORK/named.out" \
    2>"$WORK/named.err") &
named_pid=$!
listed() { grep -q '^before ' "$WORK/table.out"; }
wait_for 10 listed
ok $? "the watch first prints the pods there are, into a file: $(head -3 "$WORK/table.out" | tr '\n' '|')"

pod_yaml later >"$WORK/later.yaml"
pod_yaml other >"$WORK/other.yaml"
keelctl apply -f "$WORK/later.yaml" >/dev/null 2>&1
keelctl apply -f "$WORK/other.yaml" >/dev/null 2>&1
running_row() { grep -q '^later .*Running' "$WORK/table.out"; }
wait_for 15 running_row
ok $? "a pod created after the watch started shows up, Running in the end"
grep -q '^later .*Pending' "$WORK/table.out"
ok $? "... after a row that shows it Pending"

named_running() {
    [ "$(jq -s '[.[] | select(.metadata.name == "later" and .status.phase == "Running")] | length' \
        "$WORK/named.out" 2>/dev/null)" -ge 1 ]
}
wait_for 15 named_running
ok $? "a watch of one named pod prints it as JSON until it is Running"
[ "$(jq -s '[.[] | select(.metadata.name != "later")] | length' "$WORK/named.out")" = 0 ]
ok $? "... and nothing about the other pods"

rows_before=$(grep -c '^later ' "$WORK/table.out")
keelctl delete pod later >/dev/null 2>&1
deleted_row() { [ "$(grep -c '^later ' "$WORK/table.out")" -gt "$rows_before" ]; }
wait_for 15 deleted_row
ok $? "deleting the pod prints it once more"

kill -INT "$table_pid" "$named_pid"
wait "$table_pid"
table_rc=$?
wait "$named_pid"
named_rc=$?
[ "$table_rc" = 0 ] && [ "$named_rc" = 0 ]
ok $? "SIGINT ends both watches with status 0 ($table_rc, $named_rc)"
[ ! -s "$WORK/table.err" ] && [ ! -s "$WORK/named.err" ]
ok $? "with nothing on stderr"
done_testing
