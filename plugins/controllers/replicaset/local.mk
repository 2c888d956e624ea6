# The replicaset controller plugin.
plugin_LTLIBRARIES += plugins/controllers/replicaset/controller_replicaset.la
plugins_controllers_replicaset_controller_replicaset_la_SOURCES = plugins/controllers/replicaset/replicaset.c
plugins_controllers_replicaset_controller_replicaset_la_CFLAGS = $(AM_CFLAGS)
plugins_controllers_replicaset_controller_replicaset_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_controllers_replicaset_controller_replicaset_la_LIBADD = core/kit/libkeelson-kit-embedded.la $(JANSSON_LIBS)
