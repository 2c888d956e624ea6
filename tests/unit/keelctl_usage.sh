#!/bin/sh
# keelctl without a master: usage errors, manifest errors found before any
# request, and a clear, quick failure when the server cannot be reached.
: "${KEELSON_BUILDDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${KEELSON_SRCDIR:=$(cd "$(dirname "$0")/../.." && pwd)}"
KEELCTL="$KEELSON_BUILDDIR/core/keelctl/keelctl"
FIXTURES="$KEELSON_SRCDIR/tests/fixtures/manifests"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/keelctl_usage.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Nothing listens on port 1; no test may depend on the caller's settings.
DOWN=tcp://127.0.0.1:1
unset KEELSON_SERVER KEELSON_CONFIG
HOME="$WORK"
export HOME

count=0
failed=0
ok() {
    count=$((count + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $count - $2"
    else
        echo "not ok $count - $2"
        failed=$((failed + 1))
    fi
}
diag() { echo "# $*"; }

# run NAME ARGS...: runs keelctl, keeping its exit code, stdout and stderr.
run() {
    name=$1
    shift
    "$KEELCTL" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    echo $? >"$WORK/$name.rc"
}
rc() { cat "$WORK/$1.rc"; }
err_has() { grep -q -- "$2" "$WORK/$1.err"; }

if [ ! -x "$KEELCTL" ]; then
    echo "1..0 # SKIP keelctl not built at $KEELCTL"
    exit 0
fi

# --- usage -------------------------------------------------------------------
run help help
[ "$(rc help)" = 0 ] && grep -q "Usage: keelctl" "$WORK/help.out"
ok $? "help prints usage on stdout and exits 0"

run bogus frobnicate
[ "$(rc bogus)" = 1 ] && err_has bogus '^error: unknown command "frobnicate"' && err_has bogus '^Usage: keelctl'
ok $? "an unknown command: error, usage line, exit 1"

run notype get
[ "$(rc notype)" = 1 ] && err_has notype "^error: you must specify the type of resource to get" && err_has notype '^Usage:'
ok $? "get without a type is a usage error"

run badtype get widgets
[ "$(rc badtype)" = 1 ] && err_has badtype 'unknown resource type "widgets"'
ok $? "get of an unknown type names it"

run badflag get pods --frobnicate
[ "$(rc badflag)" = 1 ] && err_has badflag "unknown flag --frobnicate" && err_has badflag '^Usage:'
ok $? "an unknown flag is a usage error"

run noval get pods -o
[ "$(rc noval)" = 1 ] && err_has noval "flag -o needs a value"
ok $? "a flag without its value is a usage error"

run badout get pods -o xml
[ "$(rc badout)" = 1 ] && err_has badout 'output format "xml"'
ok $? "an unknown output format is refused"

run badtimeout --request-timeout soon get pods
[ "$(rc badtimeout)" = 1 ] && err_has badtimeout 'request-timeout "soon"'
ok $? "a malformed --request-timeout is refused"

run nofile apply
[ "$(rc nofile)" = 1 ] && err_has nofile "apply needs -f FILE"
ok $? "apply without -f is a usage error"

run noname delete pod
[ "$(rc noname)" = 1 ] && err_has noname "you must specify the name of the pod to delete"
ok $? "delete without a name is a usage error"

run slash describe pod/
[ "$(rc slash)" = 1 ] && err_has slash '"pod/" is not of the form TYPE/NAME'
ok $? "describe pod/ with no name is a usage error"

run version version --client
[ "$(rc version)" = 0 ] && grep -q "^Client Version: v" "$WORK/version.out"
ok $? "version --client needs no server"

# --- manifests are checked before anything is sent --------------------------
run indent -s "$DOWN" apply -f "$FIXTURES/bad-indent.yaml"
[ "$(rc indent)" = 1 ] && err_has indent "^error: .*bad-indent.yaml: document 1, line 7 column" &&
    ! err_has indent "cannot reach"
ok $? "malformed YAML names file, document and line: $(head -1 "$WORK/indent.err")"

run second -s "$DOWN" apply -f "$FIXTURES/bad-second-document.yaml"
[ "$(rc second)" = 1 ] && err_has second "bad-second-document.yaml: document 2, line"
ok $? "an error in the second document names document 2: $(head -1 "$WORK/second.err")"

run notobject -s "$DOWN" apply -f "$FIXTURES/bad-not-an-object.yaml"
[ "$(rc notobject)" = 1 ] && err_has notobject "bad-not-an-object.yaml: document 1 (line 2): expected an object"
ok $? "a list where an object belongs is refused: $(head -1 "$WORK/notobject.err")"

run noname2 -s "$DOWN" apply -f "$FIXTURES/bad-no-name.yaml"
[ "$(rc noname2)" = 1 ] && err_has noname2 "metadata.name: Required value"
ok $? "an object without metadata.name is refused: $(head -1 "$WORK/noname2.err")"

run badjson -s "$DOWN" create -f "$FIXTURES/bad-json.json"
[ "$(rc badjson)" = 1 ] && err_has badjson "bad-json.json: line 4"
ok $? "malformed JSON names file and line: $(head -1 "$WORK/badjson.err")"

run missing -s "$DOWN" apply -f "$WORK/no-such-file.yaml"
[ "$(rc missing)" = 1 ] && err_has missing "cannot open manifest .*no-such-file.yaml"
ok $? "a missing manifest file is named"

printf 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: [oops\n' | "$KEELCTL" -s "$DOWN" apply -f - >/dev/null 2>"$WORK/stdin.err"
[ $? = 1 ] && grep -q "<stdin>: document 1, line" "$WORK/stdin.err"
ok $? "a manifest on standard input is called <stdin>: $(head -1 "$WORK/stdin.err")"

# --- an unreachable server ------------------------------------------------------
start=$(date +%s)
run down -s "$DOWN" --request-timeout 500 get pods
elapsed=$(( $(date +%s) - start ))
[ "$(rc down)" = 1 ] && err_has down "^error: cannot reach keelson at tcp://127.0.0.1:1: "
ok $? "unreachable server: exit 1 and a clear error: $(head -1 "$WORK/down.err")"
[ "$elapsed" -le 3 ]
ok $? "it gives up within the request timeout (${elapsed}s)"

run downapply -s "$DOWN" --request-timeout 300 apply -f "$FIXTURES/good-pods.yaml"
[ "$(rc downapply)" = 1 ] && [ "$(grep -c "cannot reach keelson" "$WORK/downapply.err")" = 1 ]
ok $? "apply to an unreachable server says so once, not once per object"

KEELSON_SERVER=tcp://127.0.0.1:2 run env --request-timeout 300 get nodes
[ "$(rc env)" = 1 ] && err_has env "cannot reach keelson at tcp://127.0.0.1:2"
ok $? "KEELSON_SERVER is used when there is no --server"

KEELSON_SERVER=tcp://127.0.0.1:2 run flagwins -s tcp://127.0.0.1:3 --request-timeout 300 get nodes
err_has flagwins "tcp://127.0.0.1:3"
ok $? "--server wins over KEELSON_SERVER"

printf '# keelctl settings\nserver = "tcp://127.0.0.1:4";\n' >"$WORK/keelctl.conf"
KEELSON_CONFIG="$WORK/keelctl.conf" run conf --request-timeout 300 describe pod web
[ "$(rc conf)" = 1 ] && err_has conf "cannot reach keelson at tcp://127.0.0.1:4"
ok $? "KEELSON_CONFIG names a file whose server is used"

mkdir -p "$WORK/.keelson"
printf 'server = "tcp://127.0.0.1:5";\n' >"$WORK/.keelson/keelctl.conf"
run homeconf --request-timeout 300 delete pod web
err_has homeconf "tcp://127.0.0.1:5"
ok $? "~/.keelson/keelctl.conf is read when nothing else names a server"

printf 'server = 42;\n' >"$WORK/bad.conf"
KEELSON_CONFIG="$WORK/bad.conf" run badconf get pods
[ "$(rc badconf)" = 1 ] && err_has badconf "bad.conf:1: server must be a string"
ok $? "a config whose server is not a string is refused with file and line"

printf 'server = "tcp://x"\nbroken\n' >"$WORK/syntax.conf"
KEELSON_CONFIG="$WORK/syntax.conf" run syntaxconf get pods
[ "$(rc syntaxconf)" = 1 ] && err_has syntaxconf "syntax.conf:[0-9]*: syntax error"
ok $? "a config that does not parse is refused with file and line: $(head -1 "$WORK/syntaxconf.err")"

KEELSON_CONFIG="$WORK/none.conf" run noconf get pods
[ "$(rc noconf)" = 1 ] && err_has noconf "none.conf"
ok $? "a KEELSON_CONFIG file that does not exist is an error"

echo "1..$count"
[ "$failed" -eq 0 ]
