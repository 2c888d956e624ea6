# Integration tests of the etcd store plugin: a three-member etcd cluster on
# loopback losing the member keelsond talks to, watches through several API
# servers, Events in an etcd store of their own, and Deployments scaled and
# deleted on etcd (skipped without etcd).
TESTS += tests/integration/store_etcd_failover.sh tests/integration/store_etcd_watch.sh \
	tests/integration/events_store_etcd.sh tests/integration/deployment_scale_etcd.sh
EXTRA_DIST += tests/integration/etcd.sh tests/integration/store_etcd_failover.sh tests/integration/store_etcd_watch.sh \
	tests/integration/events_store_etcd.sh tests/integration/deployment_scale_etcd.sh
