# Integration tests: real keelsond processes on loopback.
TESTS += tests/integration/bad_input.sh tests/integration/cluster_sim.sh \
	tests/integration/cluster_runc.sh tests/integration/out_of_tree_plugin.sh \
	tests/integration/keelctl_watch.sh tests/integration/cpu_priority.sh
EXTRA_DIST += tests/integration/lib.sh tests/integration/events.sh
