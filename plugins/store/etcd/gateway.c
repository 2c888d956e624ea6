/* The etcd v3 JSON gateway client: requests with fail-over across endpoints
 * on kept-alive libcurl handles. Streamed replies are read in
 * gateway_stream.c. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "gateway_internal.h"

/* Rounds through all endpoints before giving up, so a request rides out a
 * leader election (about a second with etcd's defaults). */
#define ROUNDS 2
#define ROUND_PAUSE_MS 200

int gateway_buffer_append(buffer_t *b, const char *data, size_t len)
{
    if (b->len + len + 1 > MAX_REPLY_BYTES) {
        b->too_large = 1;
        return -1;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *data_new = realloc(b->data, cap);
        if (!data_new)
            return -1;
        b->data = data_new;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

size_t gateway_buffer_write(char *data, size_t size, size_t count, void *arg)
{
    return gateway_buffer_append(arg, data, size * count) < 0 ? 0 : size * count;
}

/* Accepts http://HOST[:PORT][/] where HOST is a name, an IPv4 address or a
 * bracketed IPv6 address; anything else is most likely a typo. */
static int endpoint_check(const char *url, size_t index, kl_error_t *err)
{
    if (strncmp(url, "https://", 8) == 0)
        return kl_error_set(err, KL_ERR_INVALID,
                            "etcd store: endpoint \"%.200s\" (item %zu of endpoints) uses https, "
                            "which this store does not configure: use http:// on a trusted network",
                            url, index + 1);
    if (strncmp(url, "http://", 7) != 0)
        return kl_error_set(err, KL_ERR_INVALID,
                            "etcd store: endpoint \"%.200s\" (item %zu of endpoints) does not start "
                            "with http:// (expected http://HOST:PORT)",
                            url, index + 1);
    const char *p = url + 7;
    const char *host = p;
    if (*p == '[') {
        while (*p && *p != ']' && (isxdigit((unsigned char)*p) || *p == ':' || *p == '[' || *p == '.'))
            p++;
        if (*p == ']')
            p++;
        else
            host = p;  /* makes the host empty: reported below */
    } else {
        while (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_')
            p++;
    }
    int host_ok = p > host;
    int port_ok = 1;
    if (*p == ':') {
        char *end;
        long port = strtol(p + 1, &end, 10);
        port_ok = end > p + 1 && port >= 1 && port <= 65535 && isdigit((unsigned char)p[1]);
        p = end;
    }
    if (*p == '/')
        p++;
    if (!host_ok || !port_ok || *p)
        return kl_error_set(err, KL_ERR_INVALID,
                            "etcd store: endpoint \"%.200s\" (item %zu of endpoints) is not of the "
                            "form http://HOST:PORT",
                            url, index + 1);
    return 0;
}

CURL *gateway_handle_new(const kl_gateway_t *gw)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, gw->headers);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, gw->dial_timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    return c;
}

kl_gateway_t *kl_gateway_new(const char *const *endpoints, long timeout_ms, long dial_timeout_ms,
                             kl_error_t *err)
{
    size_t count = 0;
    while (endpoints && endpoints[count])
        count++;
    if (!count) {
        kl_error_set(err, KL_ERR_INVALID, "etcd store: the setting \"endpoints\" lists no endpoint");
        return NULL;
    }
    for (size_t i = 0; i < count; i++)
        if (endpoint_check(endpoints[i], i, err) < 0)
            return NULL;
    kl_gateway_t *gw = calloc(1, sizeof *gw);
    if (!gw || !(gw->endpoints = calloc(count, sizeof *gw->endpoints)))
        goto nomem;
    gw->epoll_fd = gw->timer_fd = -1;
    gw->count = count;
    gw->timeout_ms = timeout_ms;
    gw->dial_timeout_ms = dial_timeout_ms;
    /* "Expect:" stops curl from waiting for a 100-continue before larger
     * bodies: etcd never sends one, so that would cost a second per write. */
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (h)
        gw->headers = curl_slist_append(h, "Expect:");
    if (!gw->headers) {
        curl_slist_free_all(h);
        goto nomem;
    }
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(endpoints[i]);
        if (endpoints[i][len - 1] == '/')
            len--;
        gw->endpoints[i].url = strndup(endpoints[i], len);
        gw->endpoints[i].curl = gateway_handle_new(gw);
        if (!gw->endpoints[i].url || !gw->endpoints[i].curl)
            goto nomem;
    }
    return gw;
nomem:
    kl_gateway_destroy(&gw);
    kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory setting up %zu endpoints", count);
    return NULL;
}

