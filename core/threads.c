/* Thread names and real-time priorities: see threads.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <czmq.h>

#include "log.h"
#include "threads.h"

#define LOG "threads"

/* Written once at start-up, before any thread that reads it exists. */
static int realtime;

static int set_policy(int policy, int priority)
{
    struct sched_param param = {.sched_priority = priority};
    /* RESET_ON_FORK: a container runtime's child processes, and threads
     * that plugins start, never inherit the control plane's priority. */
    return sched_setscheduler(0, policy | SCHED_RESET_ON_FORK, &param);
}

int kl_threads_use_realtime(kl_error_t *err)
{
    /* Probe on this thread first: libzmq aborts when it cannot apply a
     * policy it was given to its I/O threads. */
    if (set_policy(SCHED_RR, KL_THREAD_PRIORITY_API) < 0) {
        int error = errno;
        return kl_error_set(err, KL_ERR_UNAVAILABLE,
                            "cpu_priority = \"realtime\": this process may not use real-time "
                            "priorities (%s); run keelsond as root or with CAP_SYS_NICE, or raise "
                            "its RLIMIT_RTPRIO to %d",
                            strerror(error), KL_THREAD_PRIORITY_API);
    }
    set_policy(SCHED_OTHER, 0);
    zsys_set_thread_sched_policy(SCHED_RR);
    zsys_set_thread_priority(KL_THREAD_PRIORITY_CONTROL);
    realtime = 1;
    return 0;
}

void kl_thread_begin(const char *name, kl_thread_role_t role)
{
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", name);
    pthread_setname_np(pthread_self(), short_name);
    if (!realtime || role == KL_THREAD_PLAIN)
        return;
    int priority = role == KL_THREAD_API ? KL_THREAD_PRIORITY_API : KL_THREAD_PRIORITY_CONTROL;
    if (set_policy(SCHED_RR, priority) < 0)
        kl_warn(LOG, "thread %s stays at the normal priority: %s", short_name, strerror(errno));
}
