# runtime/runc: OCI containers run by runc on overlays of image layouts unpacked once by umoci.
RUNC_PLUGIN_SOURCES = \
	plugins/runtime/runc/runc.h \
	plugins/runtime/runc/runc.c \
	plugins/runtime/runc/state.c \
	plugins/runtime/runc/events.c \
	plugins/runtime/runc/stop.c \
	plugins/runtime/runc/image.c \
	plugins/runtime/runc/cache.c \
	plugins/runtime/runc/spec.c \
	plugins/runtime/runc/process.c \
	plugins/runtime/runc/supervisor.c

plugin_LTLIBRARIES += plugins/runtime/runc/runtime_runc.la
plugins_runtime_runc_runtime_runc_la_SOURCES = $(RUNC_PLUGIN_SOURCES)
plugins_runtime_runc_runtime_runc_la_CFLAGS = $(AM_CFLAGS)
plugins_runtime_runc_runtime_runc_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_runtime_runc_runtime_runc_la_LIBADD = $(JANSSON_LIBS)

dist_noinst_SCRIPTS += scripts/build-busybox-image.sh
