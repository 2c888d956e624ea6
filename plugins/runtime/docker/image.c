/* runtime/docker: images: parsing a reference, asking dockerd whether it
 * has one, and pulling it as the pull policy says, for start and the pull op. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

#define DOCKER_PULL_LINE_MAX 65536  /* a progress line longer than this is skipped */

static int is_tag_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Docker's reference grammar, a little stricter: [host[:port]/]path[:tag][@algo:hex]. */
int image_ref_parse(const char *image, image_ref_t *ref, kl_error_t *err)
{
    memset(ref, 0, sizeof *ref);
    if (!image || image[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "image reference is empty");
    size_t length = strlen(image);
    if (length >= sizeof ref->from)
        return kl_error_set(err, KL_ERR_INVALID, "image reference \"%.64s...\" is longer than %zu characters", image,
                            sizeof ref->from - 1);
    char name[512];
    memcpy(name, image, length + 1);
    const char *digest = NULL;
    char *at = strchr(name, '@');
    if (at) {
        *at = '\0';
        digest = at + 1;
        const char *colon = strchr(digest, ':');
        int good = colon && colon > digest && strlen(colon + 1) >= 32;
        for (const char *p = digest; good && *p; p++)
            good = p < colon ? (islower((unsigned char)*p) || isdigit((unsigned char)*p))
                             : p == colon || isxdigit((unsigned char)*p);
        if (!good)
            return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": digest \"%.100s\" is not ALGORITHM:HEX", image,
                                digest);
    }
    char *slash = strrchr(name, '/');
    char *colon = strrchr(slash ? slash : name, ':');
    const char *tag = NULL;
    if (colon) {
        *colon = '\0';
        tag = colon + 1;
        if (tag[0] == '\0' || strlen(tag) > 128 || tag[0] == '.' || tag[0] == '-')
            return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": tag \"%.140s\" must be 1 to 128 letters, "
                                "digits, '_', '.' or '-', not starting with '.' or '-'", image, tag);
        for (const char *p = tag; *p; p++)
            if (!is_tag_char(*p))
                return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": tag \"%.140s\" has the character '%c'",
                                    image, tag, *p);
    }
    /* The first component is a registry host when it has '.' or ':' or is
     * localhost; the repository path after it must be lower case. */
    const char *path = name;
    const char *first_slash = strchr(name, '/');
    if (first_slash) {
        size_t host_length = (size_t)(first_slash - name);
        if (memchr(name, '.', host_length) || memchr(name, ':', host_length)
            || (host_length == 9 && strncmp(name, "localhost", 9) == 0)) {
            for (const char *p = name; p < first_slash; p++)
                if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' && *p != ':' && *p != '[' && *p != ']')
                    return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": registry host has the character '%c'",
                                        image, *p);
            if (host_length == 0 || name[0] == '.' || name[0] == '-' || name[0] == ':')
                return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": registry host is malformed", image);
            path = first_slash + 1;
        }
    }
    int previous_separator = 1;  /* no separator first, none twice, none last */
    for (const char *p = path; *p; p++) {
        int separator = *p == '/' || *p == '.' || *p == '_' || *p == '-';
        if (!separator && !islower((unsigned char)*p) && !isdigit((unsigned char)*p))
            return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": repository \"%.200s\" must be lower-case "
                                "letters, digits and separators '/', '.', '_', '-' (found '%c')", image, path, *p);
        if (separator && previous_separator
            && !(p > path && ((*p == '_' && p[-1] == '_') || (*p == '-' && p[-1] == '-'))))
            return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": repository \"%.200s\" has a misplaced '%c'",
                                image, path, *p);
        previous_separator = separator;
    }
    if (path[0] == '\0' || previous_separator)
        return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\": repository name is empty or ends in a separator",
                            image);
    snprintf(ref->from, sizeof ref->from, "%s", name);
    if (digest) {
        snprintf(ref->tag, sizeof ref->tag, "%s", digest);
        snprintf(ref->full, sizeof ref->full, "%s@%s", name, digest);
    } else {
        snprintf(ref->tag, sizeof ref->tag, "%s", tag ? tag : "latest");
        snprintf(ref->full, sizeof ref->full, "%s:%s", name, ref->tag);
    }
    return 0;
}

/* 1 present, 0 absent, -1 error. */
static int image_present(docker_runtime_t *rt, const image_ref_t *ref, kl_error_t *err)
{
    char path[1024];
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/images/%s/json", ref->full);
    docker_reply_t reply;
    if (docker_http_call(rt->http, "GET", path, NULL, rt->timeout_ms, NULL, NULL, &reply, err) < 0)
        return -1;
    int rc = reply.status == 200 ? 1 : reply.status == 404 ? 0 : -1;
    if (rc < 0) {
        char what[800];
        snprintf(what, sizeof what, "looking up image \"%s\"", ref->full);
        reply_error(&reply, KL_ERR_INTERNAL, what, err);
    }
    docker_reply_free(&reply);
    return rc;
}

