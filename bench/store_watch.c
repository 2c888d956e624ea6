/* Watch fan-out for the store benchmark: `watchers` watches follow the pods
 * one writer creates one after another, and each delivery is timed from the
 * moment its write was sent. Through the keelson API (api.watch long polls,
 * resumed from each reply's resourceVersion) and, as the baseline, straight
 * from etcd's gateway (one /v3/watch stream per watcher). */
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bench_util.h"
#include "bus.h"
#include "store_watch.h"

typedef struct fanout {
    int watchers, count;
    atomic_int writes_done;  /* set by the writer when its last write returned */
    int64_t *sent_at;   /* [count], written by the writer before each send */
    int64_t *got_at;    /* [watchers * count], 0 until delivered */
    int delivered;
    const char *prefix; /* object names are PREFIX-%07d */
} fanout_t;

static int fanout_init(fanout_t *f, int watchers, int count, const char *prefix)
{
    *f = (fanout_t){.watchers = watchers, .count = count, .prefix = prefix};
    f->sent_at = calloc((size_t)count, sizeof *f->sent_at);
    f->got_at = calloc((size_t)count * (size_t)watchers, sizeof *f->got_at);
    return f->sent_at && f->got_at ? 0 : -1;
}

/* Notes watcher w's delivery of the object called `name`, once. */
static void fanout_note(fanout_t *f, int w, const char *name, size_t name_len, int64_t now)
{
    size_t prefix_len = strlen(f->prefix);
    if (name_len <= prefix_len + 1 || strncmp(name, f->prefix, prefix_len) != 0
        || name[prefix_len] != '-')
        return;
    int index = atoi(name + prefix_len + 1);
    if (index < 0 || index >= f->count)
        return;
    int64_t *slot = &f->got_at[(size_t)w * (size_t)f->count + (size_t)index];
    if (*slot == 0) {
        *slot = now;
        f->delivered++;
    }
}

/* Deliveries are awaited until all came, or for 10 s after the last write
 * returned (a slow store may hold its writer back for long). */
static int fanout_waiting(fanout_t *f, int64_t *writes_ended)
{
    if (f->delivered >= f->watchers * f->count)
        return 0;
    if (!atomic_load(&f->writes_done))
        return 1;
    if (!*writes_ended)
        *writes_ended = bench_now_ns();
    return bench_now_ns() - *writes_ended < (int64_t)10 * 1000000000;
}

static store_bench_result_t fanout_result(fanout_t *f, int64_t began, int64_t ended)
{
    store_bench_result_t r = {0};
    size_t total = (size_t)f->watchers * (size_t)f->count, n = 0;
    int64_t *lat = calloc(total ? total : 1, sizeof *lat);
    for (int w = 0; lat && w < f->watchers; w++)
        for (int i = 0; i < f->count; i++) {
            int64_t got = f->got_at[(size_t)w * (size_t)f->count + (size_t)i];
            if (got && f->sent_at[i])
                lat[n++] = got - f->sent_at[i];
        }
    r.failed = (int)(total - n);
    if (n && ended > began) {
        r.rate = (double)n / ((double)(ended - began) / 1e9);
        r.p50_ns = bench_percentile(lat, n, 50);
        r.p99_ns = bench_percentile(lat, n, 99);
    }
    free(lat);
    free(f->sent_at);
    free(f->got_at);
    return r;
}

/* ---- through the keelson API -------------------------------------------- */

typedef struct api_writer {
    const char *endpoint;
    fanout_t *fanout;
    int failed;
} api_writer_t;

static void *api_write_all(void *arg)
{
    api_writer_t *wr = arg;
    kl_error_t err;
    kl_bus_client_t *c = kl_bus_client_new(wr->endpoint, &err);
    for (int i = 0; c && i < wr->fanout->count; i++) {
        char name[96];
        snprintf(name, sizeof name, "%s-%07d", wr->fanout->prefix, i);
        json_t *req = json_pack("{s:{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:s}]}}}", "object",
                                "apiVersion", "v1", "kind", "Pod", "metadata", "name", name,
                                "namespace", wr->fanout->prefix, "spec", "containers", "name", "main",
                                "image", "busybox:1.35");
        wr->fanout->sent_at[i] = bench_now_ns();
        json_t *reply = kl_bus_request(c, "api.create", req, 10000, &err);
        wr->failed += reply == NULL;
        json_decref(reply);
        json_decref(req);
    }
    wr->failed += c == NULL;
    kl_bus_client_destroy(&c);
    atomic_store(&wr->fanout->writes_done, 1);
    return NULL;
}

static int api_watch_send(kl_bus_client_t *c, const char *namespace_name, const char *resource_version)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:i}", "kind", "Pod", "namespace", namespace_name,
                            "resourceVersion", resource_version, "timeoutMs", 1000);
    uint64_t id;
    kl_error_t err;
    int rc = kl_bus_send(c, "api.watch", req, &id, &err);
    json_decref(req);
    return rc;
}

