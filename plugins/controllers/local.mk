# Controller plugins: each folder has its own fragment.
include plugins/controllers/replicaset/local.mk
include plugins/controllers/deployment/local.mk
include plugins/controllers/gc/local.mk
include plugins/controllers/nodelifecycle/local.mk
include plugins/controllers/eventttl/local.mk
