#!/bin/sh
# Times real runtimes end to end: from `keelctl apply` of a short-lived pod
# (`true`) to Running and to Succeeded, RUNS times, p50 and p99, beside the
# runtime's own tool doing the same as the baseline; then 100 pods at once.
# usage: bench/runtime_bench.sh BUILDDIR [RUNS]      (root; default 30 runs)
# Environment: RUNTIMES (default "docker podman runc"). A runtime NAME plugs in with
# hooks below: NAME_available, NAME_setup, NAME_worker_runtime (the worker's
# `runtime = {...};` line), NAME_baseline_prepare, NAME_baseline (one run of
# the raw tool), NAME_teardown, and optionally NAME_baseline2 with
# NAME_baseline2_name: a second baseline reported beside the first.
set -u
build=$(cd "${1:?usage: runtime_bench.sh BUILDDIR [RUNS]}" && pwd) || exit 1
runs=${2:-30}
case $runs in ''|*[!0-9]*) echo "runtime_bench.sh: RUNS \"$runs\" must be a number" >&2; exit 2 ;; esac
[ "$runs" -ge 1 ] || { echo "runtime_bench.sh: RUNS must be at least 1" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "runtime_bench.sh: real runtimes need root" >&2; exit 1; }
top=$(cd "$(dirname "$0")/.." && pwd)
scripts=$top/scripts
work=$(mktemp -d /tmp/keelson-bench.XXXXXX)
port=$((43000 + $$ % 1000 * 8))
server="tcp://127.0.0.1:$port"
registry="127.0.0.1:$((port + 4))"
image="$registry/busybox:1.35"
pids=""
KEELSON_PLUGIN_PATH="$build/tests/plugins"; export KEELSON_PLUGIN_PATH
kc() { "$build/core/keelctl/keelctl" --server "$server" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- runtime hooks --------------------------------------------------------
docker_available() { command -v dockerd >/dev/null && command -v docker >/dev/null; }
docker_setup() { sh "$scripts/dockerd.sh" start "$work/docker" "$registry" >"$work/dockerd-start.log" 2>&1; }
docker_worker_runtime() { echo "runtime = { plugin = \"docker\"; settings = { socket = \"$work/docker/docker.sock\"; }; };"; }
docker_baseline() { docker -H "unix://$work/docker/docker.sock" run --rm --network host "$image" true >/dev/null 2>&1; }
docker_baseline_prepare() { docker -H "unix://$work/docker/docker.sock" pull "$image" >/dev/null 2>&1; }
docker_teardown() { sh "$scripts/dockerd.sh" stop "$work/docker" >/dev/null 2>&1; }

podman_flags() {
    echo "--root $work/podman/root --runroot $work/podman/run --tmpdir $work/podman/tmp --runtime runc \
--cgroup-manager cgroupfs --events-backend file"
}
podman_available() { command -v podman >/dev/null && command -v runc >/dev/null; }
podman_setup() { mkdir -p "$work/podman/root" "$work/podman/run" "$work/podman/tmp"; }
podman_worker_runtime() {
    echo "runtime = { plugin = \"podman\"; settings = { root = \"$work/podman/root\"; runroot = \"$work/podman/run\"; }; };"
}
# shellcheck disable=SC2046 # the flags are words
podman_baseline_prepare() { podman $(podman_flags) pull --tls-verify=false "$image" >/dev/null 2>&1; }
# shellcheck disable=SC2046
podman_baseline() {
    podman $(podman_flags) run --rm --network host --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        "$image" true >/dev/null 2>&1
}
# shellcheck disable=SC2046
podman_teardown() {
    podman $(podman_flags) rm -af >/dev/null 2>&1
    podman $(podman_flags) system reset -f >/dev/null 2>&1
    umount -R "$work/podman/root" 2>/dev/null
}

# runc has two baselines. `runc run` on one bundle unpacked once is the raw
# tool alone, every run sharing one root file system. The fair one also does
# what keelson must per container and nothing more: a fresh overlay of the
# image unpacked once (keelson's image cache), its own config.json, `runc
# run`, then unmount and remove.
runc_available() { command -v runc >/dev/null && command -v umoci >/dev/null && command -v skopeo >/dev/null; }
runc_setup() { mkdir -p "$work/runc/images" "$work/runc/state"; }
runc_worker_runtime() {
    echo "runtime = { plugin = \"runc\"; settings = { image_store = \"$work/runc/images\"; state_dir = \"$work/runc/state\"; }; };"
}
runc_baseline_prepare() {
    skopeo copy --src-tls-verify=false "docker://$image" "oci:$work/runc/layout:1.35" >/dev/null 2>&1 &&
        umoci unpack --image "$work/runc/layout:1.35" "$work/runc/bundle" >/dev/null 2>&1 &&
        jq '.process.args = ["true"] | .process.terminal = false' "$work/runc/bundle/config.json" \
            >"$work/runc/config.json" && mv "$work/runc/config.json" "$work/runc/bundle/config.json"
}
runc_seq=0
runc_baseline() {
    runc_seq=$((runc_seq + 1))
    runc --root "$work/runc/root" run --bundle "$work/runc/bundle" "bench-base-$$-$runc_seq-${1:-0}" \
        </dev/null >/dev/null 2>&1
}
runc_baseline2_name="runc run on a fresh overlay"
runc_baseline2() {
    runc_seq=$((runc_seq + 1))
    b="$work/runc/b-$$-$runc_seq-${1:-0}"
    mkdir -p "$b/rootfs" "$b/upper" "$b/work" && cp "$work/runc/bundle/config.json" "$b/" &&
        mount -t overlay overlay -o "lowerdir=$work/runc/bundle/rootfs,upperdir=$b/upper,workdir=$b/work" \
            "$b/rootfs" &&
        runc --root "$work/runc/root" run --bundle "$b" "bench-fresh-$$-$runc_seq-${1:-0}" </dev/null >/dev/null 2>&1
    rc=$?
    umount "$b/rootfs" 2>/dev/null
    rm -rf "$b"
    return $rc
}
runc_teardown() { :; }

# ---- helpers --------------------------------------------------------------
teardown_all() {
    for p in $pids; do kill "$p" 2>/dev/null; done
    for p in $pids; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null
    done
    pids=""
}
cleanup() {
    teardown_all
    [ -n "${current:-}" ] && "${current}_teardown"
    sh "$scripts/registry.sh" stop "$work/registry" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM  # through the EXIT trap: a trap that returns would go on benchmarking

percentiles() {  # percentiles FILE: "p50 X ms, p99 Y ms (n N)"
    sort -n "$1" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "no samples"; exit }
        i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
        printf "p50 %d ms, p99 %d ms, min %d ms, max %d ms (n %d)\n", v[i50], v[i99], v[1], v[NR], NR }'
}

