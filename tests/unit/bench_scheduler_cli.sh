#!/bin/sh
# keelctl bench scheduler end to end: an in-process run checked in every
# output format (table, CSV, JSON, SVG) for agreement, the refusals of bad
# flags and profiles, and one short run as a real cluster on loopback.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_SRCDIR:?run through make check}"
KEELCTL="$KEELSON_BUILDDIR/core/keelctl/keelctl"
WORK=$(mktemp -d /tmp/keelson-bench-cli.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM
n=0
failed=0
ok() { n=$((n + 1)); if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
diag() { echo "# $*"; }
bench() { "$KEELCTL" bench scheduler "$@"; }

cat >"$WORK/small.conf" <<CONF
# 4 nodes of 5 cpu; 24 pods of 1 cpu: 20 fit, 4 do not.
nodes = 4;
pods = 24;
node_shapes = ( { name = "n"; weight = 1; cpu = "5"; memory = "10Gi"; max_pods = 110; } );
workload = { requests = ( { cpu = "1"; memory = "1Gi"; } ); };
CONF
plugins=firstfit,spread

bench --profile "$WORK/small.conf" --plugins $plugins >"$WORK/table.txt" 2>"$WORK/table.err"
ok $? "inproc run prints a table"
grep -q "^pods bound  *20  *20$" "$WORK/table.txt"
ok $? "table: 20 pods bound under both plugins"
grep -q "^unschedulable (pods)  *4  *4$" "$WORK/table.txt"
ok $? "table: 4 unschedulable under both"

bench --profile "$WORK/small.conf" --plugins $plugins --format csv >"$WORK/out.csv"
ok $? "csv run"
[ "$(wc -l <"$WORK/out.csv")" -eq 3 ]
ok $? "csv: a header and one row per plugin"
columns=$(head -1 "$WORK/out.csv" | awk -F, '{print NF}')
[ -n "$columns" ] && [ "$(awk -F, -v c="$columns" 'NF != c' "$WORK/out.csv" | wc -l)" -eq 0 ]
ok $? "csv: every row has the header's $columns fields"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
         { if ($col["bound"] != 20 || $col["unschedulable"] != 4 || $col["nodes_used"] != 4) bad = 1 }
         END { exit bad }' "$WORK/out.csv"
ok $? "csv: bound, unschedulable and nodes used agree with the table"

bench --profile "$WORK/small.conf" --plugins $plugins --format json --svg "$WORK/chart.svg" >"$WORK/out.json"
ok $? "json run with --svg"
jq -e '.results | length == 2 and all(.bound == 20 and .unschedulable == 4 and .nodes_used == 4
        and .cpu_utilisation_mean == 1 and .pods_per_second > 0)' "$WORK/out.json" >/dev/null
ok $? "json: two results that agree with the csv"
jq -e '[.results[].plugin] == ["firstfit", "spread"]' "$WORK/out.json" >/dev/null
ok $? "json: plugins in the order given"

if command -v xmllint >/dev/null 2>&1; then
    xmllint --noout "$WORK/chart.svg"
    ok $? "svg is well-formed XML"
else
    head -1 "$WORK/chart.svg" | grep -q '^<?xml' && tail -1 "$WORK/chart.svg" | grep -q '^</svg>$'
    ok $? "svg opens with an XML declaration and closes its root"
fi
[ "$(grep -c '<rect x=' "$WORK/chart.svg")" -ge 18 ] && grep -q '>firstfit<' "$WORK/chart.svg"
ok $? "svg has bars and names the plugins"
if command -v rsvg-convert >/dev/null 2>&1; then
    rsvg-convert "$WORK/chart.svg" -o "$WORK/chart.png" && [ -s "$WORK/chart.png" ]
    ok $? "svg renders to PNG"
fi

bench --profile "$WORK/small.conf" --plugins $plugins --format json --seed 5 >"$WORK/a.json" &&
    bench --profile "$WORK/small.conf" --plugins $plugins --format json --seed 5 >"$WORK/b.json"
[ "$(jq -c '[.results[] | [.bound, .nodes_used, .cpu_utilisation_mean]]' "$WORK/a.json")" = \
  "$(jq -c '[.results[] | [.bound, .nodes_used, .cpu_utilisation_mean]]' "$WORK/b.json")" ]
ok $? "same seed, same placement"

# --repeat: every plugin runs in each round; the report is a real run (the
# median's), with the spread of all runs beside it.
jq -e '.results | all(.runs == 1 and .pods_per_second_min == .pods_per_second
        and .pods_per_second_max == .pods_per_second)' "$WORK/out.json" >/dev/null
ok $? "json: one run's range is its own throughput"
! grep -q "^runs " "$WORK/table.txt"
ok $? "table: no runs row without --repeat"
bench --profile "$WORK/small.conf" --plugins $plugins --format json --repeat 3 >"$WORK/repeat.json"
ok $? "json run with --repeat 3"
jq -e '(.title | endswith("median of 3 runs")) and (.results | length == 2 and all(.runs == 3
        and .bound == 20 and .unschedulable == 4 and .pods_per_second_min > 0
        and .pods_per_second_min <= .pods_per_second and .pods_per_second <= .pods_per_second_max))' \
    "$WORK/repeat.json" >/dev/null
