/* runtime/podman: runs each container with the podman program (no daemon,
 * no shell), in storage of its own so keelson's containers and images stay
 * apart from the machine's. Containers carry io.keelson.* labels, so a
 * restarted kubelet finds them again with list(). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "podman.h"

#define PODMAN_COMMAND_TIMEOUT_MS 30000
#define PODMAN_RUN_TIMEOUT_MS 120000
#define PODMAN_PULL_TIMEOUT_MS 300000
#define PODMAN_KILL_WAIT_S 5           /* after the grace period, for SIGKILL to land */
#define PODMAN_ARGS_MAX 256
#define PODMAN_REFERENCE_MAX 512
#define PODMAN_PRESENT_MAX 32
#define PODMAN_FRESH_PULL_MS 10000     /* a pull this recent satisfies Always at start() */
#define PODMAN_FULL_ID 64
/* A cached RUNNING or EXITED answer is re-checked this often even without an
 * exit file: the safety net for an exit conmon could not report. */
#define PODMAN_STATUS_TRUST_MS 1000
/* An inspect that still says running this long after the exit file
 * appeared means the file was stale (e.g. a restart): trust it again. */
#define PODMAN_EXIT_STALE_MS 2000
#define PODMAN_KNOWN_MAX 4096
#define PODMAN_EVENTS_READ_MAX (256 * 1024)  /* of the event log, per start */
#define PODMAN_WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO)

#define LABEL_NAMESPACE "io.keelson.pod.namespace"
#define LABEL_NAME "io.keelson.pod.name"
#define LABEL_UID "io.keelson.pod.uid"
#define LABEL_CONTAINER "io.keelson.container"

/* On cgroup v1 the kernel counts an OOM kill only in the killed process's
 * own memory cgroup, which podman deletes as the container exits. keelson
 * puts the memory limit on a parent cgroup of its own instead, one per
 * container, whose peak usage outlives the container. */
#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_PARENT "keelson-podman"
#define CONMON_HEADROOM_BYTES (16LL * 1024 * 1024)  /* conmon and its buffers, beside the container */

/* What this instance last learnt of one container, so status() can answer
 * without starting podman while nothing has changed. */
typedef struct known_container {
    char id[PODMAN_FULL_ID + 1];
    kl_container_status_t status;
    int64_t checked_ms;     /* monotonic time `status` was learnt (start, inspect, exit file); 0: never */
    int64_t exit_seen_ms;   /* an exit file appeared that no inspect has shown yet; 0: none */
    /* What that exit file said, read at once: podman's cleanup deletes it
     * some 40 ms after conmon writes it. */
    int exit_read;
    int exit_code;
    int64_t exit_ms;        /* the file's ctime, which podman takes as FinishedAt */
    int cgroup_known;       /* `cgroup` is set: remove() needs no inspect */
    char cgroup[160];       /* keelson's own parent cgroup of the container, "" for none */
} known_container_t;

typedef struct podman_runtime {
    const kl_host_t *host;
    const char *podman;          /* all borrowed from the host table */
    const char *root;
    const char *runroot;
    const char *runtime;
    const char *cgroup_manager;
    char tmpdir[4200];           /* podman's own state: kept apart from /run/libpod */
    int memcg_v1;                /* the memory controller is cgroup v1 and ours to write */
    /* Images this instance saw in storage: IfNotPresent then needs no
     * `podman image exists` per container. A run that finds one gone drops
     * it (image_forget). A ring, so it stays small. */
    char *present[PODMAN_PRESENT_MAX];
    size_t present_next;
    char *fresh_image;           /* the image `podman pull` fetched last, and when */
    int64_t fresh_ms;
    /* conmon renames the exit code of a container into <tmpdir>/exits/<full
     * id> as it exits. Two inotify watches on that folder: events_fd is the
     * kubelet's, watch_fd is drained by status() so the cache below learns
     * of an exit even when the kubelet never reads events_fd. */
    char exits_dir[4300];
    char events_log[4300];       /* podman's event log (--events-backend file): start times */
    char containers_dir[4200];   /* <root>/<driver>-containers once seen: conmon's bundles */
    int events_fd;
    int watch_fd;
    known_container_t *known;
    size_t known_count, known_size;
    int starting;                /* start() is running podman: see note_exit() */
} podman_runtime_t;

static const kl_setting_spec_t podman_settings[] = {
    { "podman", KL_SETTING_STRING, 0, "podman program, found on PATH unless a path (default podman)" },
    { "root", KL_SETTING_STRING, 0,
      "podman storage root for keelson's images and containers (default /var/lib/keelson/podman)" },
    { "runroot", KL_SETTING_STRING, 0, "podman run-time state folder (default /run/keelson/podman)" },
    { "runtime", KL_SETTING_STRING, 0, "OCI runtime podman uses (default runc)" },
    { "cgroup_manager", KL_SETTING_STRING, 0, "podman cgroup manager: cgroupfs or systemd (default cgroupfs)" },
    KL_SETTINGS_END
};

/* ---- settings ---- */

static int check_dir_setting(const char *name, const char *value, kl_error_t *err)
{
    if (!value || value[0] != '/' || strlen(value) > 1024 || strstr(value, "/../") || strstr(value, "/./"))
        return kl_error_set(err, KL_ERR_INVALID,
                            "runtime/podman setting %s \"%s\" must be an absolute path of at most 1024 characters",
                            name, value ? value : "");
    return 0;
}

static int check_word_setting(const char *name, const char *value, kl_error_t *err)
{
    if (!value || value[0] == '\0' || value[0] == '-' || strlen(value) > 1024)
        return kl_error_set(err, KL_ERR_INVALID, "runtime/podman setting %s \"%s\" must name a program or a mode",
                            name, value ? value : "");
    return 0;
}

static int mkdir_parents(const char *path, mode_t mode)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(copy, mode) < 0 && errno != EEXIST ? -1 : 0;
}

__attribute__((format(printf, 3, 4)))
static void podman_log(const podman_runtime_t *rt, kl_log_level_t level, const char *fmt, ...)
{
    if (!rt->host || !rt->host->log)
        return;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    rt->host->log(rt->host, level, "%s", text);
}

/* An inotify watch on the exits folder, or -1 (logged) when the kernel or
 * the folder refuses one. Non-blocking: readers drain it. */
static int exit_watch_open(const podman_runtime_t *rt, const char *without)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, rt->exits_dir, PODMAN_WATCH_MASK) < 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        podman_log(rt, KL_LOG_WARN, "runtime/podman cannot watch %s for container exits: %s; %s", rt->exits_dir,
                   strerror(saved), without);
        return -1;
    }
    return fd;
}

static void *podman_open(const kl_host_t *host, kl_error_t *err)
{
    if (!host || !host->setting_string) {
        kl_error_set(err, KL_ERR_INVALID, "runtime/podman needs a host table with settings");
        return NULL;
    }
    podman_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/podman: out of memory");
        return NULL;
    }
    rt->host = host;
    rt->events_fd = rt->watch_fd = -1;
    rt->podman = host->setting_string(host, "podman", "podman");
    rt->root = host->setting_string(host, "root", "/var/lib/keelson/podman");
    rt->runroot = host->setting_string(host, "runroot", "/run/keelson/podman");
    rt->runtime = host->setting_string(host, "runtime", "runc");
    rt->cgroup_manager = host->setting_string(host, "cgroup_manager", "cgroupfs");
    if (check_word_setting("podman", rt->podman, err) < 0 || check_dir_setting("root", rt->root, err) < 0
        || check_dir_setting("runroot", rt->runroot, err) < 0 || check_word_setting("runtime", rt->runtime, err) < 0
        || check_word_setting("cgroup_manager", rt->cgroup_manager, err) < 0)
        goto fail;
    if (strcmp(rt->cgroup_manager, "cgroupfs") != 0 && strcmp(rt->cgroup_manager, "systemd") != 0) {
        kl_error_set(err, KL_ERR_INVALID, "runtime/podman setting cgroup_manager \"%s\" must be cgroupfs or systemd",
                     rt->cgroup_manager);
        goto fail;
    }
    snprintf(rt->tmpdir, sizeof rt->tmpdir, "%s/libpod-tmp", rt->runroot);
    if (mkdir_parents(rt->root, 0700) < 0 || mkdir_parents(rt->tmpdir, 0700) < 0) {
        kl_error_set(err, KL_ERR_UNAVAILABLE, "runtime/podman cannot create root %s or runroot %s: %s", rt->root,
                     rt->runroot, strerror(errno));
        goto fail;
    }
    rt->memcg_v1 = strcmp(rt->cgroup_manager, "cgroupfs") == 0
                   && access(CGROUP_ROOT "/memory/memory.limit_in_bytes", W_OK) == 0;
    /* podman makes the folder with its first container; a watch needs it now. */
    snprintf(rt->exits_dir, sizeof rt->exits_dir, "%s/exits", rt->tmpdir);
    snprintf(rt->events_log, sizeof rt->events_log, "%s/events/events.log", rt->tmpdir);
    if (mkdir(rt->exits_dir, 0750) < 0 && errno != EEXIST)
        podman_log(rt, KL_LOG_WARN, "runtime/podman cannot create %s: %s", rt->exits_dir, strerror(errno));
    rt->events_fd = exit_watch_open(rt, "exits reach the kubelet on its sync tick only");
    rt->watch_fd = exit_watch_open(rt, "status() asks podman every time");
    return rt;
