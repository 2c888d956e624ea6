/* TAP output shared by keelson-store-conformance and
 * keelson-runtime-conformance. Every call is safe from several threads. */
#ifndef KL_CONFORMANCE_TAP_H
#define KL_CONFORMANCE_TAP_H

#include <keelson/error.h>

int kl_tap_ok(int condition, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kl_tap_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void kl_tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ok() that reports the plugin's error text when the call failed. */
int kl_tap_call(int rc, const kl_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* ok() for "failed with this code". */
int kl_tap_fails_with(int rc, const kl_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int kl_tap_is_int(long long got, long long expected, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int kl_tap_is_str(const char *got, const char *expected, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Checks printed so far, failed ones and skipped ones, for the plan. */
int kl_tap_count(void);
int kl_tap_failed(void);
int kl_tap_skipped(void);

#endif
