#!/bin/sh
# Runs every benchmark against a build folder and prints the results.
# usage: bench/run-all.sh [BUILDDIR]   (default: _build)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/_build}" && pwd)
(cd "$build" && make -j"$(nproc)" >/dev/null && make tests/plugins.stamp >/dev/null) || exit 1
KEELSON_PLUGIN_PATH="$build/tests/plugins"; export KEELSON_PLUGIN_PATH
echo "== bus round trip"
"$build/bench/bus_latency" 20000
echo
echo "== reading a payload: tokens against jansson's parser"
"$build/bench/json_parse" 300000
echo
echo "== API create throughput"
"$build/bench/api_create" 50000
echo
echo "== end to end with simulated workers"
sh "$top/bench/e2e_sim.sh" "$build" 1000 10
echo
echo "== store plugins alone"
"$build/bench/store_plugin_bench" 50000
echo
echo "== stores through the API, etcd direct as the baseline"
KEELSON_SRCDIR="$top" "$build/bench/store_bench" 5000 32 1 9
