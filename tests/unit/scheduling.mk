# Unit tests of the scheduler cache and of the kubelet's pod status logic.
check_PROGRAMS += tests/unit/test_sched_cache tests/unit/test_pod_status
TESTS += tests/unit/test_sched_cache tests/unit/test_pod_status

tests_unit_test_sched_cache_SOURCES = tests/unit/test_sched_cache.c
tests_unit_test_sched_cache_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_sched_cache_LDADD = $(KL_TEST_LDADD)

tests_unit_test_pod_status_SOURCES = tests/unit/test_pod_status.c
tests_unit_test_pod_status_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_pod_status_LDADD = $(KL_TEST_LDADD)
