# The binpack scheduler plugin.
plugin_LTLIBRARIES += plugins/scheduler/binpack/scheduler_binpack.la
plugins_scheduler_binpack_scheduler_binpack_la_SOURCES = plugins/scheduler/binpack/binpack.c
plugins_scheduler_binpack_scheduler_binpack_la_CFLAGS = $(AM_CFLAGS)
plugins_scheduler_binpack_scheduler_binpack_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
