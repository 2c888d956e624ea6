/* runtime/docker: what the plugin's files share: the runtime's state, a
 * small HTTP client for the Docker Engine API over a unix socket, Kubernetes
 * quantities, the helpers the ops call, and the ops defined outside docker.c.
 * Functions are listed by the file that defines them. */
#ifndef KEELSON_RUNTIME_DOCKER_H
#define KEELSON_RUNTIME_DOCKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <keelson/runtime.h>

#define DOCKER_API_PREFIX "/v1.41"       /* dockerd 20.10; newer daemons still speak it */
#define DOCKER_REPLY_MAX (8 * 1024 * 1024)  /* a reply body we keep in memory */

/* Labels on every container keelson creates; list() finds them by these. */
#define LABEL_NAMESPACE "io.keelson.pod.namespace"
#define LABEL_POD "io.keelson.pod.name"
#define LABEL_UID "io.keelson.pod.uid"
#define LABEL_CONTAINER "io.keelson.container"

typedef struct docker_http docker_http_t;
typedef struct docker_events docker_events_t;

/* Settings never change after open(); the HTTP client and `signalled` are
 * safe to use from several threads, as KL_RUNTIME_CONCURRENT_STARTS allows. */
typedef struct docker_runtime {
    const kl_host_t *host;
    const char *socket;   /* borrowed from the host table */
    const char *network;  /* "host" or "none" */
    int timeout_ms;
    int pull_timeout_ms;
    long long nofile;     /* 0: dockerd's default */
    docker_http_t *http;
    docker_events_t *events;  /* NULL: exits are seen at the kubelet's relist */
    pthread_mutex_t signalled_lock;
    json_t *signalled;  /* ids this plugin stopped or killed: their 137 is ours */
} docker_runtime_t;

/* A parsed image reference: `from` and `tag` for /images/create, `full` for
 * /containers/create and /images/{name}/json. */
typedef struct image_ref {
    char from[512];
    char tag[160];
    char full[680];
} image_ref_t;

/* events.c: exits announced by dockerd, behind an eventfd. */
docker_events_t *docker_events_start(docker_runtime_t *rt, kl_error_t *err);
void docker_events_stop(docker_events_t **events);
int docker_events_fd(const docker_events_t *events);
int docker_events_read(docker_events_t *events, void (*changed)(const char *id, void *arg), void *arg,
                       kl_error_t *err);

/* http.c */

/* A finished exchange. `body` is NUL-terminated; caller owns it (docker_reply_free). */
typedef struct docker_reply {
    long status;   /* HTTP status */
    char *body;
    size_t length;
} docker_reply_t;

/* Receives a 2xx body as it arrives instead of it being kept in the reply
 * (an error reply is kept, for docker_reply_message).
 * Returns 0 to go on, 1 to end the transfer early (not an error), -1 to fail
 * it; on -1 it has filled the error it was given through its own argument. */
typedef int (*docker_sink_fn)(const char *data, size_t size, void *arg);

/* `socket_path` is borrowed and must outlive the client. Caller owns the result. */
docker_http_t *docker_http_new(const char *socket_path, kl_error_t *err);
void docker_http_destroy(docker_http_t **client);

/* `method` "GET", "POST" or "DELETE"; `path` starts with '/' and already has
 * the API prefix and escaped query; `body` (borrowed, may be NULL) is sent as
 * JSON. Returns 0 once dockerd answered, whatever the HTTP status, and -1
 * with KL_ERR_UNAVAILABLE or KL_ERR_TIMEOUT when it could not be reached. */
int docker_http_call(docker_http_t *client, const char *method, const char *path, const json_t *body,
                     int timeout_ms, docker_sink_fn sink, void *sink_arg, docker_reply_t *reply,
                     kl_error_t *err);
void docker_reply_free(docker_reply_t *reply);

/* The "message" dockerd put in an error reply, or a short excerpt of the body. */
void docker_reply_message(const docker_reply_t *reply, char *buffer, size_t size);

/* Escapes `text` for a query string into `buffer`; -1 when it does not fit. */
int docker_query_escape(const char *text, char *buffer, size_t size);

/* quantity.c: Kubernetes quantities ("500m", "64Mi", "1.5"), rounded up to whole
 * millicores or bytes. `what` names the field in errors. */
int docker_quantity_cpu(const char *text, const char *what, int64_t *millicores, kl_error_t *err);
int docker_quantity_memory(const char *text, const char *what, int64_t *bytes, kl_error_t *err);

/* docker.c */

/* Any reply we did not expect: sets `err` with dockerd's own sentence,
 * named by `what`, and returns -1. */
int reply_error(const docker_reply_t *reply, int code, const char *what, kl_error_t *err);
/* Sets `err` to KL_ERR_NOT_FOUND for a container dockerd does not know, and returns -1. */
int docker_not_found(const char *id, const docker_runtime_t *rt, kl_error_t *err);
/* 0 when `id` may go into a URL path unescaped; else KL_ERR_INVALID. */
int docker_id_check(const char *id, kl_error_t *err);
/* Notes (1) or forgets (0) that this plugin stopped or killed `id`; takes signalled_lock. */
void docker_signalled_set(docker_runtime_t *rt, const char *id, int signalled);
/* 1 when this plugin stopped or killed `id`, so its SIGKILL exit is ours; takes signalled_lock. */
int docker_signalled_by_us(docker_runtime_t *rt, const char *id);

/* image.c: image references, presence and pulls */

int image_ref_parse(const char *image, image_ref_t *ref, kl_error_t *err);
/* Pulls as `policy` says: KL_PULL_PRESENT when it was already there, 0 when
 * pulled, -1 on error. */
int image_ensure(docker_runtime_t *rt, const image_ref_t *ref, kl_pull_policy_t policy, kl_error_t *err);
/* The pull op: image_ensure() of a reference checked and parsed. */
int docker_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err);

/* create.c: the pod's container spec as a /containers/create body */

int pull_policy_of(const json_t *container, const char *image, const char *name, kl_pull_policy_t *policy,
                   kl_error_t *err);
/* Caller owns the result; NULL with `err` set when the spec is refused. */
json_t *create_body(docker_runtime_t *rt, const kl_container_request_t *request, const image_ref_t *ref,
                    kl_error_t *err);

/* status.c: dockerd's State object as keelson's container status */

int status_from_state(const json_t *state, const char *id, kl_container_status_t *status, kl_error_t *err);

/* lifecycle.c: the ops that change a container */

/* The start op: checks the request, pulls as its policy says, creates and starts. */
int docker_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                 kl_error_t *err);
/* The stop op: POST /containers/{id}/stop with the grace in whole seconds, rounded up. */
int docker_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err);
/* The kill op: one signal through POST /containers/{id}/kill. */
int docker_kill(void *runtime, const char *id, int signal, kl_error_t *err);
/* The remove op: force-deletes the container and its volumes, and forgets it was signalled. */
int docker_remove(void *runtime, const char *id, kl_error_t *err);

/* inspect.c: what dockerd says of containers */

/* The status op: the container's State, with OOM kills dockerd missed on cgroup v1. */
int docker_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err);
/* The list op: every container carrying keelson's labels, each with its status. */
int docker_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err);

/* logs.c */

/* The logs op: up to `size` bytes of stdout and stderr from `offset`. */
int docker_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                kl_error_t *err);

#endif
