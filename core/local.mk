# The core: one convenience library shared by keelsond and keelctl.
noinst_LTLIBRARIES += core/libkeelcore.la
core_libkeelcore_la_CPPFLAGS = $(AM_CPPFLAGS)
core_libkeelcore_la_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS)
core_libkeelcore_la_LIBADD = $(KL_CORE_LIBS)
core_libkeelcore_la_SOURCES = \
	core/log.c core/log.h \
	core/json_encode.c core/json_encode.h \
	core/json_scan.c core/json_scan.h \
	core/quantity.c core/quantity.h \
	core/bus.c core/bus.h core/bus_internal.h \
	core/bus_broker.c core/bus_client.c core/bus_service.c core/bus_subscriber.c \
	core/loader.c core/loader.h core/plugin_guard.c core/plugin_guard.h \
	core/config.c core/config.h \
	core/threads.c core/threads.h

# Components, each in its own fragment.
include core/api.mk
include core/scheduling.mk
include core/kubelet.mk
include core/controllers.mk
include core/keelctl/local.mk
include core/kit/local.mk

sbin_PROGRAMS += core/keelsond
core_keelsond_SOURCES = core/keelsond.c
core_keelsond_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS)
core_keelsond_LDADD = core/libkeelcore.la $(KL_CORE_LIBS) $(JEMALLOC_LIBS)
# Plugins resolve nothing against the daemon, but a sanitizer build needs
# the runtime exported for them.
core_keelsond_LDFLAGS = $(AM_LDFLAGS) -export-dynamic
