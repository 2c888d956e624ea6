/* runtime/docker: what the plugin's files share: a small HTTP client for the
 * Docker Engine API over a unix socket, and Kubernetes quantities. */
#ifndef KEELSON_RUNTIME_DOCKER_H
#define KEELSON_RUNTIME_DOCKER_H

#include <stddef.h>
#include <stdint.h>
#include <keelson/runtime.h>

#define DOCKER_API_PREFIX "/v1.41"       /* dockerd 20.10; newer daemons still speak it */
#define DOCKER_REPLY_MAX (8 * 1024 * 1024)  /* a reply body we keep in memory */

typedef struct docker_http docker_http_t;

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

/* Kubernetes quantities ("500m", "64Mi", "1.5"), rounded up to whole
 * millicores or bytes. `what` names the field in errors. */
int docker_quantity_cpu(const char *text, const char *what, int64_t *millicores, kl_error_t *err);
int docker_quantity_memory(const char *text, const char *what, int64_t *bytes, kl_error_t *err);

#endif
