/* runtime/podman: the images this instance knows are in its storage, so
 * IfNotPresent needs no podman per container. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "podman.h"

static int image_known(const podman_runtime_t *rt, const char *image)
{
    for (size_t i = 0; i < PODMAN_PRESENT_MAX; i++)
        if (rt->present[i] && !strcmp(rt->present[i], image))
            return 1;
    return 0;
}

void image_remember(podman_runtime_t *rt, const char *image)
{
    if (image_known(rt, image))
        return;
    char *copy = strdup(image);
    if (!copy)
        return;  /* only a cache: the next start asks podman again */
    free(rt->present[rt->present_next]);
    rt->present[rt->present_next] = copy;
    rt->present_next = (rt->present_next + 1) % PODMAN_PRESENT_MAX;
}

void image_forget(podman_runtime_t *rt, const char *image)
{
    for (size_t i = 0; i < PODMAN_PRESENT_MAX; i++)
        if (rt->present[i] && !strcmp(rt->present[i], image)) {
            free(rt->present[i]);
            rt->present[i] = NULL;
        }
}

/* 1 when podman's storage has the image, 0 when not, -1 on error. */
int image_present(podman_runtime_t *rt, const char *image, kl_error_t *err)
{
    if (image_known(rt, image))
        return 1;
    podman_args_t args;
    char message[1024];
    args_begin(&args, rt);
    args_add(&args, "image");
    args_add(&args, "exists");
    args_add(&args, image);
    int rc = args_run(&args, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, message, sizeof message);
    args_free(&args);
    if (rc == 0)
        image_remember(rt, image);
    if (rc == 0 || rc == 1)
        return rc == 0;
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot ask %s whether image \"%s\" is present: %s", rt->podman,
                        image, message[0] ? last_line(message) : "it failed without a message");
}
