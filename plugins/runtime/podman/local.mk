# runtime/podman: containers run through the podman program, in keelson's own podman storage.
PODMAN_PLUGIN_SOURCES = \
	plugins/runtime/podman/podman.h \
	plugins/runtime/podman/podman.c \
	plugins/runtime/podman/start.c \
	plugins/runtime/podman/containers.c \
	plugins/runtime/podman/args.c \
	plugins/runtime/podman/check.c \
	plugins/runtime/podman/exits.c \
	plugins/runtime/podman/image.c \
	plugins/runtime/podman/spec.c \
	plugins/runtime/podman/cgroup.c \
	plugins/runtime/podman/inspect.c \
	plugins/runtime/podman/command.c

plugin_LTLIBRARIES += plugins/runtime/podman/runtime_podman.la
plugins_runtime_podman_runtime_podman_la_SOURCES = $(PODMAN_PLUGIN_SOURCES)
plugins_runtime_podman_runtime_podman_la_CFLAGS = $(AM_CFLAGS)
plugins_runtime_podman_runtime_podman_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_runtime_podman_runtime_podman_la_LIBADD = $(JANSSON_LIBS)
