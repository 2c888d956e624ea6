/* Plugin loading and the host table each plugin receives. Every refusal is
 * one line naming the plugin, the file and what to do about it. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "loader.h"
#include "plugin_guard.h"
#include "log.h"

#ifndef KL_PLUGIN_DIR
#define KL_PLUGIN_DIR "/usr/local/lib/keelson/plugins"
#endif

struct kl_host_context {
    const config_setting_t *settings;
    char *bus_endpoint;
    kl_bus_client_t *client;  /* created on first request, on the plugin's thread */
    atomic_int stopping;
};

static const char *kind_label(kl_plugin_kind_t kind)
{
    return kl_plugin_kind_name((uint32_t)kind);
}

/* ---- host callbacks ---------------------------------------------------- */

static void host_log(const kl_host_t *host, kl_log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    kl_vlog(level, host->plugin_name, fmt, ap);
    va_end(ap);
}

static const config_setting_t *host_setting(const kl_host_t *host, const char *name)
{
    const struct kl_host_context *ctx = host->opaque;
    return ctx->settings ? config_setting_get_member(ctx->settings, name) : NULL;
}

static const char *host_setting_string(const kl_host_t *host, const char *name, const char *fallback)
{
    const config_setting_t *s = host_setting(host, name);
    return s && config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : fallback;
}

static long long host_setting_int(const kl_host_t *host, const char *name, long long fallback)
{
    const config_setting_t *s = host_setting(host, name);
    if (!s || (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64))
        return fallback;
    return config_setting_get_int64(s);
}

static double host_setting_float(const kl_host_t *host, const char *name, double fallback)
{
    const config_setting_t *s = host_setting(host, name);
    if (!s)
        return fallback;
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_FLOAT: return config_setting_get_float(s);
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: return (double)config_setting_get_int64(s);
    default: return fallback;
    }
}

static int host_setting_bool(const kl_host_t *host, const char *name, int fallback)
{
    const config_setting_t *s = host_setting(host, name);
    return s && config_setting_type(s) == CONFIG_TYPE_BOOL ? config_setting_get_bool(s) : fallback;
}

static const char *host_setting_list_item(const kl_host_t *host, const char *name, size_t index)
{
    const config_setting_t *s = host_setting(host, name);
    if (!s)
        return NULL;
    if (config_setting_type(s) == CONFIG_TYPE_STRING)
        return index == 0 ? config_setting_get_string(s) : NULL;
    if (!config_setting_is_array(s) && !config_setting_is_list(s))
        return NULL;
    const config_setting_t *item = config_setting_get_elem(s, (unsigned)index);
    return item ? config_setting_get_string(item) : NULL;
}

static json_t *host_request(const kl_host_t *host, const char *service_method, const json_t *payload,
                            int timeout_ms, kl_error_t *err)
{
    struct kl_host_context *ctx = host->opaque;
    if (!ctx->bus_endpoint) {
        kl_error_set(err, KL_ERR_UNAVAILABLE, "%s has no bus connection", host->plugin_name);
        return NULL;
    }
    if (!ctx->client && !(ctx->client = kl_bus_client_new(ctx->bus_endpoint, err)))
        return NULL;
    return kl_bus_request(ctx->client, service_method, payload, timeout_ms, err);
}

static int64_t host_monotonic_ms(const kl_host_t *host)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t host_realtime_ms(const kl_host_t *host)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int host_stopping(const kl_host_t *host)
{
    const struct kl_host_context *ctx = host->opaque;
    return atomic_load(&ctx->stopping);
}

/* ---- loading ----------------------------------------------------------- */

