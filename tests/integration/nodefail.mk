# Node failure: a killed worker's pods are evicted by nodelifecycle and run
# again elsewhere, with the sim runtime and with real runc containers; node
# liveness read from the kubelet's Lease, and the kubelet's Events.
TESTS += tests/integration/node_failover.sh tests/integration/node_failover_runc.sh \
	tests/integration/kubelet_lease.sh
