/* The etcd store's change feed: a thread holds one /v3/watch stream over the
 * whole keyspace and keeps the events of the latest revisions, grouped by
 * revision, for changes() to read at once. etcd pushes a live watch's events
 * as it commits them; a watch opened per read starts in the past and waits
 * for etcd's next unsynced sweep, about 100 to 200 ms. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "feed.h"

typedef struct held {
    int64_t revision;
    json_t *events;  /* that revision's watch events */
} held_t;

struct etcd_feed {
    int refs;          /* stores sharing it, under shared_lock */
    etcd_feed_t *next_shared;
    char **urls;
    size_t url_count, url_index;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t moved;
    atomic_int stopping;
    CURLM *multi;
    /* Under lock: every revision in (covered_from, reached] that changed a
     * key is in the ring, oldest first. */
    held_t *ring;
    size_t capacity, first, count;
    int64_t covered_from, reached;
    int live;          /* the stream is open and etcd created its watch */
    /* The stream being read (feed thread only). */
    char *in;
    size_t in_len;
    int64_t next;      /* start_revision of the next watch */
    etcd_feed_listener_t *listeners;  /* under lock */
};

/* The API workers of one keelsond each open the store: they share one feed
 * per etcd cluster instead of holding one watch stream each, which etcd
 * would have to feed and this process to parse once per worker. */
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static etcd_feed_t *shared_feeds;

static int same_urls(const etcd_feed_t *f, const char *const *urls)
{
    size_t i = 0;
    for (; urls[i]; i++)
        if (i >= f->url_count || strcmp(f->urls[i], urls[i]) != 0)
            return 0;
    return i == f->url_count;
}

static int64_t message_int(const json_t *object, const char *field)
{
    const json_t *v = json_object_get(object, field);
    if (json_is_integer(v))
        return json_integer_value(v);
    const char *text = json_string_value(v);
    return text ? strtoll(text, NULL, 10) : 0;
}

static void ring_clear(etcd_feed_t *f)
{
    for (size_t i = 0; i < f->count; i++)
        json_decref(f->ring[(f->first + i) % f->capacity].events);
    f->first = f->count = 0;
}

/* Under f->lock, after the feed took in new revisions. */
static void tell_listeners(etcd_feed_t *f)
{
    static const uint64_t one = 1;
    for (etcd_feed_listener_t *l = f->listeners; l; l = l->next)
        if (atomic_exchange(&l->armed, 0) && write(l->fd, &one, sizeof one) < 0)
            atomic_store(&l->armed, 1);  /* counter full: it is readable anyway */
}

void etcd_feed_listen(etcd_feed_t *f, etcd_feed_listener_t *listener)
{
    pthread_mutex_lock(&f->lock);
    listener->next = f->listeners;
    f->listeners = listener;
    pthread_mutex_unlock(&f->lock);
}

void etcd_feed_unlisten(etcd_feed_t *f, etcd_feed_listener_t *listener)
{
    pthread_mutex_lock(&f->lock);
    for (etcd_feed_listener_t **link = &f->listeners; *link; link = &(*link)->next)
        if (*link == listener) {
            *link = listener->next;
            break;
        }
    pthread_mutex_unlock(&f->lock);
}

static void ring_add(etcd_feed_t *f, int64_t revision, json_t *events)
{
    if (f->count == f->capacity) {
        held_t *oldest = &f->ring[f->first];
        f->covered_from = oldest->revision;
        json_decref(oldest->events);
        f->first = (f->first + 1) % f->capacity;
        f->count--;
    }
    f->ring[(f->first + f->count++) % f->capacity] = (held_t){revision, events};
}

