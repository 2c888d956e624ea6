#!/bin/sh
# The cheap unit tests once more under valgrind's memcheck: leaks and bad
# reads in code paths the sanitizer build may not catch the same way.
: "${KEELSON_BUILDDIR:?run through make check}"
: "${KEELSON_SRCDIR:?run through make check}"
command -v valgrind >/dev/null || { echo "1..0 # SKIP valgrind is not installed"; exit 0; }
if ldd "$KEELSON_BUILDDIR/tests/unit/test_quantity" 2>/dev/null | grep -q libasan; then
    echo "1..0 # SKIP sanitizer build (valgrind and AddressSanitizer do not mix)"
    exit 0
fi
n=0
failed=0
for t in test_quantity test_config test_selector test_objects test_loader test_controller_host; do
    n=$((n + 1))
    bin="$KEELSON_BUILDDIR/tests/unit/$t"
    if [ ! -x "$bin" ]; then echo "not ok $n - $t is not built"; failed=1; continue; fi
    log=$(mktemp)
    if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        --suppressions="$KEELSON_SRCDIR/tests/unit/deliberate-crashes.supp" \
        --show-leak-kinds=definite "$bin" >/dev/null 2>"$log"; then
        echo "ok $n - $t is clean under valgrind"
    else
        echo "not ok $n - $t under valgrind"
        sed 's/^/# /' "$log" | head -40
        failed=1
    fi
    rm -f "$log"
done
echo "1..$n"
exit $failed
