/* runtime/podman: running the podman program without a shell, and parsing
 * the quantities and times that cross between keelson and podman. Between
 * fork() and exec() only async-signal-safe calls: the kubelet has threads. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "podman.h"

int64_t podman_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The child must hold none of the kubelet's sockets: a held ZeroMQ socket
 * would keep its port alive after the daemon exits. */
static void close_from(int first)
{
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)first, ~0U, 0) == 0)
        return;
#endif
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = first; fd < (max > 0 ? max : 65536); fd++)
        close((int)fd);
}

static void reset_signals(void)
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

/* Keeps the tail: the last words of a failing program matter most. */
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

static int buffer_append(char **buf, size_t *used, size_t *size, const char *data, size_t length)
{
    if (*used + length + 1 > *size) {
        size_t bigger = *size ? *size * 2 : 8192;
        while (bigger < *used + length + 1)
            bigger *= 2;
        char *grown = realloc(*buf, bigger);
        if (!grown)
            return -1;
        *buf = grown;
        *size = bigger;
    }
    memcpy(*buf + *used, data, length);
    *used += length;
    (*buf)[*used] = '\0';
    return 0;
}

int podman_command_run(char *const argv[], const char *workdir, int timeout_ms, int merge, char **out,
                       char *errbuf, size_t errsize, int watch_fd, podman_watch_fn watch, void *watch_arg)
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
        reset_signals();
        int null = open("/dev/null", O_RDONLY);
        if (null < 0 || dup2(null, 0) < 0 || dup2(out_pipe[1], 1) < 0
            || dup2(merge ? out_pipe[1] : err_pipe[1], 2) < 0)
            _exit(127);
        close_from(3);
        if (workdir && chdir(workdir) < 0)
            _exit(127);
        execvp(argv[0], argv);
        static const char message[] = "cannot run the program: not found or not executable\n";
        (void)!write(2, message, sizeof message - 1);
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);

    char *collected = NULL;
    size_t collected_used = 0, collected_size = 0;
    int open_streams = 2, timed_out = 0, failed = 0;
    /* poll() skips a negative fd: fds[2] is the caller's watch, if any. */
    struct pollfd fds[3] = { { .fd = out_pipe[0], .events = POLLIN }, { .fd = err_pipe[0], .events = POLLIN },
                             { .fd = watch ? watch_fd : -1, .events = POLLIN } };
    int64_t deadline = podman_monotonic_ms() + timeout_ms;
    while (open_streams > 0) {
        int64_t left = deadline - podman_monotonic_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        int n = poll(fds, 3, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (fds[2].fd >= 0 && (fds[2].revents & (POLLIN | POLLHUP | POLLERR)))
            fds[2].fd = watch(watch_arg);
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[8192];
            ssize_t got = read(fds[i].fd, chunk, sizeof chunk);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_streams--;
                continue;
            }
            if (i == 1)
                tail_append(errbuf, errsize, &err_used, chunk, (size_t)got);
            else if (out && !failed)
                failed = buffer_append(&collected, &collected_used, &collected_size, chunk, (size_t)got) < 0;
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (timed_out)
        kill(pid, SIGKILL);
    int status = 0;
    pid_t got;
    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (got != pid || timed_out || failed) {
        if (timed_out)
            snprintf(errbuf, errsize, "%s did not finish within %d ms", argv[0], timeout_ms);
        else if (failed)
            snprintf(errbuf, errsize, "out of memory reading the output of %s", argv[0]);
        else
            snprintf(errbuf, errsize, "cannot wait for %s: %s", argv[0], strerror(errno));
        free(collected);
        return -1;
    }
    /* podman ends its messages with a newline; a sentence reads better without. */
    while (err_used > 0 && (errbuf[err_used - 1] == '\n' || errbuf[err_used - 1] == ' '))
        errbuf[--err_used] = '\0';
    if (out)
        *out = collected ? collected : strdup("");
    else
        free(collected);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
}

typedef struct quantity_suffix {
    const char *text;
    long double factor;
} quantity_suffix_t;

static const quantity_suffix_t quantity_suffixes[] = {
    { "", 1 }, { "m", 1e-3L }, { "k", 1e3L }, { "M", 1e6L }, { "G", 1e9L }, { "T", 1e12L },
    { "P", 1e15L }, { "E", 1e18L }, { "Ki", 1024.0L }, { "Mi", 1048576.0L }, { "Gi", 1073741824.0L },
    { "Ti", 1099511627776.0L }, { "Pi", 1125899906842624.0L }, { "Ei", 1152921504606846976.0L },
};

int podman_quantity(const char *text, const char *what, int64_t scale, int64_t *out, kl_error_t *err)
{
    const char *p = text;
    long double value = 0, place = 1;
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++, digits++)
        value = value * 10 + (*p - '0');
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, digits++) {
            place /= 10;
            value += (*p - '0') * place;
        }
    if (digits == 0 || digits > 18)
        return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" is not a quantity like \"500m\", \"2\" or \"64Mi\"",
                            what, text);
    const quantity_suffix_t *suffix = NULL;
    for (size_t i = 0; i < sizeof quantity_suffixes / sizeof quantity_suffixes[0]; i++)
        if (strcmp(p, quantity_suffixes[i].text) == 0)
            suffix = &quantity_suffixes[i];
    if (!suffix)
        return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" has an unknown unit \"%.8s\" (use m, k, M, G, Ki, Mi, Gi...)",
                            what, text, p);
    /* Rounded up, as Kubernetes does, so a limit is never made tighter. */
    long double scaled = value * suffix->factor * (long double)scale;
    if (scaled > 9.2e18L)
        return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" is too large", what, text);
    int64_t whole = (int64_t)scaled;
    if ((long double)whole < scaled - 1e-6L)
        whole++;
    *out = whole;
    return 0;
}

int64_t podman_time_ms(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!text)
        return 0;
    const char *rest = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest || tm.tm_year < 71)
        return 0;  /* "0001-01-01T00:00:00Z" is podman's "never" */
    int64_t ms = 0;
    if (*rest == '.') {
        int64_t place = 100;
        for (rest++; isdigit((unsigned char)*rest); rest++) {
            ms += (*rest - '0') * place;
            place /= 10;
        }
    }
    int64_t offset_s = 0;
    if (*rest == '+' || *rest == '-') {
        int hours = 0, minutes = 0;
        if (sscanf(rest + 1, "%2d:%2d", &hours, &minutes) == 2)
            offset_s = (*rest == '+' ? 1 : -1) * (hours * 3600 + minutes * 60);
    }
    return ((int64_t)timegm(&tm) - offset_s) * 1000 + ms;
}
