# Scheduling end to end: nodeSelector, taints, cordon, and the spread and
# binpack plugins on a real master with three simulated workers.
TESTS += tests/integration/scheduling.sh
EXTRA_DIST += tests/integration/scheduling.sh
