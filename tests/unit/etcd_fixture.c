/* The etcd test programs' fixture: see etcd_fixture.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd_fixture.h"

static const char etcd_binary[] = "/usr/bin/etcd";
static char work[64];
static char script[1024];

double etcd_fixture_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void etcd_fixture_stop(void)
{
    char cmd[2048];
    if (!work[0])
        return;
    snprintf(cmd, sizeof cmd, "sh '%s' stop '%s' >/dev/null 2>&1; rm -rf '%s'", script, work, work);
    if (system(cmd) != 0)
        printf("# cleaning up %s failed\n", work);
    work[0] = '\0';
}

int etcd_fixture_start(char *endpoint, size_t endpoint_size, char *settings, size_t settings_size)
{
    if (access(etcd_binary, X_OK) != 0) {
        printf("1..0 # SKIP %s is not installed (apt-get install etcd-server)\n", etcd_binary);
        return -1;
    }
    /* make check sets both; a manual run from the build folder finds the
     * freshly built plugin and the source tree one level up. */
    setenv("KEELSON_PLUGIN_PATH", "plugins/store/etcd/.libs", 0);
    const char *srcdir = getenv("KEELSON_SRCDIR") ? getenv("KEELSON_SRCDIR") : "..";
    snprintf(script, sizeof script, "%s/scripts/etcd-cluster.sh", srcdir);
    snprintf(work, sizeof work, "/tmp/keelson-etcd-test.XXXXXX");
    if (!mkdtemp(work)) {
        printf("1..0 # SKIP cannot create a temporary folder: %s\n", strerror(errno));
        work[0] = '\0';
        return -1;
    }
    /* Below the ephemeral range, so no outgoing connection holds it. */
    int port = 20000 + (int)(getpid() % 6000) * 2;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "ETCD=%s sh '%s' start '%s' 1 %d >/dev/null", etcd_binary, script, work,
             port);
    snprintf(endpoint, endpoint_size, "http://127.0.0.1:%d", port);
    snprintf(settings, settings_size,
             "endpoints = [ \"%s\" ]; prefix = \"/test\"; timeout_ms = 3000;", endpoint);
    if (system(cmd) != 0) {
        printf("# etcd did not start on %s\n", endpoint);
        return 0;
    }
    return 1;
}

kl_plugin_t *etcd_store_new(const char *settings_text, config_t *cfg, kl_error_t *err)
{
    char path[128];
    snprintf(path, sizeof path, "%s/store.conf", work);
    FILE *f = fopen(path, "w");
    if (!f) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot write %s", path);
        return NULL;
    }
    fprintf(f, "settings = { %s };\n", settings_text);
    fclose(f);
    config_init(cfg);
    if (!config_read_file(cfg, path)) {
        kl_error_set(err, KL_ERR_INVALID, "%s:%d: %s", path, config_error_line(cfg),
                     config_error_text(cfg));
        return NULL;
    }
    kl_plugin_t *p = kl_plugin_load(KL_KIND_STORE, "etcd", NULL, err);
    if (!p)
        return NULL;
    if (kl_plugin_configure(p, config_lookup(cfg, "settings"), NULL, NULL, err) < 0
        || kl_plugin_open(p, err) < 0) {
        kl_plugin_destroy(&p);
        return NULL;
    }
    return p;
}
