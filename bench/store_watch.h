/* Watch fan-out measures for the store benchmark (store_watch.c). */
#ifndef KL_BENCH_STORE_WATCH_H
#define KL_BENCH_STORE_WATCH_H

#include <stdint.h>

typedef struct store_bench_result {
    double rate;      /* per second: requests, or deliveries for watches; 0: not run */
    int64_t p50_ns;
    int64_t p99_ns;
    int failed;       /* requests that failed, or deliveries that never came */
    /* cpu per request in µs (reads and writes only): this process (the
     * load generator, and for keelson rows the API server and store
     * plugin too) and the etcd server; -1 where not measured. */
    double self_cpu_us;
    double etcd_cpu_us;
} store_bench_result_t;

/* `count` pods named PREFIX-0000000... created one after another through
 * the API at `endpoint` while `watchers` api.watch long polls follow them;
 * latency from each create's send to each watcher's receipt. */
store_bench_result_t store_bench_watch_api(const char *endpoint, int watchers, int count,
                                           const char *prefix);

/* The same straight into etcd's gateway at `base`: puts and /v3/watch streams. */
store_bench_result_t store_bench_watch_etcd(const char *base, int watchers, int count,
                                            const char *prefix);

#endif
