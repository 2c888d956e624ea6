#!/bin/sh
# Without the deployment controller a Deployment is stored but nothing acts
# on it, and keelctl says so.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
command -v jq >/dev/null || skip_all "jq is not installed"

start_daemon master "$(master_config memory firstfit 'controllers = ( { plugin = "replicaset"; }, { plugin = "gc"; } );')"
start_daemon w1 "$(sim_worker_config w1)"
wait_for 20 nodes_ready 1
ok $? "a sim worker is Ready"
cat >"$WORK/web.yaml" <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
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
keelctl apply -f "$WORK/web.yaml" >"$WORK/out" 2>"$WORK/err"
ok $? "the Deployment is accepted: $(cat "$WORK/out")"
grep -q 'Warning: no deployment controller is running: Deployments are stored but not acted on' "$WORK/err"
ok $? "apply warns: $(cat "$WORK/err")"
keelctl get deploy >/dev/null 2>"$WORK/err2"
grep -q 'Warning: no deployment controller is running' "$WORK/err2"
ok $? "get deploy warns too"
keelctl get pods >/dev/null 2>"$WORK/err3"
! grep -q 'Warning' "$WORK/err3"
ok $? "get pods does not warn"
sleep 3
[ "$(keelctl get rs -o json | jq '.items | length')" = 0 ] && [ "$(keelctl get pods -o json | jq '.items | length')" = 0 ]
ok $? "nothing acted on it: no ReplicaSet, no pod after 3 s"
keelctl get rs >/dev/null 2>"$WORK/err4"
! grep -q 'Warning' "$WORK/err4"
ok $? "the replicaset controller runs: get rs does not warn"
done_testing
