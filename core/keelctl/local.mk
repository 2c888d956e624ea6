# keelctl, the command line client. Its logic lives in a small library so the
# unit tests link the same code the program runs.
noinst_LTLIBRARIES += core/keelctl/libkeelctl.la
core_keelctl_libkeelctl_la_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS)
core_keelctl_libkeelctl_la_SOURCES = \
	core/keelctl/yaml_json.c core/keelctl/yaml_emit.c core/keelctl/yaml_json.h \
	core/keelctl/manifest.c core/keelctl/manifest.h \
	core/keelctl/printers.c core/keelctl/printers.h \
	core/keelctl/describe.c core/keelctl/describe.h \
	core/keelctl/client_config.c core/keelctl/client_config.h \
	core/keelctl/commands.c core/keelctl/commands.h core/keelctl/apply.c \
	core/keelctl/commands_internal.h \
	core/keelctl/commands_get.c core/keelctl/commands_nodes.c \
	core/keelctl/logs.c core/keelctl/logs.h \
	core/keelctl/workloads.c core/keelctl/workloads.h \
	core/keelctl/bench_profile.c core/keelctl/bench_profile.h \
	core/keelctl/bench_generate.c \
	core/keelctl/bench_report.c core/keelctl/bench_report.h \
	core/keelctl/bench_scheduler.c core/keelctl/bench_scheduler.h \
	core/keelctl/bench_cluster.c core/keelctl/bench_daemons.c \
	core/keelctl/bench_internal.h

bin_PROGRAMS += core/keelctl/keelctl
core_keelctl_keelctl_SOURCES = core/keelctl/main.c
core_keelctl_keelctl_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS)
core_keelctl_keelctl_LDADD = core/keelctl/libkeelctl.la core/libkeelcore.la $(KL_CORE_LIBS) $(JEMALLOC_LIBS)

EXTRA_DIST += examples/manifests/pod-hello.yaml examples/manifests/pods-sim.yaml
