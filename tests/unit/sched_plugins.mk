# The scheduler plugins (spread, binpack, balanced, random), loaded as real .so
# files through the core's loader.
check_PROGRAMS += tests/unit/test_sched_plugins
TESTS += tests/unit/test_sched_plugins
tests_unit_test_sched_plugins_SOURCES = tests/unit/test_sched_plugins.c
tests_unit_test_sched_plugins_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_sched_plugins_LDADD = $(KL_TEST_LDADD)
