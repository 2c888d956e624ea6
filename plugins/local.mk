# Each plugin folder has its own fragment.
include plugins/store/memory/local.mk
include plugins/store/sqlite/local.mk
include plugins/store/etcd/local.mk
include plugins/scheduler/firstfit/local.mk
include plugins/scheduler/spread/local.mk
include plugins/scheduler/binpack/local.mk
include plugins/scheduler/balanced/local.mk
include plugins/scheduler/random/local.mk
include plugins/runtime/sim/local.mk
include plugins/runtime/runc/local.mk
include plugins/runtime/docker/local.mk
include plugins/runtime/podman/local.mk
include plugins/controllers/local.mk
