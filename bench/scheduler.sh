#!/bin/sh
# Scheduler cost as the cluster grows: `keelctl bench scheduler` in process at
# 100, 1,000, 5,000 and 20,000 nodes, printing pods/s and p99 latency per plugin.
# usage: bench/scheduler.sh BUILDDIR [PLUGINS] [PROFILE] [PODS]
#   PLUGINS  comma-separated (default firstfit,spread,binpack,balanced,random)
#   PROFILE  a profile file (default bench/profiles/uniform.conf beside this script)
#   PODS     pods per run (default 10000)
# Set MODE=cluster to run each point as a real cluster instead (slow), and
# REPEAT=R to take each plugin's median of R runs.
set -u
build=${1:?usage: scheduler.sh BUILDDIR [PLUGINS] [PROFILE] [PODS]}
plugins=${2:-firstfit,spread,binpack,balanced,random}
profile=${3:-$(dirname "$0")/profiles/uniform.conf}
pods=${4:-10000}
mode=${MODE:-inproc}
repeat=${REPEAT:-1}
: "${KEELSON_PLUGIN_PATH:=$build/tests/plugins}"
export KEELSON_PLUGIN_PATH
out=$(mktemp /tmp/keelson-bench-curve.XXXXXX)
trap 'rm -f "$out"' EXIT

echo "scheduler curve: $mode, $pods pods, profile $(basename "$profile")"
printf '%8s  %-10s %12s %12s %10s %8s %10s\n' nodes plugin pods/s "p99 ms" unsched used cpu%
for nodes in 100 1000 5000 20000; do
    if ! "$build/core/keelctl/keelctl" bench scheduler --mode "$mode" --nodes "$nodes" \
            --pods "$pods" --profile "$profile" --plugins "$plugins" --repeat "$repeat" \
            --format csv >"$out"; then
        echo "run at $nodes nodes failed" >&2
    fi
    awk -F, -v nodes="$nodes" '
        NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        { printf "%8s  %-10s %12.0f %12.3f %10d %8d %10.1f\n", nodes, $col["plugin"],
                 $col["pods_per_second"], $col["latency_p99_ms"], $col["unschedulable"],
                 $col["nodes_used"], 100 * $col["cpu_utilisation_mean"] }' "$out"
done
