#!/bin/sh
# Builds a small OCI image layout holding Debian's static busybox, so keelson's
# runc runtime and its tests have an image without any registry.
# Usage: build-busybox-image.sh LAYOUT_DIR [TAG]
set -eu

usage() {
    echo "usage: $0 LAYOUT_DIR [TAG]" >&2
    exit 2
}

[ $# -ge 1 ] && [ $# -le 2 ] || usage
layout=$1
tag=${2:-latest}
busybox=${BUSYBOX:-/bin/busybox}
umoci=${UMOCI:-umoci}

case $tag in
    ''|*[!A-Za-z0-9_.-]*) echo "$0: tag \"$tag\" must be letters, digits, '_', '.' or '-'" >&2; exit 2 ;;
esac
if ! command -v "$umoci" >/dev/null 2>&1; then
    echo "$0: umoci not found: install the Debian package umoci" >&2
    exit 1
fi
if [ ! -x "$busybox" ]; then
    echo "$0: $busybox not found: install the Debian package busybox-static" >&2
    exit 1
fi

# Idempotent: an existing tag is left alone so repeated test runs stay quick.
if [ -f "$layout/index.json" ] && "$umoci" ls --layout "$layout" 2>/dev/null | grep -qx "$tag"; then
    exit 0
fi

if [ ! -f "$layout/index.json" ]; then
    mkdir -p "$(dirname "$layout")"
    "$umoci" init --layout "$layout"
fi
"$umoci" new --image "$layout:$tag"

work=$(mktemp -d "${TMPDIR:-/tmp}/keelson-busybox.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
bundle=$work/bundle
"$umoci" unpack --image "$layout:$tag" "$bundle"

rootfs=$bundle/rootfs
mkdir -p "$rootfs/bin" "$rootfs/sbin" "$rootfs/usr/bin" "$rootfs/usr/sbin" \
         "$rootfs/tmp" "$rootfs/etc" "$rootfs/root" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev"
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
chmod 0755 "$rootfs/bin/busybox"
# Every applet becomes /bin/NAME so commands run by their usual names.
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] && continue
    [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"

"$umoci" repack --image "$layout:$tag" "$bundle"
"$umoci" config --image "$layout:$tag" \
    --config.cmd /bin/sh \
    --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    --config.workingdir / \
    --author keelson
"$umoci" gc --layout "$layout"
