/* uids and RFC 3339 timestamps, made from /dev/urandom and the clock,
 * checked and read: apart as the only objects code that touches the system. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "objects.h"

/* One buffer per thread so the API server never contends, refilled by one
 * read() per 256 uids. */
static __thread unsigned char random_pool[4096];
static __thread size_t random_used = sizeof random_pool;

static int random_refill(kl_error_t *err)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot open /dev/urandom for uids: %s",
                            strerror(errno));
    size_t got = 0;
    while (got < sizeof random_pool) {
        ssize_t n = read(fd, random_pool + got, sizeof random_pool - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            close(fd);
            return kl_error_set(err, KL_ERR_INTERNAL, "cannot read /dev/urandom for uids: %s",
                                n < 0 ? strerror(saved) : "unexpected end of file");
        }
        got += (size_t)n;
    }
    close(fd);
    random_used = 0;
    return 0;
}

int kl_uuid_generate(char out[KL_UUID_SIZE], kl_error_t *err)
{
    if (random_used + 16 > sizeof random_pool && random_refill(err) < 0)
        return -1;
    unsigned char b[16];
    memcpy(b, random_pool + random_used, 16);
    random_used += 16;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);  /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
    return 0;
}

void kl_timestamp_now(char out[KL_TIMESTAMP_SIZE])
{
    /* Formatting is cached per second: creates come in bursts. */
    static __thread time_t cached_second = -1;
    static __thread char cached[KL_TIMESTAMP_SIZE];
    time_t now = time(NULL);
    if (now != cached_second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%SZ", &tm);
        cached_second = now;
    }
    memcpy(out, cached, KL_TIMESTAMP_SIZE);
}

void kl_micro_time_format(int64_t ms, char out[KL_TIMESTAMP_SIZE])
{
    time_t seconds = (time_t)(ms / 1000);
    int64_t micros = (ms % 1000) * 1000;
    if (micros < 0) {
        seconds--;
        micros += 1000000;
    }
    struct tm tm;
    char whole[24];
    gmtime_r(&seconds, &tm);
    strftime(whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, KL_TIMESTAMP_SIZE, "%.20s.%06" PRId64 "Z", whole, micros);
}

/* Reads exactly `count` digits at *p into *value, advancing *p. */
static int fixed_digits(const char **p, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    *value = v;
    return 0;
}

int kl_timestamp_is_valid(const char *text)
{
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, month, day, hour, minute, second;
    const char *p = text;
    if (!p || fixed_digits(&p, 4, &year) < 0 || *p++ != '-' || fixed_digits(&p, 2, &month) < 0
        || *p++ != '-' || fixed_digits(&p, 2, &day) < 0 || (*p != 'T' && *p != 't'))
        return 0;
    p++;
    if (fixed_digits(&p, 2, &hour) < 0 || *p++ != ':' || fixed_digits(&p, 2, &minute) < 0
        || *p++ != ':' || fixed_digits(&p, 2, &second) < 0)
        return 0;
    if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1] || hour > 23
        || minute > 59 || second > 60)
        return 0;
    if (*p == '.') {
        const char *start = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == start || p - start > 9)
            return 0;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    int offset_hours, offset_minutes;
    if (*p != '+' && *p != '-')
        return 0;
    p++;
    if (fixed_digits(&p, 2, &offset_hours) < 0 || *p++ != ':'
        || fixed_digits(&p, 2, &offset_minutes) < 0)
        return 0;
    return *p == '\0' && offset_hours <= 23 && offset_minutes <= 59;
}

int kl_time_parse_rfc3339(const char *text, int64_t *ms, kl_error_t *err)
{
    int year, month, day, hour, minute, second, used = 0;
    if (!text || sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute,
                        &second, &used) != 6 || used != 19)
        return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" is not RFC 3339 (2006-01-02T15:04:05Z)",
                            text ? text : "(null)");
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" has a field out of range", text);
    const char *p = text + used;
    int64_t fraction_ms = 0;
    if (*p == '.') {
        p++;
        int digits = 0;
        while (isdigit((unsigned char)*p)) {
            if (digits < 3)
                fraction_ms = fraction_ms * 10 + (*p - '0');
            digits++;
            p++;
        }
        if (digits == 0)
            return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" has an empty fraction", text);
        for (; digits < 3; digits++)
            fraction_ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om, n = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5)
            return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" has a malformed offset", text);
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" lacks a zone (Z or +hh:mm)", text);
    }
    if (*p)
        return kl_error_set(err, KL_ERR_INVALID, "time \"%s\" has trailing text", text);
    struct tm tm = {.tm_year = year - 1900, .tm_mon = month - 1, .tm_mday = day,
                    .tm_hour = hour, .tm_min = minute, .tm_sec = second};
    time_t t = timegm(&tm);
    *ms = ((int64_t)t - offset_s) * 1000 + fraction_ms;
    return 0;
}
