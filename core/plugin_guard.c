/* Plugin code run so that a crash in it is an error, not the end of the
 * daemon. A fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE) raised on a thread
 * while it runs a guarded call jumps back to kl_guard_run(); a fault
 * anywhere else goes to whatever handled it before (the default action, or
 * a sanitizer's report), as if no guard were installed.
 *
 * What a jump out cannot undo: memory the plugin allocated in the call, and
 * any lock it held. So the caller never calls the plugin again. abort() is
 * not caught: glibc's abort() keeps a lock that a jump would leave held. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

#include "plugin_guard.h"

static const int guarded_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
#define GUARDED_COUNT (sizeof guarded_signals / sizeof guarded_signals[0])

static struct sigaction previous[GUARDED_COUNT];
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int installed;

static __thread sigjmp_buf *current_jump;
static __thread volatile sig_atomic_t caught_signal;

static void on_fault(int sig, siginfo_t *info, void *context)
{
    (void)context;
    sigjmp_buf *jump = current_jump;
    if (jump) {
        current_jump = NULL;
        caught_signal = sig;
        siglongjmp(*jump, 1);
    }
    /* Not plugin code: give the signal back to its former handler. A fault
     * then happens again on return, and a raise() is repeated. */
    for (size_t i = 0; i < GUARDED_COUNT; i++)
        if (guarded_signals[i] == sig)
            sigaction(sig, &previous[i], NULL);
    if (info && info->si_code <= 0)
        raise(sig);
}

static void install(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    /* SA_NODEFER: the signal is not blocked while the handler runs, so the
     * jump out leaves the mask as it was and sigsetjmp need not save it. */
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < GUARDED_COUNT; i++)
        if (sigaction(guarded_signals[i], &action, &previous[i]) != 0)
            return;
    installed = 1;
}

int kl_guard_run(kl_guarded_fn fn, void *arg)
{
    pthread_once(&install_once, install);
    if (!installed || current_jump) {
        fn(arg);  /* no handler, or already inside a guarded call */
        return 0;
    }
    sigjmp_buf jump;
    caught_signal = 0;
    if (sigsetjmp(jump, 0) != 0)
        return caught_signal;
    current_jump = &jump;
    fn(arg);
    current_jump = NULL;
    return 0;
}

const char *kl_guard_signal_text(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV, an invalid memory access";
    case SIGBUS: return "SIGBUS, a bus error";
    case SIGILL: return "SIGILL, an illegal instruction";
    case SIGFPE: return "SIGFPE, an arithmetic fault";
    default: return "a fatal signal";
    }
}
