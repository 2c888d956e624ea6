# Integration test of the etcd store plugin: a three-member etcd cluster on
# loopback losing the member keelsond talks to (skipped without etcd).
TESTS += tests/integration/store_etcd_failover.sh tests/integration/store_etcd_watch.sh
EXTRA_DIST += tests/integration/store_etcd_failover.sh tests/integration/store_etcd_watch.sh
