#!/bin/sh
# The store conformance suite against the memory plugin.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_PLUGIN_PATH:?run through make check}"
exec "$KEELSON_BUILDDIR/tests/conformance/keelson-store-conformance" \
    "$KEELSON_PLUGIN_PATH/store_memory.so"
