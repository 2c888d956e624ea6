/* Logging: timestamped lines on stderr, one write per line so lines from
 * different threads never interleave. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static atomic_int current_level = KL_LOG_INFO;

static const char *level_names[] = {"error", "warn", "info", "debug"};

void kl_log_set_level(kl_log_level_t level)
{
    atomic_store(&current_level, (int)level);
}

kl_log_level_t kl_log_get_level(void)
{
    return (kl_log_level_t)atomic_load(&current_level);
}

int kl_log_level_parse(const char *text, kl_log_level_t *level)
{
    for (int i = 0; i < 4; i++) {
        if (text && strcasecmp(text, level_names[i]) == 0) {
            *level = (kl_log_level_t)i;
            return 0;
        }
    }
    return -1;
}

void kl_vlog(kl_log_level_t level, const char *component, const char *fmt, va_list ap)
{
    if ((int)level > atomic_load(&current_level))
        return;
    char line[2048];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, now.tv_nsec / 1000000,
                     level_names[level <= KL_LOG_DEBUG ? level : KL_LOG_DEBUG],
                     component ? component : "keelson");
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t written = write(STDERR_FILENO, line, len);
    (void)written;
}

void kl_log(kl_log_level_t level, const char *component, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kl_vlog(level, component, fmt, ap);
    va_end(ap);
}
