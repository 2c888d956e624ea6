/* The TAP layer both conformance suites print through: ok/skip/diag and
 * the checks built on them. Safe to call from several threads. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conformance_tap.h"

static pthread_mutex_t tap_lock = PTHREAD_MUTEX_INITIALIZER;
static int tap_count, tap_failed, tap_skipped;

static int tap_vok(int condition, const char *fmt, va_list ap)
{
    pthread_mutex_lock(&tap_lock);
    tap_count++;
    if (!condition)
        tap_failed++;
    printf("%sok %d - ", condition ? "" : "not ", tap_count);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&tap_lock);
    return condition;
}

int kl_tap_ok(int condition, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vok(condition, fmt, ap);
    va_end(ap);
    return condition;
}

void kl_tap_skip(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&tap_lock);
    tap_count++;
    tap_skipped++;
    printf("ok %d # SKIP ", tap_count);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&tap_lock);
}

void kl_tap_diag(const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&tap_lock);
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    pthread_mutex_unlock(&tap_lock);
}

int kl_tap_call(int rc, const kl_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vok(rc == 0, fmt, ap);
    va_end(ap);
    if (rc != 0)
        kl_tap_diag("  returned %d: %s: %s", rc, kl_error_reason(err->code), err->text);
    return rc == 0;
}

int kl_tap_fails_with(int rc, const kl_error_t *err, int code, const char *fmt, ...)
{
    int good = rc == -1 && err->code == code;
    va_list ap;
    va_start(ap, fmt);
    tap_vok(good, fmt, ap);
    va_end(ap);
    if (!good)
        kl_tap_diag("  expected -1 with %s, got %d with %s (%s)", kl_error_reason(code), rc,
                    rc == 0 ? "success" : kl_error_reason(err->code), rc == 0 ? "" : err->text);
    return good;
}

int kl_tap_is_int(long long got, long long expected, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tap_vok(got == expected, fmt, ap);
    va_end(ap);
    if (got != expected)
        kl_tap_diag("  got %lld, expected %lld", got, expected);
    return got == expected;
}

int kl_tap_is_str(const char *got, const char *expected, const char *fmt, ...)
{
    int same = got && expected && strcmp(got, expected) == 0;
    va_list ap;
    va_start(ap, fmt);
    tap_vok(same, fmt, ap);
    va_end(ap);
    if (!same)
        kl_tap_diag("  got \"%s\", expected \"%s\"", got ? got : "(null)", expected ? expected : "(null)");
    return same;
}

static int read_locked(const int *counter)
{
    pthread_mutex_lock(&tap_lock);
    int value = *counter;
    pthread_mutex_unlock(&tap_lock);
    return value;
}

int kl_tap_count(void)
{
    return read_locked(&tap_count);
}

int kl_tap_failed(void)
{
    return read_locked(&tap_failed);
}

int kl_tap_skipped(void)
{
    return read_locked(&tap_skipped);
}
