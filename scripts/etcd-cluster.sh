#!/bin/sh
# Starts or stops an N-member etcd cluster on loopback ports, all state kept
# in one folder, for keelson's etcd store tests, benchmarks and users.
#
# usage: etcd-cluster.sh start DIR N BASEPORT   member i serves clients on
#                                               BASEPORT+2i, peers on BASEPORT+2i+1;
#                                               prints the client endpoints,
#                                               comma-separated, once healthy
#        etcd-cluster.sh stop DIR               stops every member started in DIR
#        etcd-cluster.sh endpoints DIR          prints the client endpoints again
# Environment: ETCD (the etcd binary, default: etcd on PATH),
#              ETCD_START_TIMEOUT (seconds to wait for health, default 30).
set -u

die() { echo "etcd-cluster.sh: $*" >&2; exit 1; }

is_number() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }

healthy() {  # healthy PORT: the member answers /health with health true
    curl -s -m 2 "http://127.0.0.1:$1/health" 2>/dev/null | grep -q '"health":"true"'
}

stop_cluster() {
    dir=$1
    [ -d "$dir" ] || die "stop: folder $dir does not exist"
    for pidfile in "$dir"/member*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        is_number "$pid" || { rm -f "$pidfile"; continue; }
        kill "$pid" 2>/dev/null
    done
    # etcd stops within a second; force the stragglers after 10 s.
    for pidfile in "$dir"/member*.pid; do
        [ -f "$pidfile" ] || continue
        pid=$(cat "$pidfile")
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$pid" 2>/dev/null
        rm -f "$pidfile"
    done
    return 0
}

start_cluster() {
    dir=$1 n=$2 base=$3
    is_number "$n" && [ "$n" -ge 1 ] && [ "$n" -le 9 ] || die "start: member count \"$n\" must be 1 to 9"
    is_number "$base" && [ "$base" -ge 1024 ] && [ $((base + 2 * n)) -le 65535 ] \
        || die "start: base port \"$base\" must leave room for $((2 * n)) ports between 1024 and 65535"
    etcd_bin=${ETCD:-etcd}
    command -v "$etcd_bin" >/dev/null 2>&1 || die "start: etcd binary \"$etcd_bin\" not found (apt-get install etcd-server)"
    mkdir -p "$dir" || die "start: cannot create folder $dir"
    dir=$(cd "$dir" && pwd)
    ls "$dir"/member*.pid >/dev/null 2>&1 && die "start: $dir already holds a running cluster (stop it first)"

    cluster="" endpoints=""
    i=0
    while [ $i -lt "$n" ]; do
        cluster="${cluster:+$cluster,}member$i=http://127.0.0.1:$((base + 2 * i + 1))"
        endpoints="${endpoints:+$endpoints,}http://127.0.0.1:$((base + 2 * i))"
        i=$((i + 1))
    done
    echo "$endpoints" >"$dir/endpoints"
    i=0
    while [ $i -lt "$n" ]; do
        client=http://127.0.0.1:$((base + 2 * i))
        peer=http://127.0.0.1:$((base + 2 * i + 1))
        "$etcd_bin" --name "member$i" --data-dir "$dir/member$i.data" \
            --listen-client-urls "$client" --advertise-client-urls "$client" \
            --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token "keelson-$base" \
            --logger zap --log-outputs stderr \
            >"$dir/member$i.log" 2>&1 &
        echo $! >"$dir/member$i.pid"
        i=$((i + 1))
    done

    limit=${ETCD_START_TIMEOUT:-30}
    end=$(($(date +%s) + limit))
    i=0
    while [ $i -lt "$n" ]; do
        port=$((base + 2 * i))
        until healthy "$port"; do
            if ! kill -0 "$(cat "$dir/member$i.pid")" 2>/dev/null; then
                tail -5 "$dir/member$i.log" >&2
                stop_cluster "$dir"
                die "start: member$i exited (log: $dir/member$i.log)"
            fi
            if [ "$(date +%s)" -gt "$end" ]; then
                stop_cluster "$dir"
                die "start: member$i on port $port not healthy after $limit s (log: $dir/member$i.log)"
            fi
            sleep 0.1
        done
        i=$((i + 1))
    done
    echo "$endpoints"
}

case "${1:-}" in
start)
    [ $# -eq 4 ] || die "usage: etcd-cluster.sh start DIR N BASEPORT"
    start_cluster "$2" "$3" "$4" ;;
stop)
    [ $# -eq 2 ] || die "usage: etcd-cluster.sh stop DIR"
    stop_cluster "$2" ;;
endpoints)
    [ $# -eq 2 ] || die "usage: etcd-cluster.sh endpoints DIR"
    [ -f "$2/endpoints" ] || die "endpoints: no cluster was started in $2"
    cat "$2/endpoints" ;;
*)
    die "usage: etcd-cluster.sh start DIR N BASEPORT | stop DIR | endpoints DIR" ;;
esac
