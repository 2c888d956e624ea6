#!/bin/sh
# The master restarts mid-rollout on the sqlite store: the controllers
# rebuild their state from the API and the rollout completes.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed"
[ -e "$KEELSON_PLUGIN_PATH/store_sqlite.so" ] || skip_all "the sqlite store is not built"

CONTROLLERS='controllers = ( { plugin = "replicaset"; }, { plugin = "deployment"; }, { plugin = "gc"; } );'
MASTER="$(master_config sqlite firstfit "$CONTROLLERS" | sed "s|plugin = \"sqlite\"; }|plugin = \"sqlite\"; settings = { path = \"$WORK/db\"; }; }|")"
start_daemon master "$MASTER"
for w in w1 w2 w3; do start_daemon "$w" "$(sim_worker_config "$w")"; done
wait_for 30 nodes_ready 3
ok $? "three sim workers are Ready"

manifest() {
    cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 6
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        sim.keelson.io/start-delay-ms: "1500"
    spec:
      containers:
      - name: web
        image: busybox
        command: ["serve", "$1"]
YAML
}
manifest v1 >"$WORK/v1.yaml"
manifest v2 >"$WORK/v2.yaml"
keelctl apply -f "$WORK/v1.yaml" >/dev/null
timeout 60 "$KEELCTL_BIN" --server "$SERVER" rollout status deploy/web --timeout=50s >/dev/null 2>&1
ok $? "first rollout completes"

keelctl apply -f "$WORK/v2.yaml" >/dev/null
new_running() { [ "$(keelctl get pods -l app=web -o json | jq '[.items[] | select(.spec.containers[0].command[1] == "v2")] | length')" -ge 1 ]; }
wait_for 20 new_running
ok $? "the update has started"
kill "$PID_master"
for _ in $(seq 100); do kill -0 "$PID_master" 2>/dev/null || break; sleep 0.1; done
! kill -0 "$PID_master" 2>/dev/null
ok $? "master stopped mid-rollout"
mv "$WORK/master.log" "$WORK/master-1.log.txt"
start=$(date +%s%N)
start_daemon master "$MASTER"
# The bus comes up a moment before the API service registers on it.
api_serving() { keelctl get deploy web >/dev/null 2>&1; }
wait_for 20 api_serving
timeout 90 "$KEELCTL_BIN" --server "$SERVER" --request-timeout 10000 rollout status deploy/web --timeout=80s >"$WORK/status.out" 2>&1
ok $? "after the restart the rollout completes: $(tail -1 "$WORK/status.out")"
diag "rollout finished $((($(date +%s%N) - start) / 1000000)) ms after the restart"
v2=$(keelctl get pods -l app=web -o json | jq '[.items[] | select(.spec.containers[0].command[1] == "v2")] | length')
all=$(keelctl get pods -l app=web -o json | jq '.items | length')
[ "$v2" = 6 ] && [ "$all" = 6 ]
ok $? "6 pods, all of the new template ($v2 of $all)"
[ "$(keelctl get rs -o json | jq '[.items[] | select(.spec.replicas > 0)] | length')" = 1 ]
ok $? "one ReplicaSet holds replicas, the old one is at 0"
done_testing
