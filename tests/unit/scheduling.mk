# Unit tests of the scheduler cache and of the kubelet's pod status logic.
check_PROGRAMS += tests/unit/test_sched_cache tests/unit/test_pod_status
TESTS += tests/unit/test_sched_cache tests/unit/test_pod_status

tests_unit_test_sched_cache_SOURCES = tests/unit/test_sched_cache.c
tests_unit_test_sched_cache_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_sched_cache_LDADD = $(KL_TEST_LDADD)

tests_unit_test_pod_status_SOURCES = tests/unit/test_pod_status.c
tests_unit_test_pod_status_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_pod_status_LDADD = $(KL_TEST_LDADD)

# list+watch against a scripted fake API service on an inproc bus.
check_PROGRAMS += tests/unit/test_list_watch
TESTS += tests/unit/test_list_watch
tests_unit_test_list_watch_SOURCES = tests/unit/test_list_watch.c
tests_unit_test_list_watch_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_list_watch_LDADD = $(KL_TEST_LDADD)
