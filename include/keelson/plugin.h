/* The plugin descriptor: the one data symbol every keelson plugin exports.
 * Its leading fields never change, so any core can read any plugin's kind and
 * ABI version before trusting the rest. */
#ifndef KEELSON_PLUGIN_H
#define KEELSON_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <keelson/host.h>
#include <keelson/version.h>

#define KL_PLUGIN_MAGIC 0x4b4c504cu  /* "KLPL" */
#define KL_PLUGIN_SYMBOL "keelson_plugin"

typedef enum kl_plugin_kind {
    KL_KIND_STORE = 1,
    KL_KIND_SCHEDULER = 2,
    KL_KIND_RUNTIME = 3,
    KL_KIND_CONTROLLER = 4
} kl_plugin_kind_t;

typedef enum kl_setting_type {
    KL_SETTING_STRING = 1,
    KL_SETTING_INT = 2,      /* 64-bit integer */
    KL_SETTING_FLOAT = 3,    /* also accepts an integer */
    KL_SETTING_BOOL = 4,
    KL_SETTING_STRING_LIST = 5
} kl_setting_type_t;

/* A plugin declares its settings; the core rejects unknown keys, wrong types
 * and missing required settings with the file and line before open(). */
typedef struct kl_setting_spec {
    const char *name;
    kl_setting_type_t type;
    int required;
    const char *help;
} kl_setting_spec_t;

#define KL_SETTINGS_END { NULL, 0, 0, NULL }

typedef struct kl_plugin_descriptor {
    /* --- frozen prefix: never reordered or resized --- */
    uint32_t magic;        /* KL_PLUGIN_MAGIC */
    uint16_t abi_major;    /* of the plugin's kind, as built */
    uint16_t abi_minor;
    uint32_t kind;         /* kl_plugin_kind_t */
    const char *name;      /* matches the file name: <kind>_<name>.so */
    const char *version;   /* the plugin's own version, free form */
    /* --- end of frozen prefix --- */
    const char *description;
    const kl_setting_spec_t *settings;  /* ends with KL_SETTINGS_END; may be NULL */
    size_t ops_size;       /* sizeof the ops table the plugin was built with */
    const void *ops;       /* kl_<kind>_ops_t */
} kl_plugin_descriptor_t;

#define KL_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Fills the ABI fields from the headers the plugin is compiled against. */
#define KL_DEFINE_PLUGIN_(KIND, MAJOR, MINOR, NAME, VERSION, DESCRIPTION, SETTINGS, OPS) \
    KL_PLUGIN_EXPORT const kl_plugin_descriptor_t keelson_plugin = {                   \
        .magic = KL_PLUGIN_MAGIC,                                                      \
        .abi_major = (MAJOR),                                                          \
        .abi_minor = (MINOR),                                                          \
        .kind = (KIND),                                                                \
        .name = (NAME),                                                                \
        .version = (VERSION),                                                          \
        .description = (DESCRIPTION),                                                  \
        .settings = (SETTINGS),                                                        \
        .ops_size = sizeof(OPS),                                                       \
        .ops = &(OPS),                                                                 \
    }

static inline const char *kl_plugin_kind_name(uint32_t kind)
{
    switch (kind) {
    case KL_KIND_STORE: return "store";
    case KL_KIND_SCHEDULER: return "scheduler";
    case KL_KIND_RUNTIME: return "runtime";
    case KL_KIND_CONTROLLER: return "controller";
    default: return "unknown";
    }
}

#endif
