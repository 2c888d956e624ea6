# The gc controller plugin.
plugin_LTLIBRARIES += plugins/controllers/gc/controller_gc.la
plugins_controllers_gc_controller_gc_la_SOURCES = plugins/controllers/gc/gc.c
plugins_controllers_gc_controller_gc_la_CFLAGS = $(AM_CFLAGS)
plugins_controllers_gc_controller_gc_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_controllers_gc_controller_gc_la_LIBADD = core/kit/libkeelson-kit-embedded.la $(JANSSON_LIBS)
