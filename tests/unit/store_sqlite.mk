# The sqlite store plugin, loaded through the loader; links SQLite itself only
# to forge damaged and foreign database files.
check_PROGRAMS += tests/unit/test_store_sqlite
TESTS += tests/unit/test_store_sqlite
tests_unit_test_store_sqlite_CFLAGS = $(KL_TEST_CFLAGS) $(SQLITE_CFLAGS)
tests_unit_test_store_sqlite_LDADD = $(KL_TEST_LDADD) $(SQLITE_LIBS)
