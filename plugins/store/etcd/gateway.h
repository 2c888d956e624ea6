/* A client of etcd's v3 JSON gateway over several endpoints: one kept-alive
 * libcurl handle per endpoint, fail-over to the next endpoint when one does
 * not answer, and etcd's error replies turned into keelson errors. */
#ifndef KL_STORE_ETCD_GATEWAY_H
#define KL_STORE_ETCD_GATEWAY_H

#include <stdint.h>
#include <jansson.h>
#include <keelson/error.h>

typedef struct kl_gateway kl_gateway_t;

/* `endpoints`: NULL-terminated list of "http://HOST:PORT" (borrowed, each
 * checked here). Timeouts in milliseconds: `timeout_ms` bounds one request
 * on one endpoint, `dial_timeout_ms` its connection. Returns the gateway
 * (caller owns) or NULL with err filled. */
kl_gateway_t *kl_gateway_new(const char *const *endpoints, long timeout_ms, long dial_timeout_ms,
                             kl_error_t *err);
void kl_gateway_destroy(kl_gateway_t **gw_p);

/* POSTs `body` (JSON text, borrowed) to `path` ("/v3/kv/range"), starting with the
 * endpoint that last worked and moving on while an endpoint cannot be
 * reached, times out or has no leader. Returns the reply object (caller owns)
 * or NULL with err filled: KL_ERR_UNAVAILABLE naming every endpoint tried
 * when none answered, or etcd's own error mapped to a keelson code.
 * *maybe_applied is set to 1 when an earlier attempt failed after sending
 * the request, so etcd may have applied it: callers make every write a
 * guarded transaction and read its failure branch with that in mind. */
json_t *kl_gateway_call(kl_gateway_t *gw, const char *path, const char *body, int *maybe_applied,
                        kl_error_t *err);

/* Starts a POST of `body` (JSON text, taken) to `path` on the endpoint that
 * last worked and returns without waiting. done() gets etcd's answer as its
 * text (borrowed for the call; the caller reads it, or parses it with
 * kl_gateway_parse()) when the first attempt brought it, or what
 * kl_gateway_call() returned (reply owned by done, or NULL with err), from
 * kl_gateway_finish_all(): a request that fails on the way is sent again
 * through kl_gateway_call(), with maybe_applied set when the first attempt
 * may have reached etcd. -1 when it cannot be started (body freed, done not
 * called). */
typedef struct kl_gateway_answer {
    const char *text;  /* the first attempt's answer, or NULL */
    size_t len;
    const char *endpoint;  /* where the text came from */
    json_t *reply;     /* the fail-over path's, owned by done(), or NULL */
} kl_gateway_answer_t;
typedef void (*kl_gateway_done_fn)(kl_gateway_answer_t *answer, int maybe_applied,
                                   const kl_error_t *err, void *arg);
/* The answer as a tree (taken from it, or parsed from its text), or NULL
 * with err filled, naming `path`. */
json_t *kl_gateway_parse(kl_gateway_answer_t *answer, const char *path, kl_error_t *err);
int kl_gateway_start(kl_gateway_t *gw, const char *path, char *body, kl_gateway_done_fn done,
                     void *arg, kl_error_t *err);
/* Waits for every started request and calls its done(). */
void kl_gateway_finish_all(kl_gateway_t *gw);
/* Calls done() for the requests that have finished, without waiting. */
void kl_gateway_finish_ready(kl_gateway_t *gw);
/* Readable when kl_gateway_finish_ready() has something to do; -1 before
 * the first kl_gateway_start(). */
int kl_gateway_progress_fd(const kl_gateway_t *gw);
size_t kl_gateway_in_flight(const kl_gateway_t *gw);

/* Reads a streaming reply (/v3/watch, /v3/lease/keepalive): each message's
 * "result" (borrowed) goes to on_result, which returns 0 for more, 1 when
 * done, -1 to fail (with err filled). Gives up with KL_ERR_TIMEOUT after
 * `wait_ms`. Fails over like kl_gateway_call only until the first message.
 * Returns 0 when on_result said done, -1 otherwise; *messages counts the
 * results delivered. */
typedef int (*kl_gateway_result_fn)(const json_t *result, void *arg, kl_error_t *err);
int kl_gateway_stream(kl_gateway_t *gw, const char *path, const json_t *body, long wait_ms,
                      kl_gateway_result_fn on_result, void *arg, size_t *messages, kl_error_t *err);

/* The endpoint requests go to first (borrowed). */
const char *kl_gateway_current(const kl_gateway_t *gw);

#endif
