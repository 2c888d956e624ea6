# Crash safety of the sqlite store: keelsond killed with SIGKILL under load;
# Events kept in a store of their own beside it, and that store running out
# of space.
TESTS += tests/integration/store_crash.sh tests/integration/events_store.sh \
	tests/integration/events_store_full.sh
