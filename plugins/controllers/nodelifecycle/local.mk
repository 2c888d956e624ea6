# controller/nodelifecycle: NotReady marking, NoExecute taints and pod
# eviction for nodes whose kubelet stopped heartbeating.
plugin_LTLIBRARIES += plugins/controllers/nodelifecycle/controller_nodelifecycle.la
plugins_controllers_nodelifecycle_controller_nodelifecycle_la_SOURCES = \
	plugins/controllers/nodelifecycle/nodelifecycle.h \
	plugins/controllers/nodelifecycle/nodelifecycle.c \
	plugins/controllers/nodelifecycle/health.c \
	plugins/controllers/nodelifecycle/actions.c
plugins_controllers_nodelifecycle_controller_nodelifecycle_la_CFLAGS = $(AM_CFLAGS)
plugins_controllers_nodelifecycle_controller_nodelifecycle_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_controllers_nodelifecycle_controller_nodelifecycle_la_LIBADD = \
	core/kit/libkeelson-kit-embedded.la $(JANSSON_LIBS)
