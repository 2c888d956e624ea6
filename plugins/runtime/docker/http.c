/* runtime/docker: the Docker Engine API over dockerd's unix socket with
 * libcurl. Easy handles are reused, so calls keep their connections alive;
 * each call takes one of its own, so calls from several threads (the
 * kubelet's start workers) run side by side. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>

#include "docker.h"

/* Idle handles kept: a few more than the kubelet's usual start workers
 * plus its own thread; a handle beyond them is closed after its call. */
#define DOCKER_HTTP_IDLE_MAX 16

struct docker_http {
    const char *socket_path;
    int global_ready;
    int lock_ready;
    pthread_mutex_t lock;  /* the idle handles */
    CURL *idle[DOCKER_HTTP_IDLE_MAX];
    size_t idle_count;
};

typedef struct transfer {
    char *data;
    size_t length, capacity;
    int too_large;
    CURL *curl;
    docker_sink_fn sink;  /* gets 2xx bodies only; error replies are kept */
    void *sink_arg;
    int sink_status;  /* last non-zero return of the sink */
} transfer_t;

docker_http_t *docker_http_new(const char *socket_path, kl_error_t *err)
{
    docker_http_t *client = calloc(1, sizeof *client);
    if (!client) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: out of memory");
        return NULL;
    }
    /* Reference counted by libcurl and thread-safe since 7.84. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: libcurl failed to initialise");
        free(client);
        return NULL;
    }
    client->global_ready = 1;
    if (pthread_mutex_init(&client->lock, NULL) != 0) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: cannot create a mutex");
        docker_http_destroy(&client);
        return NULL;
    }
    client->lock_ready = 1;
    /* One handle now, so a libcurl that cannot make any fails at open(). */
    client->idle[0] = curl_easy_init();
    if (!client->idle[0]) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: libcurl could not create a handle");
        docker_http_destroy(&client);
        return NULL;
    }
    client->idle_count = 1;
    client->socket_path = socket_path;
    return client;
}

void docker_http_destroy(docker_http_t **client)
{
    if (!client || !*client)
        return;
    for (size_t i = 0; i < (*client)->idle_count; i++)
        curl_easy_cleanup((*client)->idle[i]);
    if ((*client)->lock_ready)
        pthread_mutex_destroy(&(*client)->lock);
    if ((*client)->global_ready)
        curl_global_cleanup();
    free(*client);
    *client = NULL;
}

/* An idle handle, or a new one when every handle is in use. */
static CURL *handle_take(docker_http_t *client)
{
    CURL *curl = NULL;
    pthread_mutex_lock(&client->lock);
    if (client->idle_count > 0)
        curl = client->idle[--client->idle_count];
    pthread_mutex_unlock(&client->lock);
    return curl ? curl : curl_easy_init();
}

static void handle_give(docker_http_t *client, CURL *curl)
{
    pthread_mutex_lock(&client->lock);
    int kept = client->idle_count < DOCKER_HTTP_IDLE_MAX;
    if (kept)
        client->idle[client->idle_count++] = curl;
    pthread_mutex_unlock(&client->lock);
    if (!kept)
        curl_easy_cleanup(curl);
}

void docker_reply_free(docker_reply_t *reply)
{
    if (!reply)
        return;
    free(reply->body);
    reply->body = NULL;
    reply->length = 0;
}

static size_t on_body(char *data, size_t size, size_t count, void *arg)
{
    transfer_t *t = arg;
    size_t n = size * count;
    long status = 0;
    if (t->sink)
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    if (t->sink && status >= 200 && status < 300) {
        int rc = t->sink(data, n, t->sink_arg);
        if (rc != 0) {
            t->sink_status = rc;
            return 0;  /* ends the transfer */
        }
        return n;
    }
    if (t->length + n + 1 > DOCKER_REPLY_MAX) {
        t->too_large = 1;
        return 0;
    }
    if (t->length + n + 1 > t->capacity) {
        size_t capacity = t->capacity ? t->capacity : 4096;
        while (capacity < t->length + n + 1)
            capacity *= 2;
        char *grown = realloc(t->data, capacity);
        if (!grown) {
            t->too_large = 1;
            return 0;
        }
        t->data = grown;
        t->capacity = capacity;
    }
    memcpy(t->data + t->length, data, n);
    t->length += n;
    t->data[t->length] = '\0';
    return n;
}

