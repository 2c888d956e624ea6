#!/bin/sh
# cpu_priority: the master's control-plane threads run SCHED_RR when asked
# (the API server one level above the rest), the kubelet never does, and a
# daemon that may not use real-time priorities says so and runs normally.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ "$(id -u)" = 0 ] || skip_all "real-time priorities need root"
chrt -r 1 true 2>/dev/null || skip_all "this machine refuses real-time priorities even to root (a container without CAP_SYS_NICE?)"

# thread_sched PID NAME: "POLICY RTPRIO" of the daemon's thread called NAME
# (fields 41 and 40 of /proc/PID/task/TID/stat; 0 is SCHED_OTHER, 2 SCHED_RR).
thread_sched() {
    for task in /proc/"$1"/task/*; do
        if [ "$(cat "$task/comm")" = "$2" ]; then
            awk '{print $41, $40}' "$task/stat"
            return
        fi
    done
    echo "none"
}
thread_id() {
    for task in /proc/"$1"/task/*; do
        [ "$(cat "$task/comm")" = "$2" ] && basename "$task" && return
    done
}
pod_running() {
    printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers: [{name: c, image: sim}]\n' "$1" \
        | keelctl apply -f - >/dev/null 2>&1
    wait_for 20 pod_phase_is "$1" Running
}
single_machine() {  # single_machine [EXTRA]
    cat <<CONF
node_name = "solo";
roles = [ "master", "worker" ];
bus = { listen = [ "$SERVER" ]; events = [ "$EVENTS" ]; };
store = { plugin = "memory"; };
scheduler = { plugin = "firstfit"; };
controllers = ( { plugin = "replicaset"; } );
runtime = { plugin = "sim"; settings = { start_delay_ms = 10; }; };
kubelet = { heartbeat_ms = 500; sync_ms = 50; };
${1:-}
CONF
}

# 1. Unset: every thread keeps the kernel's normal policy.
start_daemon plain "$(single_machine)"
wait_for 15 nodes_ready 1
ok $? "a master without cpu_priority serves"
[ "$(thread_sched "$PID_plain" kl-api)" = "0 0" ] && [ "$(thread_sched "$PID_plain" kl-scheduler)" = "0 0" ]
ok $? "without cpu_priority the API server and scheduler run SCHED_OTHER"
stop_daemons

# 2. realtime: the API server at 2, the rest of the control plane at 1.
start_daemon rt "$(single_machine 'cpu_priority = "realtime";')"
wait_for 15 nodes_ready 1
ok $? "a master with cpu_priority = \"realtime\" serves"
is_sched() {  # is_sched NAME EXPECTED
    got=$(thread_sched "$PID_rt" "$1")
    [ "$got" = "$2" ]
    ok $? "thread $1: policy and priority \"$got\", expected \"$2\""
}
is_sched kl-api "2 2"
is_sched kl-scheduler "2 1"
is_sched kl-broker "2 1"
is_sched kl-replicaset "2 1"
is_sched ZMQbg/IO/0 "2 1"
is_sched kl-kubelet "0 0"
# Children and threads the API server starts fall back to SCHED_OTHER.
chrt -p "$(thread_id "$PID_rt" kl-api)" | grep -q "SCHED_RR|SCHED_RESET_ON_FORK"
ok $? "the API server's policy carries SCHED_RESET_ON_FORK"
pod_running p1
ok $? "a pod reaches Running on the real-time master"
stop_daemons

# 3. No right to real-time priorities (no CAP_SYS_NICE, RLIMIT_RTPRIO 0):
#    one clear warning, every thread at the normal policy, and it serves.
printf '%s\n' "$(single_machine 'cpu_priority = "realtime";')" >"$WORK/unprivileged.conf"
prlimit --rtprio=0 setpriv --inh-caps=-sys_nice --bounding-set=-sys_nice \
    "$KEELSOND" -c "$WORK/unprivileged.conf" >"$WORK/unprivileged.log" 2>&1 &
PID_unprivileged=$!
PIDS="$PIDS $!"
wait_for 15 nodes_ready 1
ok $? "a master that may not use real-time priorities still serves"
grep -q 'cpu_priority = "realtime": this process may not use real-time priorities' "$WORK/unprivileged.log"
ok $? "it warns that it may not use real-time priorities: $(grep -o 'cpu_priority = .*' "$WORK/unprivileged.log" | head -1)"
[ "$(thread_sched "$PID_unprivileged" kl-api)" = "0 0" ] && [ "$(thread_sched "$PID_unprivileged" ZMQbg/IO/0)" = "0 0" ]
ok $? "its API server and bus threads run SCHED_OTHER"
pod_running p2
ok $? "a pod reaches Running on it"
done_testing
