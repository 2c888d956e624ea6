/* Plugin loader: finds <kind>_<name>.so on the search path, checks the
 * descriptor (magic, kind, ABI version, ops size) and builds the plugin's
 * host table from its config settings. */
#ifndef KL_CORE_LOADER_H
#define KL_CORE_LOADER_H

#include <libconfig.h>
#include <keelson/keelson.h>

typedef struct kl_plugin {
    char *path;                          /* the file loaded */
    char *label;                         /* "scheduler/firstfit" */
    void *dl;                            /* dlopen handle */
    const kl_plugin_descriptor_t *desc;  /* borrowed from the .so */
    const void *ops;                     /* desc->ops, cast by kind */
    size_t ops_size;
    kl_host_t host;                      /* what the plugin receives */
    void *state;                         /* returned by ops->open() */
    struct kl_host_context *context;     /* the core's side of `host` */
} kl_plugin_t;

/* Search path: `config_dirs` (NULL-terminated, may be NULL), then each entry
 * of $KEELSON_PLUGIN_PATH (':'-separated), then the install directory.
 * `name` may also be a path to a .so (contains '/'). On failure err->text is
 * one line: "plugin KIND/NAME (PATH): REASON". */
kl_plugin_t *kl_plugin_load(kl_plugin_kind_t kind, const char *name,
                            const char *const *config_dirs, kl_error_t *err);

/* Checks `settings` (a libconfig group, may be NULL) against the plugin's
 * declared settings, and readies plugin->host. Errors name file and line.
 * `bus_endpoint` is where host->request() connects; node_name may be NULL. */
int kl_plugin_configure(kl_plugin_t *plugin, const config_setting_t *settings,
                        const char *bus_endpoint, const char *node_name, kl_error_t *err);

/* Calls ops->open(&plugin->host). Must run on the thread that will use it. */
int kl_plugin_open(kl_plugin_t *plugin, kl_error_t *err);

/* Calls ops->close() and drops the host's bus connection; call it on the
 * thread that opened the plugin. Safe to call twice. */
void kl_plugin_close(kl_plugin_t *plugin);

/* Closes (if still open), dlcloses, frees. Accepts NULL. */
void kl_plugin_destroy(kl_plugin_t **plugin_p);

/* Marks every host as stopping (host->stopping() turns non-zero). */
void kl_plugin_request_stop(kl_plugin_t *plugin);

/* Does `plugin`'s ops table reach operation at `offset`? Use KL_PLUGIN_HAS. */
#define KL_PLUGIN_HAS(plugin, ops_type, field)                                     \
    ((plugin)->ops_size >= offsetof(ops_type, field) + sizeof(((ops_type *)0)->field) \
     && ((const ops_type *)(plugin)->ops)->field != NULL)

#endif