void kl_gateway_destroy(kl_gateway_t **gw_p)
{
    if (!gw_p || !*gw_p)
        return;
    kl_gateway_t *gw = *gw_p;
    gateway_multi_destroy(gw);
    for (size_t i = 0; gw->endpoints && i < gw->count; i++) {
        free(gw->endpoints[i].url);
        if (gw->endpoints[i].curl)
            curl_easy_cleanup(gw->endpoints[i].curl);
    }
    free(gw->endpoints);
    curl_slist_free_all(gw->headers);
    free(gw);
    *gw_p = NULL;
}

const char *kl_gateway_current(const kl_gateway_t *gw)
{
    return gw->endpoints[gw->current].url;
}

/* gRPC status codes etcd puts in "code". */
enum {
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNAVAILABLE = 14
};

static int etcd_error_code(int grpc_code, const char *message)
{
    switch (grpc_code) {
    case GRPC_INVALID_ARGUMENT: return KL_ERR_INVALID;
    case GRPC_NOT_FOUND: return KL_ERR_NOT_FOUND;
    case GRPC_OUT_OF_RANGE:
        return strstr(message, "compacted") ? KL_ERR_EXPIRED : KL_ERR_INVALID;
    case GRPC_RESOURCE_EXHAUSTED:
        return strstr(message, "too large") ? KL_ERR_TOO_LARGE : KL_ERR_UNAVAILABLE;
    case GRPC_FAILED_PRECONDITION: return KL_ERR_CONFLICT;
    case GRPC_DEADLINE_EXCEEDED: return KL_ERR_TIMEOUT;
    case GRPC_UNAVAILABLE: return KL_ERR_UNAVAILABLE;
    default: return KL_ERR_INTERNAL;
    }
}

/* Reads etcd's {"error","code"} (or a stream's {"error":{"message","grpc_code"}})
 * into err; returns 1 when another endpoint might do better. */
int gateway_etcd_error(const char *url, const char *path, long status, const char *body,
                       kl_error_t *err)
{
    json_error_t jerr;
    json_t *reply = json_loads(body ? body : "", JSON_DECODE_ANY, &jerr);
    const char *message = NULL;
    int grpc_code = -1;
    json_t *error = json_object_get(reply, "error");
    if (json_is_string(error)) {
        message = json_string_value(error);
        grpc_code = (int)json_integer_value(json_object_get(reply, "code"));
    } else if (json_is_object(error)) {
        message = json_string_value(json_object_get(error, "message"));
        grpc_code = (int)json_integer_value(json_object_get(error, "grpc_code"));
    }
    if (!message) {
        kl_error_set(err, status >= 500 ? KL_ERR_UNAVAILABLE : KL_ERR_INTERNAL,
                     "etcd store: %s%s answered HTTP %ld without an etcd error: %.120s", url, path,
                     status, body && *body ? body : "(empty body)");
        json_decref(reply);
        return status >= 500;
    }
    int code = etcd_error_code(grpc_code, message);
    kl_error_set(err, code, "etcd store: %s%s refused the request: %.300s (gRPC code %d, HTTP %ld)",
                 url, path, message, grpc_code, status);
    json_decref(reply);
    /* No leader, leader changed, request timed out: another member may have
     * a leader, and the request may or may not have been applied. */
    return grpc_code == GRPC_UNAVAILABLE || grpc_code == GRPC_DEADLINE_EXCEEDED;
}

attempt_result_t gateway_transport_failure(CURL *c, CURLcode rc, const char *url, long limit_ms,
                                           char *why, size_t why_size)
{
    curl_off_t pretransfer = 0;
    curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        snprintf(why, why_size, "%s: no answer within %ld ms", url, limit_ms);
    else
        snprintf(why, why_size, "%s: %s", url, curl_easy_strerror(rc));
    int sent = !(rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST || pretransfer == 0);
    return sent ? ATTEMPT_UNKNOWN : ATTEMPT_NOT_SENT;
}