static kl_plugin_t *refuse(kl_plugin_t **plugin_p, kl_error_t *err, const char *label,
                           const char *path, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static kl_plugin_t *refuse(kl_plugin_t **plugin_p, kl_error_t *err, const char *label,
                           const char *path, const char *fmt, ...)
{
    char reason[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    kl_error_set(err, KL_ERR_INVALID, "plugin %s (%s): %s", label, path ? path : "-", reason);
    kl_plugin_destroy(plugin_p);
    return NULL;
}

static int valid_name(const char *name)
{
    if (!name || !*name || strlen(name) > 64)
        return 0;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return 0;
    return 1;
}

/* Finds <kind>_<name>.so; on failure lists the folders searched. */
static char *find_plugin_file(const char *file, const char *const *config_dirs, char *searched,
                              size_t searched_size)
{
    const char *dirs[64];
    size_t n = 0;
    char *env_copy = getenv("KEELSON_PLUGIN_PATH") ? strdup(getenv("KEELSON_PLUGIN_PATH")) : NULL;
    for (const char *const *d = config_dirs; d && *d && n < 60; d++)
        dirs[n++] = *d;
    char *save = NULL;
    for (char *tok = env_copy ? strtok_r(env_copy, ":", &save) : NULL; tok && n < 62;
         tok = strtok_r(NULL, ":", &save))
        dirs[n++] = tok;
    dirs[n++] = KL_PLUGIN_DIR;
    searched[0] = '\0';
    char *found = NULL;
    for (size_t i = 0; i < n && !found; i++) {
        char candidate[4096];
        snprintf(candidate, sizeof candidate, "%s/%s", dirs[i], file);
        if (access(candidate, F_OK) == 0)
            found = strdup(candidate);
        size_t used = strlen(searched);
        snprintf(searched + used, searched_size - used, "%s%s", used ? ", " : "", dirs[i]);
    }
    free(env_copy);
    return found;
}

static int is_elf(const char *path, char *why, size_t why_size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(why, why_size, "cannot open: %s", strerror(errno));
        return 0;
    }
    unsigned char magic[4] = {0};
    ssize_t got = read(fd, magic, sizeof magic);
    close(fd);
    if (got != 4 || memcmp(magic, "\177ELF", 4) != 0) {
        snprintf(why, why_size, "not a shared object (no ELF header)");
        return 0;
    }
    return 1;
}

/* Operations a plugin of each kind must provide, as offsets in its table. */
static int check_required_ops(const kl_plugin_t *p, char *why, size_t why_size)
{
#define REQUIRE(type, field)                                                                    \
    do {                                                                                        \
        if (!KL_PLUGIN_HAS(p, type, field)) {                                                   \
            snprintf(why, why_size, "its ops table lacks the required operation \"" #field "\""); \
            return -1;                                                                          \
        }                                                                                       \
    } while (0)
    switch (p->desc->kind) {
    case KL_KIND_STORE:
        REQUIRE(kl_store_ops_t, open);
        REQUIRE(kl_store_ops_t, close);
        REQUIRE(kl_store_ops_t, get);
        REQUIRE(kl_store_ops_t, range);
        REQUIRE(kl_store_ops_t, create);
        REQUIRE(kl_store_ops_t, update);
        REQUIRE(kl_store_ops_t, remove);
        REQUIRE(kl_store_ops_t, revision);
        break;
    case KL_KIND_SCHEDULER:
        REQUIRE(kl_scheduler_ops_t, open);
        REQUIRE(kl_scheduler_ops_t, close);
        break;
    case KL_KIND_RUNTIME:
        REQUIRE(kl_runtime_ops_t, open);
        REQUIRE(kl_runtime_ops_t, close);
        REQUIRE(kl_runtime_ops_t, start);
        REQUIRE(kl_runtime_ops_t, status);
        REQUIRE(kl_runtime_ops_t, stop);
        REQUIRE(kl_runtime_ops_t, remove);
        break;
    case KL_KIND_CONTROLLER:
        REQUIRE(kl_controller_ops_t, open);
        REQUIRE(kl_controller_ops_t, close);
        REQUIRE(kl_controller_ops_t, run);
        break;
    }
#undef REQUIRE
    return 0;
}

static void abi_of_kind(kl_plugin_kind_t kind, unsigned *major, unsigned *minor)
{
    switch (kind) {
    case KL_KIND_STORE: *major = KL_STORE_ABI_MAJOR; *minor = KL_STORE_ABI_MINOR; break;
    case KL_KIND_SCHEDULER: *major = KL_SCHEDULER_ABI_MAJOR; *minor = KL_SCHEDULER_ABI_MINOR; break;
    case KL_KIND_RUNTIME: *major = KL_RUNTIME_ABI_MAJOR; *minor = KL_RUNTIME_ABI_MINOR; break;
    case KL_KIND_CONTROLLER: *major = KL_CONTROLLER_ABI_MAJOR; *minor = KL_CONTROLLER_ABI_MINOR; break;
    default: *major = *minor = 0;
    }
}

kl_plugin_t *kl_plugin_load(kl_plugin_kind_t kind, const char *name, const char *const *config_dirs,
                            kl_error_t *err)
{
    char label[160];
    snprintf(label, sizeof label, "%s/%s", kind_label(kind), name ? name : "");
    kl_plugin_t *p = calloc(1, sizeof *p);
    p->label = strdup(label);
    p->context = calloc(1, sizeof *p->context);
    int by_path = name && strchr(name, '/');
    if (by_path) {
        p->path = strdup(name);
        if (access(p->path, F_OK) != 0)
            return refuse(&p, err, label, p->path, "no such file");
    } else {
        if (!valid_name(name))
            return refuse(&p, err, label, NULL,
                          "plugin names use only a-z, 0-9, '_' and '-' (at most 64 characters)");
        char file[128], searched[2048];
        snprintf(file, sizeof file, "%s_%s.so", kind_label(kind), name);
        p->path = find_plugin_file(file, config_dirs, searched, sizeof searched);
        if (!p->path)
            return refuse(&p, err, label, file,
                          "not found in %s (is it installed? set plugin_path in the config or KEELSON_PLUGIN_PATH)",
                          searched);
    }
    char why[512];
    if (!is_elf(p->path, why, sizeof why))
        return refuse(&p, err, label, p->path, "%s", why);
    p->dl = dlopen(p->path, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl)
        return refuse(&p, err, label, p->path, "dlopen failed: %s (missing dependencies? try ldd)",
                      dlerror());
    p->desc = dlsym(p->dl, KL_PLUGIN_SYMBOL);
    if (!p->desc)
        return refuse(&p, err, label, p->path,
                      "no \"%s\" symbol: not a keelson plugin (define it with KL_%s_PLUGIN)",
                      KL_PLUGIN_SYMBOL, kind == KL_KIND_STORE ? "STORE"
                      : kind == KL_KIND_SCHEDULER ? "SCHEDULER"
                      : kind == KL_KIND_RUNTIME ? "RUNTIME" : "CONTROLLER");
    if (p->desc->magic != KL_PLUGIN_MAGIC)
        return refuse(&p, err, label, p->path, "bad descriptor magic 0x%08x: not a keelson plugin",
                      p->desc->magic);
    if (p->desc->kind != (uint32_t)kind)
        return refuse(&p, err, label, p->path, "it is a %s plugin, not a %s plugin",
                      kl_plugin_kind_name(p->desc->kind), kind_label(kind));
    unsigned major, minor;
    abi_of_kind(kind, &major, &minor);
    if (p->desc->abi_major != major)
        return refuse(&p, err, label, p->path,
                      "built for %s ABI %u.%u but this keelsond speaks %u.%u: rebuild it against matching keelson headers",
                      kind_label(kind), p->desc->abi_major, p->desc->abi_minor, major, minor);
    if (p->desc->abi_minor > minor)
        return refuse(&p, err, label, p->path,
                      "built for %s ABI %u.%u, newer than this keelsond's %u.%u: upgrade keelsond",
                      kind_label(kind), p->desc->abi_major, p->desc->abi_minor, major, minor);
    if (!p->desc->name || (!by_path && strcmp(p->desc->name, name) != 0))
        return refuse(&p, err, label, p->path, "its descriptor names it \"%s\", not \"%s\"",
                      p->desc->name ? p->desc->name : "(null)", name);
    if (!p->desc->ops || p->desc->ops_size < 2 * sizeof(void *))
        return refuse(&p, err, label, p->path, "its ops table is missing or too small");
    p->ops = p->desc->ops;
    p->ops_size = p->desc->ops_size;
    if (check_required_ops(p, why, sizeof why) < 0)
        return refuse(&p, err, label, p->path, "%s", why);
    if (by_path) {
        free(p->label);
        snprintf(label, sizeof label, "%s/%s", kind_label(kind), p->desc->name);
        p->label = strdup(label);
    }
    return p;
}

/* ---- settings ---------------------------------------------------------- */

static int setting_type_ok(const config_setting_t *s, kl_setting_type_t type)
{
    int t = config_setting_type(s);
    switch (type) {
    case KL_SETTING_STRING: return t == CONFIG_TYPE_STRING;
    case KL_SETTING_INT: return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
    case KL_SETTING_FLOAT: return t == CONFIG_TYPE_FLOAT || t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
    case KL_SETTING_BOOL: return t == CONFIG_TYPE_BOOL;
    case KL_SETTING_STRING_LIST:
        if (t == CONFIG_TYPE_STRING)
            return 1;
        if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
            return 0;
        for (int i = 0; i < config_setting_length(s); i++)
            if (config_setting_type(config_setting_get_elem(s, (unsigned)i)) != CONFIG_TYPE_STRING)
                return 0;
        return 1;
    }
    return 0;
}

static const char *setting_type_name(kl_setting_type_t type)
{
    switch (type) {
    case KL_SETTING_STRING: return "a string";
    case KL_SETTING_INT: return "an integer";
    case KL_SETTING_FLOAT: return "a number";
    case KL_SETTING_BOOL: return "true or false";
    case KL_SETTING_STRING_LIST: return "a list of strings";
    }
    return "?";
}

int kl_plugin_configure(kl_plugin_t *p, const config_setting_t *settings, const char *bus_endpoint,
                        const char *node_name, kl_error_t *err)
{
    const kl_setting_spec_t *specs = p->desc->settings;
    int n = settings ? config_setting_length(settings) : 0;
    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(settings, (unsigned)i);
        const char *name = config_setting_name(s);
        const kl_setting_spec_t *spec = NULL;
        for (const kl_setting_spec_t *sp = specs; sp && sp->name; sp++)
            if (name && strcmp(sp->name, name) == 0)
                spec = sp;
        const char *file = config_setting_source_file(s) ? config_setting_source_file(s) : "config";
        if (!spec) {
            char known[512] = "";
            for (const kl_setting_spec_t *sp = specs; sp && sp->name; sp++) {
                strncat(known, known[0] ? ", " : "", sizeof known - strlen(known) - 1);
                strncat(known, sp->name, sizeof known - strlen(known) - 1);
            }
            return kl_error_set(err, KL_ERR_INVALID, "%s:%u: plugin %s has no setting \"%s\" (it accepts: %s)",
                                file, config_setting_source_line(s), p->label, name ? name : "?",
                                known[0] ? known : "none");
        }
        if (!setting_type_ok(s, spec->type))
            return kl_error_set(err, KL_ERR_INVALID, "%s:%u: setting \"%s\" of plugin %s must be %s",
                                file, config_setting_source_line(s), name, p->label,
                                setting_type_name(spec->type));
    }
    for (const kl_setting_spec_t *sp = specs; sp && sp->name; sp++) {
        if (sp->required && (!settings || !config_setting_get_member(settings, sp->name))) {
            unsigned line = settings ? config_setting_source_line(settings) : 0;
            return kl_error_set(err, KL_ERR_INVALID, "%s:%u: plugin %s needs the setting \"%s\" (%s)",
                                settings && config_setting_source_file(settings)
                                    ? config_setting_source_file(settings) : "config",
                                line, p->label, sp->name, sp->help ? sp->help : setting_type_name(sp->type));
        }
    }
    p->context->settings = settings;
    free(p->context->bus_endpoint);
    p->context->bus_endpoint = bus_endpoint ? strdup(bus_endpoint) : NULL;
    kl_host_t *h = &p->host;
    h->size = sizeof *h;
    h->abi_version = KL_HOST_ABI_VERSION;
    h->opaque = p->context;
    h->plugin_name = p->label;
    h->node_name = node_name ? node_name : "";
    h->log = host_log;
    h->setting_string = host_setting_string;
    h->setting_int = host_setting_int;
    h->setting_float = host_setting_float;
    h->setting_bool = host_setting_bool;
    h->setting_list_item = host_setting_list_item;
    h->request = host_request;
    h->monotonic_ms = host_monotonic_ms;
    h->realtime_ms = host_realtime_ms;
    h->stopping = host_stopping;
    return 0;
}

typedef struct open_call {
    kl_plugin_t *plugin;
    kl_error_t err;
} open_call_t;

static void open_guarded(void *arg)
{
    open_call_t *call = arg;
    /* open() is the first member of every kind's ops table. */
    void *(*open_fn)(const kl_host_t *, kl_error_t *) =
        *(void *(*const *)(const kl_host_t *, kl_error_t *))call->plugin->ops;
    call->plugin->state = open_fn(&call->plugin->host, &call->err);
}

static void close_guarded(void *arg)
{
    kl_plugin_t *p = arg;
    /* close() is the second member of every kind's ops table. */
    void (*close_fn)(void *) = ((void (*const *)(void *))p->ops)[1];
    close_fn(p->state);
}

/* open() and close() run guarded: a plugin that crashes in them is an error
 * naming it, not the end of the daemon. */
int kl_plugin_open(kl_plugin_t *p, kl_error_t *err)
{
    if (!p->host.size && kl_plugin_configure(p, NULL, NULL, NULL, err) < 0)
        return -1;
    open_call_t call = {p, {0, ""}};
    int sig = kl_guard_run(open_guarded, &call);
    if (sig) {
        p->state = NULL;
        return kl_error_set(err, KL_ERR_INTERNAL, "plugin %s (%s): crashed in open() (%s)", p->label,
                            p->path, kl_guard_signal_text(sig));
    }
    kl_error_t open_err = call.err;
    if (!p->state) {
        return kl_error_set(err, open_err.code ? open_err.code : KL_ERR_INTERNAL, "plugin %s (%s): open failed: %s",
                            p->label, p->path, open_err.text[0] ? open_err.text : "no reason given");
    }
    return 0;
}

void kl_plugin_request_stop(kl_plugin_t *p)
{
    if (p && p->context)
        atomic_store(&p->context->stopping, 1);
}

void kl_plugin_close(kl_plugin_t *p)
{
    if (!p)
        return;
    if (p->state) {
        int sig = kl_guard_run(close_guarded, p);
        if (sig)
            kl_error_log("loader", "plugin %s (%s): crashed in close() (%s)", p->label, p->path,
                         kl_guard_signal_text(sig));
        p->state = NULL;
    }
    if (p->context)
        kl_bus_client_destroy(&p->context->client);
}

void kl_plugin_destroy(kl_plugin_t **plugin_p)
{
    if (!plugin_p || !*plugin_p)
        return;
    kl_plugin_t *p = *plugin_p;
    kl_plugin_close(p);
    if (p->context) {
        free(p->context->bus_endpoint);
        free(p->context);
    }
    if (p->dl && !getenv("KEELSON_NO_DLCLOSE"))
        dlclose(p->dl);
    free(p->path);
    free(p->label);
    free(p);
    *plugin_p = NULL;
}