store_bench_result_t store_bench_watch_api(const char *endpoint, int watchers, int count,
                                           const char *prefix)
{
    store_bench_result_t failed = {.failed = watchers * count};
    fanout_t f;
    kl_bus_client_t **clients = calloc((size_t)watchers, sizeof *clients);
    char (*versions)[32] = calloc((size_t)watchers, sizeof *versions);
    zpoller_t *poller = zpoller_new(NULL);
    kl_error_t err;
    if (fanout_init(&f, watchers, count, prefix) < 0 || !clients || !versions || !poller) {
        free(clients);
        free(versions);
        zpoller_destroy(&poller);
        return failed;
    }
    /* Every watch starts from the revision of a list taken before the writes,
     * of a namespace of the run's own: the list stays as small as the run,
     * however many pods earlier runs left in the store. */
    kl_bus_client_t *lister = kl_bus_client_new(endpoint, &err);
    json_t *list_req = json_pack("{s:s, s:s}", "kind", "Pod", "namespace", prefix);
    json_t *list = lister ? kl_bus_request(lister, "api.list", list_req, 10000, &err) : NULL;
    json_decref(list_req);
    const char *from = json_string_value(json_object_get(json_object_get(list, "metadata"),
                                                         "resourceVersion"));
    if (!from) {
        fprintf(stderr, "store_bench: the list before the watches failed: %s\n",
                list ? "no resourceVersion" : err.text);
        watchers = 0;  /* nothing to follow: the phase reports every delivery failed */
    }
    for (int w = 0; w < watchers; w++) {
        snprintf(versions[w], sizeof versions[w], "%s", from);
        clients[w] = kl_bus_client_new(endpoint, &err);
        if (clients[w]) {
            zpoller_add(poller, kl_bus_client_socket(clients[w]));
            api_watch_send(clients[w], prefix, versions[w]);
        }
    }
    json_decref(list);
    kl_bus_client_destroy(&lister);
    api_writer_t wr = {endpoint, &f, 0};
    pthread_t writer;
    int64_t began = bench_now_ns();
    int writing = pthread_create(&writer, NULL, api_write_all, &wr) == 0;
    int64_t writes_ended = 0;
    while (writing && fanout_waiting(&f, &writes_ended)) {
        zsock_t *which = zpoller_wait(poller, 100);
        if (!which)
            continue;
        for (int w = 0; w < watchers; w++) {
            if (!clients[w] || kl_bus_client_socket(clients[w]) != which)
                continue;
            uint64_t id = 0;
            json_t *reply = kl_bus_recv(clients[w], &id, 0, &err);
            int64_t now = bench_now_ns();
            size_t i;
            json_t *event;
            json_array_foreach(json_object_get(reply, "events"), i, event) {
                json_t *name = json_object_get(json_object_get(json_object_get(event, "object"),
                                                               "metadata"), "name");
                if (json_is_string(name))
                    fanout_note(&f, w, json_string_value(name), json_string_length(name), now);
            }
            const char *next = json_string_value(json_object_get(reply, "resourceVersion"));
            if (next)
                snprintf(versions[w], sizeof versions[w], "%s", next);
            if (reply || id)
                api_watch_send(clients[w], prefix, versions[w]);
            json_decref(reply);
        }
    }
    int64_t ended = bench_now_ns();
    if (writing)
        pthread_join(writer, NULL);
    for (int w = 0; w < watchers; w++)
        kl_bus_client_destroy(&clients[w]);
    free(clients);
    free(versions);
    zpoller_destroy(&poller);
    return fanout_result(&f, began, ended);
}

/* ---- straight from etcd's gateway ----------------------------------------- */

typedef struct etcd_stream {
    fanout_t *fanout;
    int watcher;
    char *buffer;  /* an unfinished line of the stream */
    size_t length;
} etcd_stream_t;

static size_t b64_decode(const char *in, char *out, size_t size)
{
    size_t n = 0;
    unsigned v = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const char *d = strchr(digits, *in);
        if (!d)
            break;
        v = v << 6 | (unsigned)(d - digits);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 < size)
                out[n++] = (char)(v >> bits & 0xff);
        }
    }
    out[n] = '\0';
    return n;
}

/* One message of a watch stream: {"result":{"events":[{"kv":{"key":...}}]}}. */
static void etcd_stream_line(etcd_stream_t *s, const char *line, size_t len, int64_t now)
{
    json_t *message = json_loadb(line, len, 0, NULL);
    size_t i;
    json_t *event;
    json_array_foreach(json_object_get(json_object_get(message, "result"), "events"), i, event) {
        const char *key = json_string_value(json_object_get(json_object_get(event, "kv"), "key"));
        char decoded[256];
        size_t n = key ? b64_decode(key, decoded, sizeof decoded) : 0;
        const char *slash = n ? strrchr(decoded, '/') : NULL;
        if (slash)
            fanout_note(s->fanout, s->watcher, slash + 1, strlen(slash + 1), now);
    }
    json_decref(message);
}

