# Node failure: a killed worker's pods are evicted by nodelifecycle and run
# again elsewhere, with the sim runtime and with real runc containers.
TESTS += tests/integration/node_failover.sh tests/integration/node_failover_runc.sh
