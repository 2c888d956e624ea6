# Unit tests of the runtime plugins. Each compiles its plugin's sources in,
# so it drives the ops table directly with a fake host table.
check_PROGRAMS += tests/unit/test_runtime_sim tests/unit/test_runtime_runc
TESTS += tests/unit/test_runtime_sim tests/unit/test_runtime_runc

tests_unit_test_runtime_sim_SOURCES = tests/unit/test_runtime_sim.c $(SIM_PLUGIN_SOURCES)
tests_unit_test_runtime_sim_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/runtime/sim
tests_unit_test_runtime_sim_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_runtime_sim_LDADD = $(JANSSON_LIBS)

# Needs root, runc, umoci and busybox-static for its container half; it
# reports that half as skipped without them.
tests_unit_test_runtime_runc_SOURCES = tests/unit/test_runtime_runc.c $(RUNC_PLUGIN_SOURCES)
tests_unit_test_runtime_runc_CPPFLAGS = $(AM_CPPFLAGS) -I$(top_srcdir)/plugins/runtime/runc
tests_unit_test_runtime_runc_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_runtime_runc_LDADD = $(JANSSON_LIBS)
