#!/bin/sh
# The runtime conformance suite against the podman runtime: a private
# registry on a loopback port derived from the process id, the test image
# pushed to it, and podman's storage and state in a temporary folder.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_SRCDIR:?run through make check}"
: "${KEELSON_PLUGIN_PATH:?run through make check}"
plugin="$KEELSON_PLUGIN_PATH/runtime_podman.so"
[ -e "$plugin" ] || { echo "1..0 # SKIP runtime_podman.so is not built"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP podman containers need root"; exit 0; }
for tool in podman skopeo docker-registry curl; do
    command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done

work=$(mktemp -d /tmp/keelson-rconf-podman.XXXXXX) || exit 1
. "$KEELSON_SRCDIR/tests/ports.sh"
port=$(kl_free_ports 2)
registry="127.0.0.1:$port"
scripts="$KEELSON_SRCDIR/scripts"
podman_here() {
    podman --root "$work/root" --runroot "$work/run" --tmpdir "$work/run/libpod-tmp" \
        --runtime runc --cgroup-manager cgroupfs --events-backend file "$@"
}
cleanup() {
    podman_here rm --all --force --time 0 >/dev/null 2>&1
    podman_here rmi --all --force >/dev/null 2>&1
    # podman mounts its storage; unmount before the folder goes.
    grep -o " $work/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount "$m" 2>/dev/null; done
    for d in /sys/fs/cgroup/*/keelson-podman/kl-*; do [ -d "$d" ] && rmdir "$d"/* "$d" 2>/dev/null; done
    sh "$scripts/registry.sh" stop "$work/registry" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$KEELSON_SRCDIR/tests/conformance/registry_lib.sh"
conformance_registry_up

printf 'settings = { root = "%s/root"; runroot = "%s/run"; };\n' "$work" "$work" >"$work/podman.conf"
"$KEELSON_BUILDDIR/tests/conformance/keelson-runtime-conformance" "$plugin" "$work/podman.conf" \
    --image "$registry/busybox:1.35"
status=$?
left=$(podman_here ps -a -q 2>/dev/null | wc -l)
echo "# podman containers left: $left"
[ "$left" -eq 0 ] || { echo "# Bail out! remove() left podman containers behind"; status=1; }
exit $status
