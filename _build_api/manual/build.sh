#!/bin/sh
# usage: build.sh NAME [extra cflags]
set -e
N=$1; shift
CF="-std=gnu11 -Wall -Wextra -Wno-unused-parameter -Werror -g -O2 -I/work/main/include -I/work/main/core -I/work/main/tests $(pkg-config --cflags jansson libczmq libconfig) $*"
LIBS="$(pkg-config --libs jansson libczmq libzmq libconfig) -ldl -lm"
SRC="/work/main/core/objects.c /work/main/core/selector.c /work/main/core/apiserver.c /work/main/core/quantity.c /work/main/core/log.c /work/main/core/loader.c /work/main/core/bus.c"
gcc $CF -o manual/$N /work/main/tests/unit/$N.c $SRC $LIBS
