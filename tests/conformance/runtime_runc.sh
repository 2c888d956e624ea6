#!/bin/sh
# The runtime conformance suite against the runc runtime: a private registry
# on a loopback port derived from the process id, the test image pushed to
# it, and the plugin's state and image store in a temporary folder.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_SRCDIR:?run through make check}"
: "${KEELSON_PLUGIN_PATH:?run through make check}"
plugin="$KEELSON_PLUGIN_PATH/runtime_runc.so"
[ -e "$plugin" ] || { echo "1..0 # SKIP runtime_runc.so is not built"; exit 0; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP runc containers need root"; exit 0; }
for tool in runc umoci skopeo docker-registry curl; do
    command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done

work=$(mktemp -d /tmp/keelson-rconf-runc.XXXXXX) || exit 1
. "$KEELSON_SRCDIR/tests/ports.sh"
port=$(kl_free_ports 2)
registry="127.0.0.1:$port"
scripts="$KEELSON_SRCDIR/scripts"
cleanup() {
    # Whatever a failed run left: its containers, then their cgroups.
    for id in $(runc --root "$work/state/runc-root" list -q 2>/dev/null); do
        runc --root "$work/state/runc-root" delete --force "$id" >/dev/null 2>&1
    done
    for id in $(sed -n 's/^# started container //p' "$work/suite.tap" 2>/dev/null); do
        for d in /sys/fs/cgroup/*/keelson/"$id"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
    done
    sh "$scripts/registry.sh" stop "$work/registry" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

. "$KEELSON_SRCDIR/tests/conformance/registry_lib.sh"
conformance_registry_up

printf 'settings = { state_dir = "%s/state"; image_store = "%s/images"; };\n' "$work" "$work" >"$work/runc.conf"
"$KEELSON_BUILDDIR/tests/conformance/keelson-runtime-conformance" "$plugin" "$work/runc.conf" \
    --image "$registry/busybox:1.35" >"$work/suite.tap"
status=$?
cat "$work/suite.tap"

# remove() must have freed everything: no bundle, no runc container, no cgroup.
left=$(ls "$work/state" 2>/dev/null | grep -c '^kl-')
echo "# bundles left: $left"
cgroups=0
for id in $(sed -n 's/^# started container //p' "$work/suite.tap"); do
    for d in /sys/fs/cgroup/*/keelson/"$id"; do [ -d "$d" ] && cgroups=$((cgroups + 1)); done
done
echo "# container cgroups left: $cgroups"
if [ "$left" -ne 0 ] || [ "$cgroups" -ne 0 ]; then
    echo "# Bail out! remove() left bundles or cgroups behind"
    status=1
fi
exit $status
