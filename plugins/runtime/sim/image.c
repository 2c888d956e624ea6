/* runtime/sim: images. Nothing is ever pulled: a reference is checked as a
 * registry would check it, and fails only when the missing_images setting
 * names it, so ErrImagePull paths can be tested without a registry. */
#include <string.h>

#include "sim.h"

/* The checks a registry would make, so a typo fails here as it would with a
 * real runtime: [host[:port]/]path[:tag], lower-case path components, a tag
 * of letters, digits, '_', '.' or '-'. Digests are not simulated. */
int sim_reference_check(const char *reference, kl_error_t *err)
{
    if (!reference || reference[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "container image is empty");
    size_t length = strlen(reference);
    if (length > SIM_REFERENCE_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "image reference \"%.64s...\" is longer than %d characters",
                            reference, SIM_REFERENCE_MAX);
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)reference[i];
        if (c <= ' ' || c >= 0x7f)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference has a space, control or non-ASCII character at position %zu",
                                i + 1);
    }
    const char *slash = strrchr(reference, '/');
    const char *colon = strrchr(slash ? slash : reference, ':');
    size_t path_length = colon ? (size_t)(colon - reference) : length;
    if (colon) {
        const char *tag = colon + 1;
        int good = tag[0] != '\0' && tag[0] != '.' && tag[0] != '-' && strlen(tag) < 128;
        for (const char *t = tag; good && *t; t++)
            good = (*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9')
                   || *t == '_' || *t == '.' || *t == '-';
        if (!good)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference \"%s\" has a bad tag \"%s\": a tag is up to 127 letters, digits, "
                                "'_', '.' or '-'", reference, tag);
    }
    /* The first component is a registry when more follow and it has '.' or ':'. */
    const char *first_slash = memchr(reference, '/', path_length);
    size_t head = first_slash ? (size_t)(first_slash - reference) : 0;
    int registry = first_slash && (memchr(reference, '.', head) || memchr(reference, ':', head));
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
    return 0;
}

/* A missing_images entry matches the reference itself or, without a tag,
 * every tag of that name. */
int sim_image_missing(const sim_runtime_t *sim, const char *reference)
{
    for (char **item = sim->missing_images; item && *item; item++) {
        size_t length = strlen(*item);
        if (strcmp(*item, reference) == 0)
            return 1;
        const char *slash = strrchr(*item, '/');
        int has_tag = strchr(slash ? slash : *item, ':') != NULL;
        if (!has_tag && strncmp(*item, reference, length) == 0 && reference[length] == ':'
            && !strchr(reference + length + 1, '/'))
            return 1;
    }
    return 0;
}

int sim_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err)
{
    sim_runtime_t *sim = runtime;
    if (policy != KL_PULL_IF_NOT_PRESENT && policy != KL_PULL_ALWAYS && policy != KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_INVALID, "pull policy %d of image \"%.64s\" is not one of "
                            "IfNotPresent, Always, Never", (int)policy, image ? image : "");
    if (sim_reference_check(image, err) < 0)
        return -1;
    if (sim_image_missing(sim, image))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" not found (listed in runtime/sim missing_images)",
                            image);
    /* Every other image is on the simulated machine; Always still "pulls". */
    return policy == KL_PULL_ALWAYS ? 0 : KL_PULL_PRESENT;
}
