/* Streamed replies of etcd's v3 JSON gateway (/v3/watch,
 * /v3/lease/keepalive): messages read line by line as they arrive, with
 * fail-over across endpoints until the first one. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gateway_internal.h"

typedef struct stream {
    CURL *curl;
    buffer_t in;
    size_t parsed;     /* bytes of `in` already handled */
    kl_gateway_result_fn on_result;
    void *arg;
    kl_error_t *err;
    const char *url;
    size_t messages;
    int done;
    int failed;
} stream_t;

/* Handles every complete line; the gateway ends each message with '\n'. */
static int stream_lines(stream_t *s)
{
    for (;;) {
        char *start = s->in.data + s->parsed;
        char *nl = memchr(start, '\n', s->in.len - s->parsed);
        if (!nl)
            return 0;
        size_t len = (size_t)(nl - start);
        s->parsed += len + 1;
        *nl = '\0';
        while (len && isspace((unsigned char)*start)) {
            start++;
            len--;
        }
        if (!len)
            continue;
        json_error_t jerr;
        json_t *message = json_loadb(start, len, 0, &jerr);
        json_t *result = json_object_get(message, "result");
        if (!json_is_object(result)) {
            if (json_object_get(message, "error"))
                gateway_etcd_error(s->url, "", 200, start, s->err);
            else
                kl_error_set(s->err, KL_ERR_INTERNAL,
                             "etcd store: a streamed message from %s is not {\"result\":{...}}: %.100s",
                             s->url, start);
            json_decref(message);
            s->failed = 1;
            return -1;
        }
        s->messages++;
        int rc = s->on_result(result, s->arg, s->err);
        json_decref(message);
        if (rc < 0) {
            s->failed = 1;
            return -1;
        }
        if (rc > 0) {
            s->done = 1;
            return -1;
        }
    }
}

static size_t stream_write(char *data, size_t size, size_t count, void *arg)
{
    stream_t *s = arg;
    if (gateway_buffer_append(&s->in, data, size * count) < 0)
        return 0;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        return size * count;  /* an error body: read whole, decoded after */
    return stream_lines(s) < 0 ? 0 : size * count;
}

int kl_gateway_stream(kl_gateway_t *gw, const char *path, const json_t *body, long wait_ms,
                      kl_gateway_result_fn on_result, void *arg, size_t *messages, kl_error_t *err)
{
    *messages = 0;
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: cannot encode the request for %s", path);
    char tried[400] = "";
    int rc = -1;
    /* A fresh handle: ending a stream early closes its connection, which
     * would otherwise throw away the unary handle's kept-alive one. */
    CURL *c = gateway_handle_new(gw);
    if (!c) {
        free(text);
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory for a stream");
    }
    for (size_t i = 0; i < gw->count; i++) {
        size_t index = (gw->current + i) % gw->count;
        const endpoint_t *e = &gw->endpoints[index];
        char url[1024];
        snprintf(url, sizeof url, "%s%s", e->url, path);
        stream_t s = {.curl = c, .on_result = on_result, .arg = arg, .err = err, .url = e->url};
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(text));
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, stream_write);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, wait_ms);
        CURLcode crc = curl_easy_perform(c);
        *messages += s.messages;
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        char why[256];
        if (s.done) {
            gw->current = index;
            rc = 0;
        } else if (s.failed) {
            rc = -1;
        } else if (s.in.too_large) {
            kl_error_set(err, KL_ERR_TOO_LARGE, "etcd store: a message streamed by %s is over %u bytes",
                         url, MAX_REPLY_BYTES);
        } else if (crc == CURLE_OK && status != 200) {
            if (gateway_etcd_error(e->url, path, status, s.in.data, err) && !s.messages) {
                gateway_note_failure(tried, sizeof tried, err->text);
                free(s.in.data);
                continue;
            }
        } else if (crc == CURLE_OPERATION_TIMEDOUT && s.messages) {
            gw->current = index;
            kl_error_set(err, KL_ERR_TIMEOUT, "etcd store: %s streamed %zu messages but not the "
                         "expected ones within %ld ms", url, s.messages, wait_ms);
        } else if (!s.messages) {
            gateway_transport_failure(c, crc == CURLE_OK ? CURLE_GOT_NOTHING : crc, e->url, wait_ms,
                                      why, sizeof why);
            gateway_note_failure(tried, sizeof tried, why);
            free(s.in.data);
            continue;
        } else {
            kl_error_set(err, KL_ERR_UNAVAILABLE, "etcd store: the stream from %s broke after %zu "
                         "messages: %s", url, s.messages, curl_easy_strerror(crc));
        }
        free(s.in.data);
        curl_easy_cleanup(c);
        free(text);
        return rc;
    }
    curl_easy_cleanup(c);
    free(text);
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "etcd store: no etcd endpoint answered %s (tried %s)",
                        path, tried);
}
