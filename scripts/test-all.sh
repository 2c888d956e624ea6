#!/bin/sh
# Installs what is missing, builds keelson with warnings as errors (and
# AddressSanitizer/UBSan when KEELSON_SANITIZE=1), runs the whole test suite
# and ends with one line: "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/deps.sh"
keelson_install_deps || exit 1

build="$top/_build"
extra=""
[ "${KEELSON_SANITIZE:-0}" = 1 ] && extra="--enable-sanitizers"
(cd "$top" && ./autogen.sh >/dev/null 2>&1) || { echo "autogen failed"; exit 1; }
mkdir -p "$build"
cd "$build" || exit 1
if [ ! -f Makefile ] || [ "$top/configure" -nt Makefile ]; then
    "$top/configure" -q --enable-werror $extra || { echo "configure failed"; exit 1; }
fi
make -j"$(nproc)" >make.log 2>&1 || { tail -40 make.log; echo "0 passed, 1 failed"; exit 1; }

# Sanitizer settings for the daemons the integration tests start.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
make -j2 check >check.log 2>&1
status=$?
grep -E "^(PASS|FAIL|XFAIL|XPASS|SKIP|ERROR):" check.log | sed 's/^/  /' | tail -400
if [ $status -ne 0 ]; then
    for log in $(grep -l -E "^(not ok|Bail out)" $(find . -name '*.log' -path '*tests*') 2>/dev/null); do
        echo "---- $log"; grep -E -B2 -A12 "^(not ok|Bail out)" "$log" | head -60
    done
fi
# valgrind cannot run sanitized binaries: a plain build serves its check.
trs_dirs="$build"
if [ "${KEELSON_SANITIZE:-0}" = 1 ] && command -v valgrind >/dev/null; then
    plain="$top/_build_plain"
    mkdir -p "$plain"
    (cd "$plain" && { [ -f Makefile ] || "$top/configure" -q --enable-werror; } \
        && make -j"$(nproc)" >make.log 2>&1 \
        && make check TESTS=tests/unit/valgrind.sh >check.log 2>&1)
    [ $? -ne 0 ] && status=1
    grep -E "^(PASS|FAIL|ERROR|SKIP):" "$plain/check.log" | sed 's/^/  /'
    trs_dirs="$trs_dirs $plain/tests/unit/valgrind.trs"
fi

# Totals over every TAP result of every test program.
passed=$(cat $(find $trs_dirs -name '*.trs') 2>/dev/null | grep -c -E '^:test-result: (PASS|XFAIL|SKIP)')
failed=$(cat $(find $trs_dirs -name '*.trs') 2>/dev/null | grep -c -E '^:test-result: (FAIL|XPASS|ERROR)')
[ $status -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
