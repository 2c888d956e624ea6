#!/bin/sh
# Crash safety of the sqlite store: a master keelsond is killed with SIGKILL in
# the middle of a write load, several times. Every pod keelctl saw created must
# survive, every object must still parse, and revisions must keep growing.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"

command -v jq >/dev/null 2>&1 || skip_all "jq is not installed"
found=""
for d in $(echo "${KEELSON_PLUGIN_PATH:-}" | tr ':' ' '); do
    [ -e "$d/store_sqlite.so" ] && found=1
done
[ -n "$found" ] || skip_all "the sqlite store plugin is not built"

ROUNDS=4
DB="$WORK/store.db"

config() {
    cat <<CONF
node_name = "master";
roles = [ "master" ];
bus = { listen = [ "$SERVER" ]; events = [ "$EVENTS" ]; };
store = { plugin = "sqlite"; settings = { path = "$DB"; }; };
scheduler = { plugin = "firstfit"; node_timeout_ms = 6000; };
CONF
}

pods_file() {  # pods_file FILE PREFIX COUNT: COUNT pods named PREFIX-N
    : >"$1"
    i=0
    while [ "$i" -lt "$3" ]; do
        cat >>"$1" <<POD
---
apiVersion: v1
kind: Pod
metadata: {name: $2-$i, labels: {app: crash}}
spec:
  containers:
  - {name: c, image: sim, resources: {requests: {cpu: 10m, memory: 16Mi}}}
POD
        i=$((i + 1))
    done
}

# writer ROUND: applies batches of 10 pods until keelsond goes away; the
# names keelctl reports as created go to acked.ROUND.
writer() {
    b=0
    while [ "$b" -lt 400 ]; do
        pods_file "$WORK/batch.$1" "crash-$1-$b" 10
        keelctl --request-timeout 2000 apply -f "$WORK/batch.$1" >"$WORK/out.$1" 2>/dev/null
        rc=$?
        sed -n 's|^pod/\([^ ]*\) created$|\1|p' "$WORK/out.$1" >>"$WORK/acked.$1"
        [ "$rc" -eq 0 ] || break
        b=$((b + 1))
    done
}

random_ms() {  # random_ms MIN SPAN: MIN plus up to SPAN milliseconds
    echo $(($1 + $(od -An -N2 -tu2 /dev/urandom) % $2))
}

list_ok() { keelctl get pods -o json >"$WORK/list.json" 2>/dev/null && jq -e .items "$WORK/list.json" >/dev/null; }

max_rv=0
last_probe_rv=0
round=1
while [ "$round" -le "$ROUNDS" ]; do
    start_daemon "master$round" "$(config)"
    pid=$(eval echo "\$PID_master$round")
    wait_for 30 list_ok
    ok $? "round $round: keelsond with the sqlite store serves a pod list"

    if [ "$round" -gt 1 ]; then
        # Everything from before the crashes must be there, whole.
        jq -e 'all(.items[]; (.metadata.name | type) == "string"
                  and (.metadata.resourceVersion | tonumber) > 0
                  and (.spec.containers | length) > 0)' "$WORK/list.json" >/dev/null
        ok $? "round $round: every stored pod parses and has its name, resourceVersion and containers"
        jq -r '.items[].metadata.name' "$WORK/list.json" | sort >"$WORK/names"
        cat "$WORK"/acked.* 2>/dev/null | sort -u >"$WORK/acked"
        missing=$(comm -23 "$WORK/acked" "$WORK/names" | wc -l)
        [ "$missing" -eq 0 ]
        ok $? "round $round: all $(wc -l <"$WORK/acked") pods acknowledged so far survived the kill ($missing missing)"
        [ "$missing" -eq 0 ] || comm -23 "$WORK/acked" "$WORK/names" | head -5 | sed 's/^/# missing: /'
        max_rv=$(jq '[.items[].metadata.resourceVersion | tonumber] | max // 0' "$WORK/list.json")

        # A new write continues after every revision from before the crash.
        pods_file "$WORK/probe.yaml" "probe-$round" 1
        keelctl apply -f "$WORK/probe.yaml" >/dev/null 2>&1
        probe_rv=$(keelctl get pod "probe-$round-0" -o json 2>/dev/null | jq -r '.metadata.resourceVersion // 0')
        [ "$probe_rv" -gt "$max_rv" ] && [ "$probe_rv" -gt "$last_probe_rv" ]
        ok $? "round $round: a write after the restart gets resourceVersion $probe_rv, above $max_rv and the last probe's $last_probe_rv"
        last_probe_rv=$probe_rv
    fi

    writer "$round" &
    writer_pid=$!
    ms=$(random_ms 500 2000)
    sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null
    wait "$writer_pid"
    diag "round $round: killed keelsond after $ms ms with $(wc -l <"$WORK/acked.$round" 2>/dev/null || echo 0) pods acknowledged"
    round=$((round + 1))
done

# One last start: the final crash's acknowledged pods are there too, and the
# daemon then stops cleanly (done_testing checks its log).
start_daemon final "$(config)"
wait_for 30 list_ok
ok $? "keelsond starts after the last kill"
jq -r '.items[].metadata.name' "$WORK/list.json" | sort >"$WORK/names"
cat "$WORK"/acked.* 2>/dev/null | sort -u >"$WORK/acked"
total=$(wc -l <"$WORK/acked")
missing=$(comm -23 "$WORK/acked" "$WORK/names" | wc -l)
[ "$total" -gt 0 ] && [ "$missing" -eq 0 ]
ok $? "all $total acknowledged pods from $ROUNDS killed runs are stored ($missing missing)"
done_testing
