# The controller kit: the one library plugins may link (libkeelson-kit).
lib_LTLIBRARIES += core/kit/libkeelson-kit.la
core_kit_libkeelson_kit_la_SOURCES = core/kit/informer.c core/kit/workqueue.c core/kit/events.c \
	core/kit/object.c
core_kit_libkeelson_kit_la_CFLAGS = $(AM_CFLAGS) -fvisibility=default
core_kit_libkeelson_kit_la_LIBADD = $(JANSSON_LIBS)
core_kit_libkeelson_kit_la_LDFLAGS = -version-info 1:0:1
keelsoninclude_HEADERS += include/keelson/kit.h

# keelson's own controllers carry a private copy, so they load wherever the
# plugins are installed without depending on where libdir is.
noinst_LTLIBRARIES += core/kit/libkeelson-kit-embedded.la
core_kit_libkeelson_kit_embedded_la_SOURCES = $(core_kit_libkeelson_kit_la_SOURCES)
core_kit_libkeelson_kit_embedded_la_CFLAGS = $(AM_CFLAGS)