ok $? "json: three runs each, the reported throughput within their range ($(jq -c '[.results[] | [.pods_per_second_min, .pods_per_second, .pods_per_second_max]]' "$WORK/repeat.json"))"
bench --profile "$WORK/small.conf" --plugins $plugins --repeat 2 >"$WORK/repeat.txt"
grep -q "^runs  *2  *2$" "$WORK/repeat.txt"
ok $? "table: a runs row with --repeat"
bench --profile "$WORK/small.conf" --plugins firstfit,nosuch --repeat 3 >/dev/null 2>"$WORK/repeat.err"
[ $? -eq 1 ] && [ "$(grep -c 'nosuch' "$WORK/repeat.err")" -eq 1 ]
ok $? "a plugin that fails is reported once and not run again"

# Refusals: each exits 1 and names what is wrong.
refuse() {  # refuse DESCRIPTION NEEDLE ARGS...
    what=$1 needle=$2; shift 2
    bench "$@" >"$WORK/refuse.out" 2>"$WORK/refuse.err"
    rc=$?
    [ $rc -eq 1 ] && grep -q -- "$needle" "$WORK/refuse.err"
    ok $? "$what"
    [ $rc -eq 1 ] && grep -q -- "$needle" "$WORK/refuse.err" || sed 's/^/#   /' "$WORK/refuse.err"
}
refuse "--nodes 0 is refused" '--nodes "0"' --nodes 0
refuse "--mode is checked" '--mode "fast"' --mode fast
refuse "--format is checked" '--format "xml"' --format xml
refuse "--repeat is checked" '--repeat "0" must be a whole number from 1 to 100' --repeat 0
refuse "--master-priority is checked" '--master-priority "high" must be realtime or normal' --master-priority high
refuse "an unknown flag is refused" 'unknown flag --colour' --colour red
refuse "a missing plugin is named" 'scheduler/nosuch' --profile "$WORK/small.conf" --plugins firstfit,nosuch
printf 'nodes = 4;\nspeed = 2;\n' >"$WORK/bad.conf"
refuse "a bad profile is refused with file:line" "$WORK/bad.conf:2: unknown setting \"speed\"" --profile "$WORK/bad.conf"
"$KEELCTL" bench compiler >/dev/null 2>"$WORK/refuse.err"
[ $? -eq 1 ] && grep -q 'unknown benchmark "compiler"' "$WORK/refuse.err"
ok $? "an unknown benchmark is refused"

# One short run as a real cluster: 3 worker processes, 30 pods of 1 cpu on
# 3 nodes of 5 cpu, so 15 bind and 15 stay unschedulable.
cat >"$WORK/cluster.conf" <<CONF
nodes = 3;
pods = 30;
node_shapes = ( { name = "n"; cpu = "5"; memory = "10Gi"; max_pods = 110; } );
workload = { requests = ( { cpu = "1"; memory = "256Mi"; } ); };
CONF
start=$(date +%s)
timeout 60 "$KEELCTL" bench scheduler --mode cluster --profile "$WORK/cluster.conf" \
    --plugins firstfit --format json --timeout 20 \
    --keelsond "$KEELSON_BUILDDIR/core/keelsond" >"$WORK/cluster.json" 2>"$WORK/cluster.err"
rc=$?
ok $rc "cluster run finishes in $(($(date +%s) - start)) s"
[ $rc -eq 0 ] || sed 's/^/#   /' "$WORK/cluster.err"
jq -e '.results[0] | .bound == 15 and .unschedulable == 15 and .nodes_used == 3
       and .cpu_utilisation_mean == 1 and .latency_p50_ms > 0 and .mode == "cluster"' \
    "$WORK/cluster.json" >/dev/null
ok $? "cluster: 15 bound, 15 unschedulable, 3 full nodes, latencies measured"
jq -e '.results[0] | .master_peak_mib > 1 and .master_peak_mib < 1024
       and .master_cpu_ms_per_pod >= 0' "$WORK/cluster.json" >/dev/null
ok $? "cluster: the master's peak memory and cpu per pod are reported ($(jq -c '.results[0] | [.master_peak_mib, .master_cpu_ms_per_pod]' "$WORK/cluster.json"))"
[ $rc -eq 0 ] || cat "$WORK/cluster.json" | sed 's/^/#   /'
sleep 0.2
leftover=$(ps -eo args | grep -c "^$KEELSON_BUILDDIR/core/keelsond -c ${TMPDIR:-/tmp}/keelson-bench\." )
[ "$leftover" -eq 0 ]
ok $? "no keelsond left running"

echo "1..$n"
[ "$failed" -eq 0 ]
