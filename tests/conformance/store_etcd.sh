#!/bin/sh
# The store conformance suite against the etcd plugin and a single etcd on
# loopback ports derived from the process id, with its data in a temporary folder.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_SRCDIR:?run through make check}"
: "${KEELSON_PLUGIN_PATH:?run through make check}"
plugin="$KEELSON_PLUGIN_PATH/store_etcd.so"
if [ ! -e "$plugin" ]; then
    echo "1..0 # SKIP store_etcd.so is not built"
    exit 0
fi
etcd_bin=${ETCD:-$(command -v etcd)}
if [ -z "$etcd_bin" ]; then
    echo "1..0 # SKIP etcd is not installed (apt-get install etcd-server)"
    exit 0
fi
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }

work=$(mktemp -d /tmp/keelson-conf-etcd.XXXXXX) || exit 1
. "$KEELSON_SRCDIR/tests/ports.sh"
port=$(kl_free_ports 2)
client="http://127.0.0.1:$port"
cluster_script="$KEELSON_SRCDIR/scripts/etcd-cluster.sh"
cleanup() {
    sh "$cluster_script" stop "$work/cluster" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# etcd refuses requests over 1.5 MiB by default; allow 32 MiB so the 8 MiB
# value is stored rather than refused.
cat >"$work/etcd" <<WRAPPER
#!/bin/sh
exec "$etcd_bin" "\$@" --max-request-bytes 33554432
WRAPPER
chmod +x "$work/etcd"
if ! ETCD="$work/etcd" ETCD_START_TIMEOUT=20 sh "$cluster_script" start "$work/cluster" 1 "$port" \
        >"$work/start.log" 2>&1; then
    echo "not ok 1 - etcd becomes healthy on $client"
    sed 's/^/# /' "$work/start.log"
    tail -20 "$work"/cluster/member0.log 2>/dev/null | sed 's/^/# /'
    echo "1..1"
    exit 1
fi
echo "# etcd healthy on $client"

printf 'settings = { endpoints = [ "%s" ]; };\n' "$client" >"$work/store.conf"
"$KEELSON_BUILDDIR/tests/conformance/keelson-store-conformance" "$plugin" "$work/store.conf"
