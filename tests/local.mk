# Tests: unit tests per module (C, TAP), integration tests (shell, TAP)
# that start real daemons, and fixtures.
KL_TEST_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS) -I$(top_srcdir)/tests
KL_TEST_LDADD = core/libkeelcore.la $(KL_CORE_LIBS)

include tests/unit/core.mk
include tests/unit/api.mk
include tests/unit/scheduling.mk
include tests/unit/runtime.mk
include tests/unit/keelctl.mk
include tests/fixtures/local.mk
include tests/integration/local.mk
include tests/unit/sched_plugins.mk
include tests/unit/bench_scheduler.mk
include tests/integration/scheduling.mk
include tests/integration/kubelet.mk
include tests/integration/runtime_docker.mk
include tests/integration/runtime_podman.mk
include tests/conformance/local.mk
include tests/unit/store_sqlite.mk
include tests/unit/store_etcd.mk
include tests/integration/store_sqlite.mk
include tests/integration/store_etcd.mk
include tests/integration/nodefail.mk
include tests/integration/controllers.mk
