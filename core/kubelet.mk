# The kubelet: the actor, its pods' containers, its pod set and adoption, its
# logs service, its nodes, its pod status writes, its start workers, its
# Event recorder, its bus service, its pure pod state machine and its Node
# object.
core_libkeelcore_la_SOURCES += \
	core/kubelet.c core/kubelet.h core/kubelet_internal.h \
	core/kubelet_pods.c core/kubelet_pod_set.c core/kubelet_logs.c \
	core/kubelet_nodes.c core/kubelet_report.c core/kubelet_starts.c \
	core/kubelet_events.c core/kubelet_events.h \
	core/kubelet_service.c core/kubelet_service.h \
	core/pod_status.c core/pod_status.h \
	core/node_info.c core/node_info.h
