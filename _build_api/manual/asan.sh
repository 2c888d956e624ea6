#!/bin/sh
# builds plugin + tests with sanitizers into asan/
set -e
SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
CF="-std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror -g -O1 -fvisibility=hidden -I/work/main/include -I/work/main/core -I/work/main/tests $(pkg-config --cflags jansson libczmq libconfig) $SAN"
LIBS="$(pkg-config --libs jansson libczmq libzmq libconfig) -ldl -lm"
SRC="/work/main/core/objects.c /work/main/core/selector.c /work/main/core/apiserver.c /work/main/core/quantity.c /work/main/core/log.c /work/main/core/loader.c /work/main/core/bus.c"
mkdir -p asan/plugins
gcc $CF -shared -fPIC -o asan/plugins/store_memory.so /work/main/plugins/store/memory/memory.c
for t in test_objects test_selector test_store_memory test_apiserver; do
  gcc $CF -rdynamic -o asan/$t /work/main/tests/unit/$t.c $SRC $LIBS
done
