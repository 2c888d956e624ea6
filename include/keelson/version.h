/* keelson release and ABI versions: what a plugin was built against. */
#ifndef KEELSON_VERSION_H
#define KEELSON_VERSION_H

#define KL_VERSION_MAJOR 0
#define KL_VERSION_MINOR 1
#define KL_VERSION_PATCH 0
#define KL_VERSION_STRING "0.1.0"

/* One ABI version per plugin kind. A plugin loads when its major equals the
 * core's and its minor is no newer than the core's: new operations only ever
 * go at the end of an ops table, so an older plugin simply lacks them. */
#define KL_STORE_ABI_MAJOR 1
#define KL_STORE_ABI_MINOR 3
#define KL_SCHEDULER_ABI_MAJOR 1
#define KL_SCHEDULER_ABI_MINOR 0
#define KL_RUNTIME_ABI_MAJOR 1
#define KL_RUNTIME_ABI_MINOR 3
#define KL_CONTROLLER_ABI_MAJOR 1
#define KL_CONTROLLER_ABI_MINOR 0

/* Version of the host callback table (kl_host_t) handed to every plugin. */
#define KL_HOST_ABI_VERSION 1

#endif