attempt_result_t gateway_attempt_outcome(const kl_gateway_t *gw, CURL *c, CURLcode rc,
                                         const char *endpoint, const char *path,
                                         const buffer_t *out, json_t **reply, char *why,
                                         size_t why_size, kl_error_t *err)
{
    if (rc == CURLE_WRITE_ERROR && out->too_large) {
        kl_error_set(err, KL_ERR_TOO_LARGE, "etcd store: the reply of %s%s is over %u bytes", endpoint,
                     path, MAX_REPLY_BYTES);
        return ATTEMPT_DONE;
    }
    if (rc != CURLE_OK)
        return gateway_transport_failure(c, rc, endpoint, gw->timeout_ms, why, why_size);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        if (!gateway_etcd_error(endpoint, path, status, out->data, err))
            return ATTEMPT_DONE;
        snprintf(why, why_size, "%s: %s", endpoint, err->text);
        return ATTEMPT_UNKNOWN;
    }
    if (reply)
        *reply = gateway_parse_text(endpoint, path, out->data ? out->data : "", out->len, err);
    return ATTEMPT_DONE;
}

json_t *kl_gateway_parse(kl_gateway_answer_t *answer, const char *path, kl_error_t *err)
{
    json_t *reply = answer->reply;
    answer->reply = NULL;
    if (reply)
        return reply;
    return gateway_parse_text(answer->endpoint ? answer->endpoint : "", path,
                              answer->text ? answer->text : "", answer->len, err);
}

json_t *gateway_parse_text(const char *endpoint, const char *path, const char *text, size_t len,
                           kl_error_t *err)
{
    json_error_t jerr;
    json_t *reply = json_loadb(text, len, 0, &jerr);
    if (!json_is_object(reply)) {
        json_decref(reply);
        reply = NULL;
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: the reply of %s%s is not a JSON object: %s",
                     endpoint, path, jerr.text);
    }
    return reply;
}

static attempt_result_t attempt_call(kl_gateway_t *gw, endpoint_t *e, const char *path,
                                     const char *body, json_t **reply, char *why,
                                     size_t why_size, kl_error_t *err)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", e->url, path);
    buffer_t out = {0};
    curl_easy_setopt(e->curl, CURLOPT_URL, url);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(e->curl, CURLOPT_WRITEFUNCTION, gateway_buffer_write);
    curl_easy_setopt(e->curl, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(e->curl, CURLOPT_TIMEOUT_MS, gw->timeout_ms);
    CURLcode rc = curl_easy_perform(e->curl);
    attempt_result_t result = gateway_attempt_outcome(gw, e->curl, rc, e->url, path, &out, reply, why,
                                                      why_size, err);
    free(out.data);
    return result;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void gateway_note_failure(char *tried, size_t size, const char *why)
{
    size_t used = strlen(tried);
    if (used + 3 < size)
        snprintf(tried + used, size - used, "%s%.*s", used ? "; " : "", (int)(size - used - 3), why);
}

json_t *kl_gateway_call(kl_gateway_t *gw, const char *path, const char *body, int *maybe_applied,
                        kl_error_t *err)
{
    char tried[400] = "";
    json_t *reply = NULL;
    for (int round = 0; round < ROUNDS; round++) {
        if (round)
            sleep_ms(ROUND_PAUSE_MS);
        for (size_t i = 0; i < gw->count; i++) {
            size_t index = (gw->current + i) % gw->count;
            char why[256];
            kl_error_t attempt_err = {0, ""};
            attempt_result_t r = attempt_call(gw, &gw->endpoints[index], path, body, &reply, why,
                                              sizeof why, &attempt_err);
            if (r == ATTEMPT_DONE) {
                gw->current = index;
                if (!reply && err)
                    *err = attempt_err;
                return reply;
            }
            if (r == ATTEMPT_UNKNOWN && maybe_applied)
                *maybe_applied = 1;
            if (round == 0)
                gateway_note_failure(tried, sizeof tried, why);
        }
    }
    kl_error_set(err, KL_ERR_UNAVAILABLE, "etcd store: no etcd endpoint answered %s (tried %s)", path,
                 tried);
    return NULL;
}
