# runtime/sim: simulated containers for scale tests and scheduler benchmarks.
SIM_PLUGIN_SOURCES = \
	plugins/runtime/sim/sim.h \
	plugins/runtime/sim/sim.c \
	plugins/runtime/sim/containers.c \
	plugins/runtime/sim/table.c \
	plugins/runtime/sim/image.c

plugin_LTLIBRARIES += plugins/runtime/sim/runtime_sim.la
plugins_runtime_sim_runtime_sim_la_SOURCES = $(SIM_PLUGIN_SOURCES)
plugins_runtime_sim_runtime_sim_la_CFLAGS = $(AM_CFLAGS)
plugins_runtime_sim_runtime_sim_la_LDFLAGS = $(KL_PLUGIN_LDFLAGS)
plugins_runtime_sim_runtime_sim_la_LIBADD = $(JANSSON_LIBS)
