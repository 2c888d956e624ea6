#!/bin/sh
# Watches through several API servers sharing one etcd: every change reaches
# every watcher. Each watch lands on whichever API worker the bus picks, and a
# worker may be behind the store; an answer that resumed at the store's
# revision instead of at what the worker had read skipped changes. The store
# benchmark's fan-out run (10 watchers, 200 creates) counts every delivery;
# only its counts are checked here, never its timings.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
[ -x /usr/bin/etcd ] || skip_all "etcd is not installed (apt-get install etcd-server)"
BENCH="$KEELSON_BUILDDIR/bench/store_bench"
[ -x "$BENCH" ] || skip_all "bench/store_bench is not built"

KEELSON_SRCDIR="$KEELSON_SRCDIR" timeout 300 "$BENCH" 500 8 4 >"$WORK/bench.out" 2>&1
rc=$?
sed 's/^/# /' "$WORK/bench.out"
ok $rc "the store benchmark ran with no failed request or missed delivery (exit $rc)"

undelivered() {  # undelivered ROW: the failed column of ROW's watch line (the two cpu columns follow it)
    awk -v row="$1" 'index($0, row) == 1 && $0 ~ / watch / { print $(NF - 2) }' "$WORK/bench.out"
}
for row in "keelson API, etcd " "keelson API x4, etcd"; do
    missed=$(undelivered "$row")
    [ "$missed" = 0 ]
    ok $? "through $row: all 2,000 watch deliveries arrived (missed: ${missed:-no row})"
done
done_testing
