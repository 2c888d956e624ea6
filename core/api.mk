# The API server and what it is built from: objects, selectors.
core_libkeelcore_la_SOURCES += \
	core/objects.c core/objects.h \
	core/selector.c core/selector.h \
	core/apiserver.c core/apiserver.h core/apiserver_internal.h \
	core/apiserver_watch.c core/apiserver_actor.c core/apiserver_text.c
