#!/bin/sh
# Installs the Debian packages keelson needs to build, test and run
# (only those missing). Sourced by setup.sh and test-all.sh.
KEELSON_PACKAGES="build-essential autoconf automake libtool pkg-config
 libczmq-dev libzmq3-dev libconfig-dev libjansson-dev libyaml-dev
 libsqlite3-dev libcurl4-openssl-dev libjemalloc-dev libjsmn-dev etcd-server
 runc umoci skopeo busybox-static docker.io podman docker-registry
 jq procps iproute2 curl"

keelson_install_deps() {
    missing=""
    for pkg in $KEELSON_PACKAGES; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing="$missing $pkg"
    done
    [ -z "$missing" ] && return 0
    echo "installing:$missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: run as root (or install:$missing)" >&2
        return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq $missing >/dev/null
}