fail:
    free(rt);
    return NULL;
}

static void podman_close(void *runtime)
{
    podman_runtime_t *rt = runtime;
    if (!rt)
        return;
    for (size_t i = 0; i < PODMAN_PRESENT_MAX; i++)
        free(rt->present[i]);
    free(rt->fresh_image);
    if (rt->events_fd >= 0)
        close(rt->events_fd);
    if (rt->watch_fd >= 0)
        close(rt->watch_fd);
    free(rt->known);
    free(rt);
}

/* ---- running podman ---- */

typedef struct podman_args {
    podman_runtime_t *rt;
    char *argv[PODMAN_ARGS_MAX];
    char *owned[PODMAN_ARGS_MAX];  /* strings made for this command, freed with it */
    size_t count, owned_count;
    int overflow;
} podman_args_t;

static void args_add(podman_args_t *args, const char *text)
{
    if (args->count + 1 >= PODMAN_ARGS_MAX) {
        args->overflow = 1;
        return;
    }
    args->argv[args->count++] = (char *)text;
    args->argv[args->count] = NULL;
}

__attribute__((format(printf, 2, 3)))
static void args_addf(podman_args_t *args, const char *fmt, ...)
{
    va_list ap;
    char *text = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0 || args->owned_count >= PODMAN_ARGS_MAX) {
        if (n >= 0)
            free(text);
        args->overflow = 1;
        return;
    }
    args->owned[args->owned_count++] = text;
    args_add(args, text);
}

static void args_free(podman_args_t *args)
{
    for (size_t i = 0; i < args->owned_count; i++)
        free(args->owned[i]);
    args->owned_count = args->count = 0;
}

/* Every command names the private storage, so nothing touches the
 * machine's own podman images and containers. */
static void args_begin(podman_args_t *args, podman_runtime_t *rt)
{
    memset(args, 0, sizeof *args);
    args->rt = rt;
    args_add(args, rt->podman);
    args_add(args, "--root");
    args_add(args, rt->root);
    args_add(args, "--runroot");
    args_add(args, rt->runroot);
    args_add(args, "--tmpdir");
    args_add(args, rt->tmpdir);
    args_add(args, "--runtime");
    args_add(args, rt->runtime);
    args_add(args, "--cgroup-manager");
    args_add(args, rt->cgroup_manager);
    args_add(args, "--events-backend");
    args_add(args, "file");
}

static void exits_update(podman_runtime_t *rt);

static int exits_watched(void *arg)
{
    podman_runtime_t *rt = arg;
    exits_update(rt);
    return rt->watch_fd;
}

/* Exit files are read while podman runs too: a `podman run` or inspect
 * outlasts the ~40 ms an exit file lives. Whatever holds a known_container_t
 * pointer across this looks it up again: the table may move. */
static int args_run(podman_args_t *args, int timeout_ms, int merge, char **out, char *message, size_t size)
{
    if (args->overflow) {
        snprintf(message, size, "too many arguments for podman");
        if (out)
            *out = NULL;
        return -1;
    }
    return podman_command_run(args->argv, args->rt->tmpdir, timeout_ms, merge, out, message, size,
                              args->rt->watch_fd, exits_watched, args->rt);
}

static int message_has(const char *message, const char *const words[])
{
    for (size_t i = 0; words[i]; i++)
        if (strcasestr(message, words[i]))
            return 1;
    return 0;
}

static int is_image_missing(const char *message)
{
    static const char *const words[] = { "image not known", "no such image", "unable to find", NULL };
    return message_has(message, words);
}

static int is_no_such_container(const char *message)
{
    static const char *const words[] = { "no such container", "no container with", NULL };
    return message_has(message, words);
}

/* podman reports pull failures as text: map them onto the ABI's codes. */
static int pull_error_code(const char *message)
{
    static const char *const unavailable[] = {
        "connection refused", "no such host", "dial tcp", "i/o timeout", "network is unreachable",
        "pinging container registry", "TLS handshake", "server gave HTTP response", "did not finish", NULL
    };
    static const char *const not_found[] = {
        "manifest unknown", "name unknown", "not found", "no such image", "does not exist", "unauthorized", NULL
    };
    static const char *const invalid[] = { "invalid reference", "repository name must", "invalid", NULL };
    if (message_has(message, unavailable))
        return KL_ERR_UNAVAILABLE;
    if (message_has(message, not_found))
        return KL_ERR_NOT_FOUND;
    if (message_has(message, invalid))
        return KL_ERR_INVALID;
    return KL_ERR_UNAVAILABLE;
}

/* podman's last line is its error; the retries above it only repeat it. */
static const char *last_line(const char *message)
{
    const char *newline = strrchr(message, '\n');
    return newline ? newline + 1 : message;
}

/* ---- references and ids ---- */

/* [host[:port]/]path[:tag] with lower-case path components, as registries
 * take them. Sets *has_registry when the first component names a host. */
static int reference_check(const char *reference, int *has_registry, kl_error_t *err)
{
    if (!reference || reference[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "container image is empty");
    size_t length = strlen(reference);
    if (length > PODMAN_REFERENCE_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "image reference \"%.64s...\" is longer than %d characters",
                            reference, PODMAN_REFERENCE_MAX);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)reference[i];
        if (c <= ' ' || c >= 0x7f)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference has a space, control or non-ASCII character at position %zu",
                                i + 1);
    }
    if (strchr(reference, '@'))
        return kl_error_set(err, KL_ERR_INVALID,
                            "image reference \"%s\": digest references are not supported yet, use NAME:TAG",
                            reference);
    const char *slash = strrchr(reference, '/');
    const char *colon = strrchr(slash ? slash : reference, ':');
    size_t path_length = colon ? (size_t)(colon - reference) : length;
    if (colon) {
        const char *tag = colon + 1;
        int good = tag[0] != '\0' && tag[0] != '.' && tag[0] != '-' && strlen(tag) < 128;
        for (const char *t = tag; good && *t; t++)
            good = (*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') || *t == '_'
                   || *t == '.' || *t == '-';
        if (!good)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference \"%s\" has a bad tag \"%s\": a tag is up to 127 letters, digits, "
                                "'_', '.' or '-'", reference, tag);
    }
    const char *first_slash = memchr(reference, '/', path_length);
    size_t head = first_slash ? (size_t)(first_slash - reference) : 0;
    int registry = first_slash
                   && (memchr(reference, '.', head) || memchr(reference, ':', head)
                       || (head == 9 && strncmp(reference, "localhost", 9) == 0));
    if (registry) {
        for (const char *c = reference; c < first_slash; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '.'
                  || *c == '-' || *c == ':'))
                return kl_error_set(err, KL_ERR_INVALID, "image reference \"%s\" has a bad registry \"%.*s\"",
                                    reference, (int)head, reference);
    }
    const char *end = reference + path_length;
    for (const char *start = registry ? first_slash + 1 : reference;;) {
        const char *next = memchr(start, '/', (size_t)(end - start));
        const char *stop = next ? next : end;
        int good = stop > start && *start != '.' && *start != '_' && *start != '-' && stop[-1] != '.'
                   && stop[-1] != '_' && stop[-1] != '-';
        for (const char *c = start; good && c < stop; c++)
            good = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' || *c == '-';
        if (!good)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference \"%s\" is not NAME[:TAG]: path component \"%.*s\" must be "
                                "lower-case letters and digits separated by '.', '_' or '-'",
                                reference, (int)(stop - start > 64 ? 64 : stop - start), start);
        if (!next)
            break;
        start = next + 1;
    }
    if (has_registry)
        *has_registry = registry;
    return 0;
}

