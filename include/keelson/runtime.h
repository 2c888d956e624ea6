/* Runtime plugin ABI: the kubelet's view of a container engine. Called from
 * the kubelet's thread only, unless the plugin declares
 * KL_RUNTIME_CONCURRENT_STARTS (ABI 1.3). Container ids are chosen by the
 * plugin. */
#ifndef KEELSON_RUNTIME_H
#define KEELSON_RUNTIME_H

#include <stddef.h>
#include <stdint.h>
#include <keelson/plugin.h>

#define KL_CONTAINER_ID_MAX 128

typedef enum kl_container_state {
    KL_CONTAINER_CREATED = 0,  /* accepted, not yet running (e.g. image unpacking) */
    KL_CONTAINER_RUNNING = 1,
    KL_CONTAINER_EXITED = 2,
    KL_CONTAINER_UNKNOWN = 3
} kl_container_state_t;

typedef struct kl_container_status {
    kl_container_state_t state;
    int exit_code;             /* valid when EXITED; 128+N when killed by signal N */
    int64_t started_at_ms;     /* wall clock, 0 when unknown */
    int64_t finished_at_ms;
    int oom_killed;
    char reason[64];           /* Kubernetes-style: "Completed", "Error", "ContainerCannotRun" */
    char message[256];
} kl_container_status_t;

/* What to run. Everything is borrowed for the duration of start(). */
typedef struct kl_container_request {
    const char *pod_namespace;
    const char *pod_name;
    const char *pod_uid;
    const char *container_name;
    const json_t *container;   /* the pod's containers[i]: image, command, args, env, resources */
    const json_t *pod;         /* the whole Pod */
} kl_container_request_t;

typedef enum kl_pull_policy {
    KL_PULL_IF_NOT_PRESENT = 0,
    KL_PULL_ALWAYS = 1,
    KL_PULL_NEVER = 2
} kl_pull_policy_t;

/* pull() found the image present and fetched nothing (ABI 1.2). */
#define KL_PULL_PRESENT 1

/* features() (ABI 1.3): pull(), start() and status() may run on several
 * kubelet worker threads at once, alongside any call from the kubelet's own
 * thread, so containers start in parallel. The kubelet never calls two ops
 * on the same container id at once, but two pulls of one image may overlap,
 * and the request given to start() stays valid and unchanged during the
 * call. Without this flag every call comes from the kubelet's thread, one
 * at a time. */
#define KL_RUNTIME_CONCURRENT_STARTS 0x1u

/* A container the runtime holds for keelson, as list() reports it. Borrowed
 * for the duration of the visit callback. */
typedef struct kl_container_info {
    const char *id;
    const char *pod_namespace;
    const char *pod_name;
    const char *pod_uid;
    const char *container_name;
    const char *image;
    kl_container_status_t status;
} kl_container_info_t;

/* Return 0 to go on, non-zero to stop early. */
typedef int (*kl_container_visit_fn)(const kl_container_info_t *info, void *arg);

typedef struct kl_runtime_ops {
    void *(*open)(const kl_host_t *host, kl_error_t *err);
    void (*close)(void *runtime);

    /* Create and start; writes the new container's id (NUL-terminated) to
     * `id`. A bad image or command fails here with KL_ERR_INVALID or
     * KL_ERR_NOT_FOUND and a sentence the kubelet shows in the pod status. */
    int (*start)(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                 kl_error_t *err);

    int (*status)(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err);

    /* SIGTERM, then SIGKILL after grace_ms. Returns once it has exited. */
    int (*stop)(void *runtime, const char *id, int grace_ms, kl_error_t *err);

    /* Frees everything the container held. Stops it first if needed. */
    int (*remove)(void *runtime, const char *id, kl_error_t *err);

    /* ---- ABI 1.1: images, adoption, logs, non-blocking stop -------------
     * A 1.0 plugin lacks these; the kubelet checks ops_size before use. */

    /* Makes `image` available locally according to `policy`: 0 once done,
     * or (ABI 1.2) KL_PULL_PRESENT when it was already there and nothing
     * was fetched, which the kubelet reports as Kubernetes does ("already
     * present on machine"). Errors:
     * KL_ERR_INVALID (bad reference), KL_ERR_NOT_FOUND (no such image or
     * tag; Never policy and absent), KL_ERR_UNAVAILABLE (registry or daemon
     * unreachable). The kubelet reports these as ErrImagePull. */
    int (*pull)(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err);

    /* Every container this runtime holds for keelson (found through the
     * labels or annotations start() put on it), so a restarted kubelet can
     * adopt or clean up what it left behind. */
    int (*list)(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err);

    /* Combined stdout and stderr of the container from byte `offset` on:
     * copies at most `size` bytes into `buffer` and their count into
     * *length (0 at the current end). Works after the container exited,
     * until remove(). */
    int (*logs)(void *runtime, const char *id, int64_t offset, char *buffer, size_t size,
                size_t *length, kl_error_t *err);

    /* Sends `signal` (SIGTERM, SIGKILL) and returns at once; the kubelet
     * follows up with status() and escalates after the grace period. */
    int (*kill)(void *runtime, const char *id, int signal, kl_error_t *err);

    /* ---- ABI 1.2: exit notification ---------------------------------------
     * Without these the kubelet learns of an exit on its next sync tick. */

    /* A file descriptor, owned by the runtime, that turns readable when a
     * container may have changed state (above all: exited). -1 when the
     * runtime has none after all. Asked once, after open(). */
    int (*events_fd)(void *runtime);

    /* Called when events_fd is readable: consumes what is pending without
     * blocking and calls changed() once per container id that may have
     * changed; the kubelet then asks status() for each. Ids it does not
     * know are ignored. */
    int (*events_read)(void *runtime, void (*changed)(const char *id, void *arg), void *arg,
                       kl_error_t *err);

    /* ---- ABI 1.3: concurrency ----------------------------------------------- */

    /* What this instance promises (KL_RUNTIME_CONCURRENT_STARTS). Asked
     * once, after open(); lacking it means 0. */
    uint32_t (*features)(void *runtime);
} kl_runtime_ops_t;

#define KL_RUNTIME_PLUGIN(NAME, VERSION, DESCRIPTION, SETTINGS, OPS)                       \
    KL_DEFINE_PLUGIN_(KL_KIND_RUNTIME, KL_RUNTIME_ABI_MAJOR, KL_RUNTIME_ABI_MINOR, NAME,   \
                      VERSION, DESCRIPTION, SETTINGS, OPS)

#endif
