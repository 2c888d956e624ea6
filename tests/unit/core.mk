# Unit tests of the core's own modules.
check_PROGRAMS += tests/unit/test_bus tests/unit/test_quantity tests/unit/test_config tests/unit/test_loader \
	tests/unit/test_controller_host tests/unit/test_workqueue tests/unit/test_kit_object tests/unit/test_json_scan
TESTS += tests/unit/test_bus tests/unit/test_quantity tests/unit/test_config tests/unit/test_loader \
	tests/unit/test_controller_host tests/unit/test_workqueue tests/unit/test_kit_object tests/unit/test_json_scan tests/unit/valgrind.sh
EXTRA_DIST += tests/unit/valgrind.sh tests/unit/deliberate-crashes.supp
tests_unit_test_bus_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_bus_LDADD = $(KL_TEST_LDADD)
tests_unit_test_quantity_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_quantity_LDADD = $(KL_TEST_LDADD)
tests_unit_test_config_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_config_LDADD = $(KL_TEST_LDADD)
tests_unit_test_loader_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_loader_LDADD = $(KL_TEST_LDADD)
tests_unit_test_controller_host_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_controller_host_LDADD = $(KL_TEST_LDADD)
tests_unit_test_workqueue_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_workqueue_LDADD = core/kit/libkeelson-kit-embedded.la $(JANSSON_LIBS)
tests_unit_test_kit_object_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_kit_object_LDADD = core/kit/libkeelson-kit-embedded.la $(JANSSON_LIBS)
tests_unit_test_json_scan_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_json_scan_LDADD = $(KL_TEST_LDADD)