/* Ids are podman's: hex, 12 to 64 digits. Anything else could be an option. */
static int id_check(const char *id, kl_error_t *err)
{
    if (!id || id[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "container id is empty");
    size_t length = strnlen(id, KL_CONTAINER_ID_MAX);
    int good = length >= 12 && length <= 64;
    for (const char *p = id; good && *p; p++)
        good = (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f');
    if (!good)
        return kl_error_set(err, KL_ERR_INVALID, "container id \"%.128s\" was not made by runtime/podman", id);
    return 0;
}

/* ---- what is known of containers, and exit notification ---- */

/* podman's full id: exit files carry it, and start() returns it. */
static int is_full_id(const char *name)
{
    return strspn(name, "0123456789abcdef") == PODMAN_FULL_ID && name[PODMAN_FULL_ID] == '\0';
}

static known_container_t *known_find(podman_runtime_t *rt, const char *id)
{
    for (size_t i = 0; i < rt->known_count; i++)
        if (!strcmp(rt->known[i].id, id))
            return &rt->known[i];
    return NULL;
}

/* The entry of a full id, made when absent; NULL for a short id or when out
 * of memory (nothing is then cached, which is only slower). */
static known_container_t *known_add(podman_runtime_t *rt, const char *id)
{
    if (!is_full_id(id))
        return NULL;
    known_container_t *k = known_find(rt, id);
    if (k)
        return k;
    if (rt->known_count == rt->known_size) {
        if (rt->known_size >= PODMAN_KNOWN_MAX) {
            size_t oldest = 0;
            for (size_t i = 1; i < rt->known_count; i++)
                if (rt->known[i].checked_ms < rt->known[oldest].checked_ms)
                    oldest = i;
            rt->known[oldest] = rt->known[--rt->known_count];
        } else {
            size_t bigger = rt->known_size ? rt->known_size * 2 : 32;
            known_container_t *grown = realloc(rt->known, bigger * sizeof *grown);
            if (!grown)
                return NULL;
            rt->known = grown;
            rt->known_size = bigger;
        }
    }
    k = &rt->known[rt->known_count++];
    memset(k, 0, sizeof *k);
    memcpy(k->id, id, PODMAN_FULL_ID + 1);
    return k;
}

static void known_drop(podman_runtime_t *rt, const char *id)
{
    known_container_t *k = known_find(rt, id);
    if (!k)
        return;
    known_container_t *last = &rt->known[--rt->known_count];
    if (k != last)
        *k = *last;
}

/* The next status() asks podman: the container was just signalled or stopped. */
static void known_stale(podman_runtime_t *rt, const char *id)
{
    known_container_t *k = known_find(rt, id);
    if (k)
        k->checked_ms = 0;
}

static void known_stale_all(podman_runtime_t *rt)
{
    for (size_t i = 0; i < rt->known_count; i++)
        rt->known[i].checked_ms = 0;
}

/* Reads conmon's exit file of a container into k: 0 when it is there and
 * holds a plain exit code (conmon writes "%d", podman parses it with Atoi),
 * -1 otherwise, with k left as it was. It is runtime output: a FIFO, a big
 * file or anything but 0..255 in decimal is not trusted. */
static int exit_file_read(const podman_runtime_t *rt, known_container_t *k)
{
    char path[4400], text[8];
    snprintf(path, sizeof path, "%s/%s", rt->exits_dir, k->id);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return -1;
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size < (off_t)sizeof text)
        n = pread(fd, text, sizeof text - 1, 0);
    close(fd);
    if (n <= 0 || n != st.st_size || n > 3 || st.st_ctim.tv_sec <= 0)
        return -1;
    text[n] = '\0';
    if (strspn(text, "0123456789") != (size_t)n)
        return -1;
    int code = atoi(text);
    if (code > 255)
        return -1;
    k->exit_read = 1;
    k->exit_code = code;
    k->exit_ms = (int64_t)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
    return 0;
}

/* An inspect that already showed the exit may have read the file before
 * its notification was drained: that one is old news. Each watch reports
 * the same file: a second read that finds it gone keeps the first. While
 * start() runs podman, an unknown id may be the container being started:
 * its exit is kept for start() to find. */
static void note_exit(podman_runtime_t *rt, const char *id)
{
    known_container_t *k = rt->starting ? known_add(rt, id) : known_find(rt, id);
    if (!k || (k->checked_ms && k->status.state == KL_CONTAINER_EXITED))
        return;
    k->exit_seen_ms = podman_monotonic_ms();
    (void)exit_file_read(rt, k);
}

typedef void (*exit_found_fn)(podman_runtime_t *rt, const char *id, void *arg);

/* Reads what is pending on an exit watch without blocking and calls found()
 * per exit file that appeared (conmon writes a temporary name first, which
 * is skipped: only the rename to the bare id counts). Returns 0; 1 when news
 * was lost, so any container may have exited; -1 when the watch is dead. */
static int exit_watch_drain(podman_runtime_t *rt, int fd, exit_found_fn found, void *arg)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    int lost = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return lost;
        if (n <= 0) {
            podman_log(rt, KL_LOG_WARN, "runtime/podman: reading the watch on %s failed: %s", rt->exits_dir,
                       n < 0 ? strerror(errno) : "end of file");
            return -1;
        }
        for (size_t at = 0; at + sizeof(struct inotify_event) <= (size_t)n;) {
            const struct inotify_event *event = (const struct inotify_event *)(buf + at);
            at += sizeof *event + event->len;
            if (event->mask & IN_Q_OVERFLOW)
                lost = 1;
            if (event->mask & IN_IGNORED) {
                /* The folder itself went (a storage reset): watch a new one.
                 * Whatever exited in between was missed. */
                lost = 1;
                if (mkdir_parents(rt->tmpdir, 0700) < 0 || (mkdir(rt->exits_dir, 0750) < 0 && errno != EEXIST)
                    || inotify_add_watch(fd, rt->exits_dir, PODMAN_WATCH_MASK) < 0) {
                    podman_log(rt, KL_LOG_WARN, "runtime/podman: %s went away and cannot be watched again: %s",
                               rt->exits_dir, strerror(errno));
                    return -1;
                }
            }
            if (event->len && is_full_id(event->name))
                found(rt, event->name, arg);
        }
    }
}

static void exit_noted(podman_runtime_t *rt, const char *id, void *arg)
{
    (void)arg;
    note_exit(rt, id);
}

/* Brings the cache up to date with the exits conmon reported so far. */
static void exits_update(podman_runtime_t *rt)
{
    if (rt->watch_fd < 0)
        return;
    int rc = exit_watch_drain(rt, rt->watch_fd, exit_noted, NULL);
    if (rc != 0)
        known_stale_all(rt);
    if (rc < 0) {
        podman_log(rt, KL_LOG_WARN, "runtime/podman: status() asks podman every time from now on");
        close(rt->watch_fd);
        rt->watch_fd = -1;
    }
}

typedef struct id_list {
    char (*ids)[PODMAN_FULL_ID + 1];
    size_t count, size;
    int failed;
} id_list_t;

static void id_list_add(id_list_t *list, const char *id)
{
    for (size_t i = 0; i < list->count; i++)
        if (!strcmp(list->ids[i], id))
            return;
    if (list->count == list->size) {
        size_t bigger = list->size ? list->size * 2 : 16;
        char (*grown)[PODMAN_FULL_ID + 1] = realloc(list->ids, bigger * sizeof *grown);
        if (!grown) {
            list->failed = 1;
            return;
        }
        list->ids = grown;
        list->size = bigger;
    }
    snprintf(list->ids[list->count++], PODMAN_FULL_ID + 1, "%s", id);
}

