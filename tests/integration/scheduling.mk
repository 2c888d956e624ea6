# Scheduling end to end: nodeSelector, taints, cordon, and the spread and
# binpack plugins on a real master with three simulated workers; a scheduler
# plugin that crashes.
TESTS += tests/integration/scheduling.sh tests/integration/scheduler_crash.sh
EXTRA_DIST += tests/integration/scheduling.sh tests/integration/scheduler_crash.sh
