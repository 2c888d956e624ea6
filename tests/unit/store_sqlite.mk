# The sqlite store plugin, loaded through the loader; links SQLite itself only
# to forge damaged and foreign database files.
check_PROGRAMS += tests/unit/test_store_sqlite tests/unit/test_store_sqlite_faults
TESTS += tests/unit/test_store_sqlite tests/unit/test_store_sqlite_faults
tests_unit_test_store_sqlite_SOURCES = tests/unit/test_store_sqlite.c \
	tests/unit/sqlite_fixture.c tests/unit/sqlite_fixture.h
tests_unit_test_store_sqlite_CFLAGS = $(KL_TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_store_sqlite_LDADD = $(KL_TEST_LDADD) $(SQLITE_LIBS)
tests_unit_test_store_sqlite_faults_SOURCES = tests/unit/test_store_sqlite_faults.c \
	tests/unit/sqlite_fixture.c tests/unit/sqlite_fixture.h
tests_unit_test_store_sqlite_faults_CFLAGS = $(KL_TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_store_sqlite_faults_LDADD = $(KL_TEST_LDADD) $(SQLITE_LIBS)
