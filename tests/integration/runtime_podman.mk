# Integration tests of container runtimes pulling from a private registry on
# loopback: podman, and runc through skopeo.
TESTS += tests/integration/runtime_podman.sh tests/integration/runtime_runc_registry.sh
EXTRA_DIST += tests/integration/runtime_podman.sh tests/integration/runtime_runc_registry.sh
