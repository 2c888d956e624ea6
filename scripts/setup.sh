#!/bin/sh
# Installs what is missing, builds and installs keelson, starts a
# single-machine cluster (examples/single-machine.conf) and runs the example
# workload: a busybox pod in a real runc container.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
keelson_install_deps

echo "== building"
(cd "$top" && ./autogen.sh >/dev/null 2>&1)
mkdir -p "$top/_build"
cd "$top/_build"
[ -f Makefile ] || "$top/configure" -q --prefix=/usr/local
make -j"$(nproc)" >make.log 2>&1 || { tail -30 make.log; exit 1; }
make install >install.log 2>&1 || { tail -30 install.log; exit 1; }
PATH="/usr/local/sbin:/usr/local/bin:$PATH"

mkdir -p /var/lib/keelson
echo "== building the busybox image into /var/lib/keelson/images"
sh "$top/scripts/build-busybox-image.sh" /var/lib/keelson/images/busybox 1.35 >/dev/null

echo "== starting keelsond (master + worker on this machine)"
mkdir -p "$top/_run"
if keelctl get nodes >/dev/null 2>&1; then
    echo "a keelson cluster already answers on tcp://127.0.0.1:7400; using it"
else
    nohup keelsond -c "$top/examples/single-machine.conf" >"$top/_run/keelsond.log" 2>&1 &
    echo $! >"$top/_run/keelsond.pid"
fi
for _ in $(seq 100); do
    keelctl get nodes 2>/dev/null | grep -q " Ready" && break
    sleep 0.2
done
keelctl get nodes

echo "== running the example workload"
keelctl delete pod hello >/dev/null 2>&1 || true
keelctl apply -f "$top/examples/manifests/pod-hello.yaml"
for _ in $(seq 150); do
    phase=$(keelctl get pod hello -o json | jq -r .status.phase)
    [ "$phase" = Succeeded ] || [ "$phase" = Failed ] && break
    sleep 0.2
done
keelctl describe pod hello
keelctl logs hello || true

echo "== a Deployment of three pods"
keelctl apply -f "$top/examples/manifests/deployment-web.yaml"
keelctl rollout status deploy/web --timeout 120s || true
keelctl get deploy,rs 2>/dev/null || { keelctl get deploy; keelctl get rs; }
keelctl get pods -o wide
echo
echo "keelsond keeps running (log: _run/keelsond.log); stop it with: kill \$(cat _run/keelsond.pid)"
[ "$phase" = Succeeded ]
