# Unit test of the etcd store plugin against a real etcd it starts itself
# (skipped without /usr/bin/etcd); drives the plugin through the loader.
check_PROGRAMS += tests/unit/test_store_etcd
TESTS += tests/unit/test_store_etcd
tests_unit_test_store_etcd_SOURCES = tests/unit/test_store_etcd.c
tests_unit_test_store_etcd_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_store_etcd_LDADD = $(KL_TEST_LDADD)
EXTRA_DIST += scripts/etcd-cluster.sh
