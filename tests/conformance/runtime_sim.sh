#!/bin/sh
# The runtime conformance suite against the sim runtime, which runs no
# process: the groups that need one (env, logs, memory, TERM handling,
# adoption by a fresh instance) are skipped, and the images the pull group
# asks for are declared missing. Concurrent starts are asked for, so the
# parallel group checks them.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_PLUGIN_PATH:?run through make check}"
work=$(mktemp -d /tmp/keelson-rconf-sim.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
image=127.0.0.1:5000/busybox:1.35
cat >"$work/sim.conf" <<CONF
settings = { missing_images = [ "127.0.0.1:5000/busybox:keelson-absent-tag",
                                "127.0.0.1:5000/keelson-absent-image:1" ];
             concurrent_starts = true; };
CONF
"$KEELSON_BUILDDIR/tests/conformance/keelson-runtime-conformance" "$KEELSON_PLUGIN_PATH/runtime_sim.so" \
    "$work/sim.conf" --image "$image" --skip env-args,logs,oom,grace,adoption