static size_t etcd_stream_write(char *data, size_t size, size_t count, void *arg)
{
    etcd_stream_t *s = arg;
    size_t n = size * count;
    char *grown = realloc(s->buffer, s->length + n + 1);
    if (!grown)
        return 0;
    s->buffer = grown;
    memcpy(s->buffer + s->length, data, n);
    s->length += n;
    int64_t now = bench_now_ns();
    char *start = s->buffer, *end;
    while ((end = memchr(start, '\n', s->length - (size_t)(start - s->buffer)))) {
        etcd_stream_line(s, start, (size_t)(end - start), now);
        start = end + 1;
    }
    s->length -= (size_t)(start - s->buffer);
    memmove(s->buffer, start, s->length);
    return n;
}

typedef struct etcd_writer {
    const char *base;
    fanout_t *fanout;
    const char *key_prefix;
    int failed;
} etcd_writer_t;

static size_t etcd_discard(char *data, size_t size, size_t count, void *arg)
{
    (void)data;
    (void)arg;
    return size * count;
}

static void *etcd_write_all(void *arg)
{
    etcd_writer_t *wr = arg;
    CURL *c = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    char url[256];
    snprintf(url, sizeof url, "%s/v3/kv/put", wr->base);
    for (int i = 0; c && i < wr->fanout->count; i++) {
        char key[160], value[256];
        snprintf(key, sizeof key, "%s%s-%07d", wr->key_prefix, wr->fanout->prefix, i);
        snprintf(value, sizeof value, "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s-%07d\"}}",
                 wr->fanout->prefix, i);
        char *k = bench_b64(key, strlen(key)), *v = bench_b64(value, strlen(value));
        char body[1024];
        snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k, v);
        free(k);
        free(v);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, etcd_discard);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
        wr->fanout->sent_at[i] = bench_now_ns();
        long status = 0;
        if (curl_easy_perform(c) != CURLE_OK
            || curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK || status != 200)
            wr->failed++;
    }
    wr->failed += c == NULL;
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    atomic_store(&wr->fanout->writes_done, 1);
    return NULL;
}

store_bench_result_t store_bench_watch_etcd(const char *base, int watchers, int count,
                                            const char *prefix)
{
    store_bench_result_t failed = {.failed = watchers * count};
    fanout_t f;
    if (fanout_init(&f, watchers, count, prefix) < 0)
        return failed;
    /* Watch the range "/fanout/" up to "/fanout0" ('0' follows '/'). */
    const char *key_prefix = "/fanout/";
    char *from = bench_b64(key_prefix, strlen(key_prefix)), *to = bench_b64("/fanout0", 8);
    char body[256], url[256];
    snprintf(body, sizeof body, "{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\"}}", from,
             to);
    free(from);
    free(to);
    snprintf(url, sizeof url, "%s/v3/watch", base);
    CURLM *multi = curl_multi_init();
    CURL **streams = calloc((size_t)watchers, sizeof *streams);
    etcd_stream_t *state = calloc((size_t)watchers, sizeof *state);
    struct curl_slist *headers = curl_slist_append(NULL, "Expect:");
    for (int w = 0; multi && streams && state && w < watchers; w++) {
        state[w] = (etcd_stream_t){&f, w, NULL, 0};
        streams[w] = curl_easy_init();
        curl_easy_setopt(streams[w], CURLOPT_URL, url);
        curl_easy_setopt(streams[w], CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(streams[w], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(streams[w], CURLOPT_WRITEFUNCTION, etcd_stream_write);
        curl_easy_setopt(streams[w], CURLOPT_WRITEDATA, &state[w]);
        curl_easy_setopt(streams[w], CURLOPT_NOSIGNAL, 1L);
        curl_multi_add_handle(multi, streams[w]);
    }
    /* Let every stream reach etcd before the first write. */
    int running = 0;
    for (int64_t until = bench_now_ns() + 500000000; bench_now_ns() < until;) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 50, NULL);
    }
    etcd_writer_t wr = {base, &f, key_prefix, 0};
    pthread_t writer;
    int64_t began = bench_now_ns();
    int writing = multi && streams && state
                  && pthread_create(&writer, NULL, etcd_write_all, &wr) == 0;
    int64_t writes_ended = 0;
    while (writing && fanout_waiting(&f, &writes_ended)) {
        curl_multi_perform(multi, &running);
        curl_multi_poll(multi, NULL, 0, 50, NULL);
    }
    int64_t ended = bench_now_ns();
    if (writing)
        pthread_join(writer, NULL);
    for (int w = 0; streams && w < watchers; w++) {
        if (streams[w]) {
            curl_multi_remove_handle(multi, streams[w]);
            curl_easy_cleanup(streams[w]);
        }
        free(state[w].buffer);
    }
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    free(streams);
    free(state);
    return fanout_result(&f, began, ended);
}
