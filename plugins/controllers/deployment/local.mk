# The deployment controller plugin.
DEPLOYMENT_PLUGIN_SOURCES = \
	plugins/controllers/deployment/deployment.h \
	plugins/controllers/deployment/deployment.c \
	plugins/controllers/deployment/replicasets.c \
	plugins/controllers/deployment/rollout.c \
	plugins/controllers/deployment/status.c

plugin_LTLIBRARIES += plugins/controllers/deployment/controller_deployment.la
plugins_controllers_deployment_controller_deployment_la_SOURCES = $(DEPLOYMENT_PLUGIN_SOURCES)
plugins_controllers_deployment_controller_deployment_la_CFLAGS = $(AM_CFLAGS)
plugins_controllers_deployment_controller_deployment_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_controllers_deployment_controller_deployment_la_LIBADD = core/kit/libkeelson-kit-embedded.la $(JANSSON_LIBS)
