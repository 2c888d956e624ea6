# Integration test of runtime/docker: a private registry and dockerd on loopback.
TESTS += tests/integration/runtime_docker.sh
dist_noinst_SCRIPTS += tests/integration/runtime_docker.sh
