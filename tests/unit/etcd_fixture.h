/* What the etcd store's test programs share: a one-member etcd on a
 * loopback port in a temporary folder, and the plugin opened through the
 * loader as keelsond opens it. No TAP output here but diagnostics: each
 * program reports its own. */
#ifndef KL_TESTS_ETCD_FIXTURE_H
#define KL_TESTS_ETCD_FIXTURE_H

#include <libconfig.h>

#include "loader.h"

/* Starts the etcd: 1 with `endpoint` and `settings` (the store's settings
 * group, inside the braces) filled, 0 when it could not start (said on
 * stdout), -1 when this machine has no etcd or no temporary folder (the
 * program should skip). */
int etcd_fixture_start(char *endpoint, size_t endpoint_size, char *settings, size_t settings_size);
/* Stops it and removes its folder; harmless when it never started. */
void etcd_fixture_stop(void);

/* A fresh instance of the plugin with `settings_text`, opened, or NULL with
 * err filled; `cfg` holds the parsed settings and must be destroyed after
 * the plugin. */
kl_plugin_t *etcd_store_new(const char *settings_text, config_t *cfg, kl_error_t *err);

/* Monotonic seconds, for waits. */
double etcd_fixture_seconds(void);

#endif
