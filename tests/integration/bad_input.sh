#!/bin/sh
# Bad input from every side: broken configs and plugins stop keelsond at
# start-up with one clear line; bad manifests and bad bus frames get clear
# errors while the daemon keeps serving and loses nothing.
. "$KEELSON_SRCDIR/tests/integration/lib.sh"

# --- start-up refusals ---------------------------------------------------
printf 'roles = [ "master" ];\nstore = { plugin = "nosuchstore"; };\nscheduler = { plugin = "firstfit"; };\n' >"$WORK/missing.conf"
"$KEELSOND" -c "$WORK/missing.conf" >"$WORK/missing.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "plugin store/nosuchstore (store_nosuchstore.so): not found in" "$WORK/missing.out"
ok $? "missing plugin: exit $rc and one line naming it"

printf 'roles = [ "master" ];\nstore = { plugin = "memory"; };\nscheduler = { plugin = "wrongkind"; };\n' >"$WORK/wrongkind.conf"
"$KEELSOND" -c "$WORK/wrongkind.conf" >"$WORK/wrongkind.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "it is a runtime plugin, not a scheduler plugin" "$WORK/wrongkind.out"
ok $? "plugin of the wrong kind refused at start-up (exit $rc)"

printf 'roles = [ "master" ];\nstore = { plugin = "memory"; };\nscheduler = { plugin = "wrongmajor"; };\n' >"$WORK/abi.conf"
"$KEELSOND" -c "$WORK/abi.conf" >"$WORK/abi.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "scheduler ABI 2.0 but this keelsond speaks 1.0" "$WORK/abi.out"
ok $? "incompatible ABI refused at start-up (exit $rc)"

printf 'roles = [ "master" ];\nstore = { plugin = "memory"; };\nscheduler = { plugin = "firstfit"; };\nbogus = 1;\n' >"$WORK/bad.conf"
"$KEELSOND" -c "$WORK/bad.conf" >"$WORK/bad.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "bad.conf:4: unknown setting \"bogus\"" "$WORK/bad.out"
ok $? "unknown config key: exit $rc with file and line"

node_name="n"
printf 'node_name = "n";\nroles = [ "worker" ];\nbus = { master = "%s"; };\nruntime = { plugin = "sim"; settings = { run_ms = "long"; }; };\n' "$SERVER" >"$WORK/setting.conf"
"$KEELSOND" -c "$WORK/setting.conf" >"$WORK/setting.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "setting.conf:4: setting \"run_ms\" of plugin runtime/sim must be an integer" "$WORK/setting.out"
ok $? "plugin setting of the wrong type: exit $rc with file and line"

"$KEELSOND" -c "$WORK/nonexistent.conf" >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "missing config file refused"

