/* Process-wide logging for the core: one line per event on stderr, with the
 * component that logged it. Thread-safe. */
#ifndef KL_CORE_LOG_H
#define KL_CORE_LOG_H

#include <keelson/host.h>

void kl_log_set_level(kl_log_level_t level);
kl_log_level_t kl_log_get_level(void);
/* "error", "warn", "info", "debug"; returns -1 for anything else. */
int kl_log_level_parse(const char *text, kl_log_level_t *level);

void kl_log(kl_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void kl_vlog(kl_log_level_t level, const char *component, const char *fmt, va_list ap);

#define kl_error_log(comp, ...) kl_log(KL_LOG_ERROR, comp, __VA_ARGS__)
#define kl_warn(comp, ...) kl_log(KL_LOG_WARN, comp, __VA_ARGS__)
#define kl_info(comp, ...) kl_log(KL_LOG_INFO, comp, __VA_ARGS__)
#define kl_debug(comp, ...) kl_log(KL_LOG_DEBUG, comp, __VA_ARGS__)

#endif