/* One message of the stream. Returns -1 to end the stream (cancelled). */
static int feed_message(etcd_feed_t *f, const char *line, size_t len)
{
    json_t *message = json_loadb(line, len, 0, NULL);
    const json_t *result = json_object_get(message, "result");
    if (!json_is_object(result)) {
        json_decref(message);
        return -1;  /* an error from the gateway: reconnect */
    }
    int64_t compact = message_int(result, "compact_revision");
    pthread_mutex_lock(&f->lock);
    int rc = 0;
    if (compact > 0 || json_is_true(json_object_get(result, "canceled"))) {
        /* What the feed missed is gone: it starts again at the compaction,
         * and older reads go to etcd, which reports them expired. */
        ring_clear(f);
        if (compact > 0) {
            f->covered_from = f->reached = compact - 1;
            f->next = compact;
        }
        f->live = 0;
        rc = -1;
    } else {
        f->live = 1;
        const json_t *events = json_object_get(result, "events");
        size_t n = json_array_size(events);
        int64_t reached_before = f->reached;
        for (size_t i = 0; i < n;) {
            int64_t revision = message_int(json_object_get(json_array_get(events, i), "kv"),
                                           "mod_revision");
            json_t *group = json_array();
            size_t j = i;
            for (; j < n; j++) {
                json_t *e = json_array_get(events, j);
                if (message_int(json_object_get(e, "kv"), "mod_revision") != revision)
                    break;
                json_array_append(group, e);
            }
            if (revision > f->reached) {
                ring_add(f, revision, group);
                f->reached = revision;
                f->next = revision + 1;
            } else {
                json_decref(group);
            }
            i = j;
        }
        if (f->reached > reached_before)
            tell_listeners(f);
    }
    pthread_cond_broadcast(&f->moved);
    pthread_mutex_unlock(&f->lock);
    json_decref(message);
    return rc;
}

static size_t feed_write(char *data, size_t size, size_t count, void *arg)
{
    etcd_feed_t *f = arg;
    size_t n = size * count;
    char *grown = realloc(f->in, f->in_len + n + 1);
    if (!grown)
        return 0;
    f->in = grown;
    memcpy(f->in + f->in_len, data, n);
    f->in_len += n;
    char *start = f->in, *end;
    while ((end = memchr(start, '\n', f->in_len - (size_t)(start - f->in)))) {
        if (end > start && feed_message(f, start, (size_t)(end - start)) < 0)
            return 0;
        start = end + 1;
    }
    f->in_len -= (size_t)(start - f->in);
    memmove(f->in, start, f->in_len);
    return n;
}

