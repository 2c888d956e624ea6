/* runtime/docker: container exits as dockerd announces them, so the kubelet
 * hears of one at once instead of at its next relist. A thread asks
 * GET /events for windows of a second that follow one another exactly (each
 * starts where the last one ended, and dockerd replays from its log what
 * happened in between), so no exit falls between two asks and close() never
 * waits on an open stream for longer than a window. The ids wait in a list
 * behind an eventfd that the kubelet polls. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "docker.h"

#define EVENTS_WINDOW_MS 1000
#define EVENTS_RETRY_MS 1000
/* Ids kept between two reads; the kubelet's relist finds any beyond them. */
#define EVENTS_PENDING_MAX 4096
/* One event is a few hundred bytes; a longer line is not dockerd's. */
#define EVENTS_LINE_MAX 65536

struct docker_events {
    docker_runtime_t *rt;
    int fd;                    /* eventfd: readable while ids are pending */
    pthread_t thread;
    int thread_started;
    atomic_int stop;
    pthread_mutex_t lock;      /* pending */
    json_t *pending;           /* ids not yet read, in order */
    char line[EVENTS_LINE_MAX];  /* the thread's unfinished line */
    size_t line_length;
    int line_too_long;
};

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* dockerd's ids are 64 hex digits; anything else is not one of its events. */
static int plausible_id(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= KL_CONTAINER_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static void take_line(docker_events_t *ev, const char *text, size_t length)
{
    json_t *event = json_loadb(text, length, 0, NULL);
    const char *id = json_string_value(json_object_get(json_object_get(event, "Actor"), "ID"));
    if (!id)
        id = json_string_value(json_object_get(event, "id"));
    if (plausible_id(id)) {
        pthread_mutex_lock(&ev->lock);
        if (json_array_size(ev->pending) < EVENTS_PENDING_MAX)
            json_array_append_new(ev->pending, json_string(id));
        pthread_mutex_unlock(&ev->lock);
        uint64_t one = 1;
        if (write(ev->fd, &one, sizeof one) < 0 && errno != EAGAIN)
            ev->rt->host->log(ev->rt->host, KL_LOG_DEBUG, "runtime/docker: cannot signal an exit: %s",
                              strerror(errno));
    }
    json_decref(event);
}

/* The stream is one JSON object a line. */
static int events_sink(const char *data, size_t size, void *arg)
{
    docker_events_t *ev = arg;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') {
            if (!ev->line_too_long && ev->line_length > 0)
                take_line(ev, ev->line, ev->line_length);
            ev->line_length = 0;
            ev->line_too_long = 0;
        } else if (ev->line_length < sizeof ev->line) {
            ev->line[ev->line_length++] = data[i];
        } else {
            ev->line_too_long = 1;
        }
    }
    return atomic_load(&ev->stop) ? 1 : 0;
}

static void pause_unless_stopped(docker_events_t *ev, int ms)
{
    for (int waited = 0; waited < ms && !atomic_load(&ev->stop); waited += 50)
        poll(NULL, 0, 50);
}

static void *events_main(void *arg)
{
    docker_events_t *ev = arg;
    char filters[256], path[512];
    docker_query_escape("{\"type\":[\"container\"],\"event\":[\"die\"],\"label\":[\"" LABEL_UID "\"]}",
                        filters, sizeof filters);
    int64_t since = realtime_ns();
    int complained = 0;
    while (!atomic_load(&ev->stop)) {
        int64_t until = realtime_ns() + (int64_t)EVENTS_WINDOW_MS * 1000000;
        snprintf(path, sizeof path,
                 DOCKER_API_PREFIX "/events?since=%lld.%09lld&until=%lld.%09lld&filters=%s",
                 (long long)(since / 1000000000), (long long)(since % 1000000000),
                 (long long)(until / 1000000000), (long long)(until % 1000000000), filters);
        ev->line_length = 0;
        ev->line_too_long = 0;
        docker_reply_t reply;
        kl_error_t err;
        int rc = docker_http_call(ev->rt->http, "GET", path, NULL, EVENTS_WINDOW_MS + ev->rt->timeout_ms,
                                  events_sink, ev, &reply, &err);
        if (rc == 0 && reply.status == 200) {
            docker_reply_free(&reply);
            since = until;
            complained = 0;
            continue;
        }
        if (rc == 0) {
            docker_reply_message(&reply, err.text, sizeof err.text);
            docker_reply_free(&reply);
        }
        /* dockerd is away or refuses: ask again later from the same point,
         * and say so once, not every second. */
        if (!complained && !atomic_load(&ev->stop))
            ev->rt->host->log(ev->rt->host, KL_LOG_WARN,
                              "runtime/docker: cannot follow dockerd's events (%s); exits are seen "
                              "at the kubelet's relist until it answers", err.text);
        complained = 1;
        pause_unless_stopped(ev, EVENTS_RETRY_MS);
    }
    return NULL;
}

docker_events_t *docker_events_start(docker_runtime_t *rt, kl_error_t *err)
{
    docker_events_t *ev = calloc(1, sizeof *ev);
    if (!ev) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: out of memory");
        return NULL;
    }
    ev->rt = rt;
    ev->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ev->pending = json_array();
    atomic_init(&ev->stop, 0);
    if (ev->fd < 0 || !ev->pending || pthread_mutex_init(&ev->lock, NULL) != 0) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: cannot set up exit notification: %s",
                     ev->fd < 0 ? strerror(errno) : "out of memory");
        if (ev->fd >= 0)
            close(ev->fd);
        json_decref(ev->pending);
        free(ev);
        return NULL;
    }
    if (pthread_create(&ev->thread, NULL, events_main, ev) != 0) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: cannot start the events thread");
        docker_events_stop(&ev);
        return NULL;
    }
    ev->thread_started = 1;
    return ev;
}

void docker_events_stop(docker_events_t **ev_p)
{
    docker_events_t *ev = ev_p ? *ev_p : NULL;
    if (!ev)
        return;
    atomic_store(&ev->stop, 1);
    if (ev->thread_started)
        pthread_join(ev->thread, NULL);
    pthread_mutex_destroy(&ev->lock);
    json_decref(ev->pending);
    if (ev->fd >= 0)
        close(ev->fd);
    free(ev);
    *ev_p = NULL;
}

int docker_events_fd(const docker_events_t *ev)
{
    return ev ? ev->fd : -1;
}

int docker_events_read(docker_events_t *ev, void (*changed)(const char *id, void *arg), void *arg,
                       kl_error_t *err)
{
    if (!changed)
        return kl_error_set(err, KL_ERR_INVALID, "events_read needs a changed function");
    if (!ev)
        return 0;
    uint64_t count;
    if (read(ev->fd, &count, sizeof count) < 0 && errno != EAGAIN)
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: reading the exit eventfd: %s",
                            strerror(errno));
    /* Taken out first: changed() may call status() and must not hold the lock. */
    json_t *fresh = json_array();
    if (!fresh)
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: out of memory reading exits");
    pthread_mutex_lock(&ev->lock);
    json_t *ids = ev->pending;
    ev->pending = fresh;
    pthread_mutex_unlock(&ev->lock);
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
        changed(json_string_value(id), arg);
    json_decref(ids);
    return 0;
}
