#!/bin/sh
# A rolling update never drops below replicas - maxUnavailable ready pods;
# rollout status, history and undo (the old ReplicaSet scales back up).
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed"

CONTROLLERS='controllers = ( { plugin = "replicaset"; }, { plugin = "deployment"; }, { plugin = "gc"; } );'
start_daemon master "$(master_config memory firstfit "$CONTROLLERS")"
for w in w1 w2 w3; do start_daemon "$w" "$(sim_worker_config "$w")"; done
wait_for 20 nodes_ready 3
ok $? "three sim workers are Ready"

manifest() {  # manifest VERSION: 8 replicas, maxUnavailable 2 (25%), maxSurge 2
    cat <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 8
  selector:
    matchLabels:
      app: web
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 25%
  template:
    metadata:
      labels:
        app: web
      annotations:
        sim.keelson.io/start-delay-ms: "700"
    spec:
      containers:
      - name: web
        image: busybox
        env:
        - name: VERSION
          value: "$1"
YAML
}
ready_count() { keelctl get pods -l app=web -o json | jq '[.items[] | select(any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length'; }
version_count() { keelctl get pods -l app=web -o json | jq --arg v "$1" '[.items[] | select(.spec.containers[0].env[0].value == $v and any(.status.conditions[]?; .type == "Ready" and .status == "True"))] | length'; }

manifest v1 >"$WORK/v1.yaml"
manifest v2 >"$WORK/v2.yaml"
keelctl apply -f "$WORK/v1.yaml" >/dev/null
timeout 60 "$KEELCTL_BIN" --server "$SERVER" rollout status deploy/web --timeout=50s >"$WORK/status1.out" 2>&1
ok $? "first rollout completes: $(tail -1 "$WORK/status1.out")"
# As with kubectl, a finished rollout means the Deployment's own status says so.
keelctl get deploy web -o json \
    | jq -e '.status.updatedReplicas == 8 and .status.availableReplicas == 8 and .status.readyReplicas == 8 and .status.observedGeneration == .metadata.generation' >/dev/null
ok $? "right after rollout status, the Deployment shows 8 of 8 ready and available"

# Sample readiness during the update in the background.
( while :; do ready_count; sleep 0.1; done ) >"$WORK/samples" 2>/dev/null &
sampler=$!
start=$(date +%s%N)
keelctl apply -f "$WORK/v2.yaml" >/dev/null
timeout 90 "$KEELCTL_BIN" --server "$SERVER" rollout status deploy/web --timeout=80s >"$WORK/status2.out" 2>&1
rc=$?
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
ok $rc "rolling update completes: $(tail -1 "$WORK/status2.out")"
diag "rollout of 8 replicas took $((($(date +%s%N) - start) / 1000000)) ms"
grep -q 'Waiting for deployment "web" rollout to finish' "$WORK/status2.out"
ok $? "rollout status printed progress lines ($(grep -c Waiting "$WORK/status2.out"))"
min=$(grep -E '^[0-9]+$' "$WORK/samples" | sort -n | head -1)
samples=$(grep -cE '^[0-9]+$' "$WORK/samples")
[ -n "$min" ] && [ "$min" -ge 6 ] && [ "$samples" -ge 5 ]
ok $? "never fewer than 8 - 2 ready pods during the update (minimum $min over $samples samples)"
[ "$(version_count v2)" = 8 ] && [ "$(keelctl get pods -l app=web -o json | jq '.items | length')" = 8 ]
ok $? "8 pods of the new template, no old ones"

history=$(keelctl rollout history deploy/web)
[ "$(echo "$history" | grep -cE '^[0-9]+ +web-')" = 2 ]
ok $? "history lists 2 revisions"
echo "$history" | sed 's/^/# /'

keelctl rollout undo deploy/web | grep -q 'rolled back'
ok $? "rollout undo"
timeout 90 "$KEELCTL_BIN" --server "$SERVER" rollout status deploy/web --timeout=80s >/dev/null 2>&1
ok $? "the undo rolls out"
[ "$(version_count v1)" = 8 ]
ok $? "the old template is back on 8 pods"
old_rs=$(echo "$history" | awk '$1 == 1 {print $2}')
keelctl get rs "$old_rs" -o json | jq -e '.spec.replicas == 8' >/dev/null
ok $? "the old ReplicaSet $old_rs scaled back up"
keelctl rollout undo deploy/web --to-revision=99 2>&1 | grep -q 'unable to find specified revision 99'
ok $? "undo to a revision that does not exist is refused"
timeout 10 "$KEELCTL_BIN" --server "$SERVER" rollout status deploy/nothere >/dev/null 2>&1
[ $? -eq 1 ]
ok $? "rollout status of a missing deployment fails"
done_testing
