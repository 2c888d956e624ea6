/* runtime/sim internals shared by its files: the runtime's state, the
 * container table and the image checks. Never installed. Functions are
 * listed by the file that defines them. */
#ifndef KL_RUNTIME_SIM_H
#define KL_RUNTIME_SIM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <keelson/keelson.h>

#define SIM_ANNOTATION_START_DELAY "sim.keelson.io/start-delay-ms"
#define SIM_ANNOTATION_RUN "sim.keelson.io/run-ms"
#define SIM_ANNOTATION_EXIT_CODE "sim.keelson.io/exit-code"

/* A day is far beyond any simulated container lifetime; a bigger value is a typo. */
#define SIM_MAX_DURATION_MS (24LL * 3600 * 1000)
#define SIM_EXIT_TERMINATED 143  /* 128 + SIGTERM, as a real runtime reports a stop */
#define SIM_REFERENCE_MAX 512

/* One simulated container: what start() was asked for, and when. */
typedef struct sim_container {
    char *id;
    int64_t created_mono_ms;     /* clocks are read once at start: status is pure arithmetic */
    int64_t created_real_ms;
    int64_t start_delay_ms;
    int64_t run_ms;              /* 0: runs until stopped */
    int exit_code;
    int stopped;
    int stopped_code;            /* 128 + the signal that stopped it */
    int64_t stopped_mono_ms;
    char *pod_namespace;         /* what list() reports, copied at start */
    char *pod_name;
    char *pod_uid;
    char *container_name;
    char *image;
    struct sim_container *next;  /* hash chain */
} sim_container_t;

/* One open runtime: its settings and the container table. */
typedef struct sim_runtime {
    const kl_host_t *host;
    int64_t start_delay_ms;
    int64_t run_ms;
    int exit_code;
    int64_t start_latency_ms;
    int concurrent_starts;
    char **missing_images;       /* NULL-terminated copy of the setting */
    pthread_mutex_t lock;        /* the table, its count and next_serial */
    sim_container_t **buckets;
    size_t bucket_count;         /* a power of two */
    size_t count;
    uint64_t next_serial;
} sim_runtime_t;

/* table.c: the hash map of containers; callers hold sim->lock while it is shared. */

/* The chain link that holds `id`, or the NULL link at the end of its chain. */
sim_container_t **sim_slot(sim_runtime_t *sim, const char *id);
/* Doubles the bucket array; -1 when out of memory, the table unchanged. */
int sim_grow(sim_runtime_t *sim);
/* Frees a container and the strings it owns; NULL is fine. */
void sim_container_free(sim_container_t *c);
/* The container `id`, or NULL with KL_ERR_INVALID or KL_ERR_NOT_FOUND in err. */
sim_container_t *sim_find(sim_runtime_t *sim, const char *id, kl_error_t *err);

/* image.c */

/* 0 when `reference` is an image reference a registry would accept; else KL_ERR_INVALID. */
int sim_reference_check(const char *reference, kl_error_t *err);
/* 1 when the missing_images setting says `reference` cannot be pulled. */
int sim_image_missing(const sim_runtime_t *sim, const char *reference);
/* The pull op: fails for missing_images, every other image is present. */
int sim_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err);

/* containers.c: the ops on containers, whose state follows from the clock. */

/* The start op: adds a container to the table after start_latency_ms. */
int sim_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
              kl_error_t *err);
/* The status op: the container's state computed from the clock. */
int sim_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err);
/* The stop op: ends the container at once with SIM_EXIT_TERMINATED. */
int sim_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err);
/* The remove op: drops the container from the table. */
int sim_remove(void *runtime, const char *id, kl_error_t *err);
/* The list op: visits every container under the lock. */
int sim_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err);
/* The logs op: a log made up from the container's state. */
int sim_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
             kl_error_t *err);
/* The kill op: ends the container at once with 128 + signal_number. */
int sim_kill(void *runtime, const char *id, int signal_number, kl_error_t *err);

#endif
