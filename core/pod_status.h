/* The kubelet's pure pod state machine: what each container is doing, when
 * to restart it, and the Kubernetes-shaped pod status that follows. No bus
 * and no runtime calls here, so every rule is unit-testable. */
#ifndef KL_CORE_POD_STATUS_H
#define KL_CORE_POD_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/error.h>
#include <keelson/runtime.h>

typedef enum kl_restart_policy {
    KL_RESTART_ALWAYS = 0,
    KL_RESTART_ON_FAILURE = 1,
    KL_RESTART_NEVER = 2
} kl_restart_policy_t;

typedef enum kl_container_phase {
    KL_CONTAINER_WAITING = 0,
    KL_CONTAINER_STARTED = 1,     /* running */
    KL_CONTAINER_TERMINATED = 2
} kl_container_phase_t;

/* Restart back-off: 1s doubling up to 30s. */
#define KL_RESTART_BACKOFF_MIN_MS 1000
#define KL_RESTART_BACKOFF_MAX_MS 30000

typedef struct kl_container_exit {
    int exit_code;
    int64_t started_ms;
    int64_t finished_ms;
    char reason[64];
    char message[256];
    char id[KL_CONTAINER_ID_MAX];
} kl_container_exit_t;

/* One container of a pod as the kubelet tracks it. */
typedef struct kl_container_track {
    char *name;   /* owned */
    char *image;  /* owned */
    kl_container_phase_t phase;
    char id[KL_CONTAINER_ID_MAX];  /* the runtime's current container, "" when none */
    char reason[64];               /* while waiting */
    char message[512];
    int64_t started_ms;            /* while running */
    kl_container_exit_t exit;      /* while terminated */
    int has_last;                  /* lastState.terminated is known */
    kl_container_exit_t last;
    int restart_count;
    int restart_pending;           /* exited, to be started again */
    int start_failures;            /* consecutive failed start() calls */
    int64_t next_start_ms;         /* no start() before this */
    uint64_t version;              /* bumped on every change the status shows */
} kl_container_track_t;

/* A pod: its containers and the timestamps its status reports. */
typedef struct kl_pod_track {
    kl_restart_policy_t policy;
    size_t count;
    kl_container_track_t *containers;  /* owned, count entries */
    char phase[16];                    /* "Pending", "Running", ... */
    int64_t created_ms;                /* when the kubelet took the pod */
    int64_t start_time_ms;             /* status.startTime */
    int ready;
    int64_t ready_since_ms;            /* lastTransitionTime of Ready */
    uint64_t version;                  /* bumped when phase or readiness changes */
} kl_pod_track_t;

int64_t kl_restart_backoff_ms(int attempts);
/* NULL or "" means Always. -1 with err on anything else. */
int kl_restart_policy_parse(const char *text, kl_restart_policy_t *policy, kl_error_t *err);
/* Should a container that exited with `exit_code` run again? */
int kl_restart_wanted(kl_restart_policy_t policy, int exit_code);

/* Fills `track` from a Pod: containers (name and image required) and the
 * restart policy. -1 with err naming the field on a malformed pod. */
int kl_pod_track_init(kl_pod_track_t *track, const json_t *pod, int64_t now_ms, kl_error_t *err);
void kl_pod_track_clear(kl_pod_track_t *track);

/* Is the pod done (Succeeded or Failed)? Nothing more is started then. */
int kl_pod_track_finished(const kl_pod_track_t *track);

/* The runtime accepted a start: the container is being created. */
void kl_container_started(kl_container_track_t *container, const char *id, int64_t now_ms);
/* start() failed: waiting with ErrImagePull (KL_ERR_NOT_FOUND) or
 * CreateContainerError, retried after a back-off. */
void kl_container_start_failed(kl_container_track_t *container, const kl_error_t *err,
                               int64_t now_ms);
/* pull() failed: ErrImagePull the first time, then ImagePullBackOff while
 * retries keep failing; retried after the same back-off as start(). */
void kl_container_pull_failed(kl_container_track_t *container, const kl_error_t *err,
                              int64_t now_ms);
/* Takes over a container a previous kubelet started (adoption): tracks `id`
 * with the restart count the pod's status last showed. */
void kl_container_adopt(kl_container_track_t *container, const char *id, int restart_count);
/* Applies what the runtime reports. Returns 1 when the container exited and
 * should be restarted (its id is then the old container's, for removal; the
 * caller clears it), else 0. */
int kl_container_observe(kl_container_track_t *container, kl_restart_policy_t policy,
                         const kl_container_status_t *status, int64_t now_ms);
/* Does the container want a start() now? */
int kl_container_start_due(const kl_container_track_t *container, const kl_pod_track_t *pod,
                           int64_t now_ms);

/* imagePullPolicy: NULL means the Kubernetes default for `image` (Always
 * for ":latest" or no tag, else IfNotPresent). -1 with err on anything else. */
int kl_pull_policy_parse(const char *text, const char *image, kl_pull_policy_t *policy,
                         kl_error_t *err);

/* Recomputes phase and readiness (and their transition times). */
void kl_pod_track_refresh(kl_pod_track_t *track, int64_t now_ms);
/* Changes whenever the status kl_pod_status_build() gives would change, so
 * a caller can skip building an identical status. */
uint64_t kl_pod_track_version(const kl_pod_track_t *track);
/* Phase from the containers alone, as Kubernetes derives it. */
const char *kl_pod_phase_of(const kl_pod_track_t *track);

/* The pod's status object (caller owns). Deterministic for a given track,
 * so the kubelet writes only when it differs from the last one written. */
json_t *kl_pod_status_build(const kl_pod_track_t *track);

/* RFC 3339 in UTC with seconds ("2024-05-01T10:00:00Z"). */
void kl_time_format_rfc3339(int64_t ms, char *buf, size_t size);

#endif
