/* runtime/podman internals shared by its files: running the podman program
 * and the small parsers the plugin needs. Never installed. */
#ifndef KL_RUNTIME_PODMAN_H
#define KL_RUNTIME_PODMAN_H

#include <stddef.h>
#include <stdint.h>
#include <keelson/keelson.h>

/* Called while a command runs, each time the watched fd turns readable;
 * returns the fd to watch from then on, -1 for none. */
typedef int (*podman_watch_fn)(void *arg);

/* Runs argv (argv[0] looked up in PATH) without a shell, stdin from
 * /dev/null, for at most timeout_ms. Its stdout (and its stderr too when
 * `merge` is set) goes to *out (caller owns); otherwise the tail of stderr goes
 * to errbuf. Meanwhile watch(watch_arg) is called whenever watch_fd (if not
 * negative and watch is set) is readable. Returns the exit status (0..255,
 * 128+signal) or -1 when it could not run or timed out, with the reason in
 * errbuf. It runs in `workdir` when not NULL: conmon drops files in its
 * working folder, which must not be the daemon's. */
int podman_command_run(char *const argv[], const char *workdir, int timeout_ms, int merge, char **out,
                       char *errbuf, size_t errsize, int watch_fd, podman_watch_fn watch, void *watch_arg);

/* A Kubernetes quantity ("64Mi", "500m", "1.5G") scaled by `scale` and
 * rounded up: scale 1 gives bytes, scale 1000 gives millicores. */
int podman_quantity(const char *text, const char *what, int64_t scale, int64_t *out, kl_error_t *err);

/* RFC 3339 time as podman prints it -> milliseconds since the epoch, 0 when
 * absent or the zero time. */
int64_t podman_time_ms(const char *text);

int64_t podman_monotonic_ms(void);

#endif
