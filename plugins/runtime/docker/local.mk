# runtime/docker: containers run by dockerd, driven over its Engine API on a unix socket.
plugin_LTLIBRARIES += plugins/runtime/docker/runtime_docker.la
plugins_runtime_docker_runtime_docker_la_SOURCES = \
	plugins/runtime/docker/docker.h \
	plugins/runtime/docker/docker.c \
	plugins/runtime/docker/lifecycle.c \
	plugins/runtime/docker/inspect.c \
	plugins/runtime/docker/logs.c \
	plugins/runtime/docker/image.c \
	plugins/runtime/docker/create.c \
	plugins/runtime/docker/status.c \
	plugins/runtime/docker/http.c \
	plugins/runtime/docker/events.c \
	plugins/runtime/docker/quantity.c
plugins_runtime_docker_runtime_docker_la_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
plugins_runtime_docker_runtime_docker_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_runtime_docker_runtime_docker_la_LIBADD = $(CURL_LIBS) $(JANSSON_LIBS)

dist_noinst_SCRIPTS += scripts/registry.sh scripts/push-test-image.sh scripts/dockerd.sh