static void exit_collected(podman_runtime_t *rt, const char *id, void *arg)
{
    note_exit(rt, id);
    id_list_add(arg, id);
}

static int podman_events_fd(void *runtime)
{
    podman_runtime_t *rt = runtime;
    return rt ? rt->events_fd : -1;
}

static int podman_events_read(void *runtime, void (*changed)(const char *id, void *arg), void *arg,
                              kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (!changed)
        return kl_error_set(err, KL_ERR_INVALID, "events_read needs a changed function");
    if (rt->events_fd < 0)
        return 0;
    id_list_t list = { 0 };
    int rc = exit_watch_drain(rt, rt->events_fd, exit_collected, &list);
    if (rc != 0) {
        known_stale_all(rt);
        for (size_t i = 0; i < rt->known_count; i++)
            id_list_add(&list, rt->known[i].id);
    }
    /* Ids are copied out first: changed() may call status(), which changes
     * the table. */
    for (size_t i = 0; i < list.count; i++)
        changed(list.ids[i], arg);
    free(list.ids);
    if (rc < 0)
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "runtime/podman: the watch on %s failed", rt->exits_dir);
    if (list.failed)
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/podman: out of memory reading container exits");
    return 0;
}

/* ---- images ---- */

static int image_known(const podman_runtime_t *rt, const char *image)
{
    for (size_t i = 0; i < PODMAN_PRESENT_MAX; i++)
        if (rt->present[i] && !strcmp(rt->present[i], image))
            return 1;
    return 0;
}

static void image_remember(podman_runtime_t *rt, const char *image)
{
    if (image_known(rt, image))
        return;
    char *copy = strdup(image);
    if (!copy)
        return;  /* only a cache: the next start asks podman again */
    free(rt->present[rt->present_next]);
    rt->present[rt->present_next] = copy;
    rt->present_next = (rt->present_next + 1) % PODMAN_PRESENT_MAX;
}

static void image_forget(podman_runtime_t *rt, const char *image)
{
    for (size_t i = 0; i < PODMAN_PRESENT_MAX; i++)
        if (rt->present[i] && !strcmp(rt->present[i], image)) {
            free(rt->present[i]);
            rt->present[i] = NULL;
        }
}

/* 1 when podman's storage has the image, 0 when not, -1 on error. */
static int image_present(podman_runtime_t *rt, const char *image, kl_error_t *err)
{
    if (image_known(rt, image))
        return 1;
    podman_args_t args;
    char message[1024];
    args_begin(&args, rt);
    args_add(&args, "image");
    args_add(&args, "exists");
    args_add(&args, image);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, message, sizeof message);
    args_free(&args);
    if (rc == 0)
        image_remember(rt, image);
    if (rc == 0 || rc == 1)
        return rc == 0;
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot ask %s whether image \"%s\" is present: %s", rt->podman,
                        image, message[0] ? last_line(message) : "it failed without a message");
}

static int podman_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    int has_registry = 0;
    if (policy != KL_PULL_IF_NOT_PRESENT && policy != KL_PULL_ALWAYS && policy != KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_INVALID, "pull policy %d of image \"%.64s\" is not IfNotPresent, Always "
                            "or Never", (int)policy, image ? image : "");
    if (reference_check(image, &has_registry, err) < 0)
        return -1;
    int present = image_present(rt, image, err);
    if (present < 0)
        return -1;
    if (present && policy != KL_PULL_ALWAYS)
        return KL_PULL_PRESENT;
    if (policy == KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" is not in podman storage %s and the pull policy "
                            "is Never", image, rt->root);
    /* A short name would send podman to the registries of registries.conf:
     * keelson pulls only from a registry the reference names. */
    if (!has_registry)
        return present ? KL_PULL_PRESENT
                       : kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" not found in podman storage %s, and a "
                                      "reference without a registry host is never pulled", image, rt->root);
    podman_args_t args;
    char message[2048];
    args_begin(&args, rt);
    args_add(&args, "pull");
    args_add(&args, "--quiet");
    args_add(&args, "--tls-verify=false");
    args_add(&args, image);
    int rc = args_run(&args, PODMAN_PULL_TIMEOUT_MS, 0, NULL, message, sizeof message);
    args_free(&args);
    if (rc == 0) {
        image_remember(rt, image);
        char *copy = strdup(image);
        if (copy) {
            free(rt->fresh_image);
            rt->fresh_image = copy;
            rt->fresh_ms = podman_monotonic_ms();
        }
        return 0;
    }
    const char *why = message[0] ? last_line(message) : "it failed without a message";
    return kl_error_set(err, pull_error_code(why), "cannot pull image \"%s\": %s", image, why);
}

/* ---- start ---- */

static int check_label(const char *what, const char *value, kl_error_t *err)
{
    if (!value || value[0] == '\0' || strlen(value) > 253)
        return kl_error_set(err, KL_ERR_INVALID, "container request: %s must be 1 to 253 characters", what);
    for (const char *p = value; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '=' || *p == ',')
            return kl_error_set(err, KL_ERR_INVALID, "container request: %s \"%.64s\" has a character podman "
                                "labels cannot hold", what, value);
    return 0;
}

/* kl-<pod>-<container>-<random hex>: unique and readable in `podman ps`. */
static int name_make(const kl_container_request_t *request, char *name, size_t size, kl_error_t *err)
{
    const char *container = request->container_name;
    if (strlen(container) > 63)
        return kl_error_set(err, KL_ERR_INVALID, "container name \"%.64s...\" is longer than 63 characters",
                            container);
    for (const char *p = container; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '-')
            return kl_error_set(err, KL_ERR_INVALID,
                                "container name \"%s\" must be lower-case letters, digits and '-'", container);
    char pod[41];
    size_t n = 0;
    for (const char *p = request->pod_name; *p && n < sizeof pod - 1; p++)
        pod[n++] = ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.') ? *p : '-';
    pod[n] = '\0';
    unsigned char random[4];
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long mix = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 16);
        memcpy(random, &mix, sizeof random);
    }
    snprintf(name, size, "kl-%s-%s-%02x%02x%02x%02x", pod, container, random[0], random[1], random[2], random[3]);
    return 0;
}

static const char *quantity_text(const json_t *value, char *buf, size_t size)
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_integer(value))
        snprintf(buf, size, "%lld", (long long)json_integer_value(value));
    else if (json_is_real(value))
        snprintf(buf, size, "%.9g", json_real_value(value));
    else
        return NULL;
    return buf;
}

/* Reads resources.limits: cpu in millicores, memory in bytes (0: none). */
static int read_limits(const json_t *container, const char *name, int64_t *millicores, int64_t *bytes,
                       kl_error_t *err)
{
    *millicores = *bytes = 0;
    const json_t *limits = json_object_get(json_object_get(container, "resources"), "limits");
    if (!limits || json_is_null(limits))
        return 0;
    if (!json_is_object(limits))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": resources.limits must be an object", name);
    char buf[64], what[128];
    const json_t *cpu = json_object_get(limits, "cpu");
    if (cpu) {
        const char *text = quantity_text(cpu, buf, sizeof buf);
        snprintf(what, sizeof what, "container \"%.64s\": resources.limits.cpu", name);
        if (!text)
            return kl_error_set(err, KL_ERR_INVALID, "%s must be a quantity string", what);
        if (podman_quantity(text, what, 1000, millicores, err) < 0)
            return -1;
        if (*millicores <= 0)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%s\" must be above zero", what, text);
    }
    const json_t *memory = json_object_get(limits, "memory");
    if (memory) {
        const char *text = quantity_text(memory, buf, sizeof buf);
        snprintf(what, sizeof what, "container \"%.64s\": resources.limits.memory", name);
        if (!text)
            return kl_error_set(err, KL_ERR_INVALID, "%s must be a quantity string", what);
        if (podman_quantity(text, what, 1, bytes, err) < 0)
            return -1;
        if (*bytes < 4 * 1024 * 1024)
            return kl_error_set(err, KL_ERR_INVALID, "%s \"%s\" is below the 4Mi a container needs to start", what,
                                text);
    }
    return 0;
}

