# Unit tests of the API server, object validation, selectors and the memory store.
check_PROGRAMS += tests/unit/test_objects tests/unit/test_selector \
	tests/unit/test_store_memory tests/unit/test_apiserver tests/unit/test_api_cache \
	tests/unit/test_api_commit
TESTS += tests/unit/test_objects tests/unit/test_selector \
	tests/unit/test_store_memory tests/unit/test_apiserver tests/unit/test_api_cache \
	tests/unit/test_api_commit
tests_unit_test_objects_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_objects_LDADD = $(KL_TEST_LDADD)
tests_unit_test_selector_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_selector_LDADD = $(KL_TEST_LDADD)
# The store test drives the plugin through the loader, as the daemon does.
tests_unit_test_store_memory_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_store_memory_LDADD = $(KL_TEST_LDADD)
tests_unit_test_apiserver_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_apiserver_LDADD = $(KL_TEST_LDADD)
tests_unit_test_api_cache_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_api_cache_LDADD = $(KL_TEST_LDADD)
# A failed group commit, made to happen by a file size limit on the sqlite store.
tests_unit_test_api_commit_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_api_commit_LDADD = $(KL_TEST_LDADD)
