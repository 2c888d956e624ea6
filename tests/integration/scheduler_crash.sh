#!/bin/sh
# A scheduler plugin that crashes (SIGSEGV in score()) on a real master: the
# daemon goes on serving, pods stay Pending with the crash as their reason,
# the crash is logged once, and `keelctl bench scheduler` reports it as that
# plugin's failure (in process and in cluster mode) while the other plugins
# still run. One that crashes as it opens stops keelsond with a message
# instead of a core dump.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"

CRASHY="$KEELSON_BUILDDIR/tests/plugins/scheduler_crashy.so"
[ -f "$CRASHY" ] || skip_all "the crashing fixture plugin is not built"

start_daemon master "$(master_config memory "$CRASHY")"
start_daemon w1 "$(sim_worker_config w1)"
wait_for 30 nodes_ready 1
ok $? "master with a crashing scheduler plugin and one worker Ready"

pod_yaml() {
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\nspec:\n  containers:\n  - name: c\n    image: sim\n' "$1"
}
reason_of() {
    pod_field "$1" '.status.conditions[]? | select(.type == "PodScheduled") | .message'
}
reason_has() { reason_of "$1" | grep -qF "$2"; }

pod_yaml first | keelctl apply -f - >/dev/null
wait_for 15 reason_has first "scheduler/crashy crashed (SIGSEGV, an invalid memory access)"
ok $? "the pod it crashed on is Pending with the crash as its reason: $(reason_of first)"
pod_phase_is first Pending
ok $? "the pod stays Pending"

kill -0 "$PID_master" 2>/dev/null
ok $? "the master process is still running"
[ "$(keelctl get nodes -o json | jq '.items | length')" = 1 ]
ok $? "the API still answers"

pod_yaml second | keelctl apply -f - >/dev/null
wait_for 15 reason_has second "is not called again"
ok $? "a later pod waits with the same reason: $(reason_of second)"
[ -z "$(pod_field second '.spec.nodeName // ""')" ]
ok $? "and is not bound"
[ "$(grep -c 'error scheduler: scheduler/crashy crashed' "$WORK/master.log")" -eq 1 ]
ok $? "the crash is logged once as an error: $(grep -m1 'error scheduler:' "$WORK/master.log" | cut -c26-200)"

# The benchmark: the crashing plugin's column fails, the next one runs.
"$KEELCTL_BIN" bench scheduler --nodes 3 --pods 6 --plugins "$CRASHY,firstfit" \
    >"$WORK/bench.out" 2>"$WORK/bench.err"
rc=$?
[ $rc -eq 1 ] && grep -q "crashed (SIGSEGV" "$WORK/bench.err"
ok $? "bench: the crash is that plugin's error (exit $rc): $(grep '^error:' "$WORK/bench.err" | cut -c1-200)"
grep -q "^pods bound  *-  *6$" "$WORK/bench.out"
ok $? "bench: the next plugin still places every pod"

# The same in cluster mode: a real master whose scheduler runs the plugin.
cat >"$WORK/tiny.conf" <<CONF
nodes = 2;
pods = 4;
node_shapes = ( { name = "n"; cpu = "4"; memory = "8Gi"; max_pods = 110; } );
workload = { requests = ( { cpu = "1"; memory = "256Mi"; } ); };
CONF
timeout 60 "$KEELCTL_BIN" bench scheduler --mode cluster --profile "$WORK/tiny.conf" \
    --plugins "$CRASHY,firstfit" --timeout 20 --keelsond "$KEELSOND" \
    >"$WORK/cluster.out" 2>"$WORK/cluster.err"
rc=$?
[ $rc -eq 1 ] && grep -q "crashed (SIGSEGV" "$WORK/cluster.err" && grep -q "^pods bound  *-  *4$" "$WORK/cluster.out"
ok $? "bench --mode cluster: the crash is that plugin's error, the next one binds every pod (exit $rc): $(grep '^error:' "$WORK/cluster.err" | head -1 | cut -c1-200)"

# A plugin that crashes as it opens: keelsond refuses to start and says why.
cat >"$WORK/opencrash.conf" <<CONF
node_name = "opencrash";
roles = [ "master" ];
bus = { listen = [ "tcp://127.0.0.1:$((PORT + 5))" ]; };
store = { plugin = "memory"; };
scheduler = { plugin = "$CRASHY"; settings = { crash_in = "open"; }; };
CONF
timeout 20 "$KEELSOND" -c "$WORK/opencrash.conf" >"$WORK/opencrash.log" 2>&1
rc=$?
[ $rc -ne 0 ] && [ $rc -lt 124 ] && grep -q "scheduler/crashy.*crashed in open() (SIGSEGV" "$WORK/opencrash.log"
ok $? "a plugin that crashes in open() stops keelsond with a message, not a signal (exit $rc): $(grep -m1 'crashed in open' "$WORK/opencrash.log" | cut -c1-200)"

done_testing
