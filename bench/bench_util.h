/* Small helpers shared by the benchmark programs: clocks, percentiles and
 * base64. */
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

/* Base64 of `len` bytes, as etcd's gateway wants keys and values (caller frees). */
static inline char *bench_b64(const char *data, size_t len)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
    for (size_t i = 0; out && i < len; i += 3) {
        unsigned v = (unsigned char)data[i] << 16 | (i + 1 < len ? (unsigned char)data[i + 1] << 8 : 0)
                     | (i + 2 < len ? (unsigned char)data[i + 2] : 0);
        *p++ = a[v >> 18 & 63];
        *p++ = a[v >> 12 & 63];
        *p++ = i + 1 < len ? a[v >> 6 & 63] : '=';
        *p++ = i + 2 < len ? a[v & 63] : '=';
    }
    if (out)
        *p = '\0';
    return out;
}

#endif
