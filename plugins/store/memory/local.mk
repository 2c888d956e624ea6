# The in-memory store plugin.
plugin_LTLIBRARIES += plugins/store/memory/store_memory.la
plugins_store_memory_store_memory_la_SOURCES = plugins/store/memory/memory.c \
	plugins/store/memory/memory_store.h plugins/store/memory/history.c \
	plugins/store/memory/leases.c
plugins_store_memory_store_memory_la_CFLAGS = $(AM_CFLAGS)
plugins_store_memory_store_memory_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
