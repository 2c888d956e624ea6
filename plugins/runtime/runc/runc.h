/* runtime/runc internals shared by its files: the runtime's state, container
 * ids and bundles, image references, the OCI bundle's config.json, running
 * helper programs, and the ops defined outside runc.c. Never installed.
 * Functions are listed by the file that defines them. */
#ifndef KL_RUNTIME_RUNC_H
#define KL_RUNTIME_RUNC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <keelson/keelson.h>

#define RUNC_IMAGE_NAME_MAX 256
#define RUNC_IMAGE_TAG_MAX 128
#define RUNC_UNPACK_TIMEOUT_MS 60000  /* umoci unpack of one image */
#define RUNC_COMMAND_TIMEOUT_MS 10000  /* runc state, kill and delete */
#define RUNC_CGROUP_PARENT "keelson"  /* each container's cgroup is keelson/ID in every hierarchy */

/* One open runtime: its settings and what it has read of the exit FIFO. */
typedef struct runc_runtime {
    const kl_host_t *host;
    const char *image_store;  /* borrowed from the host table */
    const char *state_dir;
    const char *runc;
    const char *umoci;
    const char *skopeo;
    char root[4096];          /* runc --root: keeps our containers apart from others' */
    int overlay;              /* overlay root file systems work here: -1 not asked yet, 0, 1 */
    char events[4096];        /* state_dir/events: the FIFO supervisors report exits to */
    int events_fd;            /* its read end, -1 when there is none */
    char event_line[KL_CONTAINER_ID_MAX];  /* a line whose end has not been read yet */
    size_t event_used;
    int event_overlong;       /* the line in progress is too long to be an id: drop it */
} runc_runtime_t;

/* An image reference split into what a local image store needs. */
typedef struct runc_image_ref {
    char registry[RUNC_IMAGE_NAME_MAX];  /* host[:port], "" when the reference names none */
    char name[RUNC_IMAGE_NAME_MAX];  /* last path component: the layout's folder name */
    char tag[RUNC_IMAGE_TAG_MAX];    /* "latest" when the reference has none */
} runc_image_ref_t;

/* runc.c */

/* 0 when `id` could have been made by runc_start(); else KL_ERR_INVALID. */
int runc_id_check(const char *id, kl_error_t *err);
/* STATE_DIR/ID/FILE, or the bundle STATE_DIR/ID itself when file is NULL. */
void runc_bundle_path(const runc_runtime_t *rt, const char *id, const char *file, char *buf, size_t size);
/* Writes the bundle of a valid id to `bundle`; KL_ERR_NOT_FOUND when absent. */
int runc_bundle_find(const runc_runtime_t *rt, const char *id, char *bundle, size_t size, kl_error_t *err);

/* image.c */

/* Parses `[host[:port]/]path[:tag]`. */
int runc_image_ref_parse(const char *reference, runc_image_ref_t *ref, kl_error_t *err);

/* Loads the OCI image config (the blob with Entrypoint, Cmd, Env...) of
 * layout:tag, and copies the digest of the manifest the tag points to into
 * manifest_digest (may be NULL). Missing layout or tag: KL_ERR_NOT_FOUND
 * naming `reference`. Caller owns the result. */
json_t *runc_image_config_load(const char *layout, const char *tag, const char *reference,
                               const char *image_store, char *manifest_digest, size_t digest_size,
                               kl_error_t *err);

/* Copies docker://REFERENCE from its registry into the layout
 * IMAGE_STORE/NAME with skopeo. Errors: KL_ERR_NOT_FOUND (no such image or
 * tag), KL_ERR_UNAVAILABLE (registry unreachable), with skopeo's message. */
int runc_image_copy(const char *skopeo, const char *reference, const runc_image_ref_t *ref,
                    const char *image_store, kl_error_t *err);

/* cache.c */

#define RUNC_CACHE_DIR ".unpacked"           /* under image_store: one unpacked image per manifest digest */
#define RUNC_ROOTFS_IMAGE_FILE "rootfs.image"  /* in a bundle: the cache entry under its overlay */
#define RUNC_UPPER_DIR "rootfs.upper"         /* in a bundle: the container's own changes */
#define RUNC_WORK_DIR "rootfs.work"           /* in a bundle: overlayfs's scratch folder */

/* Makes sure the image whose manifest is `digest` (layout:tag points to it)
 * is unpacked in the cache and writes its folder to `entry`: rootfs/ and
 * config.json, umoci's runtime spec to start from. Unpacks with umoci when
 * absent. */
int runc_cache_ensure(const char *image_store, const char *umoci, const char *layout, const char *tag,
                      const char *digest, const char *reference, char *entry, size_t size, kl_error_t *err);

/* 1 when an overlay of a folder in the cache, with its changes under
 * state_dir, can be mounted here; 0 with the reason in `why` when not (no
 * overlayfs, a file system overlayfs cannot use, no privilege). */
int runc_overlay_probe(const char *image_store, const char *state_dir, char *why, size_t size);

/* The overlay mount options of a bundle over cache entry `entry`; -1 when a
 * path cannot be written in them (a comma, colon or backslash, or too long). */
int runc_overlay_options(const char *entry, const char *bundle, char *options, size_t size);

/* spec.c */

