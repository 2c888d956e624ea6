/* Where keelctl finds the master: the --server flag, then KEELSON_SERVER,
 * then `server` in a libconfig file, then the default endpoint. */
#ifndef KL_KEELCTL_CLIENT_CONFIG_H
#define KL_KEELCTL_CLIENT_CONFIG_H

#include <stddef.h>
#include <keelson/error.h>

#define KL_CLIENT_DEFAULT_SERVER "tcp://127.0.0.1:7400"

typedef struct kl_client_config {
    char server[512];       /* the master's request endpoint */
    char source[600];       /* what chose it: "--server", "KEELSON_SERVER", a file, "default" */
} kl_client_config_t;

/* Resolves the endpoint. `flag_server` (may be NULL) wins; the file is
 * $KEELSON_CONFIG when set (then it must exist) or $HOME/.keelson/keelctl.conf
 * when present. A file that does not parse or whose `server` is not a
 * string fails with err naming the file and line. */
int kl_client_config_resolve(kl_client_config_t *config, const char *flag_server,
                             kl_error_t *err);

/* Reads `server` from one libconfig file into config (left alone when the
 * file has none). Returns 1 when it set one, 0 when not, -1 on error. */
int kl_client_config_read_file(kl_client_config_t *config, const char *path, kl_error_t *err);

#endif
