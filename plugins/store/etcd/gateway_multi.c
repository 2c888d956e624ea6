/* Requests kept in flight together on one libcurl multi handle: started
 * at once, finished together. A request that fails on the way is sent
 * again through kl_gateway_call(), which fails over across endpoints, so
 * this file only adds concurrency, never its own retry rules. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gateway_internal.h"

typedef struct in_flight {
    CURL *curl;
    char *path;
    char *body;
    buffer_t out;
    char url[1024];
    kl_gateway_done_fn done;
    void *arg;
    struct in_flight *next;
} in_flight_t;

static size_t write_to_buffer(char *data, size_t size, size_t count, void *arg)
{
    return gateway_buffer_append(arg, data, size * count) < 0 ? 0 : size * count;
}

static void flight_free(in_flight_t *f)
{
    free(f->path);
    free(f->body);
    free(f->out.data);
    free(f);
}

/* The handle back to the pool, which keeps the connection warm. */
static void handle_release(kl_gateway_t *gw, CURL *c)
{
    if (gw->idle_count < GATEWAY_MAX_IN_FLIGHT)
        gw->idle[gw->idle_count++] = c;
    else
        curl_easy_cleanup(c);
}

static CURL *handle_take(kl_gateway_t *gw)
{
    return gw->idle_count ? gw->idle[--gw->idle_count] : gateway_handle_new(gw);
}

/* The reply of a finished transfer, or NULL with *retry set when another
 * endpoint might do better (and *maybe_applied when etcd may have seen it). */
static json_t *finished_reply(kl_gateway_t *gw, in_flight_t *f, CURLcode rc, int *retry,
                              int *maybe_applied, kl_error_t *err)
{
    char why[256];
    if (rc == CURLE_WRITE_ERROR && f->out.too_large) {
        kl_error_set(err, KL_ERR_TOO_LARGE, "etcd store: the reply of %s is over %u bytes", f->url,
                     MAX_REPLY_BYTES);
        return NULL;
    }
    if (rc != CURLE_OK) {
        *retry = 1;
        *maybe_applied = gateway_transport_failure(f->curl, rc, kl_gateway_current(gw),
                                                   gw->timeout_ms, why, sizeof why)
                         == ATTEMPT_UNKNOWN;
        return NULL;
    }
    long status = 0;
    curl_easy_getinfo(f->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        if (gateway_etcd_error(kl_gateway_current(gw), f->path, status, f->out.data, err))
            *retry = *maybe_applied = 1;
        return NULL;
    }
    json_error_t jerr;
    json_t *reply = json_loadb(f->out.data ? f->out.data : "", f->out.len, 0, &jerr);
    if (!json_is_object(reply)) {
        json_decref(reply);
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: the reply of %s is not a JSON object: %s",
                     f->url, jerr.text);
        return NULL;
    }
    return reply;
}

static void finish(kl_gateway_t *gw, in_flight_t *f, CURLcode rc)
{
    curl_multi_remove_handle(gw->multi, f->curl);
    int retry = 0, maybe_applied = 0;
    kl_error_t err = {0, ""};
    json_t *reply = finished_reply(gw, f, rc, &retry, &maybe_applied, &err);
    handle_release(gw, f->curl);
    f->curl = NULL;
    if (retry) {
        kl_error_clear(&err);
        reply = kl_gateway_call(gw, f->path, f->body, &maybe_applied, &err);
    }
    f->done(reply, maybe_applied, reply ? NULL : &err, f->arg);
    flight_free(f);
}

int kl_gateway_start(kl_gateway_t *gw, const char *path, char *body, kl_gateway_done_fn done,
                     void *arg, kl_error_t *err)
{
    if (!body)
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory encoding a request");
    if (!gw->multi && !(gw->multi = curl_multi_init())) {
        free(body);
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: cannot set up concurrent requests");
    }
    in_flight_t *f = calloc(1, sizeof *f);
    if (f) {
        f->body = body;
        f->path = strdup(path);
        f->curl = handle_take(gw);
    }
    if (!f || !f->path || !f->curl) {
        if (f && f->curl)
            handle_release(gw, f->curl);
        if (f)
            flight_free(f);
        else
            free(body);
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory starting a request");
    }
    f->done = done;
    f->arg = arg;
    snprintf(f->url, sizeof f->url, "%s%s", kl_gateway_current(gw), path);
    curl_easy_setopt(f->curl, CURLOPT_URL, f->url);
    curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, f->body);
    curl_easy_setopt(f->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body));
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, write_to_buffer);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &f->out);
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, gw->timeout_ms);
    curl_easy_setopt(f->curl, CURLOPT_PRIVATE, f);
    if (curl_multi_add_handle(gw->multi, f->curl) != CURLM_OK) {
        handle_release(gw, f->curl);
        flight_free(f);
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: cannot start a request");
    }
    gw->in_flight++;
    /* Sends what it can now, so etcd works while the caller goes on. */
    int running = 0;
    curl_multi_perform(gw->multi, &running);
    return 0;
}

size_t kl_gateway_in_flight(const kl_gateway_t *gw)
{
    return gw->in_flight;
}

void kl_gateway_finish_all(kl_gateway_t *gw)
{
    while (gw->in_flight) {
        int running = 0;
        if (curl_multi_perform(gw->multi, &running) == CURLM_OK && running)
            curl_multi_poll(gw->multi, NULL, 0, 100, NULL);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(gw->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            in_flight_t *f = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
            CURLcode rc = msg->data.result;
            gw->in_flight--;
            finish(gw, f, rc);
        }
    }
}

void gateway_multi_destroy(kl_gateway_t *gw)
{
    kl_gateway_finish_all(gw);
    while (gw->idle_count)
        curl_easy_cleanup(gw->idle[--gw->idle_count]);
    if (gw->multi)
        curl_multi_cleanup(gw->multi);
    gw->multi = NULL;
}
