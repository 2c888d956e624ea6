/* Runs controller plugins, each on its own thread, until the daemon stops. */
#ifndef KL_CORE_CONTROLLER_HOST_H
#define KL_CORE_CONTROLLER_HOST_H

#include "loader.h"

typedef struct kl_controller_host kl_controller_host_t;

/* Opens the plugin on a new thread and runs its loop there. The plugin stays
 * the caller's; it must outlive the host. Returns NULL if open() failed. */
kl_controller_host_t *kl_controller_host_new(kl_plugin_t *plugin, kl_error_t *err);
/* Asks the loop to stop, joins the thread, closes the plugin. Accepts NULL. */
void kl_controller_host_destroy(kl_controller_host_t **self_p);

#endif
