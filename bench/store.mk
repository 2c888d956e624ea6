# Store plugins compared through the API server, with etcd's own gateway as
# the baseline for the etcd store. Run: bench/store_bench [OBJECTS [IN_FLIGHT]].
noinst_PROGRAMS += bench/store_bench
bench_store_bench_SOURCES = bench/store_bench.c bench/store_watch.c bench/store_watch.h \
	bench/bench_util.h
bench_store_bench_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS) $(CURL_CFLAGS)
bench_store_bench_LDADD = core/libkeelcore.la $(KL_CORE_LIBS) $(CURL_LIBS) -lpthread $(JEMALLOC_LIBS)

# The store plugins alone, with the memory plugin as the baseline.
noinst_PROGRAMS += bench/store_plugin_bench
bench_store_plugin_bench_SOURCES = bench/store_plugin_bench.c bench/bench_util.h
bench_store_plugin_bench_CFLAGS = $(AM_CFLAGS) $(KL_CORE_CFLAGS)
bench_store_plugin_bench_LDADD = core/libkeelcore.la $(KL_CORE_LIBS) $(JEMALLOC_LIBS)