static int add_env(podman_args_t *args, const json_t *container, const char *name, kl_error_t *err)
{
    const json_t *env = json_object_get(container, "env");
    if (!env || json_is_null(env))
        return 0;
    if (!json_is_array(env))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env must be a list", name);
    size_t i;
    const json_t *item;
    json_array_foreach(env, i, item) {
        const char *var = json_string_value(json_object_get(item, "name"));
        const json_t *value = json_object_get(item, "value");
        if (!var || var[0] == '\0' || strchr(var, '='))
            return kl_error_set(err, KL_ERR_INVALID,
                                "container \"%s\": env[%zu].name must be a non-empty string without '='", name, i);
        if (json_object_get(item, "valueFrom"))
            return kl_error_set(err, KL_ERR_INVALID,
                                "container \"%s\": env %s uses valueFrom, which runtime/podman cannot resolve",
                                name, var);
        if (value && !json_is_null(value) && !json_is_string(value))
            return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": env %s has a value that is not a string",
                                name, var);
        /* Always NAME=VALUE: a bare NAME would import the kubelet's own variable. */
        args_add(args, "--env");
        args_addf(args, "%s=%s", var, value ? json_string_value(value) ? json_string_value(value) : "" : "");
    }
    return 0;
}

/* A list of strings, or NULL when absent, null or empty (Kubernetes treats
 * an empty command as unset). */
