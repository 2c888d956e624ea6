# The sqlite store plugin: durable, one database file in WAL mode.
plugin_LTLIBRARIES += plugins/store/sqlite/store_sqlite.la
plugins_store_sqlite_store_sqlite_la_SOURCES = \
	plugins/store/sqlite/sqlite_store.h \
	plugins/store/sqlite/sqlite.c \
	plugins/store/sqlite/schema.c \
	plugins/store/sqlite/keys.c \
	plugins/store/sqlite/changes.c \
	plugins/store/sqlite/leases.c
plugins_store_sqlite_store_sqlite_la_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS)
plugins_store_sqlite_store_sqlite_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_store_sqlite_store_sqlite_la_LIBADD = $(SQLITE_LIBS)
