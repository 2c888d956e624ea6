# Crash safety of the sqlite store: keelsond killed with SIGKILL under load;
# Events kept in a store of their own beside it.
TESTS += tests/integration/store_crash.sh tests/integration/events_store.sh
