#!/bin/sh
# Starts or stops a private image registry (Debian's docker-registry) on a
# loopback port with its storage in one folder, so tests never reach a remote one.
#
# usage: registry.sh start DIR PORT   serves http://127.0.0.1:PORT/v2/ from DIR;
#                                     returns once /v2/ answers
#        registry.sh stop DIR         stops the registry started in DIR
# Environment: DOCKER_REGISTRY (the program, default: docker-registry on PATH),
#              REGISTRY_START_TIMEOUT (seconds to wait for /v2/, default 30).
set -u

die() { echo "registry.sh: $*" >&2; exit 1; }

is_number() { case "$1" in ''|*[!0-9]*) return 1 ;; *) return 0 ;; esac; }

answers() {  # answers PORT: /v2/ replies 200 (no auth configured)
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$1/v2/" 2>/dev/null)" = 200 ]
}

stop_registry() {
    dir=$1
    [ -d "$dir" ] || die "stop: folder $dir does not exist"
    pidfile=$dir/registry.pid
    [ -f "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if is_number "$pid"; then
        kill "$pid" 2>/dev/null
        i=0
        while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        kill -9 "$pid" 2>/dev/null
    fi
    rm -f "$pidfile"
    return 0
}

start_registry() {
    dir=$1 port=$2
    is_number "$port" && [ "$port" -ge 1024 ] && [ "$port" -le 65535 ] \
        || die "start: port \"$port\" must be a number from 1024 to 65535"
    program=${DOCKER_REGISTRY:-docker-registry}
    command -v "$program" >/dev/null 2>&1 \
        || die "start: \"$program\" not found (apt-get install docker-registry)"
    command -v curl >/dev/null 2>&1 || die "start: curl not found (apt-get install curl)"
    mkdir -p "$dir/storage" || die "start: cannot create folder $dir/storage"
    dir=$(cd "$dir" && pwd)
    if [ -f "$dir/registry.pid" ] && kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
        die "start: $dir already holds a running registry (stop it first)"
    fi
    answers "$port" && die "start: something already answers on 127.0.0.1:$port"

    # Bound to loopback only, no auth, no TLS: a test fixture, never a service.
    cat >"$dir/config.yml" <<CONF
version: 0.1
log:
  level: warn
  fields:
    service: registry
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: keelson-local-registry
CONF
    "$program" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
    echo $! >"$dir/registry.pid"

    limit=${REGISTRY_START_TIMEOUT:-30}
    end=$(($(date +%s) + limit))
    while [ "$(date +%s)" -le "$end" ]; do
        answers "$port" && return 0
        if ! kill -0 "$(cat "$dir/registry.pid")" 2>/dev/null; then
            rm -f "$dir/registry.pid"
            tail -5 "$dir/registry.log" >&2
            die "start: the registry exited (log: $dir/registry.log)"
        fi
        sleep 0.2
    done
    stop_registry "$dir"
    die "start: http://127.0.0.1:$port/v2/ did not answer within $limit s (log: $dir/registry.log)"
}

case "${1:-}" in
    start) [ $# -eq 3 ] || die "usage: registry.sh start DIR PORT"; start_registry "$2" "$3" ;;
    stop) [ $# -eq 2 ] || die "usage: registry.sh stop DIR"; stop_registry "$2" ;;
    *) die "usage: registry.sh start DIR PORT | stop DIR" ;;
esac
