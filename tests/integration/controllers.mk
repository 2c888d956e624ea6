# Workload controllers (replicaset, deployment, gc, eventttl) against real daemons.
TESTS += tests/integration/deployment_scale.sh tests/integration/deployment_rollout.sh \
	tests/integration/deployment_restart.sh tests/integration/deployment_no_controller.sh \
	tests/integration/eventttl.sh tests/integration/deployment_recreate.sh
