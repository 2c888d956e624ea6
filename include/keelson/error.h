/* The small error model shared by the core and every plugin: functions return
 * 0 (or a pointer) on success, -1 (or NULL) on failure and fill a kl_error_t. */
#ifndef KEELSON_ERROR_H
#define KEELSON_ERROR_H

#include <stdarg.h>
#include <stdio.h>

/* Codes map one to one onto Kubernetes Status reasons (see docs/protocol.md). */
typedef enum kl_error_code {
    KL_OK = 0,
    KL_ERR_INVALID = 1,      /* 422 Invalid / 400 BadRequest */
    KL_ERR_NOT_FOUND = 2,    /* 404 NotFound */
    KL_ERR_EXISTS = 3,       /* 409 AlreadyExists */
    KL_ERR_CONFLICT = 4,     /* 409 Conflict: stale resourceVersion / revision */
    KL_ERR_EXPIRED = 5,      /* 410 Expired: watch from a compacted revision */
    KL_ERR_UNAVAILABLE = 6,  /* 503 ServiceUnavailable: peer or backend down */
    KL_ERR_TIMEOUT = 7,      /* 504 Timeout */
    KL_ERR_INTERNAL = 8,     /* 500 InternalError */
    KL_ERR_TOO_LARGE = 9     /* 413 RequestEntityTooLarge */
} kl_error_code_t;

typedef struct kl_error {
    int code;        /* kl_error_code_t */
    char text[512];  /* one sentence naming the input and what is wrong */
} kl_error_t;

/* Header-only so plugins need not link against anything of the core. */
static inline void kl_error_vset(kl_error_t *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return;
    err->code = code;
    vsnprintf(err->text, sizeof err->text, fmt, ap);
}

__attribute__((format(printf, 3, 4)))
static inline int kl_error_set(kl_error_t *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kl_error_vset(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

static inline void kl_error_clear(kl_error_t *err)
{
    if (err) {
        err->code = KL_OK;
        err->text[0] = '\0';
    }
}

static inline const char *kl_error_reason(int code)
{
    switch (code) {
    case KL_OK: return "OK";
    case KL_ERR_INVALID: return "Invalid";
    case KL_ERR_NOT_FOUND: return "NotFound";
    case KL_ERR_EXISTS: return "AlreadyExists";
    case KL_ERR_CONFLICT: return "Conflict";
    case KL_ERR_EXPIRED: return "Expired";
    case KL_ERR_UNAVAILABLE: return "ServiceUnavailable";
    case KL_ERR_TIMEOUT: return "Timeout";
    case KL_ERR_TOO_LARGE: return "RequestEntityTooLarge";
    default: return "InternalError";
    }
}

/* HTTP status code a Kubernetes API server would answer for this error. */
static inline int kl_error_http_status(int code)
{
    switch (code) {
    case KL_OK: return 200;
    case KL_ERR_INVALID: return 422;
    case KL_ERR_NOT_FOUND: return 404;
    case KL_ERR_EXISTS: return 409;
    case KL_ERR_CONFLICT: return 409;
    case KL_ERR_EXPIRED: return 410;
    case KL_ERR_UNAVAILABLE: return 503;
    case KL_ERR_TIMEOUT: return 504;
    case KL_ERR_TOO_LARGE: return 413;
    default: return 500;
    }
}

#endif
