# The scheduler service: its pure cache and decisions, and the actor that
# feeds it from the API. list_watch is shared with the kubelet.
core_libkeelcore_la_SOURCES += \
	core/list_watch.c core/list_watch.h \
	core/sched_cache.c core/sched_cache.h \
	core/scheduler_service.c core/scheduler_service.h
