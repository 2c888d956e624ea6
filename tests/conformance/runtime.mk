# The runtime conformance suite: one program, installed with keelson, that
# checks any runtime plugin by path; make check runs it on sim, runc, podman and docker.
bin_PROGRAMS += tests/conformance/keelson-runtime-conformance
tests_conformance_keelson_runtime_conformance_SOURCES = \
	tests/conformance/conformance_tap.c tests/conformance/conformance_tap.h \
	tests/conformance/runtime_conformance.c tests/conformance/runtime_conformance.h \
	tests/conformance/runtime_groups.c
tests_conformance_keelson_runtime_conformance_CFLAGS = $(KL_TEST_CFLAGS) -pthread
tests_conformance_keelson_runtime_conformance_LDADD = $(KL_TEST_LDADD)
# Plugins resolve nothing against it, but a sanitizer build needs the
# runtime exported for them, as keelsond does.
tests_conformance_keelson_runtime_conformance_LDFLAGS = $(AM_LDFLAGS) -pthread -export-dynamic

TESTS += tests/conformance/runtime_sim.sh tests/conformance/runtime_runc.sh \
	tests/conformance/runtime_podman.sh tests/conformance/runtime_docker.sh
dist_noinst_SCRIPTS += tests/conformance/runtime_sim.sh tests/conformance/runtime_runc.sh \
	tests/conformance/runtime_podman.sh tests/conformance/runtime_docker.sh
EXTRA_DIST += tests/conformance/registry_lib.sh
