# The store conformance suite: one program, installed with keelson, that
# checks any store plugin by path; make check runs it on memory, sqlite and etcd.
bin_PROGRAMS += tests/conformance/keelson-store-conformance
tests_conformance_keelson_store_conformance_SOURCES = \
	tests/conformance/conformance_tap.c tests/conformance/conformance_tap.h \
	tests/conformance/store_conformance.c tests/conformance/store_conformance.h \
	tests/conformance/store_basic.c tests/conformance/store_history.c \
	tests/conformance/store_shared.c tests/conformance/store_notify.c \
	tests/conformance/store_inflight.c
tests_conformance_keelson_store_conformance_CFLAGS = $(KL_TEST_CFLAGS) -pthread
tests_conformance_keelson_store_conformance_LDADD = $(KL_TEST_LDADD)
# Plugins resolve nothing against it, but a sanitizer build needs the
# runtime exported for them, as keelsond does.
tests_conformance_keelson_store_conformance_LDFLAGS = $(AM_LDFLAGS) -pthread -export-dynamic

TESTS += tests/conformance/store_memory.sh tests/conformance/store_sqlite.sh \
	tests/conformance/store_etcd.sh
include tests/conformance/runtime.mk
