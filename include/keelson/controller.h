/* Controller plugin ABI: a control loop that runs on its own thread and talks
 * to the API server only through host->request() (e.g. "api.list",
 * "api.watch", "api.update"; see docs/protocol.md). */
#ifndef KEELSON_CONTROLLER_H
#define KEELSON_CONTROLLER_H

#include <keelson/plugin.h>

typedef struct kl_controller_ops {
    void *(*open)(const kl_host_t *host, kl_error_t *err);
    void (*close)(void *controller);

    /* Runs the loop; must return within about a second of host->stopping()
     * turning non-zero (use watch timeouts of that order). Returning -1 is
     * logged with err's text; the core does not restart the controller. */
    int (*run)(void *controller, kl_error_t *err);
} kl_controller_ops_t;

#define KL_CONTROLLER_PLUGIN(NAME, VERSION, DESCRIPTION, SETTINGS, OPS)                    \
    KL_DEFINE_PLUGIN_(KL_KIND_CONTROLLER, KL_CONTROLLER_ABI_MAJOR, KL_CONTROLLER_ABI_MINOR, \
                      NAME, VERSION, DESCRIPTION, SETTINGS, OPS)

#endif
