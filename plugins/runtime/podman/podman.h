/* runtime/podman internals shared by its files: the runtime's state, running
 * the podman program, and the helpers each op calls. Never installed.
 * Functions are listed by the file that defines them. */
#ifndef KL_RUNTIME_PODMAN_H
#define KL_RUNTIME_PODMAN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <keelson/keelson.h>

#define PODMAN_COMMAND_TIMEOUT_MS 30000
#define PODMAN_ARGS_MAX 256
#define PODMAN_PRESENT_MAX 32
#define PODMAN_FULL_ID 64

/* On cgroup v1 the kernel counts an OOM kill only in the killed process's
 * own memory cgroup, which podman deletes as the container exits. keelson
 * puts the memory limit on a parent cgroup of its own instead, one per
 * container, whose peak usage outlives the container. */
#define CGROUP_ROOT "/sys/fs/cgroup"
#define CGROUP_PARENT "keelson-podman"
#define CONMON_HEADROOM_BYTES (16LL * 1024 * 1024)  /* conmon and its buffers, beside the container */

/* Labels on every container keelson starts; list() finds them by these. */
#define LABEL_NAMESPACE "io.keelson.pod.namespace"
#define LABEL_NAME "io.keelson.pod.name"
#define LABEL_UID "io.keelson.pod.uid"
#define LABEL_CONTAINER "io.keelson.container"

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
    int starting;                /* how many start()s are running podman: see note_exit() */
    /* Every op holds it, but lets go while podman runs (args_run), so the
     * kubelet's start workers run podman side by side while the cache and
     * the image ring above change one op at a time. */
    pthread_mutex_t lock;
} podman_runtime_t;

/* podman.c */

/* mkdir -p. */
int mkdir_parents(const char *path, mode_t mode);

/* Logs through the host, when it has a log function. */
__attribute__((format(printf, 3, 4)))
void podman_log(const podman_runtime_t *rt, kl_log_level_t level, const char *fmt, ...);

/* The pull op; start() pulls through it too. */
int podman_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err);

/* start.c */

/* The start op: the request checked, its image pulled, one `podman run --detach`. */
int podman_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                 kl_error_t *err);

/* containers.c: the ops on containers podman already has */

/* The status op: from memory while nothing changed, else the exit file or an inspect. */
int podman_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err);
/* The stop op: `podman stop`, the grace period rounded up to whole seconds. */
int podman_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err);
/* The kill op: one signal; a container that already exited counts as signalled. */
int podman_kill(void *runtime, const char *id, int signal_number, kl_error_t *err);
/* The remove op: the container, and keelson's parent cgroup of it. */
int podman_remove(void *runtime, const char *id, kl_error_t *err);
/* The list op: every container with keelson's labels, running or not. */
int podman_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err);
/* The logs op: podman's whole log of the container, from `offset`. */
int podman_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                kl_error_t *err);

/* args.c: building and running one podman command */

typedef struct podman_args {
    podman_runtime_t *rt;
    char *argv[PODMAN_ARGS_MAX];
    char *owned[PODMAN_ARGS_MAX];  /* strings made for this command, freed with it */
    size_t count, owned_count;
    int overflow;
} podman_args_t;

/* Starts a command with the global options naming keelson's storage. */
void args_begin(podman_args_t *args, podman_runtime_t *rt);
/* Appends a borrowed string, or a formatted one the command owns. Too many
 * arguments set `overflow`, which args_run() refuses. */
void args_add(podman_args_t *args, const char *text);
__attribute__((format(printf, 2, 3)))
void args_addf(podman_args_t *args, const char *fmt, ...);
void args_free(podman_args_t *args);
/* podman_command_run() of the arguments, draining the exit watch meanwhile.
 * Called with rt->lock held, which it lets go of while podman runs: a
 * known_container_t found before must be looked up again after. */
int args_run(podman_args_t *args, int timeout_ms, int merge, char **out, char *message, size_t size);

/* What podman's error text says. */
int is_image_missing(const char *message);
int is_no_such_container(const char *message);
int pull_error_code(const char *message);  /* a KL_ERR_* code */
const char *last_line(const char *message);

/* check.c: what callers pass before it reaches podman's command line */

int reference_check(const char *reference, int *has_registry, kl_error_t *err);
int id_check(const char *id, kl_error_t *err);

/* exits.c: the cache of known containers, and exits as conmon reports them */

int exit_watch_open(const podman_runtime_t *rt, const char *without);
known_container_t *known_find(podman_runtime_t *rt, const char *id);
known_container_t *known_add(podman_runtime_t *rt, const char *id);
void known_drop(podman_runtime_t *rt, const char *id);
void known_stale(podman_runtime_t *rt, const char *id);
int exit_file_read(const podman_runtime_t *rt, known_container_t *k);
void exits_update(podman_runtime_t *rt);
int podman_events_fd(void *runtime);
int podman_events_read(void *runtime, void (*changed)(const char *id, void *arg), void *arg, kl_error_t *err);
off_t events_log_size(const podman_runtime_t *rt);
int64_t events_log_start_ms(const podman_runtime_t *rt, const char *id, off_t from);

/* image.c: the images this instance knows are in storage */

void image_remember(podman_runtime_t *rt, const char *image);
void image_forget(podman_runtime_t *rt, const char *image);
int image_present(podman_runtime_t *rt, const char *image, kl_error_t *err);

/* spec.c: the pod's container spec, checked and turned into `podman run` arguments */

int check_label(const char *what, const char *value, kl_error_t *err);
int name_make(const kl_container_request_t *request, char *name, size_t size, kl_error_t *err);
int read_limits(const json_t *container, const char *name, int64_t *millicores, int64_t *bytes, kl_error_t *err);
int add_env(podman_args_t *args, const json_t *container, const char *name, kl_error_t *err);
const json_t *string_list(const json_t *container, const char *key, const char *name, kl_error_t *err,
                          int *failed);
int pull_policy_of(const json_t *container, const char *name, kl_pull_policy_t *policy, kl_error_t *err);

/* cgroup.c: keelson's per-container parent cgroup (cgroup v1 memory) */

void cgroup_parent_remove(const char *name);
int cgroup_parent_make(const char *name, int64_t bytes, kl_error_t *err);
/* A number read from the container's memory cgroup file, -1 when unreadable. */
int64_t cgroup_value(const char *name, const char *file);

/* inspect.c: a container's status, from `podman inspect` or its exit file */

kl_container_state_t state_of(const char *text);
json_t *inspect(podman_runtime_t *rt, const char *id, kl_error_t *err);
const char *own_cgroup_name(const json_t *container);
int status_from_exit(podman_runtime_t *rt, const known_container_t *k, kl_container_status_t *status);
void status_of(const char *id, const json_t *container, kl_container_status_t *status);

/* command.c */

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
