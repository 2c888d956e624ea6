#!/bin/sh
# The store conformance suite against the sqlite plugin, on a fresh database
# file in a temporary folder.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_PLUGIN_PATH:?run through make check}"
plugin="$KEELSON_PLUGIN_PATH/store_sqlite.so"
if [ ! -e "$plugin" ]; then
    echo "1..0 # SKIP store_sqlite.so is not built"
    exit 0
fi
work=$(mktemp -d /tmp/keelson-conf-sqlite.XXXXXX) || exit 1
trap 'rm -rf "$work"' EXIT INT TERM
printf 'settings = { path = "%s/store.db"; };\n' "$work" >"$work/store.conf"
"$KEELSON_BUILDDIR/tests/conformance/keelson-store-conformance" "$plugin" "$work/store.conf"