static const json_t *string_list(const json_t *container, const char *key, const char *name, kl_error_t *err,
                                 int *failed)
{
    const json_t *list = json_object_get(container, key);
    *failed = 0;
    if (!list || json_is_null(list))
        return NULL;
    if (!json_is_array(list)) {
        *failed = 1;
        kl_error_set(err, KL_ERR_INVALID, "container \"%s\": %s must be a list of strings", name, key);
        return NULL;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(list, i, item) {
        if (!json_is_string(item)) {
            *failed = 1;
            kl_error_set(err, KL_ERR_INVALID, "container \"%s\": %s[%zu] is not a string", name, key, i);
            return NULL;
        }
    }
    return json_array_size(list) ? list : NULL;
}

static int pull_policy_of(const json_t *container, const char *name, kl_pull_policy_t *policy, kl_error_t *err)
{
    const json_t *value = json_object_get(container, "imagePullPolicy");
    *policy = KL_PULL_IF_NOT_PRESENT;
    if (!value || json_is_null(value))
        return 0;
    const char *text = json_string_value(value);
    if (text && !strcmp(text, "Always"))
        *policy = KL_PULL_ALWAYS;
    else if (text && !strcmp(text, "Never"))
        *policy = KL_PULL_NEVER;
    else if (!text || strcmp(text, "IfNotPresent") != 0)
        return kl_error_set(err, KL_ERR_INVALID,
                            "container \"%s\": imagePullPolicy must be Always, IfNotPresent or Never", name);
    return 0;
}

static void cgroup_dir(const char *controller, const char *name, const char *leaf, char *buf, size_t size)
{
    snprintf(buf, size, CGROUP_ROOT "/%s/" CGROUP_PARENT "/%s%s%s", controller, name, leaf ? "/" : "",
             leaf ? leaf : "");
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

/* Removes the per-container parent cgroup from every hierarchy. The
 * container's and conmon's cgroups under it go first: rmdir needs it empty. */
static void cgroup_parent_remove(const char *name)
{
    DIR *dir = opendir(CGROUP_ROOT);
    if (!dir)
        return;
    struct dirent *entry;
    char path[4096];
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char parent[4096];
        cgroup_dir(entry->d_name, name, NULL, parent, sizeof parent);
        DIR *inner = opendir(parent);
        if (!inner)
            continue;
        struct dirent *child;
        while ((child = readdir(inner)))
            if (child->d_type == DT_DIR && child->d_name[0] != '.') {
                snprintf(path, sizeof path, "%.3000s/%.255s", parent, child->d_name);
                rmdir(path);
            }
        closedir(inner);
        rmdir(parent);
        /* The shared folder goes with the last container; busy, it stays. */
        snprintf(path, sizeof path, CGROUP_ROOT "/%.255s/" CGROUP_PARENT, entry->d_name);
        rmdir(path);
    }
    closedir(dir);
}

/* Makes the memory-limited parent cgroup of a container (cgroup v1 only). */
static int cgroup_parent_make(const char *name, int64_t bytes, kl_error_t *err)
{
    char path[4096], value[32];
    cgroup_dir("memory", name, NULL, path, sizeof path);
    if (mkdir_parents(path, 0755) < 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot create memory cgroup %s: %s", path, strerror(errno));
    snprintf(value, sizeof value, "%lld", (long long)bytes);
    cgroup_dir("memory", name, "memory.limit_in_bytes", path, sizeof path);
    if (write_text(path, value) < 0) {
        int saved = errno;
        cgroup_parent_remove(name);
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot set the memory limit %s in %s: %s", value, path,
                            strerror(saved));
    }
    /* Without swap accounting the file is absent and swap is not limited. */
    cgroup_dir("memory", name, "memory.memsw.limit_in_bytes", path, sizeof path);
    if (access(path, F_OK) == 0)
        (void)write_text(path, value);
    return 0;
}

static int64_t cgroup_value(const char *name, const char *file)
{
    char path[4096];
    cgroup_dir("memory", name, file, path, sizeof path);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long long value = -1;
    if (fscanf(f, "%lld", &value) != 1)
        value = -1;
    fclose(f);
    return value;
}

/* The size of podman's event log before a run, so that only what the run
 * added is read after it; -1 when there is none yet. */
static off_t events_log_size(const podman_runtime_t *rt)
{
    struct stat st;
    return stat(rt->events_log, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
}

/* The time of the "start" event `podman run` logged for a container, a
 * millisecond or two after podman's StartedAt: wall clock ms, 0 when not
 * found (another log path in containers.conf, a rotated log). */
static int64_t events_log_start_ms(const podman_runtime_t *rt, const char *id, off_t from)
{
    int fd = open(rt->events_log, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return 0;
    struct stat st;
    char *text = NULL;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if (from < 0 || from > st.st_size)
            from = 0;  /* made, or rotated, by this run */
        /* Other podman processes append too (cleanups); past the bound the
         * wall clock stands in. */
        size_t length = (size_t)(st.st_size - from);
        if (length > PODMAN_EVENTS_READ_MAX)
            length = PODMAN_EVENTS_READ_MAX;
        text = malloc(length + 1);
        if (text)
            n = pread(fd, text, length, from);
    }
    close(fd);
    if (n < 0) {
        free(text);
        return 0;
    }
    text[n] = '\0';
    int64_t started = 0;
    for (char *line = text, *end; (end = memchr(line, '\n', (size_t)(text + n - line))); line = end + 1) {
        if (!memmem(line, (size_t)(end - line), id, PODMAN_FULL_ID))
            continue;
        json_t *event = json_loadb(line, (size_t)(end - line), 0, NULL);
        const char *event_id = json_string_value(json_object_get(event, "ID"));
        const char *status = json_string_value(json_object_get(event, "Status"));
        if (event_id && status && !strcmp(event_id, id) && !strcmp(status, "start"))
            started = podman_time_ms(json_string_value(json_object_get(event, "Time")));
        json_decref(event);
    }
    free(text);
    return started;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int podman_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                        kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (!request)
        return kl_error_set(err, KL_ERR_INVALID, "container request is missing");
    if (check_label("pod namespace", request->pod_namespace, err) < 0
        || check_label("pod name", request->pod_name, err) < 0 || check_label("pod uid", request->pod_uid, err) < 0
        || check_label("container name", request->container_name, err) < 0)
        return -1;
    const char *name = request->container_name;
    const json_t *container = request->container;
    if (!json_is_object(container))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" is not a JSON object", name);
    const char *image = json_string_value(json_object_get(container, "image"));
    if (!image)
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" has no image", name);

    /* Everything the pod asks is checked before anything is pulled or made. */
    int failed;
    const json_t *command = string_list(container, "command", name, err, &failed);
    if (failed)
        return -1;
    const json_t *run_args = string_list(container, "args", name, err, &failed);
    if (failed)
        return -1;
    const json_t *workdir = json_object_get(container, "workingDir");
    if (workdir && !json_is_null(workdir) && (!json_is_string(workdir) || json_string_value(workdir)[0] != '/'))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": workingDir must be an absolute path", name);
    int64_t millicores, bytes;
    kl_pull_policy_t policy;
    char container_name[160];
    if (read_limits(container, name, &millicores, &bytes, err) < 0 || pull_policy_of(container, name, &policy, err) < 0
        || reference_check(image, NULL, err) < 0 || name_make(request, container_name, sizeof container_name, err) < 0)
        return -1;

    podman_args_t args;
    args_begin(&args, rt);
    args_add(&args, "run");
    args_add(&args, "--detach");
    args_add(&args, "--name");
    args_add(&args, container_name);
    args_add(&args, "--pull");
    args_add(&args, "never");
    args_add(&args, "--network");
    args_add(&args, "host");
    args_add(&args, "--log-driver");
    args_add(&args, "k8s-file");
    /* podman's defaults come from the host's hard limits, which runc refuses here. */
    args_add(&args, "--ulimit");
    args_add(&args, "nofile=1024:1024");
    args_add(&args, "--ulimit");
    args_add(&args, "nproc=1024:1024");
    args_add(&args, "--label");
    args_addf(&args, LABEL_NAMESPACE "=%s", request->pod_namespace);
    args_add(&args, "--label");
    args_addf(&args, LABEL_NAME "=%s", request->pod_name);
    args_add(&args, "--label");
    args_addf(&args, LABEL_UID "=%s", request->pod_uid);
    args_add(&args, "--label");
    args_addf(&args, LABEL_CONTAINER "=%s", name);
    if (add_env(&args, container, name, err) < 0) {
        args_free(&args);
        return -1;
    }
    if (workdir && json_is_string(workdir)) {
        args_add(&args, "--workdir");
        args_add(&args, json_string_value(workdir));
    }
    if (millicores > 0) {
        args_add(&args, "--cpus");
        args_addf(&args, "%lld.%03lld", (long long)(millicores / 1000), (long long)(millicores % 1000));
    }
    int own_cgroup = 0;
    if (bytes > 0 && rt->memcg_v1) {
        /* conmon lives under the same parent: the parent gets headroom so
         * the OOM killer, held to the container's own limit below, never
         * picks the monitor instead of the container. */
        if (cgroup_parent_make(container_name, bytes + CONMON_HEADROOM_BYTES, err) < 0) {
            args_free(&args);
            return -1;
        }
        own_cgroup = 1;
        args_add(&args, "--cgroup-parent");
        args_addf(&args, "/" CGROUP_PARENT "/%s", container_name);
    }
    if (bytes > 0) {
        args_add(&args, "--memory");
        args_addf(&args, "%lld", (long long)bytes);
        args_add(&args, "--memory-swap");
        args_addf(&args, "%lld", (long long)bytes);
    }
    char *entrypoint = NULL;
    if (command) {
        /* Kubernetes: command replaces the image's Entrypoint (and drops its Cmd). */
        entrypoint = json_dumps(command, JSON_COMPACT);
        args_add(&args, "--entrypoint");
        args_add(&args, entrypoint ? entrypoint : "[]");
    }
    args_add(&args, image);
    size_t i;
    const json_t *item;
    if (run_args)
        json_array_foreach(run_args, i, item)
            args_add(&args, json_string_value(item));

    /* The kubelet's pull() has just fetched an Always image: a second
     * registry round trip here would bring nothing newer. */
    kl_pull_policy_t start_policy = policy;
    if (policy == KL_PULL_ALWAYS && rt->fresh_image && !strcmp(rt->fresh_image, image)
        && podman_monotonic_ms() - rt->fresh_ms < PODMAN_FRESH_PULL_MS)
        start_policy = KL_PULL_IF_NOT_PRESENT;
    if (podman_pull(rt, image, start_policy, err) < 0) {
        free(entrypoint);
        args_free(&args);
        if (own_cgroup)
            cgroup_parent_remove(container_name);
        return -1;
    }

    /* One podman process: `run --detach` creates and starts, and prints the
     * id; its start time is in the event log, so nothing is inspected. */
    char *out = NULL, message[2048];
    off_t events_from = events_log_size(rt);
    rt->starting = 1;
    int rc = args_run(&args, PODMAN_RUN_TIMEOUT_MS, 0, &out, message, sizeof message);
    rt->starting = 0;
    if (rc != 0 && is_image_missing(message)) {
        /* Removed behind keelson's back since it was seen: pull and run again. */
        image_forget(rt, image);
        free(out);
        out = NULL;
        podman_args_t rm;
        char ignored[256];
        args_begin(&rm, rt);
        args_add(&rm, "rm");
        args_add(&rm, "--force");
        args_add(&rm, "--ignore");
        args_add(&rm, container_name);
        args_run(&rm, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, ignored, sizeof ignored);
        args_free(&rm);
        kl_error_t pull_err;
        if (podman_pull(rt, image, policy, &pull_err) < 0) {
            free(entrypoint);
            args_free(&args);
            if (own_cgroup)
                cgroup_parent_remove(container_name);
            return kl_error_set(err, pull_err.code, "%s", pull_err.text);
        }
        events_from = events_log_size(rt);
        rt->starting = 1;
        rc = args_run(&args, PODMAN_RUN_TIMEOUT_MS, 0, &out, message, sizeof message);
        rt->starting = 0;
    }
    int64_t returned_ms = wall_ms();
    free(entrypoint);
    args_free(&args);
    /* podman prints the new id: a line of 64 hex digits. */
    size_t length = out ? strspn(out, "0123456789abcdef") : 0;
    if (rc == 0 && length == 64 && (out[64] == '\n' || out[64] == '\0')) {
        memcpy(id, out, 64);
        id[64] = '\0';
        free(out);
        /* Known from its start, so an exit reported before the first
         * status() is not missed, and neither status() nor remove() needs
         * an inspect: `run --detach` returns once the container runs. */
        known_container_t *k = known_add(rt, id);
        if (k) {
            k->cgroup_known = 1;
            snprintf(k->cgroup, sizeof k->cgroup, "%s", own_cgroup ? container_name : "");
            memset(&k->status, 0, sizeof k->status);
            k->status.state = KL_CONTAINER_RUNNING;
            k->status.started_at_ms = events_log_start_ms(rt, id, events_from);
            if (!k->status.started_at_ms || k->status.started_at_ms > returned_ms)
                k->status.started_at_ms = returned_ms;
            k->checked_ms = podman_monotonic_ms();
        }
        return 0;
    }
    free(out);
    /* A container podman made but could not start is of no use: remove it. */
    podman_args_t rm;
    char ignored[256];
    args_begin(&rm, rt);
    args_add(&rm, "rm");
    args_add(&rm, "--force");
    args_add(&rm, "--time");
    args_add(&rm, "0");
    args_add(&rm, container_name);
    args_run(&rm, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, ignored, sizeof ignored);
    args_free(&rm);
    if (own_cgroup)
        cgroup_parent_remove(container_name);
    if (rc == 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "podman run of container \"%s\" printed no container id", name);
    return kl_error_set(err, KL_ERR_INVALID, "podman cannot run container \"%s\": %s", name,
                        message[0] ? last_line(message) : "it failed without a message");
}

/* ---- status ---- */

static kl_container_state_t state_of(const char *text)
{
    if (!text)
        return KL_CONTAINER_UNKNOWN;
    if (!strcmp(text, "created") || !strcmp(text, "configured") || !strcmp(text, "initialized"))
        return KL_CONTAINER_CREATED;
    if (!strcmp(text, "running") || !strcmp(text, "paused") || !strcmp(text, "stopping"))
        return KL_CONTAINER_RUNNING;
    if (!strcmp(text, "exited") || !strcmp(text, "stopped"))
        return KL_CONTAINER_EXITED;
    return KL_CONTAINER_UNKNOWN;
}

