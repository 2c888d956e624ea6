/* Running plugin code so that a crash in it does not end the daemon. */
#ifndef KL_CORE_PLUGIN_GUARD_H
#define KL_CORE_PLUGIN_GUARD_H

typedef void (*kl_guarded_fn)(void *arg);

/* Calls fn(arg). Returns 0 when it returned, or the signal number when it
 * crashed with SIGSEGV, SIGBUS, SIGILL or SIGFPE on this thread; the call is
 * then abandoned half-way, and the plugin must not be called again. */
int kl_guard_run(kl_guarded_fn fn, void *arg);

/* "SIGSEGV, an invalid memory access", for messages. */
const char *kl_guard_signal_text(int sig);

#endif
