# Integration tests of the etcd store plugin: a three-member etcd cluster on
# loopback losing the member keelsond talks to, watches through several API
# servers, and Events in an etcd store of their own (skipped without etcd).
TESTS += tests/integration/store_etcd_failover.sh tests/integration/store_etcd_watch.sh \
	tests/integration/events_store_etcd.sh
EXTRA_DIST += tests/integration/etcd.sh tests/integration/store_etcd_failover.sh tests/integration/store_etcd_watch.sh \
	tests/integration/events_store_etcd.sh