/* `podman inspect` of one container, or NULL with err filled. Caller owns. */
static json_t *inspect(podman_runtime_t *rt, const char *id, kl_error_t *err)
{
    if (id_check(id, err) < 0)
        return NULL;
    podman_args_t args;
    char *out = NULL, message[1024];
    args_begin(&args, rt);
    args_add(&args, "container");
    args_add(&args, "inspect");
    args_add(&args, "--format");
    args_add(&args, "json");
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, &out, message, sizeof message);
    args_free(&args);
    if (rc != 0) {
        free(out);
        if (is_no_such_container(message))
            kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
        else
            kl_error_set(err, KL_ERR_UNAVAILABLE, "podman inspect %s failed: %s", id,
                         message[0] ? last_line(message) : "no message");
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    free(out);
    json_t *first = json_array_get(doc, 0);
    if (!json_is_object(first)) {
        kl_error_set(err, KL_ERR_INTERNAL, "podman inspect %s printed no container object: %s", id,
                     doc ? "wrong shape" : jerr.text);
        json_decref(doc);
        return NULL;
    }
    json_incref(first);
    json_decref(doc);
    return first;
}

/* The per-container parent cgroup podman was given, if keelson made it. */
static const char *own_cgroup_name(const json_t *container)
{
    const char *parent = json_string_value(json_object_get(json_object_get(container, "HostConfig"), "CgroupParent"));
    static const char prefix[] = "/" CGROUP_PARENT "/";
    if (!parent || strncmp(parent, prefix, sizeof prefix - 1) != 0)
        return NULL;
    const char *name = parent + sizeof prefix - 1;
    return name[0] && !strchr(name, '/') && strcmp(name, "..") && strcmp(name, ".") ? name : NULL;
}

/* OOM kill and reason of an exited container: status holds its exit code
 * and podman's OOMKilled; `cgroup` is keelson's parent cgroup or NULL,
 * `error` podman's State.Error or NULL. */
static void exit_reason(kl_container_status_t *status, const char *cgroup, const char *error)
{
    if (!status->oom_killed && cgroup && status->exit_code == 128 + SIGKILL) {
        /* Killed while its memory had reached the limit: the OOM killer. */
        int64_t peak = cgroup_value(cgroup, "memory.max_usage_in_bytes");
        int64_t limit = cgroup_value(cgroup, "memory.limit_in_bytes") - CONMON_HEADROOM_BYTES;
        status->oom_killed = peak > 0 && limit > 0 && peak >= limit - 64 * 1024;
    }
    if (status->oom_killed)
        snprintf(status->reason, sizeof status->reason, "OOMKilled");
    else if (error && error[0])
        snprintf(status->reason, sizeof status->reason, "ContainerCannotRun");
    else
        snprintf(status->reason, sizeof status->reason, "%s", status->exit_code == 0 ? "Completed" : "Error");
    if (error && error[0])
        snprintf(status->message, sizeof status->message, "%s", error);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* podman's static folder of a container, conmon's bundle:
 * <root>/<driver>-containers/<id>/userdata. The driver's folder is looked
 * up once, on the first container found. 0, or -1 when there is none. */
static int bundle_dir(podman_runtime_t *rt, const char *id, char *buf, size_t size)
{
    if (rt->containers_dir[0]) {
        snprintf(buf, size, "%s/%s/userdata", rt->containers_dir, id);
        if (is_dir(buf))
            return 0;
    }
    DIR *dir = opendir(rt->root);
    if (!dir)
        return -1;
    int found = -1;
    struct dirent *entry;
    while (found < 0 && (entry = readdir(dir))) {
        size_t length = strlen(entry->d_name);
        if (length <= 11 || strcmp(entry->d_name + length - 11, "-containers") != 0)
            continue;
        snprintf(buf, size, "%s/%s/%s/userdata", rt->root, entry->d_name, id);
        if (is_dir(buf)) {
            snprintf(rt->containers_dir, sizeof rt->containers_dir, "%s/%s", rt->root, entry->d_name);
            found = 0;
        }
    }
    closedir(dir);
    return found;
}

/* podman's OOMKilled as it will read it from conmon's "oom" marker, which
 * conmon makes before the exit file when it does at all: 1, 0, or -1 when
 * the bundle cannot be found. podman 4 looks in the bundle, later ones in
 * <tmpdir>/persist/<id>; neither writes the other. (conmon 2.1.6 makes it
 * in the folder podman was started from instead, where podman never looks:
 * there keelson's own cgroup tells, in exit_reason().) */
static int oom_marker(podman_runtime_t *rt, const char *id)
{
    char path[4600];
    if (bundle_dir(rt, id, path, sizeof path - 8) < 0)
        return -1;
    strcat(path, "/oom");
    if (access(path, F_OK) == 0)
        return 1;
    if (errno != ENOENT)
        return -1;
    snprintf(path, sizeof path, "%s/persist/%s/oom", rt->tmpdir, id);
    return access(path, F_OK) == 0;
}

/* The status of an exited container from the exit file read into k, as
 * status_of() would make it from an inspect, which reads the same file:
 * 0, or -1 when only podman can tell (nothing read, start time or cgroup
 * not known, bundle not found). */
static int status_from_exit(podman_runtime_t *rt, const known_container_t *k, kl_container_status_t *status)
{
    if (!k->exit_read || !k->cgroup_known || k->status.state != KL_CONTAINER_RUNNING || k->status.started_at_ms <= 0)
        return -1;
    int oom = oom_marker(rt, k->id);
    if (oom < 0)
        return -1;
    memset(status, 0, sizeof *status);
    status->state = KL_CONTAINER_EXITED;
    status->exit_code = k->exit_code;
    status->started_at_ms = k->status.started_at_ms;
    status->finished_at_ms = k->exit_ms < status->started_at_ms ? status->started_at_ms : k->exit_ms;
    status->oom_killed = oom;
    exit_reason(status, k->cgroup[0] ? k->cgroup : NULL, NULL);
    return 0;
}

/* The status `podman inspect` printed for one container. */
static void status_of(const char *id, const json_t *container, kl_container_status_t *status)
{
    memset(status, 0, sizeof *status);
    const json_t *state = json_object_get(container, "State");
    status->state = state_of(json_string_value(json_object_get(state, "Status")));
    status->started_at_ms = podman_time_ms(json_string_value(json_object_get(state, "StartedAt")));
    const char *error = json_string_value(json_object_get(state, "Error"));
    if (status->state == KL_CONTAINER_EXITED) {
        status->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
        status->finished_at_ms = podman_time_ms(json_string_value(json_object_get(state, "FinishedAt")));
        /* runc records the start a moment after the end for a short-lived process. */
        if (status->finished_at_ms && status->finished_at_ms < status->started_at_ms)
            status->finished_at_ms = status->started_at_ms;
        status->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
        exit_reason(status, own_cgroup_name(container), error);
    } else if (status->state == KL_CONTAINER_UNKNOWN) {
        snprintf(status->reason, sizeof status->reason, "Unknown");
        snprintf(status->message, sizeof status->message, "podman reports container %s as \"%.64s\"", id,
                 json_string_value(json_object_get(state, "Status")) ? json_string_value(json_object_get(state, "Status")) : "");
    }
}

/* Each inspect starts podman (tens of ms, a hundred right after an exit,
 * when it waits for conmon's cleanup), so a container last seen running is
 * answered from memory until its exit file appears, re-checked every
 * PODMAN_STATUS_TRUST_MS all the same. The exit file answers the exit
 * itself, read as it appears; an inspect only when it was gone too soon or
 * said something odd. An exited one is not asked again: its exit code,
 * times and OOM kill do not change any more. */
static int podman_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    exits_update(rt);
    int64_t now = podman_monotonic_ms();
    known_container_t *k = known_find(rt, id);
    int trusted = k && k->checked_ms && rt->watch_fd >= 0 && now - k->checked_ms < PODMAN_STATUS_TRUST_MS;
    /* Without a fresh answer the exit file is looked for all the same: the
     * watch may have lost it, or the container was just signalled. */
    if (k && k->status.state == KL_CONTAINER_RUNNING && (k->exit_seen_ms || !trusted)
        && (k->exit_read || exit_file_read(rt, k) == 0) && status_from_exit(rt, k, status) == 0) {
        k->status = *status;
        k->checked_ms = now;
        k->exit_seen_ms = 0;
        return 0;
    }
    if (trusted && !k->exit_seen_ms
        && (k->status.state == KL_CONTAINER_RUNNING || k->status.state == KL_CONTAINER_EXITED)) {
        *status = k->status;
        return 0;
    }
    kl_error_t inspect_err;
    kl_error_clear(&inspect_err);
    json_t *container = inspect(rt, id, &inspect_err);
    if (!container) {
        if (inspect_err.code == KL_ERR_NOT_FOUND)
            known_drop(rt, id);
        return kl_error_set(err, inspect_err.code, "%s", inspect_err.text);
    }
    status_of(id, container, status);
    k = known_add(rt, id);
    if (k) {
        k->status = *status;
        k->checked_ms = now;  /* when podman was asked: an exit during the inspect left exit_seen_ms set */
        k->cgroup_known = 1;
        snprintf(k->cgroup, sizeof k->cgroup, "%s", own_cgroup_name(container) ? own_cgroup_name(container) : "");
        if (k->exit_seen_ms && (status->state == KL_CONTAINER_EXITED || now - k->exit_seen_ms > PODMAN_EXIT_STALE_MS))
            k->exit_seen_ms = k->exit_read = 0;
    }
    json_decref(container);
    return 0;
}

