# keelctl bench scheduler: profile parsing, seeded generation and in-process
# runs with known answers (C), and the real command's outputs (shell).
check_PROGRAMS += tests/unit/test_bench_profile
TESTS += tests/unit/test_bench_profile tests/unit/bench_scheduler_cli.sh
tests_unit_test_bench_profile_SOURCES = tests/unit/test_bench_profile.c
tests_unit_test_bench_profile_CFLAGS = $(KL_TEST_CFLAGS)
tests_unit_test_bench_profile_LDADD = core/keelctl/libkeelctl.la $(KL_TEST_LDADD)
EXTRA_DIST += tests/unit/bench_scheduler_cli.sh bench/scheduler.sh \
	bench/profiles/uniform.conf bench/profiles/mixed.conf bench/profiles/tight.conf \
	bench/profiles/cluster-5000.conf bench/profiles/cluster-150k.conf
