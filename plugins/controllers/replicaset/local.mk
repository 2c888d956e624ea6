# The replicaset controller plugin.
REPLICASET_PLUGIN_SOURCES = \
	plugins/controllers/replicaset/replicaset.h \
	plugins/controllers/replicaset/replicaset.c \
	plugins/controllers/replicaset/ownership.c \
	plugins/controllers/replicaset/pods.c \
	plugins/controllers/replicaset/status.c

plugin_LTLIBRARIES += plugins/controllers/replicaset/controller_replicaset.la
plugins_controllers_replicaset_controller_replicaset_la_SOURCES = $(REPLICASET_PLUGIN_SOURCES)
plugins_controllers_replicaset_controller_replicaset_la_CFLAGS = $(AM_CFLAGS)
plugins_controllers_replicaset_controller_replicaset_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_controllers_replicaset_controller_replicaset_la_LIBADD = core/kit/libkeelson-kit-embedded.la $(JANSSON_LIBS)
