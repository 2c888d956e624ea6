# The random scheduler plugin.
plugin_LTLIBRARIES += plugins/scheduler/random/scheduler_random.la
plugins_scheduler_random_scheduler_random_la_SOURCES = plugins/scheduler/random/random.c
plugins_scheduler_random_scheduler_random_la_CFLAGS = $(AM_CFLAGS)
plugins_scheduler_random_scheduler_random_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
