/* runtime/podman: checks of image references and container ids before
 * they reach podman's command line, where a bad one could pass as an option. */
#define _GNU_SOURCE
#include <string.h>

#include "podman.h"

#define PODMAN_REFERENCE_MAX 512

/* [host[:port]/]path[:tag] with lower-case path components, as registries
 * take them. Sets *has_registry when the first component names a host. */
int reference_check(const char *reference, int *has_registry, kl_error_t *err)
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
int id_check(const char *id, kl_error_t *err)
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