for conf in "$KEELSON_SRCDIR"/examples/*.conf; do
    "$KEELSOND" --check -c "$conf" >"$WORK/check.out" 2>&1
    ok $? "--check accepts the example $(basename "$conf")"
done

# --check opens scheduler and controller plugins, so their own setting
# checks run without starting the daemon.
printf 'node_name = "m";\nroles = [ "master" ];\nstore = { plugin = "memory"; };\nscheduler = { plugin = "spread"; };\ncontrollers = ( { plugin = "eventttl"; settings = { ttl_ms = 0; }; } );\n' >"$WORK/ttl.conf"
"$KEELSOND" --check -c "$WORK/ttl.conf" >"$WORK/ttl.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "controller/eventttl.*setting ttl_ms 0 must be between" "$WORK/ttl.out" \
    && ! grep -q "OK" "$WORK/ttl.out"
ok $? "--check refuses a controller setting the plugin rejects: exit $rc, $(grep -o 'setting ttl_ms.*' "$WORK/ttl.out" | head -1)"

# --- a running cluster under bad input --------------------------------------
start_daemon master "$(master_config)"
start_daemon w1 "$(sim_worker_config w1)"
wait_for 20 nodes_ready 1
ok $? "master and one worker up"

printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: keep-me}\nspec:\n  containers: [{name: c, image: sim}]\n' >"$WORK/keep.yaml"
keelctl apply -f "$WORK/keep.yaml" >/dev/null 2>&1
ok $? "a good pod is stored"

printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: bad\n  oops: [\n' >"$WORK/malformed.yaml"
keelctl apply -f "$WORK/malformed.yaml" >"$WORK/malformed.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "malformed.yaml" "$WORK/malformed.out" && grep -qi "line" "$WORK/malformed.out"
ok $? "malformed YAML: exit $rc, error names the file and line: $(head -1 "$WORK/malformed.out")"

printf 'apiVersion: v1\nkind: Deploymint\nmetadata: {name: x}\n' >"$WORK/kind.yaml"
keelctl apply -f "$WORK/kind.yaml" >"$WORK/kind.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'unknown kind "Deploymint": keelson serves' "$WORK/kind.out"
ok $? "unknown kind refused: $(head -1 "$WORK/kind.out")"

printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: noimage}\nspec:\n  containers: [{name: c}]\n' >"$WORK/invalid.yaml"
keelctl apply -f "$WORK/invalid.yaml" >"$WORK/invalid.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "spec.containers\[0\].image" "$WORK/invalid.out"
ok $? "invalid pod names the field: $(head -1 "$WORK/invalid.out")"

printf 'apiVersion: v1\nkind: Pod\nmetadata: {name: hungry}\nspec:\n  containers: [{name: c, image: sim, resources: {requests: {memory: -5Gi}}}]\n' >"$WORK/negative.yaml"
keelctl apply -f "$WORK/negative.yaml" >"$WORK/negative.out" 2>&1
[ $? -ne 0 ] && grep -q "memory" "$WORK/negative.out"
ok $? "negative memory request refused: $(head -1 "$WORK/negative.out")"

# Many documents, one bad among them: the creates go out together, yet each
# result prints in manifest order and the bad one alone is refused, naming
# its document; applied again, the good ones are configured, in order.
for i in $(seq 1 40); do
    if [ "$i" = 17 ]; then
        printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: many-17}\nspec:\n  containers: [{name: c}]\n'
    else
        printf -- '---\napiVersion: v1\nkind: Pod\nmetadata: {name: many-%02d}\nspec:\n  containers: [{name: c, image: sim}]\n' "$i"
    fi
done >"$WORK/many.yaml"
keelctl apply -f "$WORK/many.yaml" >"$WORK/many.out" 2>"$WORK/many.err"
rc=$?
seq 1 40 | grep -vx 17 | xargs printf 'pod/many-%02d created\n' >"$WORK/many.want"
[ $rc -eq 1 ] && cmp -s "$WORK/many.out" "$WORK/many.want" && [ "$(wc -l <"$WORK/many.err")" = 1 ] \
    && grep -q 'document 17.*spec.containers\[0\].image' "$WORK/many.err"
ok $? "40 documents, one invalid: 39 created in manifest order, exit $rc, $(cat "$WORK/many.err")"
keelctl apply -f "$WORK/many.yaml" >"$WORK/many2.out" 2>/dev/null
sed 's/created$/configured/' "$WORK/many.want" >"$WORK/many2.want"
cmp -s "$WORK/many2.out" "$WORK/many2.want"
ok $? "applied again: the 39 configured, in manifest order"
keelctl delete -f "$WORK/many.yaml" >"$WORK/many3.out" 2>"$WORK/many3.err"
rc=$?
seq 1 40 | grep -vx 17 | xargs printf 'pod "many-%02d" deleted\n' >"$WORK/many3.want"
[ $rc -eq 1 ] && cmp -s "$WORK/many3.out" "$WORK/many3.want" && [ "$(wc -l <"$WORK/many3.err")" = 1 ] \
    && grep -q 'document 17.*not found' "$WORK/many3.err"
ok $? "delete -f: the 39 deleted in manifest order, the one never created NotFound: $(cat "$WORK/many3.err")"
left=$(keelctl get pods -o json | jq '[.items[] | select(.metadata.name | startswith("many-"))] | length')
[ "$left" = 0 ]
ok $? "none of them is left ($left)"

# Raw garbage on the bus port.
printf 'GET / HTTP/1.0\r\n\r\n' | timeout 2 bash -c "cat > /dev/tcp/127.0.0.1/$PORT" 2>/dev/null
head -c 100000 /dev/urandom | timeout 2 bash -c "cat > /dev/tcp/127.0.0.1/$PORT" 2>/dev/null
sleep 0.5
kill -0 "$PID_master" 2>/dev/null
ok $? "master survives garbage bytes on its bus port"
[ "$(pod_field keep-me .metadata.name)" = keep-me ]
ok $? "the stored pod is still there and the API still serves"

keelctl get pod nosuch >"$WORK/nf.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'pods "nosuch" not found' "$WORK/nf.out"
ok $? "get of a missing pod: NotFound on stderr, exit $rc"

"$KEELCTL_BIN" --server "tcp://127.0.0.1:1" --request-timeout 500 get pods >"$WORK/down.out" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q "cannot reach keelson at tcp://127.0.0.1:1" "$WORK/down.out"
ok $? "unreachable server: clear error, exit $rc"
done_testing
