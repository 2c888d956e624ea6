/* Requests kept in flight together on one libcurl multi handle, driven by
 * its socket interface: the sockets and curl's timer sit in one epoll
 * descriptor, which the caller may poll and which turns readable when some
 * request can make progress. A request that fails on the way is sent again
 * through kl_gateway_call(), which fails over across endpoints, so this
 * file only adds concurrency, never its own retry rules. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "gateway_internal.h"

typedef struct in_flight {
    CURL *curl;
    char *path;
    char *body;
    buffer_t out;
    const char *endpoint;  /* the one it was sent to (gw's, borrowed) */
    char url[1024];
    kl_gateway_done_fn done;
    void *arg;
} in_flight_t;

static void flight_free(in_flight_t *f)
{
    free(f->path);
    free(f->body);
    free(f->out.data);
    free(f);
}

/* The handle back to the pool; the multi handle keeps its connection warm. */
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

/* ---- curl's socket interface on epoll ------------------------------------- */

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    kl_gateway_t *gw = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(gw->epoll_fd, EPOLL_CTL_DEL, s, NULL);
        curl_multi_assign(gw->multi, s, NULL);
        return 0;
    }
    struct epoll_event ev = {0};
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    ev.data.fd = s;
    /* socketp marks a socket already in the set. */
    if (!socketp) {
        int added = epoll_ctl(gw->epoll_fd, EPOLL_CTL_ADD, s, &ev) == 0;
        if (added || errno == EEXIST)
            curl_multi_assign(gw->multi, s, gw);
        if (added)
            return 0;
    }
    epoll_ctl(gw->epoll_fd, EPOLL_CTL_MOD, s, &ev);
    return 0;
}