static void pause_ms(etcd_feed_t *f, int ms)
{
    for (int waited = 0; waited < ms && !atomic_load(&f->stopping); waited += 10) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Opens the stream at f->next and reads it until it ends or the feed stops. */
static void feed_follow(etcd_feed_t *f)
{
    char url[1024], body[256];
    snprintf(url, sizeof url, "%s/v3/watch", f->urls[f->url_index]);
    pthread_mutex_lock(&f->lock);
    snprintf(body, sizeof body,
             "{\"create_request\":{\"key\":\"AA==\",\"range_end\":\"AA==\","
             "\"start_revision\":\"%" PRId64 "\",\"prev_kv\":true}}", f->next);
    pthread_mutex_unlock(&f->lock);
    CURL *c = curl_easy_init();
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (!c || !headers) {
        curl_easy_cleanup(c);
        curl_slist_free_all(headers);
        return;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, feed_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_multi_add_handle(f->multi, c);
    int running = 1;
    while (running && !atomic_load(&f->stopping)) {
        if (curl_multi_perform(f->multi, &running) != CURLM_OK)
            break;
        if (running)
            curl_multi_poll(f->multi, NULL, 0, 1000, NULL);
    }
    curl_multi_remove_handle(f->multi, c);
    curl_easy_cleanup(c);
    curl_slist_free_all(headers);
    f->in_len = 0;
    pthread_mutex_lock(&f->lock);
    f->live = 0;
    pthread_cond_broadcast(&f->moved);
    pthread_mutex_unlock(&f->lock);
}

static void *feed_main(void *arg)
{
    etcd_feed_t *f = arg;
    while (!atomic_load(&f->stopping)) {
        feed_follow(f);
        if (atomic_load(&f->stopping))
            break;
        /* Broken or refused: the next endpoint, from where the feed stopped. */
        f->url_index = (f->url_index + 1) % f->url_count;
        pause_ms(f, 100);
    }
    return NULL;
}

static void feed_free(etcd_feed_t *f);

/* Under shared_lock: the running feed for `urls`, with one more reference,
 * or NULL. */
static etcd_feed_t *shared_ref(const char *const *urls)
{
    for (etcd_feed_t *f = shared_feeds; f; f = f->next_shared)
        if (same_urls(f, urls)) {
            f->refs++;
            return f;
        }
    return NULL;
}

etcd_feed_t *etcd_feed_join(const char *const *urls)
{
    if (!urls || !urls[0])
        return NULL;
    pthread_mutex_lock(&shared_lock);
    etcd_feed_t *found = shared_ref(urls);
    pthread_mutex_unlock(&shared_lock);
    return found;
}

etcd_feed_t *etcd_feed_start(const char *const *urls, int64_t after, size_t capacity)
{
    size_t count = 0;
    while (urls && urls[count])
        count++;
    if (!count || !capacity)
        return NULL;
    pthread_mutex_lock(&shared_lock);
    etcd_feed_t *running = shared_ref(urls);
    if (running) {
        pthread_mutex_unlock(&shared_lock);
        return running;  /* reads before its start fall back to etcd's history */
    }
    etcd_feed_t *f = calloc(1, sizeof *f);
    if (!f) {
        pthread_mutex_unlock(&shared_lock);
        return NULL;
    }
    f->urls = calloc(count, sizeof *f->urls);
    f->ring = calloc(capacity, sizeof *f->ring);
    f->multi = curl_multi_init();
    int ok = f->urls && f->ring && f->multi;
    for (size_t i = 0; ok && i < count; i++)
        ok = (f->urls[i] = strdup(urls[i])) != NULL;
    f->url_count = count;
    f->capacity = capacity;
    f->covered_from = f->reached = after;
    f->next = after + 1;
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->moved, NULL);
    f->started = ok && pthread_create(&f->thread, NULL, feed_main, f) == 0;
    if (!f->started) {
        pthread_mutex_unlock(&shared_lock);
        feed_free(f);
        return NULL;
    }
    f->refs = 1;
    f->next_shared = shared_feeds;
    shared_feeds = f;
    pthread_mutex_unlock(&shared_lock);
    return f;
}

void etcd_feed_stop(etcd_feed_t **feed_p)
{
    etcd_feed_t *f = feed_p ? *feed_p : NULL;
    if (!f)
        return;
    *feed_p = NULL;
    pthread_mutex_lock(&shared_lock);
    int last = --f->refs == 0;
    if (last)
        for (etcd_feed_t **link = &shared_feeds; *link; link = &(*link)->next_shared)
            if (*link == f) {
                *link = f->next_shared;
                break;
            }
    pthread_mutex_unlock(&shared_lock);
    if (last)
        feed_free(f);
}

static void feed_free(etcd_feed_t *f)
{
    atomic_store(&f->stopping, 1);
    if (f->started) {
        curl_multi_wakeup(f->multi);
        pthread_join(f->thread, NULL);
    }
    if (f->ring)
        ring_clear(f);
    free(f->ring);
    for (size_t i = 0; f->urls && i < f->url_count; i++)
        free(f->urls[i]);
    free(f->urls);
    free(f->in);
    if (f->multi)
        curl_multi_cleanup(f->multi);
    pthread_cond_destroy(&f->moved);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

int etcd_feed_read(etcd_feed_t *f, int64_t after, int64_t wanted, int wait_ms,
                   etcd_feed_visit_fn visit, void *arg, int64_t *reached)
{
    pthread_mutex_lock(&f->lock);
    if (f->live && f->reached < wanted && wait_ms > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)wait_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        while (f->live && f->reached < wanted
               && pthread_cond_timedwait(&f->moved, &f->lock, &until) != ETIMEDOUT) {
        }
    }
    if (!f->live || after < f->covered_from) {
        pthread_mutex_unlock(&f->lock);
        return -1;
    }
    /* The revisions wanted are taken out with a reference each and visited
     * without the lock: API workers decode them at the same time, and the
     * feed goes on taking in new ones. */
    size_t from = f->count;
    while (from > 0 && f->ring[(f->first + from - 1) % f->capacity].revision > after)
        from--;
    size_t n = f->count - from;
    held_t *taken = n ? malloc(n * sizeof *taken) : NULL;
    if (n && !taken) {
        pthread_mutex_unlock(&f->lock);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        taken[i] = f->ring[(f->first + from + i) % f->capacity];
        json_incref(taken[i].events);
    }
    *reached = f->reached;
    pthread_mutex_unlock(&f->lock);
    size_t i = 0;
    for (; i < n && !visit(taken[i].events, taken[i].revision, arg); i++)
        json_decref(taken[i].events);
    for (; i < n; i++)
        json_decref(taken[i].events);
    free(taken);
    return 0;
}
