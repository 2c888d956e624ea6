#!/bin/sh
# A third-party plugin built out of tree against the installed headers and
# pkg-config file is loaded by keelsond and makes the decisions.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"
# Staged with DESTDIR: libtool installs plugins only for the configured prefix.
(cd "$KEELSON_BUILDDIR" && make install DESTDIR="$WORK/root" >"$WORK/install.log" 2>&1)
ok $? "make install into a fresh staging root"
prefix="$WORK/root$(sed -n "s/^prefix=//p" "$KEELSON_BUILDDIR/keelson-plugin.pc")"
for f in include/keelson/keelson.h include/keelson/scheduler.h include/keelson/kit.h lib/pkgconfig/keelson-plugin.pc \
         sbin/keelsond bin/keelctl bin/keelson-store-conformance bin/keelson-runtime-conformance \
         lib/libkeelson-kit.so lib/keelson/plugins/scheduler_firstfit.so lib/keelson/plugins/controller_replicaset.so; do
    [ -e "$prefix/$f" ] || { diag "missing $f"; false; }
done
ok $? "daemon, CLI, plugins, headers and pkg-config file installed"

cp -r "$KEELSON_SRCDIR/examples/plugin-lastfit" "$WORK/lastfit"
# --define-prefix: the .pc file names the configured prefix, not this one.
(cd "$WORK/lastfit" && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" make PKG_CONFIG="pkg-config --define-prefix" >"$WORK/build.log" 2>&1)
ok $? "example plugin builds with only the installed headers (pkg-config)"
nm -D --defined-only "$WORK/lastfit/scheduler_lastfit.so" | grep -q " keelson_plugin$"
ok $? "it exports the descriptor"

start_daemon master "$(master_config memory lastfit "plugin_path = [ \"$WORK/lastfit\" ];")"
for n in aaa mmm zzz; do start_daemon "$n" "$(sim_worker_config "$n")"; done
wait_for 20 nodes_ready 3
ok $? "three workers Ready"
grep -q "loaded plugin scheduler/lastfit 1.0.0 from $WORK/lastfit/scheduler_lastfit.so" "$WORK/master.log"
ok $? "keelsond loaded the out-of-tree plugin"
printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: placed}\nspec:\n  containers: [{name: c, image: sim}]\n' >"$WORK/pod.yaml"
keelctl apply -f "$WORK/pod.yaml" >/dev/null 2>&1
bound() { [ "$(pod_field placed .spec.nodeName)" = zzz ]; }
wait_for 15 bound
ok $? "the plugin's choice is used: pod bound to zzz (got $(pod_field placed .spec.nodeName))"
done_testing
