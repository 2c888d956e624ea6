# controller/eventttl: deletes Events older than ttl_ms (Kubernetes' event TTL).
plugin_LTLIBRARIES += plugins/controllers/eventttl/controller_eventttl.la
plugins_controllers_eventttl_controller_eventttl_la_SOURCES = plugins/controllers/eventttl/eventttl.c
plugins_controllers_eventttl_controller_eventttl_la_CFLAGS = $(AM_CFLAGS)
plugins_controllers_eventttl_controller_eventttl_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_controllers_eventttl_controller_eventttl_la_LIBADD = \
	core/kit/libkeelson-kit-embedded.la $(JANSSON_LIBS)
