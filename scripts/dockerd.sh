#!/bin/sh
# Starts or stops a private dockerd whose state, socket and containerd all
# live in one folder: no bridge, no iptables, pulls from loopback registries
# over plain http. Used by keelson's docker runtime tests and benchmarks.
#
# usage: dockerd.sh start DIR [REGISTRY_HOSTPORT]  socket DIR/docker.sock; returns
#                                                  once /_ping answers
#        dockerd.sh stop DIR                       stops the dockerd started in DIR
#                                                  and every container it ran
# Environment: DOCKERD (default: dockerd on PATH), DOCKERD_STORAGE_DRIVER
#              (default: dockerd's choice), DOCKERD_START_TIMEOUT (seconds, default 60).
set -u

die() { echo "dockerd.sh: $*" >&2; exit 1; }

is_number() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }

answers() {  # answers SOCKET: the Engine API replies OK to /_ping
    [ "$(curl -s -m 2 --unix-socket "$1" http://localhost/_ping 2>/dev/null)" = OK ]
}

stop_dockerd() {
    dir=$1
    [ -d "$dir" ] || die "stop: folder $dir does not exist"
    pidfile=$dir/dockerd.pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if is_number "$pid"; then
        # Containers first, so none outlives its daemon as an orphan.
        if answers "$dir/docker.sock"; then
            for id in $(curl -s -m 10 --unix-socket "$dir/docker.sock" \
                            'http://localhost/containers/json?all=1' | jq -r '.[].Id' 2>/dev/null); do
                curl -s -m 20 -X DELETE --unix-socket "$dir/docker.sock" \
                    "http://localhost/containers/$id?force=true" >/dev/null 2>&1
            done
        fi
        kill "$pid" 2>/dev/null
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$pid" 2>/dev/null
    fi
    # A managed containerd normally exits with dockerd; make sure of it.
    cpidfile=$dir/exec/containerd/containerd.pid
    if [ -f "$cpidfile" ]; then
        cpid=$(cat "$cpidfile")
        if is_number "$cpid" && kill -0 "$cpid" 2>/dev/null; then
            kill "$cpid" 2>/dev/null
            sleep 1
            kill -9 "$cpid" 2>/dev/null
        fi
    fi
    rm -f "$pidfile"
    # Leaves no mounts behind, so `rm -rf DIR` works afterwards.
    grep -o " $dir/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r mount; do
        umount -l "$mount" 2>/dev/null
    done
    return 0
}

start_dockerd() {
    dir=$1 registry=${2:-}
    [ "$(id -u)" -eq 0 ] || die "start: dockerd needs root"
    program=${DOCKERD:-dockerd}
    command -v "$program" >/dev/null 2>&1 || die "start: \"$program\" not found (apt-get install docker.io)"
    command -v curl >/dev/null 2>&1 || die "start: curl not found (apt-get install curl)"
    mkdir -p "$dir" || die "start: cannot create folder $dir"
    dir=$(cd "$dir" && pwd)
    socket=$dir/docker.sock
    # sun_path holds 107 bytes; containerd's sockets under exec/ are longer still.
    [ ${#socket} -le 80 ] || die "start: folder $dir is too long for a unix socket path (at most 68 characters)"
    if [ -f "$dir/dockerd.pid" ] && kill -0 "$(cat "$dir/dockerd.pid")" 2>/dev/null; then
        die "start: $dir already holds a running dockerd (stop it first)"
    fi
    insecure="--insecure-registry=127.0.0.0/8"
    if [ -n "$registry" ]; then
        case $registry in
            *:*) ;;
            *) die "start: registry \"$registry\" must be HOST:PORT" ;;
        esac
        insecure="$insecure --insecure-registry=$registry"
    fi
    storage=""
    [ -n "${DOCKERD_STORAGE_DRIVER:-}" ] && storage="--storage-driver=$DOCKERD_STORAGE_DRIVER"

    # An empty config file keeps the machine's /etc/docker/daemon.json out.
    echo '{}' >"$dir/daemon.json"
    mkdir -p "$dir/data" "$dir/exec"
    # shellcheck disable=SC2086 # $insecure and $storage are lists of flags
    "$program" --config-file="$dir/daemon.json" \
        --host="unix://$socket" --data-root="$dir/data" --exec-root="$dir/exec" \
        --pidfile="$dir/dockerd.pid" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        --userland-proxy=false --log-level=warn $insecure $storage \
        >"$dir/dockerd.log" 2>&1 </dev/null &
    pid=$!

    limit=${DOCKERD_START_TIMEOUT:-60}
    end=$(($(date +%s) + limit))
    while [ "$(date +%s)" -le "$end" ]; do
        if answers "$socket"; then
            echo "$pid" >"$dir/dockerd.pid"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -5 "$dir/dockerd.log" >&2
            die "start: dockerd exited (log: $dir/dockerd.log)"
        fi
        sleep 0.2
    done
    echo "$pid" >"$dir/dockerd.pid"
    stop_dockerd "$dir"
    die "start: $socket did not answer /_ping within $limit s (log: $dir/dockerd.log)"
}

case "${1:-}" in
    start) [ $# -ge 2 ] && [ $# -le 3 ] || die "usage: dockerd.sh start DIR [REGISTRY_HOSTPORT]"
           start_dockerd "$2" "${3:-}" ;;
    stop) [ $# -eq 2 ] || die "usage: dockerd.sh stop DIR"; stop_dockerd "$2" ;;
    *) die "usage: dockerd.sh start DIR [REGISTRY_HOSTPORT] | stop DIR" ;;
esac
