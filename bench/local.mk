# Benchmarks: built by `make`, run by bench/run-all.sh (never by make check).
noinst_PROGRAMS += bench/bus_latency
bench_bus_latency_SOURCES = bench/bus_latency.c bench/bench_util.h
bench_bus_latency_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS)
bench_bus_latency_LDADD = core/libkeelcore.la $(KL_CORE_LIBS) $(JEMALLOC_LIBS)

noinst_PROGRAMS += bench/api_create
bench_api_create_SOURCES = bench/api_create.c bench/bench_util.h
bench_api_create_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS)
bench_api_create_LDADD = core/libkeelcore.la $(KL_CORE_LIBS) $(JEMALLOC_LIBS)

noinst_PROGRAMS += bench/json_parse
bench_json_parse_SOURCES = bench/json_parse.c bench/bench_util.h
bench_json_parse_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS)
bench_json_parse_LDADD = core/libkeelcore.la $(KL_CORE_LIBS) $(JEMALLOC_LIBS)

include bench/store.mk
include bench/runtime.mk
