/* What the etcd gateway's files share: its endpoints, the reply buffer and
 * the reading of failed attempts. Private to the plugin: gateway.c makes
 * requests, gateway_stream.c reads streamed replies. */
#ifndef KL_STORE_ETCD_GATEWAY_INTERNAL_H
#define KL_STORE_ETCD_GATEWAY_INTERNAL_H

#include <stddef.h>
#include <curl/curl.h>
#include <jansson.h>
#include <keelson/error.h>

#include "gateway.h"

/* A reply larger than this is refused rather than buffered: ranges are paged
 * far below it. */
#define MAX_REPLY_BYTES (256u << 20)

typedef struct endpoint {
    char *url;   /* "http://HOST:PORT", no trailing slash */
    CURL *curl;  /* kept alive between unary requests */
} endpoint_t;

/* Requests in flight together at most; more handles than this are not kept. */
#define GATEWAY_MAX_IN_FLIGHT 256

struct kl_gateway {
    endpoint_t *endpoints;
    size_t count;
    size_t current;  /* the endpoint that answered last */
    long timeout_ms;
    long dial_timeout_ms;
    struct curl_slist *headers;
    /* gateway_multi.c: requests in flight together, and idle handles. */
    CURLM *multi;
    int epoll_fd;  /* curl's sockets and timer_fd; -1 until first needed */
    int timer_fd;  /* curl's timer */
    int64_t timer_armed_ns;  /* timer_fd's deadline (CLOCK_MONOTONIC), 0 when unarmed */
    int curl_due_now;  /* curl asked for a timeout action at once */
    int in_curl;  /* inside one of our calls into the multi handle */
    size_t in_flight;
    CURL *idle[GATEWAY_MAX_IN_FLIGHT];
    size_t idle_count;
};

typedef struct buffer {
    char *data;
    size_t len;
    size_t cap;
    int too_large;
} buffer_t;

/* Outcome of one attempt on one endpoint. */
typedef enum attempt_result {
    ATTEMPT_DONE,       /* a reply or a final error: stop here */
    ATTEMPT_NOT_SENT,   /* nothing reached etcd: the next endpoint is safe */
    ATTEMPT_UNKNOWN     /* sent, outcome unknown: the next endpoint may see it applied */
} attempt_result_t;

/* Appends to `b`; -1 when out of memory or over MAX_REPLY_BYTES. */
int gateway_buffer_append(buffer_t *b, const char *data, size_t len);
/* libcurl's write callback appending to the buffer_t in `arg`. */
size_t gateway_buffer_write(char *data, size_t size, size_t count, void *arg);
/* What one finished transfer to endpoint+path says: ATTEMPT_DONE with
 * *reply (an object; left unparsed when reply is NULL) or err filled, or
 * whether another endpoint may be tried, with the reason in `why`. */
attempt_result_t gateway_attempt_outcome(const kl_gateway_t *gw, CURL *c, CURLcode rc,
                                         const char *endpoint, const char *path,
                                         const buffer_t *out, json_t **reply, char *why,
                                         size_t why_size, kl_error_t *err);
/* etcd's answer text as a JSON object, or NULL with err filled. */
json_t *gateway_parse_text(const char *endpoint, const char *path, const char *text, size_t len,
                           kl_error_t *err);
/* A new libcurl handle set up for `gw`'s endpoints (caller cleans up), or NULL. */
CURL *gateway_handle_new(const kl_gateway_t *gw);
/* etcd's error reply into err; 1 when another endpoint might do better. */
int gateway_etcd_error(const char *url, const char *path, long status, const char *body,
                       kl_error_t *err);
/* Why a transfer failed, into `why`, and whether etcd may have seen the request. */
attempt_result_t gateway_transport_failure(CURL *c, CURLcode rc, const char *url, long limit_ms,
                                           char *why, size_t why_size);
/* Finishes what is in flight and frees the multi handle and idle handles. */
void gateway_multi_destroy(kl_gateway_t *gw);
/* Adds `why` to the list of failed endpoints in `tried`. */
void gateway_note_failure(char *tried, size_t size, const char *why);

#endif
