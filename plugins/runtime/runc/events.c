/* runtime/runc: container exits as supervisors report them, one "ID\n" line
 * each on a FIFO under state_dir, so the kubelet hears of an exit at once
 * instead of at its next status poll. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runc.h"

#define RUNC_EVENTS_READS_MAX 64  /* reads per events_read(): the fd stays readable for the rest */

/* Opens the FIFO supervisors write "ID\n" to when their container exits,
 * creating it on first use. It stays when the runtime closes: supervisors of
 * adopted containers outlive the kubelet and a restarted one reopens it.
 * Read and write, so it never reads as end of file while no supervisor has
 * it open. Events are an optimisation over polling status(): on any trouble
 * the runtime goes on without them (-1). */
int runc_events_open(runc_runtime_t *rt)
{
    if (mkfifo(rt->events, 0600) < 0 && errno != EEXIST) {
        if (rt->host->log)
            rt->host->log(rt->host, KL_LOG_WARN, "runtime/runc: cannot create the event FIFO %s: %s; exits are "
                          "seen on the next status poll", rt->events, strerror(errno));
        return -1;
    }
    int fd = open(rt->events, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
        return fd;
    int error = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    if (rt->host->log)
        rt->host->log(rt->host, KL_LOG_WARN, "runtime/runc: cannot open the event FIFO %s: %s; exits are seen "
                      "on the next status poll", rt->events,
                      error ? strerror(error) : "something else is there (remove it)");
    return -1;
}

int runc_events_fd(void *runtime)
{
    return ((runc_runtime_t *)runtime)->events_fd;
}

/* One complete line from the FIFO: an id for changed(), or noise to skip. */
static void event_line_done(runc_runtime_t *rt, void (*changed)(const char *id, void *arg), void *arg)
{
    char id[KL_CONTAINER_ID_MAX];
    memcpy(id, rt->event_line, rt->event_used);
    id[rt->event_used] = '\0';
    int overlong = rt->event_overlong;
    rt->event_used = 0;
    rt->event_overlong = 0;
    if (!overlong && id[0] && runc_id_check(id, NULL) == 0) {
        changed(id, arg);  /* a copy: changed() may call back into the runtime */
    } else if ((overlong || id[0]) && rt->host->log) {
        /* Only supervisors should write here; anything else is ignored. */
        rt->host->log(rt->host, KL_LOG_DEBUG, "runtime/runc: ignoring a line in %s that is no container id: "
                      "\"%.64s%s\"", rt->events, id, overlong ? "..." : "");
    }
}

int runc_events_read(void *runtime, void (*changed)(const char *id, void *arg), void *arg, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    if (!changed)
        return kl_error_set(err, KL_ERR_INVALID, "events_read needs a changed function");
    if (rt->events_fd < 0)
        return 0;
    char chunk[4096];
    /* Bounded, so a flood cannot hold the kubelet's thread: poll() reports
     * the fd readable again for what is left. */
    for (int reads = 0; reads < RUNC_EVENTS_READS_MAX; reads++) {
        ssize_t got = read(rt->events_fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (got < 0)
            return kl_error_set(err, KL_ERR_INTERNAL, "cannot read the event FIFO %s: %s", rt->events,
                                strerror(errno));
        if (got == 0)
            return 0;  /* no writer at all; cannot happen while we hold one */
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] == '\n')
                event_line_done(rt, changed, arg);
            else if (rt->event_used + 1 < sizeof rt->event_line)
                rt->event_line[rt->event_used++] = chunk[i];
            else
                rt->event_overlong = 1;
        }
    }
    return 0;
}
