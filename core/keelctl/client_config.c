/* Where keelctl finds the master: flag, environment, libconfig file, default. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <libconfig.h>

#include "client_config.h"

static int set_server(kl_client_config_t *config, const char *server, const char *source,
                      kl_error_t *err)
{
    if (!server[0])
        return kl_error_set(err, KL_ERR_INVALID, "%s: the server endpoint is empty", source);
    if (strlen(server) >= sizeof config->server)
        return kl_error_set(err, KL_ERR_INVALID, "%s: the server endpoint is longer than %zu bytes",
                            source, sizeof config->server - 1);
    if (!strstr(server, "://"))
        return kl_error_set(err, KL_ERR_INVALID,
                            "%s: server \"%s\" is not an endpoint such as tcp://HOST:PORT", source,
                            server);
    snprintf(config->server, sizeof config->server, "%s", server);
    snprintf(config->source, sizeof config->source, "%s", source);
    return 0;
}

int kl_client_config_read_file(kl_client_config_t *config, const char *path, kl_error_t *err)
{
    config_t cfg;
    config_init(&cfg);
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            kl_error_set(err, KL_ERR_INVALID, "cannot read keelctl config %s: %s", path,
                         strerror(errno ? errno : ENOENT));
        else
            kl_error_set(err, KL_ERR_INVALID, "%s:%d: %s", path, config_error_line(&cfg),
                         config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    int found = 0;
    config_setting_t *setting = config_lookup(&cfg, "server");
    if (setting) {
        const char *server = config_setting_get_string(setting);
        if (!server) {
            kl_error_set(err, KL_ERR_INVALID, "%s:%d: server must be a string such as "
                                              "\"tcp://127.0.0.1:7400\"",
                         path, config_setting_source_line(setting));
            config_destroy(&cfg);
            return -1;
        }
        if (set_server(config, server, path, err) < 0) {
            config_destroy(&cfg);
            return -1;
        }
        found = 1;
    }
    config_destroy(&cfg);
    return found;
}

int kl_client_config_resolve(kl_client_config_t *config, const char *flag_server,
                             kl_error_t *err)
{
    memset(config, 0, sizeof *config);
    if (flag_server)
        return set_server(config, flag_server, "--server", err);
    const char *env = getenv("KEELSON_SERVER");
    if (env && *env)
        return set_server(config, env, "KEELSON_SERVER", err);
    const char *path = getenv("KEELSON_CONFIG");
    char home_path[1024];
    if (!path || !*path) {
        const char *home = getenv("HOME");
        struct stat st;
        path = NULL;
        if (home && *home) {
            snprintf(home_path, sizeof home_path, "%s/.keelson/keelctl.conf", home);
            /* The per-user file is optional; a named one is not. */
            if (stat(home_path, &st) == 0)
                path = home_path;
        }
    }
    if (path) {
        int found = kl_client_config_read_file(config, path, err);
        if (found != 0)
            return found < 0 ? -1 : 0;
    }
    return set_server(config, KL_CLIENT_DEFAULT_SERVER, "default", err);
}
