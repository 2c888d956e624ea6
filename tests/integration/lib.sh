# Shared helpers for integration tests: TAP output, real keelsond processes
# on loopback ports, and cleanup that never leaves a daemon behind.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_SRCDIR:?run through make check}"
KEELSOND="$KEELSON_BUILDDIR/core/keelsond"
KEELCTL_BIN="$KEELSON_BUILDDIR/core/keelctl/keelctl"

tap_count=0
tap_failed=0
ok() {  # ok CONDITION-EXIT-STATUS DESCRIPTION
    tap_count=$((tap_count + 1))
    if [ "$1" -eq 0 ]; then echo "ok $tap_count - $2"; else echo "not ok $tap_count - $2"; tap_failed=$((tap_failed + 1)); fi
}
diag() { echo "# $*"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
done_testing() {
    stop_daemons
    # Daemons built with sanitizers report leaks and undefined behaviour at
    # exit; any such report fails the test.
    reports=$(grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$WORK"/*.log 2>/dev/null)
    [ -z "$reports" ]
    ok $? "daemons stopped cleanly with no sanitizer report ${reports:+in $reports}"
    [ -n "$reports" ] && grep -h -A30 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" $reports | head -80 | sed 's/^/# /'
    echo "1..$tap_count"
    [ "$tap_failed" -eq 0 ]
}

# Each test gets its own folder and ports, so tests may run in parallel.
WORK=$(mktemp -d /tmp/keelson-it.XXXXXX)
. "$KEELSON_SRCDIR/tests/ports.sh"
PORT=$(kl_free_ports 8)
SERVER="tcp://127.0.0.1:$PORT"
EVENTS="tcp://127.0.0.1:$((PORT + 1))"
PIDS=""

stop_daemons() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null; done
    for pid in $PIDS; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
    done
    PIDS=""
}

cleanup() {
    stop_daemons
    if [ -n "${KEEP_WORK:-}" ]; then echo "# work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT INT TERM

keelctl() { "$KEELCTL_BIN" --server "$SERVER" "$@"; }

# start_daemon NAME CONFIG-TEXT: writes NAME.conf, starts keelsond, logs to NAME.log
start_daemon() {
    printf '%s\n' "$2" >"$WORK/$1.conf"
    "$KEELSOND" -c "$WORK/$1.conf" >"$WORK/$1.log" 2>&1 &
    eval "PID_$1=$!"
    PIDS="$PIDS $!"
}

master_config() {  # master_config [STORE] [SCHEDULER] [EXTRA]; $STORE_CONF, when set, is the store line
    store_line=${STORE_CONF:-}
    [ -n "$store_line" ] || store_line="store = { plugin = \"${1:-memory}\"; };"
    cat <<CONF
node_name = "master";
roles = [ "master" ];
bus = { listen = [ "$SERVER" ]; events = [ "$EVENTS" ]; };
$store_line
scheduler = { plugin = "${2:-firstfit}"; node_timeout_ms = 6000; };
${3:-}
CONF
}

sim_worker_config() {  # sim_worker_config NAME [MAX_PODS] [SIM-SETTINGS]
    cat <<CONF
node_name = "$1";
roles = [ "worker" ];
bus = { master = "$SERVER"; };
runtime = { plugin = "sim"; settings = { ${3:-start_delay_ms = 50;} }; };
kubelet = { cpu = "8"; memory = "16Gi"; max_pods = ${2:-110}; heartbeat_ms = 1000; sync_ms = 50; };
CONF
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds.
wait_for() {
    limit=$1; shift
    end=$(($(date +%s) + limit))
    while [ "$(date +%s)" -le "$end" ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    return 1
}

count_ready_nodes() {
    keelctl get nodes -o json 2>/dev/null | jq '[.items[] | select(.status.conditions[]? | .type == "Ready" and .status == "True")] | length'
}
nodes_ready() { [ "$(count_ready_nodes)" = "$1" ]; }
pod_field() { keelctl get pod "$1" -o json 2>/dev/null | jq -r "$2"; }
pod_phase_is() { [ "$(pod_field "$1" .status.phase)" = "$2" ]; }
