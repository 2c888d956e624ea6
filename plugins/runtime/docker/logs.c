/* runtime/docker: the logs op: a container's output from a given offset,
 * taken out of dockerd's framed log stream into the caller's buffer. */
#include <stdio.h>
#include <string.h>

#include "docker.h"

/* Undoes dockerd's framing of a non-tty log stream: each frame is an 8-byte
 * header (stream, 0, 0, 0, big-endian length) and that many bytes. */
typedef struct log_reader {
    unsigned char header[8];
    size_t header_have;
    size_t frame_left;
    int64_t skip;      /* payload bytes before the caller's offset */
    char *out;
    size_t size, copied;
    kl_error_t *err;
} log_reader_t;

static int log_sink(const char *data, size_t size, void *arg)
{
    log_reader_t *r = arg;
    size_t i = 0;
    while (i < size) {
        if (r->frame_left == 0) {
            while (i < size && r->header_have < sizeof r->header)
                r->header[r->header_have++] = (unsigned char)data[i++];
            if (r->header_have < sizeof r->header)
                return 0;
            if (r->header[0] > 2 || r->header[1] || r->header[2] || r->header[3]) {
                kl_error_set(r->err, KL_ERR_INTERNAL, "dockerd sent a log frame header that is not "
                             "(stream 0-2, 0, 0, 0, length): first byte %u", r->header[0]);
                return -1;
            }
            r->frame_left = (size_t)r->header[4] << 24 | (size_t)r->header[5] << 16 | (size_t)r->header[6] << 8
                            | r->header[7];
            r->header_have = 0;
            continue;
        }
        size_t n = size - i < r->frame_left ? size - i : r->frame_left;
        size_t skipped = r->skip > 0 ? ((int64_t)n < r->skip ? n : (size_t)r->skip) : 0;
        r->skip -= (int64_t)skipped;
        size_t take = n - skipped;
        if (take > r->size - r->copied)
            take = r->size - r->copied;
        memcpy(r->out + r->copied, data + i + skipped, take);
        r->copied += take;
        i += skipped + take;
        r->frame_left -= skipped + take;
        if (r->copied == r->size)
            return 1;  /* the caller's buffer is full: no need for the rest */
    }
    return 0;
}

int docker_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    if (!buffer || !length || size == 0)
        return kl_error_set(err, KL_ERR_INVALID, "container logs: no buffer for the result");
    if (offset < 0)
        return kl_error_set(err, KL_ERR_INVALID, "container logs: offset %lld is negative", (long long)offset);
    *length = 0;
    if (docker_id_check(id, err) < 0)
        return -1;
    char path[256];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/containers/%s/logs?stdout=1&stderr=1", id);
    log_reader_t reader = { .skip = offset, .out = buffer, .size = size, .err = err };
    docker_reply_t reply;
    if (docker_http_call(rt->http, "GET", path, NULL, rt->timeout_ms, log_sink, &reader, &reply, err) < 0)
        return -1;
    int rc = 0;
    if (reply.status == 404)
        rc = docker_not_found(id, rt, err);
    else if (reply.status != 200) {
        char what[200];
        snprintf(what, sizeof what, "reading the logs of container %.80s", id);
        rc = reply_error(&reply, KL_ERR_INTERNAL, what, err);
    } else
        *length = reader.copied;
    docker_reply_free(&reply);
    return rc;
}
