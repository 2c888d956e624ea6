/* How the daemon's long-lived threads start: each takes a name that `top -H`
 * and /proc show, and with cpu_priority = "realtime" the control plane's
 * threads run at a real-time priority, so that work sharing the machine
 * (kubelets, containers, builds) never keeps the API server waiting. */
#ifndef KL_CORE_THREADS_H
#define KL_CORE_THREADS_H

#include <keelson/error.h>

typedef enum kl_thread_role {
    KL_THREAD_PLAIN,    /* the kernel's normal policy, whatever the setting */
    KL_THREAD_CONTROL,  /* scheduler, bus broker, controllers */
    KL_THREAD_API       /* API servers: above the rest of the control plane */
} kl_thread_role_t;

/* Real-time levels (SCHED_RR): low, so the kernel's own real-time threads
 * stay above them; the bus's I/O threads run at the control level. */
#define KL_THREAD_PRIORITY_CONTROL 1
#define KL_THREAD_PRIORITY_API 2

/* Turns real-time priorities on for threads begun afterwards, and for the
 * bus's I/O threads. Must run before the process opens its first bus
 * socket. Fails, leaving every thread at the normal policy, when this
 * process may not use real-time priorities (no CAP_SYS_NICE and no
 * RLIMIT_RTPRIO allowance). */
int kl_threads_use_realtime(kl_error_t *err);

/* Called first thing on a new thread: names it (at most 15 characters are
 * kept) and gives it its role's priority. Threads created by fork() or by
 * this thread start at the normal policy again. */
void kl_thread_begin(const char *name, kl_thread_role_t role);

#endif