/* Reads the JSON lines of a pull's progress and keeps the first error. */
typedef struct pull_progress {
    char *line;
    size_t length;
    int overlong;
    char error[400];
} pull_progress_t;

static void pull_line(pull_progress_t *progress, const char *text, size_t length)
{
    if (progress->error[0] || length == 0)
        return;
    json_t *doc = json_loadb(text, length, 0, NULL);
    const char *error = json_string_value(json_object_get(doc, "error"));
    if (!error)
        error = json_string_value(json_object_get(json_object_get(doc, "errorDetail"), "message"));
    if (error)
        snprintf(progress->error, sizeof progress->error, "%s", error[0] ? error : "(empty error)");
    json_decref(doc);
}

static int pull_sink(const char *data, size_t size, void *arg)
{
    pull_progress_t *progress = arg;
    for (size_t i = 0; i < size; i++) {
        if (data[i] == '\n') {
            if (!progress->overlong)
                pull_line(progress, progress->line, progress->length);
            progress->length = 0;
            progress->overlong = 0;
            continue;
        }
        if (progress->overlong)
            continue;
        if (progress->length + 1 >= DOCKER_PULL_LINE_MAX) {
            progress->overlong = 1;
            continue;
        }
        progress->line[progress->length++] = data[i];
    }
    return 0;
}

/* Kubernetes' ErrImagePull vs a registry or daemon that is not there. */
static int pull_error_code(const char *message)
{
    static const char *const absent[] = { "not found", "manifest unknown", "does not exist", "name unknown",
                                          "pull access denied", "repository name not known" };
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (strcasestr(message, absent[i]))
            return KL_ERR_NOT_FOUND;
    if (strcasestr(message, "invalid reference format"))
        return KL_ERR_INVALID;
    return KL_ERR_UNAVAILABLE;
}

static int image_pull(docker_runtime_t *rt, const image_ref_t *ref, kl_error_t *err)
{
    char from[1600], tag[500], path[2300];
    if (docker_query_escape(ref->from, from, sizeof from) < 0 || docker_query_escape(ref->tag, tag, sizeof tag) < 0)
        return kl_error_set(err, KL_ERR_INVALID, "image \"%.200s\" is too long to pull", ref->full);
    snprintf(path, sizeof path, DOCKER_API_PREFIX "/images/create?fromImage=%s&tag=%s", from, tag);
    pull_progress_t progress = { .line = malloc(DOCKER_PULL_LINE_MAX) };
    if (!progress.line)
        return kl_error_set(err, KL_ERR_INTERNAL, "runtime/docker: out of memory");
    docker_reply_t reply;
    int rc = docker_http_call(rt->http, "POST", path, NULL, rt->pull_timeout_ms, pull_sink, &progress, &reply, err);
    if (rc == 0 && !progress.overlong)
        pull_line(&progress, progress.line, progress.length);  /* a last line without its newline */
    free(progress.line);
    if (rc < 0) {
        char text[sizeof err->text];
        snprintf(text, sizeof text, "%s", err->text);
        return kl_error_set(err, err->code, "cannot pull image \"%s\": %s", ref->full, text);
    }
    if (reply.status != 200 && !progress.error[0])
        docker_reply_message(&reply, progress.error, sizeof progress.error);
    docker_reply_free(&reply);
    if (progress.error[0])
        return kl_error_set(err, pull_error_code(progress.error), "cannot pull image \"%s\": %s", ref->full,
                            progress.error);
    return 0;
}

int image_ensure(docker_runtime_t *rt, const image_ref_t *ref, kl_pull_policy_t policy, kl_error_t *err)
{
    if (policy != KL_PULL_ALWAYS) {
        int present = image_present(rt, ref, err);
        if (present != 0)
            return present > 0 ? KL_PULL_PRESENT : -1;
        if (policy == KL_PULL_NEVER)
            return kl_error_set(err, KL_ERR_NOT_FOUND,
                                "image \"%s\" is not present in dockerd on %s and the pull policy is Never",
                                ref->full, rt->socket);
    }
    return image_pull(rt, ref, err);
}

int docker_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err)
{
    docker_runtime_t *rt = runtime;
    image_ref_t ref;
    if (image_ref_parse(image, &ref, err) < 0)
        return -1;
    if (policy != KL_PULL_IF_NOT_PRESENT && policy != KL_PULL_ALWAYS && policy != KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_INVALID, "image \"%s\": unknown pull policy %d", ref.full, (int)policy);
    return image_ensure(rt, &ref, policy, err);
}