pod_yaml() {  # pod_yaml NAME
    printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  labels: {run: bench}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: c\n    image: %s\n    command: ["true"]\n' "$1" "$image"
}

phase_of() { kc get pod "$1" -o json 2>/dev/null | jq -r .status.phase; }

count_succeeded() {
    kc get pods -l run=bench -o json 2>/dev/null | jq '[.items[] | select(.status.phase == "Succeeded")] | length'
}

delete_bench_pods() {
    for name in $(kc get pods -l run=bench -o name 2>/dev/null); do
        kc delete "${name%%/*}" "${name#*/}" >/dev/null 2>&1 || kc delete pod "${name#*/}" >/dev/null 2>&1
    done
}

bench_runtime() {
    rt=$1
    if ! "${rt}_available"; then
        echo "== runtime $rt: skipped (hooks not implemented or tools missing)"
        return 0
    fi
    current=$rt
    "${rt}_setup" || { echo "== runtime $rt: setup failed"; current=""; return 1; }
    cat >"$work/master.conf" <<CONF
node_name = "master";
roles = [ "master" ];
bus = { listen = [ "$server" ]; };
store = { plugin = "memory"; };
scheduler = { plugin = "firstfit"; };
CONF
    cat >"$work/worker.conf" <<CONF
node_name = "bench-$rt";
roles = [ "worker" ];
bus = { master = "$server"; };
$("${rt}_worker_runtime")
kubelet = { cpu = "64"; memory = "64Gi"; max_pods = 250; sync_ms = 20; heartbeat_ms = 1000; };
CONF
    "$build/core/keelsond" -c "$work/master.conf" -l warn 2>"$work/master.log" &
    pids="$pids $!"
    "$build/core/keelsond" -c "$work/worker.conf" -l warn 2>"$work/worker-$rt.log" &
    pids="$pids $!"
    for _ in $(seq 100); do
        [ "$(kc get nodes -o json 2>/dev/null | jq '.items | length')" = 1 ] && break
        sleep 0.2
    done
    "${rt}_baseline_prepare"

    # Timing comes from one watch stream, stamped as each change arrives, so
    # no sample pays for starting a client.
    kc get pods -w 2>/dev/null | while IFS= read -r line; do echo "$(now_ms) $line"; done >"$work/watch.log" &
    watcher=$!
    sleep 0.5
    echo "== runtime $rt: $runs short-lived pods (true), one at a time"
    : >"$work/running.ms"; : >"$work/succeeded.ms"; : >"$work/baseline.ms"; : >"$work/baseline2.ms"
    baseline2=$(eval "echo \"\${${rt}_baseline2_name:-}\"")
    # One warm-up pod so the image is pulled before timing starts.
    pod_yaml warmup | kc apply -f - >/dev/null 2>&1
    for _ in $(seq 300); do [ "$(phase_of warmup)" = Succeeded ] && break; sleep 0.1; done
    for i in $(seq 1 "$runs"); do
        name=$(printf 'bench-%04d' "$i")
        pod_yaml "$name" >"$work/pod.yaml"
        start=$(now_ms)
        kc apply -f "$work/pod.yaml" >/dev/null 2>&1
        running="" deadline=$((start + 60000))
        while [ "$(now_ms)" -lt "$deadline" ]; do
            # First watch line showing the pod running (or already done), then done.
            t_run=$(awk -v n="$name" '$2 == n && ($4 == "Running" || $4 == "Completed") { print $1; exit }' "$work/watch.log")
            t_done=$(awk -v n="$name" '$2 == n && $4 == "Completed" { print $1; exit }' "$work/watch.log")
            [ -n "$t_run" ] && [ -z "$running" ] && running=$((t_run - start))
            if [ -n "$t_done" ]; then echo $((t_done - start)) >>"$work/succeeded.ms"; break; fi
            grep -q "^[0-9]* $name .* Error" "$work/watch.log" && { echo "# pod $name failed"; break; }
            sleep 0.005
        done
        [ -n "$running" ] && echo "$running" >>"$work/running.ms"
        start=$(now_ms)
        "${rt}_baseline" && echo $(($(now_ms) - start)) >>"$work/baseline.ms"
        if [ -n "$baseline2" ]; then
            start=$(now_ms)
            "${rt}_baseline2" && echo $(($(now_ms) - start)) >>"$work/baseline2.ms"
        fi
    done
    echo "apply -> Running:     $(percentiles "$work/running.ms")"
    echo "apply -> Succeeded:   $(percentiles "$work/succeeded.ms")"
    echo "baseline ($rt run):   $(percentiles "$work/baseline.ms")"
    [ -n "$baseline2" ] && echo "baseline ($baseline2): $(percentiles "$work/baseline2.ms")"
    kill "$watcher" 2>/dev/null
    delete_bench_pods
    kc delete pod warmup >/dev/null 2>&1

    echo "== runtime $rt: 100 pods at once"
    for i in $(seq 1 100); do pod_yaml "$(printf 'burst-%03d' "$i")"; done >"$work/burst.yaml"
    start=$(now_ms)
    kc apply -f "$work/burst.yaml" >/dev/null 2>&1
    done_count=0 deadline=$((start + 300000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        done_count=$(count_succeeded)
        [ "$done_count" = 100 ] && break
        sleep 0.2
    done
    echo "apply -> 100 Succeeded: $(($(now_ms) - start)) ms ($done_count of 100 done)"
    start=$(now_ms)
    # Wait for these runs only: the keelsond daemons are children too.
    baseline_pids=""
    # Each gets its number: a background run cannot count on shell variables.
    for i in $(seq 1 100); do "${rt}_baseline" "$i" & baseline_pids="$baseline_pids $!"; done
    # shellcheck disable=SC2086 # a list of pids
    wait $baseline_pids
    echo "baseline: 100 $rt runs at once: $(($(now_ms) - start)) ms"
    if [ -n "$baseline2" ]; then
        start=$(now_ms)
        baseline_pids=""
        for i in $(seq 1 100); do "${rt}_baseline2" "$i" & baseline_pids="$baseline_pids $!"; done
        # shellcheck disable=SC2086
        wait $baseline_pids
        echo "baseline: 100 of $baseline2 at once: $(($(now_ms) - start)) ms"
    fi
    delete_bench_pods

    teardown_all
    "${rt}_teardown"
    current=""
}

command -v jq >/dev/null || { echo "runtime_bench.sh: jq not found" >&2; exit 1; }
sh "$scripts/registry.sh" start "$work/registry" "$((port + 4))" >"$work/registry-start.log" 2>&1 \
    || { cat "$work/registry-start.log" >&2; exit 1; }
sh "$scripts/push-test-image.sh" "$registry" >"$work/push.log" 2>&1 || { cat "$work/push.log" >&2; exit 1; }
for rt in ${RUNTIMES:-docker podman runc}; do
    bench_runtime "$rt"
done
