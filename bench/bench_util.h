/* Small helpers shared by the benchmark programs: clocks and percentiles. */
#ifndef KL_BENCH_UTIL_H
#define KL_BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int bench_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts `samples` in place and returns the p-th percentile (0..100). */
static inline int64_t bench_percentile(int64_t *samples, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(samples, n, sizeof *samples, bench_cmp_i64);
    size_t idx = (size_t)((p / 100.0) * (double)(n - 1) + 0.5);
    return samples[idx < n ? idx : n - 1];
}

#endif
