# The firstfit scheduler plugin.
plugin_LTLIBRARIES += plugins/scheduler/firstfit/scheduler_firstfit.la
plugins_scheduler_firstfit_scheduler_firstfit_la_SOURCES = plugins/scheduler/firstfit/firstfit.c
plugins_scheduler_firstfit_scheduler_firstfit_la_CFLAGS = $(AM_CFLAGS)
plugins_scheduler_firstfit_scheduler_firstfit_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
