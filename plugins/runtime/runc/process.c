/* runtime/runc: running umoci and runc without a shell, and the fork()
 * helpers the supervisor (supervisor.c) shares. Between fork() and
 * exec()/_exit() only async-signal-safe calls are made: the kubelet's
 * process has other threads whose locks a child may inherit. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runc.h"

int64_t runc_realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t runc_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Closes every descriptor from `first` up, so a child holds none of the
 * kubelet's sockets and files (a held ZeroMQ socket would keep ports alive). */
void runc_close_from(int first)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < (max > 0 ? max : 65536); fd++)
        close((int)fd);
}

/* Signal dispositions set to "ignore" survive exec; the child starts clean. */
void runc_reset_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &dfl, NULL);
}

void runc_write_all(int fd, const char *text, size_t length)
{
    while (length > 0) {
        ssize_t n = write(fd, text, length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        text += n;
        length -= (size_t)n;
    }
}

int runc_exit_status_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return 255;
}

int runc_wait_child(pid_t pid, int *status)
{
    for (;;) {
        pid_t got = waitpid(pid, status, 0);
        if (got == pid)
            return 0;
        if (got < 0 && errno != EINTR)
            return -1;
    }
}

/* Keeps the tail of a stream: the last words of a failing tool matter most. */
static void tail_append(char *buf, size_t size, size_t *used, const char *data, size_t length)
{
    if (size == 0)
        return;
    if (length >= size - 1) {
        data += length - (size - 1);
        length = size - 1;
    }
    if (*used + length > size - 1) {
        size_t drop = *used + length - (size - 1);
        memmove(buf, buf + drop, *used - drop);
        *used -= drop;
    }
    memcpy(buf + *used, data, length);
    *used += length;
    buf[*used] = '\0';
}

int runc_command_run(char *const argv[], int timeout_ms, char **out, char *errbuf, size_t errsize)
{
    int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 };
    size_t err_used = 0;
    if (errsize)
        errbuf[0] = '\0';
    if (out)
        *out = NULL;
    if (pipe2(out_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0) {
        snprintf(errbuf, errsize, "cannot create a pipe: %s", strerror(errno));
        if (out_pipe[0] >= 0) {
            close(out_pipe[0]);
            close(out_pipe[1]);
        }
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(errbuf, errsize, "cannot fork: %s", strerror(errno));
        close(out_pipe[0]);
        close(out_pipe[1]);
        close(err_pipe[0]);
        close(err_pipe[1]);
        return -1;
    }
    if (pid == 0) {
        runc_reset_signals();
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out_pipe[1], 1) < 0 || dup2(err_pipe[1], 2) < 0)
            _exit(127);
        runc_close_from(3);
        execvp(argv[0], argv);
        static const char message[] = "cannot run the program: not found or not executable\n";
        runc_write_all(2, message, sizeof message - 1);
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);

    char *collected = NULL;
    size_t collected_used = 0, collected_size = 0;
    int open_streams = 2, timed_out = 0, failed = 0;
    struct pollfd fds[2] = { { .fd = out_pipe[0], .events = POLLIN }, { .fd = err_pipe[0], .events = POLLIN } };
    int64_t deadline = runc_monotonic_ms() + timeout_ms;
    while (open_streams > 0) {
        int64_t left = deadline - runc_monotonic_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int n = poll(fds, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t got = read(fds[i].fd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_streams--;
                continue;
            }
            if (i == 1) {
                tail_append(errbuf, errsize, &err_used, chunk, (size_t)got);
            } else if (out && !failed) {
                if (collected_used + (size_t)got + 1 > collected_size) {
                    size_t size = collected_size ? collected_size * 2 : 8192;
                    while (size < collected_used + (size_t)got + 1)
                        size *= 2;
                    char *bigger = realloc(collected, size);
                    if (!bigger) {
                        failed = 1;
                        continue;
                    }
                    collected = bigger;
                    collected_size = size;
                }
                memcpy(collected + collected_used, chunk, (size_t)got);
                collected_used += (size_t)got;
                collected[collected_used] = '\0';
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    if (runc_wait_child(pid, &status) < 0 || timed_out || failed) {
        if (timed_out)
            snprintf(errbuf, errsize, "%s did not finish within %d ms", argv[0], timeout_ms);
        else if (failed)
            snprintf(errbuf, errsize, "out of memory reading the output of %s", argv[0]);
        free(collected);
        return -1;
    }
    /* Tools end their messages with a newline; the sentence reads better without. */
    while (err_used > 0 && (errbuf[err_used - 1] == '\n' || errbuf[err_used - 1] == ' '))
        errbuf[--err_used] = '\0';
    if (out)
        *out = collected ? collected : strdup("");
    else
        free(collected);
    return runc_exit_status_code(status);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DP)
        return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
    return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int runc_tree_remove(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -1;
    return nftw(path, remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}
