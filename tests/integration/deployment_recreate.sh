#!/bin/sh
# A Recreate deployment never runs two versions at once; only
# revisionHistoryLimit old ReplicaSets are kept, and undo brings the
# previous version back.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed"

CONTROLLERS='controllers = ( { plugin = "replicaset"; }, { plugin = "deployment"; }, { plugin = "gc"; } );'
start_daemon master "$(master_config memory firstfit "$CONTROLLERS")"
for w in w1 w2; do start_daemon "$w" "$(sim_worker_config "$w")"; done
wait_for 20 nodes_ready 2
ok $? "two sim workers are Ready"

manifest() {  # manifest VERSION
    cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
spec:
  replicas: 4
  revisionHistoryLimit: 1
  selector:
    matchLabels:
      app: db
  strategy:
    type: Recreate
  template:
    metadata:
      labels:
        app: db
      annotations:
        sim.keelson.io/start-delay-ms: "300"
    spec:
      containers:
      - name: db
        image: busybox
        env:
        - name: VERSION
          value: "$1"
YAML
}
rollout() {  # rollout VERSION: apply it and wait for the rollout to finish
    manifest "$1" >"$WORK/$1.yaml"
    keelctl apply -f "$WORK/$1.yaml" >/dev/null &&
        timeout 60 "$KEELCTL_BIN" --server "$SERVER" rollout status deploy/db --timeout=50s \
            >"$WORK/status-$1.out" 2>&1
}
# The versions of the pods that exist, each once, sorted: "v1", "v1 v2", ...
versions() {
    keelctl get pods -l app=db -o json |
        jq -r '[.items[].spec.containers[0].env[0].value] | unique | join(" ")'
}
running_versions() {
    keelctl get pods -l app=db -o json |
        jq -r '[.items[] | select(.status.phase == "Running") | .spec.containers[0].env[0].value] | unique | join(" ")'
}

rollout v1
ok $? "v1 rolls out: $(tail -1 "$WORK/status-v1.out")"

( while :; do versions; sleep 0.05; done ) >"$WORK/samples" 2>/dev/null &
sampler=$!
rollout v2
rc=$?
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
ok $rc "v2 rolls out: $(tail -1 "$WORK/status-v2.out")"
[ "$(running_versions)" = v2 ] && [ "$(keelctl get pods -l app=db -o json | jq '.items | length')" = 4 ]
ok $? "four v2 pods run and nothing else"
grep -q v1 "$WORK/samples" && grep -q v2 "$WORK/samples"
ok $? "the samples saw both versions ($(sort -u "$WORK/samples" | tr '\n' '|'))"
! grep -q 'v1 v2' "$WORK/samples"
ok $? "no sample ever saw a v1 pod and a v2 pod at once"

# Every status written names a ReplicaSet, including on the pass that creates it.
( while :; do keelctl get deploy db -o json | jq -r '.status.conditions[]? | select(.type == "Progressing") | .message'; sleep 0.05; done ) \
    >"$WORK/messages" 2>/dev/null &
watcher=$!
rollout v3
rc=$?
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null
ok $rc "v3 rolls out: $(tail -1 "$WORK/status-v3.out")"
! grep -q 'ReplicaSet "" ' "$WORK/messages"
ok $? "no Progressing message names an empty ReplicaSet ($(sort -u "$WORK/messages" | tr '\n' '|'))"
sets=$(keelctl get rs -o json | jq '[.items[] | select(.metadata.labels.app == "db")] | length')
[ "$sets" = 2 ]
ok $? "with revisionHistoryLimit 1, the current and one old ReplicaSet are kept ($sets)"

timeout 60 "$KEELCTL_BIN" --server "$SERVER" rollout undo deploy/db >"$WORK/undo.out" 2>&1
ok $? "rollout undo: $(tail -1 "$WORK/undo.out")"
back_to_v2() { [ "$(running_versions)" = v2 ] && [ "$(keelctl get pods -l app=db -o json | jq '.items | length')" = 4 ]; }
wait_for 40 back_to_v2
ok $? "undo brings back four v2 pods, and only them"
done_testing
