/* A minimal TAP producer for unit tests (automake's tap-driver reads it). */
#ifndef KL_TESTS_TAP_H
#define KL_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count_;
static int tap_failed_;

__attribute__((format(printf, 2, 3), unused))
static int ok(int condition, const char *fmt, ...)
{
    va_list ap;
    tap_count_++;
    printf("%sok %d - ", condition ? "" : "not ", tap_count_);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    if (!condition)
        tap_failed_++;
    return condition;
}

#define is_int(got, expected, ...)                                                   \
    do {                                                                            \
        long long got_ = (long long)(got), exp_ = (long long)(expected);            \
        if (!ok(got_ == exp_, __VA_ARGS__))                                         \
            printf("#   got %lld, expected %lld\n", got_, exp_);                    \
    } while (0)

#define is_str(got, expected, ...)                                                   \
    do {                                                                            \
        const char *got_ = (got), *exp_ = (expected);                               \
        int same_ = (got_ && exp_) ? strcmp(got_, exp_) == 0 : got_ == exp_;        \
        if (!ok(same_, __VA_ARGS__))                                                \
            printf("#   got \"%s\", expected \"%s\"\n", got_ ? got_ : "(null)",     \
                   exp_ ? exp_ : "(null)");                                         \
    } while (0)

__attribute__((format(printf, 1, 2), unused))
static void diag(const char *fmt, ...)
{
    va_list ap;
    printf("# ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

__attribute__((unused))
static int done_testing(void)
{
    printf("1..%d\n", tap_count_);
    return tap_failed_ ? 1 : 0;
}

#endif
