# The balanced scheduler plugin.
plugin_LTLIBRARIES += plugins/scheduler/balanced/scheduler_balanced.la
plugins_scheduler_balanced_scheduler_balanced_la_SOURCES = plugins/scheduler/balanced/balanced.c
plugins_scheduler_balanced_scheduler_balanced_la_CFLAGS = $(AM_CFLAGS)
plugins_scheduler_balanced_scheduler_balanced_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
