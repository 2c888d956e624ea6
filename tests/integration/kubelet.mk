# Kubelet integration tests: many simulated nodes in one process, and
# adoption and logs of real runc containers across a kubelet restart, and
# exits reported through the runtime's notifications, and containers
# started in parallel on the start workers, and the relist period.
TESTS += tests/integration/kubelet_nodes.sh tests/integration/kubelet_runc.sh \
	tests/integration/kubelet_exit_events.sh tests/integration/kubelet_parallel_starts.sh \
	tests/integration/kubelet_relist.sh
