# The API server and what it is built from: objects, selectors.
core_libkeelcore_la_SOURCES += \
	core/objects.c core/objects.h core/objects_internal.h \
	core/objects_names.c core/objects_time.c core/objects_defaults.c \
	core/objects_quantity.c core/objects_validate.c core/objects_validate_pod.c \
	core/objects_validate_kinds.c \
	core/selector.c core/selector.h \
	core/apiserver.c core/apiserver.h core/apiserver_internal.h \
	core/apiserver_store.c core/apiserver_reads.c core/apiserver_writes.c \
	core/apiserver_inflight.c \
	core/apiserver_owners.c \
	core/apiserver_watch.c core/apiserver_history.c core/apiserver_feed.c \
	core/apiserver_actor.c core/apiserver_text.c \
	core/apiserver_cache.c core/apiserver_selectors.c
