# Crash safety of the sqlite store: keelsond killed with SIGKILL under load.
TESTS += tests/integration/store_crash.sh