int docker_http_call(docker_http_t *client, const char *method, const char *path, const json_t *body,
                     int timeout_ms, docker_sink_fn sink, void *sink_arg, docker_reply_t *reply,
                     kl_error_t *err)
{
    memset(reply, 0, sizeof *reply);
    char url[8192];
    if ((size_t)snprintf(url, sizeof url, "http://localhost%s", path) >= sizeof url)
        return kl_error_set(err, KL_ERR_INVALID, "runtime/docker: request path of %zu bytes is too long",
                            strlen(path));
    char *payload = NULL;
    if (body) {
        payload = json_dumps(body, JSON_COMPACT);
        if (!payload)
            return kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: cannot encode the request to %s", path);
    }
    CURL *curl = handle_take(client);
    if (!curl) {
        free(payload);
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: libcurl could not create a handle");
    }
    curl_easy_reset(curl);
    struct curl_slist *headers = NULL;
    if (payload)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    transfer_t t = { .curl = curl, .sink = sink, .sink_arg = sink_arg };
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, client->socket_path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  /* never touch the host's signal handlers */
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 10000));
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    if (headers)
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (payload) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);
    }
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    free(payload);

    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    handle_give(client, curl);
    int sink_ended = rc == CURLE_WRITE_ERROR && t.sink_status == 1;
    if (rc != CURLE_OK && !sink_ended) {
        free(t.data);
        if (t.sink_status < 0)
            return -1;  /* the sink filled its own error */
        if (t.too_large)
            return kl_error_set(err, KL_ERR_TOO_LARGE, "dockerd's reply to %s %s is larger than %d bytes", method,
                                path, DOCKER_REPLY_MAX);
        if (rc == CURLE_OPERATION_TIMEDOUT)
            return kl_error_set(err, KL_ERR_TIMEOUT, "dockerd on %s did not answer %s %s within %d ms",
                                client->socket_path, method, path, timeout_ms);
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "dockerd is not answering on %s (%s %s: %s)",
                            client->socket_path, method, path, curl_easy_strerror(rc));
    }
    reply->status = status;
    reply->body = t.data;
    reply->length = t.length;
    if (!reply->body) {
        reply->body = calloc(1, 1);
        if (!reply->body)
            return kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: out of memory");
    }
    return 0;
}

void docker_reply_message(const docker_reply_t *reply, char *buffer, size_t size)
{
    json_t *doc = reply->body && reply->length ? json_loadb(reply->body, reply->length, 0, NULL) : NULL;
    const char *message = json_string_value(json_object_get(doc, "message"));
    if (message) {
        snprintf(buffer, size, "%s", message);
    } else if (reply->body && reply->length) {
        /* Not JSON: a proxy or a daemon in trouble. Keep it printable. */
        size_t n = 0;
        for (size_t i = 0; i < reply->length && n + 1 < size && n < 200; i++)
            buffer[n++] = isprint((unsigned char)reply->body[i]) ? reply->body[i] : ' ';
        buffer[n] = '\0';
    } else {
        snprintf(buffer, size, "HTTP status %ld with an empty body", reply->status);
    }
    json_decref(doc);
}

int docker_query_escape(const char *text, char *buffer, size_t size)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            if (n + 1 >= size)
                return -1;
            buffer[n++] = (char)*p;
        } else {
            if (n + 3 >= size)
                return -1;
            buffer[n++] = '%';
            buffer[n++] = hex[*p >> 4];
            buffer[n++] = hex[*p & 15];
        }
    }
    if (n >= size)
        return -1;
    buffer[n] = '\0';
    return 0;
}
