/* runtime/podman: what this instance knows of its containers, and their
 * exits as conmon reports them (exit files under an inotify watch), plus the
 * start times podman's event log holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "podman.h"

#define PODMAN_KNOWN_MAX 4096
#define PODMAN_EVENTS_READ_MAX (256 * 1024)  /* of the event log, per start */
#define PODMAN_WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO)

/* An inotify watch on the exits folder, or -1 (logged) when the kernel or
 * the folder refuses one. Non-blocking: readers drain it. */
int exit_watch_open(const podman_runtime_t *rt, const char *without)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, rt->exits_dir, PODMAN_WATCH_MASK) < 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        podman_log(rt, KL_LOG_WARN, "runtime/podman cannot watch %s for container exits: %s; %s", rt->exits_dir,
                   strerror(saved), without);
        return -1;
    }
    return fd;
}

/* podman's full id: exit files carry it, and start() returns it. */
static int is_full_id(const char *name)
{
    return strspn(name, "0123456789abcdef") == PODMAN_FULL_ID && name[PODMAN_FULL_ID] == '\0';
}

known_container_t *known_find(podman_runtime_t *rt, const char *id)
{
    for (size_t i = 0; i < rt->known_count; i++)
        if (!strcmp(rt->known[i].id, id))
            return &rt->known[i];
    return NULL;
}

/* The entry of a full id, made when absent; NULL for a short id or when out
 * of memory (nothing is then cached, which is only slower). */
known_container_t *known_add(podman_runtime_t *rt, const char *id)
{
    if (!is_full_id(id))
        return NULL;
    known_container_t *k = known_find(rt, id);
    if (k)
        return k;
    if (rt->known_count == rt->known_size) {
        if (rt->known_size >= PODMAN_KNOWN_MAX) {
            size_t oldest = 0;
            for (size_t i = 1; i < rt->known_count; i++)
                if (rt->known[i].checked_ms < rt->known[oldest].checked_ms)
                    oldest = i;
            rt->known[oldest] = rt->known[--rt->known_count];
        } else {
            size_t bigger = rt->known_size ? rt->known_size * 2 : 32;
            known_container_t *grown = realloc(rt->known, bigger * sizeof *grown);
            if (!grown)
                return NULL;
            rt->known = grown;
            rt->known_size = bigger;
        }
    }
    k = &rt->known[rt->known_count++];
    memset(k, 0, sizeof *k);
    memcpy(k->id, id, PODMAN_FULL_ID + 1);
    return k;
}

void known_drop(podman_runtime_t *rt, const char *id)
{
    known_container_t *k = known_find(rt, id);
    if (!k)
        return;
    known_container_t *last = &rt->known[--rt->known_count];
    if (k != last)
        *k = *last;
}

/* The next status() asks podman: the container was just signalled or stopped. */
void known_stale(podman_runtime_t *rt, const char *id)
{
    known_container_t *k = known_find(rt, id);
    if (k)
        k->checked_ms = 0;
}

static void known_stale_all(podman_runtime_t *rt)
{
    for (size_t i = 0; i < rt->known_count; i++)
        rt->known[i].checked_ms = 0;
}

/* Reads conmon's exit file of a container into k: 0 when it is there and
 * holds a plain exit code (conmon writes "%d", podman parses it with Atoi),
 * -1 otherwise, with k left as it was. It is runtime output: a FIFO, a big
 * file or anything but 0..255 in decimal is not trusted. */
int exit_file_read(const podman_runtime_t *rt, known_container_t *k)
{
    char path[4400], text[8];
    snprintf(path, sizeof path, "%s/%s", rt->exits_dir, k->id);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size < (off_t)sizeof text)
        n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    if (n <= 0 || n != st.st_size || n > 3 || st.st_ctim.tv_sec <= 0)
        return -1;
    text[n] = '\0';
    if (strspn(text, "0123456789") != (size_t)n)
        return -1;
    int code = atoi(text);
    if (code > 255)
        return -1;
    k->exit_read = 1;
    k->exit_code = code;
    k->exit_ms = (int64_t)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
    return 0;
}

/* An inspect that already showed the exit may have read the file before
 * its notification was drained: that one is old news. Each watch reports
 * the same file: a second read that finds it gone keeps the first. While
 * start() runs podman, an unknown id may be the container being started:
 * its exit is kept for start() to find. */
static void note_exit(podman_runtime_t *rt, const char *id)
{
    known_container_t *k = rt->starting ? known_add(rt, id) : known_find(rt, id);
    if (!k || (k->checked_ms && k->status.state == KL_CONTAINER_EXITED))
        return;
    k->exit_seen_ms = podman_monotonic_ms();
    (void)exit_file_read(rt, k);
}

typedef void (*exit_found_fn)(podman_runtime_t *rt, const char *id, void *arg);

/* Reads what is pending on an exit watch without blocking and calls found()
 * per exit file that appeared (conmon writes a temporary name first, which
 * is skipped: only the rename to the bare id counts). Returns 0; 1 when news
 * was lost, so any container may have exited; -1 when the watch is dead. */
