#!/bin/sh
# Pushes keelson's test image (static busybox, tag 1.35) to a local registry
# over plain http, building the OCI layout first. Idempotent.
#
# usage: push-test-image.sh REGISTRY_HOSTPORT     e.g. 127.0.0.1:5000
# Environment: SKOPEO (default: skopeo on PATH).
set -u

die() { echo "push-test-image.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: push-test-image.sh REGISTRY_HOSTPORT"
hostport=$1
case $hostport in
    *:*) ;;
    *) die "registry \"$hostport\" must be HOST:PORT" ;;
esac
case $hostport in
    *[!A-Za-z0-9.:-]*) die "registry \"$hostport\" has a character other than letters, digits, '.', ':' or '-'" ;;
esac
skopeo=${SKOPEO:-skopeo}
command -v "$skopeo" >/dev/null 2>&1 || die "skopeo not found (apt-get install skopeo)"
here=$(cd "$(dirname "$0")" && pwd)

# Already there: nothing to do.
if "$skopeo" inspect --tls-verify=false --raw "docker://$hostport/busybox:1.35" >/dev/null 2>&1; then
    exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/keelson-push.XXXXXX") || die "cannot create a temporary folder"
trap 'rm -rf "$work"' EXIT INT TERM
sh "$here/build-busybox-image.sh" "$work/busybox" 1.35 >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; die "building the busybox image failed"; }
"$skopeo" copy --quiet --dest-tls-verify=false "oci:$work/busybox:1.35" "docker://$hostport/busybox:1.35" \
    || die "skopeo could not push busybox:1.35 to $hostport"
