#!/bin/sh
# The store conformance suite against the etcd plugin and a single etcd on
# loopback ports derived from the process id, with its data in a temporary folder.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_PLUGIN_PATH:?run through make check}"
plugin="$KEELSON_PLUGIN_PATH/store_etcd.so"
if [ ! -e "$plugin" ]; then
    echo "1..0 # SKIP store_etcd.so is not built"
    exit 0
fi
ETCD=${ETCD:-$(command -v etcd)}
if [ -z "$ETCD" ]; then
    echo "1..0 # SKIP etcd is not installed (apt-get install etcd-server)"
    exit 0
fi
for tool in curl; do
    command -v "$tool" >/dev/null || { echo "1..0 # SKIP $tool is not installed"; exit 0; }
done

work=$(mktemp -d /tmp/keelson-conf-etcd.XXXXXX) || exit 1
client_port=$((55000 + ($$ % 2000) * 2))
peer_port=$((client_port + 1))
client="http://127.0.0.1:$client_port"
etcd_pid=""
cleanup() {
    if [ -n "$etcd_pid" ]; then
        kill "$etcd_pid" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$etcd_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$etcd_pid" 2>/dev/null
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Requests up to 32 MiB, so the 8 MiB value test runs rather than skips.
"$ETCD" --name conformance --data-dir "$work/data" \
    --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "conformance=http://127.0.0.1:$peer_port" \
    --max-request-bytes 33554432 >"$work/etcd.log" 2>&1 &
etcd_pid=$!

healthy=""
for _ in $(seq 100); do
    if curl -s -m 1 "$client/health" 2>/dev/null | grep -q '"health":"true"'; then
        healthy=1
        break
    fi
    kill -0 "$etcd_pid" 2>/dev/null || break
    sleep 0.1
done
if [ -z "$healthy" ]; then
    echo "not ok 1 - etcd becomes healthy on $client within 10 s"
    tail -20 "$work/etcd.log" | sed 's/^/# /'
    echo "1..1"
    exit 1
fi
echo "# etcd healthy on $client"

printf 'settings = { endpoints = [ "%s" ]; };\n' "$client" >"$work/store.conf"
"$KEELSON_BUILDDIR/tests/conformance/keelson-store-conformance" "$plugin" "$work/store.conf"