static int exit_watch_drain(podman_runtime_t *rt, int fd, exit_found_fn found, void *arg)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int lost = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return lost;
        if (n <= 0) {
            podman_log(rt, KL_LOG_WARN, "runtime/podman: reading the watch on %s failed: %s", rt->exits_dir,
                       n < 0 ? strerror(errno) : "end of file");
            return -1;
        }
        for (size_t at = 0; at + sizeof(struct inotify_event) <= (size_t)n;) {
            const struct inotify_event *event = (const struct inotify_event *)(buf + at);
            at += sizeof *event + event->len;
            if (event->mask & IN_Q_OVERFLOW)
                lost = 1;
            if (event->mask & IN_IGNORED) {
                /* The folder itself went (a storage reset): watch a new one.
                 * Whatever exited in between was missed. */
                lost = 1;
                if (mkdir_parents(rt->tmpdir, 0700) < 0 || (mkdir(rt->exits_dir, 0750) < 0 && errno != EEXIST)
                    || inotify_add_watch(fd, rt->exits_dir, PODMAN_WATCH_MASK) < 0) {
                    podman_log(rt, KL_LOG_WARN, "runtime/podman: %s went away and cannot be watched again: %s",
                               rt->exits_dir, strerror(errno));
                    return -1;
                }
            }
            if (event->len && is_full_id(event->name))
                found(rt, event->name, arg);
        }
    }
}

static void exit_noted(podman_runtime_t *rt, const char *id, void *arg)
{
    (void)arg;
    note_exit(rt, id);
}

/* Brings the cache up to date with the exits conmon reported so far. */
void exits_update(podman_runtime_t *rt)
{
    if (rt->watch_fd < 0)
        return;
    int rc = exit_watch_drain(rt, rt->watch_fd, exit_noted, NULL);
    if (rc != 0)
        known_stale_all(rt);
    if (rc < 0) {
        podman_log(rt, KL_LOG_WARN, "runtime/podman: status() asks podman every time from now on");
        close(rt->watch_fd);
        rt->watch_fd = -1;
    }
}

typedef struct id_list {
    char (*ids)[PODMAN_FULL_ID + 1];
    size_t count, size;
    int failed;
} id_list_t;

static void id_list_add(id_list_t *list, const char *id)
{
    for (size_t i = 0; i < list->count; i++)
        if (!strcmp(list->ids[i], id))
            return;
    if (list->count == list->size) {
        size_t bigger = list->size ? list->size * 2 : 16;
        char (*grown)[PODMAN_FULL_ID + 1] = realloc(list->ids, bigger * sizeof *grown);
        if (!grown) {
            list->failed = 1;
            return;
        }
        list->ids = grown;
        list->size = bigger;
    }
    snprintf(list->ids[list->count++], PODMAN_FULL_ID + 1, "%s", id);
}

static void exit_collected(podman_runtime_t *rt, const char *id, void *arg)
{
    note_exit(rt, id);
    id_list_add(arg, id);
}

int podman_events_fd(void *runtime)
{
    podman_runtime_t *rt = runtime;
    return rt ? rt->events_fd : -1;
}

int podman_events_read(void *runtime, void (*changed)(const char *id, void *arg), void *arg,
                       kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (!changed)
        return kl_error_set(err, KL_ERR_INVALID, "events_read needs a changed function");
    if (rt->events_fd < 0)
        return 0;
    id_list_t list = { 0 };
    int rc = exit_watch_drain(rt, rt->events_fd, exit_collected, &list);
    if (rc != 0) {
        known_stale_all(rt);
        for (size_t i = 0; i < rt->known_count; i++)
            id_list_add(&list, rt->known[i].id);
    }
    /* Ids are copied out first: changed() may call status(), which changes
     * the table. */
    for (size_t i = 0; i < list.count; i++)
        changed(list.ids[i], arg);
    free(list.ids);
    if (rc < 0)
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "runtime/podman: the watch on %s failed", rt->exits_dir);
    if (list.failed)
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/podman: out of memory reading container exits");
    return 0;
}

/* The size of podman's event log before a run, so that only what the run
 * added is read after it; -1 when there is none yet. */
off_t events_log_size(const podman_runtime_t *rt)
{
    struct stat st;
    return stat(rt->events_log, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
}

/* The time of the "start" event `podman run` logged for a container, a
 * millisecond or two after podman's StartedAt: wall clock ms, 0 when not
 * found (another log path in containers.conf, a rotated log). */
int64_t events_log_start_ms(const podman_runtime_t *rt, const char *id, off_t from)
{
    int fd = open(rt->events_log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat st;
    char *text = NULL;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if (from < 0 || from > st.st_size)
            from = 0;  /* made, or rotated, by this run */
        /* Other podman processes append too (cleanups); past the bound the
         * wall clock stands in. */
        size_t length = (size_t)(st.st_size - from);
        if (length > PODMAN_EVENTS_READ_MAX)
            length = PODMAN_EVENTS_READ_MAX;
        text = malloc(length + 1);
        if (text)
            n = pread(fd, text, length, from);
    }
    close(fd);
    if (n < 0) {
        free(text);
        return 0;
    }
    text[n] = '\0';
    int64_t started = 0;
    for (char *line = text, *end; (end = memchr(line, '\n', (size_t)(text + n - line))); line = end + 1) {
        if (!memmem(line, (size_t)(end - line), id, PODMAN_FULL_ID))
            continue;
        json_t *event = json_loadb(line, (size_t)(end - line), 0, NULL);
        const char *event_id = json_string_value(json_object_get(event, "ID"));
        const char *status = json_string_value(json_object_get(event, "Status"));
        if (event_id && status && !strcmp(event_id, id) && !strcmp(status, "start"))
            started = podman_time_ms(json_string_value(json_object_get(event, "Time")));
        json_decref(event);
    }
    free(text);
    return started;
}