/* "2" -> 2000, "500m" -> 500, "0.5" -> 500. */
int runc_quantity_cpu(const char *text, int64_t *millicores, kl_error_t *err);
/* "64Mi", "1G", "1024", "1.5Gi", "1e3" -> bytes. */
int runc_quantity_memory(const char *text, int64_t *bytes, kl_error_t *err);

/* Rewrites the runtime spec umoci wrote so it runs the container as the pod
 * asks: command, args, env, working dir, limits, hostname, annotations. */
int runc_spec_apply(json_t *spec, const kl_container_request_t *request, const json_t *image_config,
                    kl_error_t *err);

/* Applies runc_spec_apply to `spec` (borrowed, changed), places the
 * container in the cgroup `cgroups_path` (e.g. "/keelson/ID"), roots it at
 * BUNDLE/rootfs and writes BUNDLE/config.json. */
int runc_spec_write(const char *bundle, json_t *spec, const kl_container_request_t *request,
                    const json_t *image_config, const char *cgroups_path, kl_error_t *err);

/* process.c */

/* Runs argv (argv[0] looked up in PATH) with stdin from /dev/null, waits at
 * most timeout_ms. Returns the exit status (0..255, 128+signal) or -1 when it
 * could not run. Its stdout goes to *out (caller owns; may pass NULL to drop
 * it) and the end of its stderr to errbuf. */
int runc_command_run(char *const argv[], int timeout_ms, char **out, char *errbuf, size_t errsize);

/* Async-signal-safe helpers, for a child between fork() and exec()/_exit(). */
/* Closes every descriptor from `first` up, so a child holds none of the kubelet's. */
void runc_close_from(int first);
/* Clears the signal mask and restores every default disposition. */
void runc_reset_signals(void);
/* write() of all of `text`, retried on EINTR; gives up silently on error. */
void runc_write_all(int fd, const char *text, size_t length);
/* A wait status as a shell reports it: the exit code, or 128+signal. */
int runc_exit_status_code(int status);
/* waitpid() of `pid`, retried on EINTR; -1 when it fails. */
int runc_wait_child(pid_t pid, int *status);

/* rm -rf that stays on one file system and never follows symlinks. */
int runc_tree_remove(const char *path);

/* Clocks for code that runs without the host table (the supervisor). */
int64_t runc_realtime_ms(void);
int64_t runc_monotonic_ms(void);

/* supervisor.c */

#define RUNC_EVENTS_FIFO "events"  /* under state_dir: one line "ID\n" per exited container */

/* Double-forks a supervisor that outlives the caller. When overlay_options
 * is not NULL it first mounts that overlay on BUNDLE/rootfs in a mount
 * namespace of its own, which the container's inherits: the mount lives as
 * long as the container and the supervisor do, and no crash can leave it
 * behind on the host. It is a child subreaper: it runs argv (a detached `runc run -d --pid-file
 * BUNDLE/container.pid`) with stdout and stderr appended to log_path, then
 * reaps the container's process itself, so the container's cgroup is still
 * there when it exits. It records the exit status and whether the kernel
 * OOM-killed a process of the cgroup `cgroup` (e.g. "keelson/ID", relative
 * to each hierarchy under /sys/fs/cgroup) in BUNDLE/exit_code. Then, when
 * events_fifo is not NULL, it writes "ID\n" to that FIFO if a reader has it
 * open, so the kubelet hears of the exit at once; without one the exit file
 * alone tells. Returns 0 once the supervisor is detached. */
int runc_supervisor_spawn(const char *bundle, const char *id, char *const argv[], const char *log_path,
                          const char *cgroup, const char *overlay_options, const char *events_fifo,
                          kl_error_t *err);

/* How many processes the kernel OOM-killed in `cgroup` (cgroup v1
 * memory.oom_control or v2 memory.events); -1 when it cannot tell. Uses
 * only async-signal-safe calls. */
long long runc_cgroup_oom_kills(const char *cgroup);

/* state.c */

/* 1 when the supervisor has recorded the container's exit in its bundle. */
int runc_exit_recorded(runc_runtime_t *rt, const char *id);
/* 1 while the bundle's supervisor runs, 0 once it is gone, -1 before it wrote its pid. */
int runc_supervisor_alive(const char *bundle);
/* The status op: from the bundle's files, `runc state` once the supervisor is gone. */
int runc_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err);
/* The list op: every bundle under state_dir whose config.json carries keelson's annotations. */
int runc_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err);
/* The logs op: bytes of BUNDLE/container.log from `offset`. */
int runc_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
              kl_error_t *err);

/* events.c */

/* Opens the read end of the exit FIFO rt->events, made when absent; -1, logged, when it cannot. */
int runc_events_open(runc_runtime_t *rt);
/* The events_fd op: the FIFO's read end, -1 when there is none. */
int runc_events_fd(void *runtime);
/* The events_read op: calls changed() with each id read from the FIFO. */
int runc_events_read(void *runtime, void (*changed)(const char *id, void *arg), void *arg, kl_error_t *err);

/* stop.c */

/* The stop op: SIGTERM, then SIGKILL after grace_ms, until the exit is recorded. */
int runc_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err);
/* The remove op: stops the container, then deletes it from runc, its cgroups and its bundle. */
int runc_remove(void *runtime, const char *id, kl_error_t *err);
/* The kill op: one signal through `runc kill`. */
int runc_kill(void *runtime, const char *id, int signal_number, kl_error_t *err);

#endif