/* curl's single timer as a timerfd in the same epoll set. Setting a timerfd
 * reprograms a kernel timer, which costs a few microseconds and more under
 * a hypervisor, and curl moves its timer on every request: to "at once" when
 * one is added, then to the earliest request's deadline. So "at once" asked
 * while we are calling curl anyway is a flag we act on before returning, and
 * a later deadline than the one armed keeps the earlier one: its wake-up
 * only lets curl name the next. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    kl_gateway_t *gw = userp;
    if (timeout_ms < 0)
        return 0;  /* an armed timer left to fire wakes curl once, for nothing */
    if (timeout_ms == 0 && gw->in_curl) {
        gw->curl_due_now = 1;
        return 0;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    /* Zero would disarm it: "at once" is one nanosecond from now. */
    int64_t deadline = (int64_t)now.tv_sec * 1000000000LL + now.tv_nsec
                       + (timeout_ms ? (int64_t)timeout_ms * 1000000LL : 1);
    if (gw->timer_armed_ns && gw->timer_armed_ns <= deadline)
        return 0;
    struct itimerspec its = {{0, 0}, {deadline / 1000000000LL, deadline % 1000000000LL}};
    if (timerfd_settime(gw->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        gw->timer_armed_ns = deadline;
    return 0;
}

/* curl's timeout action, repeated while curl asks for another at once. */
static void timeout_action(kl_gateway_t *gw)
{
    int running = 0;
    do {
        gw->curl_due_now = 0;
        curl_multi_socket_action(gw->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    } while (gw->curl_due_now);
}

static int multi_set_up(kl_gateway_t *gw, kl_error_t *err)
{
    if (gw->multi)
        return 0;
    gw->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    gw->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = gw->timer_fd};
    if (gw->epoll_fd < 0 || gw->timer_fd < 0
        || epoll_ctl(gw->epoll_fd, EPOLL_CTL_ADD, gw->timer_fd, &ev) < 0
        || !(gw->multi = curl_multi_init())) {
        gateway_multi_destroy(gw);
        return kl_error_set(err, KL_ERR_INTERNAL,
                            "etcd store: cannot set up requests in flight together: %s",
                            strerror(errno));
    }
    curl_multi_setopt(gw->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(gw->multi, CURLMOPT_SOCKETDATA, gw);
    curl_multi_setopt(gw->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(gw->multi, CURLMOPT_TIMERDATA, gw);
    return 0;
}

/* ---- finishing -------------------------------------------------------------- */

static void finish(kl_gateway_t *gw, in_flight_t *f, CURLcode rc)
{
    curl_multi_remove_handle(gw->multi, f->curl);
    gw->in_flight--;
    kl_error_t err = {0, ""};
    char why[256];
    /* The text is left for done() to read: most answers need a few fields. */
    attempt_result_t result = gateway_attempt_outcome(gw, f->curl, rc, f->endpoint, f->path,
                                                      &f->out, NULL, why, sizeof why, &err);
    handle_release(gw, f->curl);
    f->curl = NULL;
    kl_gateway_answer_t answer = {0};
    if (result == ATTEMPT_DONE && !err.code) {
        answer.text = f->out.data ? f->out.data : "";
        answer.len = f->out.len;
        answer.endpoint = f->endpoint;
    }
    /* Another endpoint may do better: the fail-over path takes it from here. */
    int maybe_applied = result == ATTEMPT_UNKNOWN;
    if (result != ATTEMPT_DONE) {
        kl_error_clear(&err);
        answer.reply = kl_gateway_call(gw, f->path, f->body, &maybe_applied, &err);
    }
    int answered = answer.text || answer.reply;
    f->done(&answer, maybe_applied, answered ? NULL : &err, f->arg);
    json_decref(answer.reply);  /* when done() left it */
    flight_free(f);
}

/* Lets curl act on what epoll reports ready (waiting up to wait_ms), then
 * finishes every transfer that is done. */
static void make_progress(kl_gateway_t *gw, int wait_ms)
{
    struct epoll_event events[32];
    int n = epoll_wait(gw->epoll_fd, events, 32, wait_ms);
    int running = 0;
    int outer = gw->in_curl;  /* a request finished may start another */
    gw->in_curl = 1;
    /* A quiet wait still lets curl look at its deadlines. */
    if (n == 0 && wait_ms > 0)
        gw->curl_due_now = 1;
    for (int i = 0; i < n; i++) {
        if (events[i].data.fd == gw->timer_fd) {
            uint64_t expirations;
            if (read(gw->timer_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                continue;
            gw->timer_armed_ns = 0;
            gw->curl_due_now = 1;
        } else {
            int mask = (events[i].events & EPOLLIN ? CURL_CSELECT_IN : 0)
                       | (events[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0)
                       | (events[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(gw->multi, events[i].data.fd, mask, &running);
        }
    }
    CURLMsg *msg;
    int left;
    do {
        if (gw->curl_due_now)
            timeout_action(gw);
        while ((msg = curl_multi_info_read(gw->multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            in_flight_t *f = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
            finish(gw, f, msg->data.result);
        }
    } while (gw->curl_due_now);
    gw->in_curl = outer;
}

/* ---- the interface ------------------------------------------------------------ */

int kl_gateway_start(kl_gateway_t *gw, const char *path, char *body, kl_gateway_done_fn done,
                     void *arg, kl_error_t *err)
{
    if (!body)
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory encoding a request");
    if (multi_set_up(gw, err) < 0) {
        free(body);
        return -1;
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
    f->endpoint = kl_gateway_current(gw);
    snprintf(f->url, sizeof f->url, "%s%s", f->endpoint, path);
    curl_easy_setopt(f->curl, CURLOPT_URL, f->url);
    curl_easy_setopt(f->curl, CURLOPT_POSTFIELDS, f->body);
    curl_easy_setopt(f->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body));
    curl_easy_setopt(f->curl, CURLOPT_WRITEFUNCTION, gateway_buffer_write);
    curl_easy_setopt(f->curl, CURLOPT_WRITEDATA, &f->out);
    curl_easy_setopt(f->curl, CURLOPT_TIMEOUT_MS, gw->timeout_ms);
    curl_easy_setopt(f->curl, CURLOPT_PRIVATE, f);
    int outer = gw->in_curl;  /* started from a finished request's callback */
    gw->in_curl = 1;
    if (curl_multi_add_handle(gw->multi, f->curl) != CURLM_OK) {
        gw->in_curl = outer;
        handle_release(gw, f->curl);
        flight_free(f);
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: cannot start a request");
    }
    gw->in_flight++;
    /* Sends what it can now, so etcd works while the caller goes on. */
    timeout_action(gw);
    gw->in_curl = outer;
    return 0;
}

size_t kl_gateway_in_flight(const kl_gateway_t *gw)
{
    return gw->in_flight;
}

int kl_gateway_progress_fd(const kl_gateway_t *gw)
{
    return gw->multi ? gw->epoll_fd : -1;
}

void kl_gateway_finish_ready(kl_gateway_t *gw)
{
    if (gw->in_flight)
        make_progress(gw, 0);
}

void kl_gateway_finish_all(kl_gateway_t *gw)
{
    while (gw->in_flight)
        make_progress(gw, 100);
}

void gateway_multi_destroy(kl_gateway_t *gw)
{
    if (gw->multi)
        kl_gateway_finish_all(gw);
    while (gw->idle_count)
        curl_easy_cleanup(gw->idle[--gw->idle_count]);
    if (gw->multi)
        curl_multi_cleanup(gw->multi);
    gw->multi = NULL;
    if (gw->epoll_fd >= 0)
        close(gw->epoll_fd);
    if (gw->timer_fd >= 0)
        close(gw->timer_fd);
    gw->epoll_fd = gw->timer_fd = -1;
    gw->timer_armed_ns = 0;
}
