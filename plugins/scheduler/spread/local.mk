# The spread scheduler plugin.
plugin_LTLIBRARIES += plugins/scheduler/spread/scheduler_spread.la
plugins_scheduler_spread_scheduler_spread_la_SOURCES = plugins/scheduler/spread/spread.c
plugins_scheduler_spread_scheduler_spread_la_CFLAGS = $(AM_CFLAGS)
plugins_scheduler_spread_scheduler_spread_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
