# The scheduler service: its pure cache and decisions, and the actor that
# feeds it from the API. list_watch is shared with the kubelet.
core_libkeelcore_la_SOURCES += \
	core/list_watch.c core/list_watch.h \
	core/sched_cache.c core/sched_cache.h core/sched_cache_internal.h \
	core/sched_cache_parse.c core/sched_cache_queue.c core/sched_cache_filters.c \
	core/sched_cache_reasons.c core/sched_cache_decide.c core/sched_cache_nodes.c \
	core/scheduler_service.c core/scheduler_service.h
