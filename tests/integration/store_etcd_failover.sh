#!/bin/sh
# A master keeping its objects in a three-member etcd cluster: the member it
# talks to is killed with SIGKILL in the middle of a stream of pod creates;
# no pod that keelctl reported created is lost, and the API keeps serving.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
. "$KEELSON_SRCDIR/tests/integration/etcd.sh"

etcd_start 3
ok $? "three-member etcd cluster healthy on ports $ETCD_BASE.. ($(cat "$WORK/etcd-start.err"))"
[ -n "$ENDPOINTS" ] || { done_testing; exit 1; }
E0=http://127.0.0.1:$ETCD_BASE
E1=http://127.0.0.1:$((ETCD_BASE + 2))
E2=http://127.0.0.1:$((ETCD_BASE + 4))

# The plugin starts with the first endpoint, member0: that is the one killed.
start_daemon master "$(cat <<CONF
node_name = "master";
roles = [ "master" ];
bus = { listen = [ "$SERVER" ]; events = [ "$EVENTS" ]; };
store = { plugin = "etcd"; settings = { endpoints = [ "$E0", "$E1", "$E2" ]; timeout_ms = 1500; }; };
scheduler = { plugin = "firstfit"; node_timeout_ms = 6000; };
CONF
)"
wait_for 20 keelctl get pods
ok $? "master on the etcd store serves the API"

pod_yaml() {
    printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  labels: {load: etcd}\nspec:\n  containers:\n  - name: c\n    image: sim\n' "$1"
}

# The writer: one apply per pod, so each acknowledgement is known.
TOTAL=150
KILL_AT=40
: >"$WORK/acked" ; : >"$WORK/failed"
(
    for i in $(seq 1 $TOTAL); do
        name=$(printf 'w%03d' "$i")
        pod_yaml "$name" >"$WORK/pod-$name.yaml"
        if keelctl apply -f "$WORK/pod-$name.yaml" >"$WORK/apply-$name.out" 2>&1 \
            && grep -q created "$WORK/apply-$name.out"; then
            echo "$name" >>"$WORK/acked"
        else
            echo "$name $(cat "$WORK/apply-$name.out")" >>"$WORK/failed"
        fi
    done
) &
WRITER=$!

acked_at_least() { [ "$(wc -l <"$WORK/acked")" -ge "$1" ]; }
wait_for 60 acked_at_least $KILL_AT
ok $? "writer load under way: $(wc -l <"$WORK/acked") pods created before the kill"
if command -v ss >/dev/null 2>&1; then
    ss -tnp state established "( dport = :$ETCD_BASE )" 2>/dev/null | grep -q "pid=$PID_master,"
    ok $? "keelsond holds a connection to member0 when it is killed"
fi
leader=$(curl -s -m 2 "$E0/v3/maintenance/status" -d '{}' | jq -r '.leader == .header.member_id')
diag "member0 was the raft leader: $leader"
kill -9 "$(cat "$ETCD_DIR/member0.pid")"
killed_at=$(wc -l <"$WORK/acked")
diag "killed etcd member0 (the endpoint in use) after $killed_at acknowledged creates"

wait "$WRITER"
acked=$(wc -l <"$WORK/acked")
failed=$(wc -l <"$WORK/failed")
diag "writer done: $acked acknowledged, $failed refused during the fail-over"
[ "$failed" -gt 0 ] && head -3 "$WORK/failed" | sed 's/^/#   refused: /'
[ "$acked" -gt "$killed_at" ]
ok $? "creates kept succeeding after the kill ($((acked - killed_at)) more)"

keelctl get pods -l load=etcd -o json >"$WORK/pods.json" 2>"$WORK/get.err"
ok $? "list pods after the kill"
jq -r '.items[].metadata.name' "$WORK/pods.json" | sort >"$WORK/listed"
sort "$WORK/acked" >"$WORK/acked.sorted"
lost=$(comm -23 "$WORK/acked.sorted" "$WORK/listed" | wc -l)
[ "$lost" -eq 0 ]
ok $? "no acknowledged pod lost ($acked acknowledged, $(wc -l <"$WORK/listed") listed, $lost missing)"

# The pods are in etcd itself, as seen from a surviving member.
prefix_b64=$(printf '/keelson' | base64 -w0)
end_b64=$(printf '/keelsoo' | base64 -w0)
in_etcd=$(curl -s -m 5 "$E1/v3/kv/range" -d "{\"key\":\"$prefix_b64\",\"range_end\":\"$end_b64\",\"count_only\":true}" \
    | jq -r '.count // "0"')
[ "${in_etcd:-0}" -ge "$acked" ]
ok $? "etcd holds at least as many keys under /keelson as pods acknowledged ($in_etcd)"

# Later applies succeed, on the two remaining members.
later_ok=0
for i in $(seq 1 10); do
    pod_yaml "after$i" >"$WORK/after.yaml"
    keelctl apply -f "$WORK/after.yaml" >/dev/null 2>&1 && later_ok=$((later_ok + 1))
done
[ "$later_ok" -eq 10 ]
ok $? "ten later applies succeed ($later_ok)"
keelctl get pod after10 -o json 2>/dev/null | jq -e '.metadata.name == "after10"' >/dev/null
ok $? "and are readable"
keelctl delete pod after10 >/dev/null 2>&1
ok $? "delete works after the fail-over"

done_testing
