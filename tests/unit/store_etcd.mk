# Unit tests of the etcd store plugin, and of the API server on it, against a
# real etcd each starts itself (skipped without /usr/bin/etcd); both drive the
# plugin through the loader.
check_PROGRAMS += tests/unit/test_store_etcd tests/unit/test_store_etcd_api
TESTS += tests/unit/test_store_etcd tests/unit/test_store_etcd_api
tests_unit_test_store_etcd_SOURCES = tests/unit/test_store_etcd.c \
	tests/unit/etcd_fixture.c tests/unit/etcd_fixture.h
tests_unit_test_store_etcd_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_store_etcd_LDADD = $(KL_TEST_LDADD)
tests_unit_test_store_etcd_api_SOURCES = tests/unit/test_store_etcd_api.c \
	tests/unit/etcd_fixture.c tests/unit/etcd_fixture.h
tests_unit_test_store_etcd_api_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_store_etcd_api_LDADD = $(KL_TEST_LDADD)
EXTRA_DIST += scripts/etcd-cluster.sh
# The plugin's reading of etcd's answers, on texts alone (no etcd needed).
check_PROGRAMS += tests/unit/test_etcd_reply_scan
TESTS += tests/unit/test_etcd_reply_scan
tests_unit_test_etcd_reply_scan_SOURCES = tests/unit/test_etcd_reply_scan.c \
	$(plugins_store_etcd_store_etcd_la_SOURCES)
tests_unit_test_etcd_reply_scan_CFLAGS = $(KL_TEST_CFLAGS) $(CURL_CFLAGS)
tests_unit_test_etcd_reply_scan_LDADD = $(KL_TEST_LDADD) $(CURL_LIBS) $(JANSSON_LIBS) -lpthread