/* ---- stop, kill, remove ---- */

static int podman_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    if (grace_ms < 0)
        grace_ms = 0;
    int seconds = (grace_ms + 999) / 1000;
    podman_args_t args;
    char message[1024];
    args_begin(&args, rt);
    args_add(&args, "stop");
    args_add(&args, "--time");
    args_addf(&args, "%d", seconds);
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS + (seconds + PODMAN_KILL_WAIT_S) * 1000, 0, NULL, message,
                      sizeof message);
    args_free(&args);
    known_stale(rt, id);
    if (rc == 0)
        return 0;
    if (is_no_such_container(message))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman stop %s failed: %s", id,
                        message[0] ? last_line(message) : "no message");
}

static int podman_kill(void *runtime, const char *id, int signal_number, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    if (signal_number <= 0 || signal_number > 64)
        return kl_error_set(err, KL_ERR_INVALID, "signal %d sent to container %s is not between 1 and 64",
                            signal_number, id);
    podman_args_t args;
    char message[1024];
    args_begin(&args, rt);
    args_add(&args, "kill");
    args_add(&args, "--signal");
    args_addf(&args, "%d", signal_number);
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, message, sizeof message);
    args_free(&args);
    known_stale(rt, id);
    if (rc == 0)
        return 0;
    if (is_no_such_container(message))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
    /* One that already exited has nothing left to signal: that is success. */
    if (strcasestr(message, "can only kill running") || strcasestr(message, "not running"))
        return 0;
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman kill %s failed: %s", id,
                        message[0] ? last_line(message) : "no message");
}

static int podman_remove(void *runtime, const char *id, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    char cgroup[256] = "";
    known_container_t *k = known_find(rt, id);
    /* `rm --force` succeeds for a container that is not there: one this
     * instance never saw is inspected first so that reads NotFound. */
    if (k && k->cgroup_known) {
        snprintf(cgroup, sizeof cgroup, "%s", k->cgroup);
    } else {
        json_t *container = inspect(rt, id, err);
        if (!container)
            return -1;
        if (own_cgroup_name(container))
            snprintf(cgroup, sizeof cgroup, "%s", own_cgroup_name(container));
        json_decref(container);
    }
    podman_args_t args;
    char message[1024];
    args_begin(&args, rt);
    args_add(&args, "rm");
    args_add(&args, "--force");
    args_add(&args, "--time");
    args_add(&args, "2");
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, message, sizeof message);
    args_free(&args);
    if (rc != 0 && !is_no_such_container(message))
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman rm %s failed: %s", id,
                            message[0] ? last_line(message) : "no message");
    known_drop(rt, id);
    if (cgroup[0])
        cgroup_parent_remove(cgroup);
    return 0;
}

/* ---- list and logs ---- */

static const char *label_of(const json_t *labels, const char *key)
{
    const char *value = json_string_value(json_object_get(labels, key));
    return value ? value : "";
}

static int podman_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (!visit)
        return kl_error_set(err, KL_ERR_INVALID, "list needs a visit function");
    podman_args_t args;
    char *out = NULL, message[1024];
    args_begin(&args, rt);
    args_add(&args, "ps");
    args_add(&args, "--all");
    args_add(&args, "--filter");
    args_add(&args, "label=" LABEL_UID);
    args_add(&args, "--format");
    args_add(&args, "json");
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, &out, message, sizeof message);
    args_free(&args);
    if (rc != 0) {
        free(out);
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman ps failed: %s",
                            message[0] ? last_line(message) : "no message");
    }
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    free(out);
    if (!json_is_array(doc)) {
        kl_error_set(err, KL_ERR_INTERNAL, "podman ps printed no JSON list: %s", doc ? "wrong shape" : jerr.text);
        json_decref(doc);
        return -1;
    }
    size_t i;
    const json_t *item;
    json_array_foreach(doc, i, item) {
        const char *id = json_string_value(json_object_get(item, "Id"));
        const json_t *labels = json_object_get(item, "Labels");
        if (!id || id_check(id, NULL) < 0)
            continue;
        kl_container_info_t info = {
            .id = id, .pod_namespace = label_of(labels, LABEL_NAMESPACE), .pod_name = label_of(labels, LABEL_NAME),
            .pod_uid = label_of(labels, LABEL_UID), .container_name = label_of(labels, LABEL_CONTAINER),
            .image = json_string_value(json_object_get(item, "Image")),
        };
        if (!info.image)
            info.image = "";
        kl_container_status_t *st = &info.status;
        st->state = state_of(json_string_value(json_object_get(item, "State")));
        st->started_at_ms = json_integer_value(json_object_get(item, "StartedAt")) * 1000;
        if (st->state == KL_CONTAINER_EXITED) {
            st->exit_code = (int)json_integer_value(json_object_get(item, "ExitCode"));
            st->finished_at_ms = json_integer_value(json_object_get(item, "ExitedAt")) * 1000;
            snprintf(st->reason, sizeof st->reason, "%s", st->exit_code == 0 ? "Completed" : "Error");
        }
        if (visit(&info, arg) != 0)
            break;
    }
    json_decref(doc);
    return 0;
}

/* podman keeps the log and prints it whole; the offset is applied here. */
static int podman_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                       kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    if (id_check(id, err) < 0)
        return -1;
    if (offset < 0 || !length || (!buffer && size > 0))
        return kl_error_set(err, KL_ERR_INVALID, "logs of container %s: offset %lld or buffer is invalid", id,
                            (long long)offset);
    podman_args_t args;
    char *out = NULL, message[1024];
    args_begin(&args, rt);
    args_add(&args, "logs");
    args_add(&args, id);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 1, &out, message, sizeof message);
    args_free(&args);
    if (rc != 0) {
        /* Merged output: podman's own complaint is in `out`. */
        const char *why = out && out[0] ? out : message;
        int missing = is_no_such_container(why);
        char text[400];
        snprintf(text, sizeof text, "%.399s", why[0] ? why : "no message");
        text[strcspn(text, "\n")] = '\0';
        free(out);
        if (missing)
            return kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/podman", id);
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "podman logs %s failed: %s", id, text);
    }
    size_t total = strlen(out);
    size_t from = (uint64_t)offset < total ? (size_t)offset : total;
    size_t count = total - from < size ? total - from : size;
    if (count)
        memcpy(buffer, out + from, count);
    *length = count;
    free(out);
    return 0;
}

static const kl_runtime_ops_t podman_ops = {
    .open = podman_open,
    .close = podman_close,
    .start = podman_start,
    .status = podman_status,
    .stop = podman_stop,
    .remove = podman_remove,
    .pull = podman_pull,
    .list = podman_list,
    .logs = podman_logs,
    .kill = podman_kill,
    .events_fd = podman_events_fd,
    .events_read = podman_events_read,
};

KL_RUNTIME_PLUGIN("podman", "0.1.0", "containers run by the podman program in keelson's own podman storage",
                  podman_settings, podman_ops);
