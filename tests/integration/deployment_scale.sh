#!/bin/sh
# A Deployment over three sim workers: reaches its replicas, scales up and
# down, replaces a deleted pod; cascading and orphaning deletes; invalid
# workloads refused with the API's message. KL_IT_STORE=etcd keeps the
# master's objects in a one-member etcd (deployment_scale_etcd.sh).
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed"
if [ "${KL_IT_STORE:-memory}" = etcd ]; then
    . "$KEELSON_SRCDIR/tests/integration/etcd.sh"
    etcd_start 1
    ok $? "one-member etcd on port $ETCD_BASE"
    STORE_CONF="store = { plugin = \"etcd\"; settings = { endpoints = [ \"http://127.0.0.1:$ETCD_BASE\" ]; }; };"
fi

CONTROLLERS='controllers = ( { plugin = "replicaset"; }, { plugin = "deployment"; }, { plugin = "gc"; } );'
start_daemon master "$(master_config memory firstfit "$CONTROLLERS")"
for w in w1 w2 w3; do start_daemon "$w" "$(sim_worker_config "$w")"; done
wait_for 20 nodes_ready 3
ok $? "three sim workers are Ready"

running() { keelctl get pods -l app=web -o json | jq '[.items[] | select(.status.phase == "Running")] | length'; }
total() { keelctl get pods -l app=web -o json | jq '.items | length'; }
settled() { [ "$(running)" = "$1" ] && [ "$(total)" = "$1" ]; }

cat >"$WORK/web.yaml" <<YAML
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
    spec:
      containers:
      - name: web
        image: busybox
YAML
start=$(date +%s%N)
keelctl apply -f "$WORK/web.yaml" >/dev/null
ok $? "apply the Deployment"
wait_for 30 settled 6
ok $? "6 pods Running (have $(running))"
diag "6 replicas Running after $((($(date +%s%N) - start) / 1000000)) ms"
# Status follows the pods a moment later: wait for it, do not race it.
deploy_row_ready() { keelctl get deploy web | grep -Eq '^web +6/6 +6 +6 '; }
wait_for 10 deploy_row_ready
ok $? "get deploy shows READY 6/6, UP-TO-DATE 6, AVAILABLE 6"
rs_row_ready() { keelctl get rs | grep -Eq '^web-[a-z0-9]+ +6 +6 +6 '; }
wait_for 10 rs_row_ready
ok $? "get rs shows DESIRED 6 CURRENT 6 READY 6"
owner=$(keelctl get pods -l app=web -o json | jq -r '[.items[].metadata.ownerReferences[0].kind] | unique | join(",")')
[ "$owner" = "ReplicaSet" ]
ok $? "every pod is owned by the ReplicaSet ($owner)"

start=$(date +%s%N)
keelctl scale deploy/web --replicas=10 | grep -q 'deployment.apps/web scaled'
ok $? "scale deploy/web --replicas=10"
wait_for 30 settled 10
ok $? "10 pods Running (have $(running))"
diag "scaled to 10 in $((($(date +%s%N) - start) / 1000000)) ms"
keelctl scale deploy/web --replicas=2 >/dev/null
wait_for 30 settled 2
ok $? "scaled down to 2 (have $(total))"

victim=$(keelctl get pods -l app=web -o name | head -1 | cut -d/ -f2)
keelctl delete pod "$victim" >/dev/null
replaced() { settled 2 && ! keelctl get pods -l app=web -o name | grep -q "/$victim\$"; }
start=$(date +%s%N)
wait_for 30 replaced
ok $? "deleted pod $victim is replaced"
diag "replacement Running after $((($(date +%s%N) - start) / 1000000)) ms"
keelctl get events | grep -q 'SuccessfulCreate'
ok $? "get events lists the ReplicaSet's SuccessfulCreate"
keelctl describe deploy web | grep -q 'ScalingReplicaSet'
ok $? "describe deploy shows its ScalingReplicaSet events"

# A bare ReplicaSet, scaled with rs/NAME.
cat >"$WORK/rs.yaml" <<YAML
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: cache
spec:
  replicas: 3
  selector:
    matchLabels:
      app: cache
  template:
    metadata:
      labels:
        app: cache
    spec:
      containers:
      - name: cache
        image: busybox
YAML
keelctl apply -f "$WORK/rs.yaml" >/dev/null
cache_count() { [ "$(keelctl get pods -l app=cache -o json | jq '[.items[] | select(.status.phase == "Running")] | length')" = "$1" ] && [ "$(keelctl get pods -l app=cache -o json | jq '.items | length')" = "$1" ]; }
wait_for 30 cache_count 3
ok $? "ReplicaSet cache runs 3 pods"
keelctl scale rs/cache --replicas=1 >/dev/null && wait_for 30 cache_count 1
ok $? "scale rs/cache --replicas=1"

# (e) orphan keeps the pods, without owners; default delete collects them.
keelctl delete rs cache --cascade=orphan >/dev/null
ok $? "delete rs cache --cascade=orphan"
sleep 2
orphans=$(keelctl get pods -l app=cache -o json | jq '[.items[] | select((.metadata.ownerReferences // []) | length == 0)] | length')
[ "$orphans" = 1 ]
ok $? "the orphaned pod is kept with no ownerReferences ($orphans)"
keelctl delete deploy web >/dev/null
ok $? "delete deploy web (background)"
gone() { [ "$(keelctl get rs -o json | jq '[.items[] | select(.metadata.name | startswith("web-"))] | length')" = 0 ] && [ "$(total)" = 0 ]; }
start=$(date +%s%N)
wait_for 30 gone
ok $? "gc deleted the ReplicaSet and its pods"
diag "cascade collected in $((($(date +%s%N) - start) / 1000000)) ms"
[ "$(keelctl get pods -l app=cache -o json | jq '.items | length')" = 1 ]
ok $? "gc left the orphan alone"

# (f) invalid workloads carry the API's message.
sed 's/replicas: 6/replicas: -1/' "$WORK/web.yaml" >"$WORK/neg.yaml"
out=$(keelctl apply -f "$WORK/neg.yaml" 2>&1)
echo "$out" | grep -q 'spec.replicas: Invalid value: -1: must be greater than or equal to 0'
ok $? "negative replicas refused: $out"
sed 's/        app: web$/        app: other/' "$WORK/web.yaml" >"$WORK/mismatch.yaml"
out=$(keelctl apply -f "$WORK/mismatch.yaml" 2>&1)
echo "$out" | grep -q 'selector. does not match template .labels'
ok $? "selector not matching the template refused: $out"
done_testing
