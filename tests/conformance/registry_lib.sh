# Sourced by the runtime conformance scripts: starts the private registry in
# $work/registry on $port and pushes busybox:1.35 to $registry, or prints a
# failing TAP plan naming why and exits.
conformance_registry_up() {
    if ! sh "$scripts/registry.sh" start "$work/registry" "$port" >"$work/registry.log" 2>&1 \
        || ! sh "$scripts/push-test-image.sh" "$registry" >"$work/push.log" 2>&1; then
        echo "not ok 1 - a registry on $registry holds busybox:1.35"
        sed 's/^/# /' "$work/registry.log" "$work/push.log"
        echo "1..1"
        exit 1
    fi
    echo "# registry on $registry holds busybox:1.35"
}
