/* Store plugins on their own, with no API server or bus in between: the
 * write mix a cluster makes per pod (a create, a bind and a status update of
 * the pod, and three Events), committed in groups as the API server does and
 * compacted by tick(), with the memory plugin as the baseline.
 * usage: store_plugin_bench [PODS [PLUGIN...]]   (default 50000 memory sqlite) */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "loader.h"
#include "log.h"

/* Writes per group commit: a burst of 100 pods' writes. */
#define PODS_PER_COMMIT 100
/* Value sizes of a created, a bound and a running pod, and of an Event. */
static const size_t pod_sizes[3] = {800, 900, 1100};
#define EVENT_SIZE 500
#define HISTORY_REVISIONS 100000

typedef struct result {
    double seconds, cpu_seconds;
    int64_t writes, failed;
    double file_mib;
} result_t;

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double file_mib(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (double)st.st_size / (1024.0 * 1024.0) : 0;
}

static int run_plugin(const char *name, const char *work, int pods, result_t *r)
{
    char db[512], path_setting[600] = "", text[1024];
    snprintf(db, sizeof db, "%s/%s.db", work, name);
    if (strcmp(name, "sqlite") == 0)
        snprintf(path_setting, sizeof path_setting, "path = \"%s\";", db);
    snprintf(text, sizeof text, "settings = { %s history_revisions = %d; };", path_setting,
             HISTORY_REVISIONS);
    config_t cfg;
    config_init(&cfg);
    kl_error_t err = {0, ""};
    kl_plugin_t *plugin = NULL;
    if (!config_read_string(&cfg, text)) {
        fprintf(stderr, "store_plugin_bench: settings of %s: %s\n", name, config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    plugin = kl_plugin_load(KL_KIND_STORE, name, NULL, &err);
    if (!plugin || kl_plugin_configure(plugin, config_lookup(&cfg, "settings"), NULL, NULL, &err) < 0
        || kl_plugin_open(plugin, &err) < 0) {
        fprintf(stderr, "store_plugin_bench: %s: %s\n", name, err.text);
        kl_plugin_destroy(&plugin);
        config_destroy(&cfg);
        return -1;
    }
    const kl_store_ops_t *ops = plugin->ops;
    void *s = plugin->state;
    char *value = malloc(pod_sizes[2] + 1);
    memset(value, 'x', pod_sizes[2]);
    value[pod_sizes[2]] = '\0';
    char key[160];
    int64_t revision;
    int64_t t0 = bench_now_ns();
    double c0 = cpu_now();
    memset(r, 0, sizeof *r);
    for (int i = 0; i < pods; i++) {
        snprintf(key, sizeof key, "/registry/pods/bench/pod-%07d", i);
        r->failed += ops->create(s, key, value, pod_sizes[0], &revision, &err) < 0;
        r->failed += ops->update(s, key, value, pod_sizes[1], revision, &revision, &err) < 0;
        r->failed += ops->update(s, key, value, pod_sizes[2], revision, &revision, &err) < 0;
        for (int e = 0; e < 3; e++) {
            snprintf(key, sizeof key, "/registry/events/bench/pod-%07d.%d", i, e);
            r->failed += ops->create(s, key, value, EVENT_SIZE, &revision, &err) < 0;
        }
        r->writes += 6;
        if (i % PODS_PER_COMMIT == PODS_PER_COMMIT - 1 || i == pods - 1) {
            if (KL_PLUGIN_HAS(plugin, kl_store_ops_t, flush) && ops->flush(s, &err) < 0)
                r->failed++;
            if (KL_PLUGIN_HAS(plugin, kl_store_ops_t, tick) && ops->tick(s, &err) < 0)
                r->failed++;
        }
    }
    r->seconds = (double)(bench_now_ns() - t0) / 1e9;
    r->cpu_seconds = cpu_now() - c0;
    free(value);
    kl_plugin_destroy(&plugin);
    config_destroy(&cfg);
    r->file_mib = file_mib(db);
    return 0;
}

int main(int argc, char **argv)
{
    kl_log_set_level(KL_LOG_ERROR);
    int pods = argc > 1 ? atoi(argv[1]) : 50000;
    if (pods <= 0) {
        fprintf(stderr, "usage: store_plugin_bench [PODS [PLUGIN...]]\n");
        return 2;
    }
    const char *defaults[] = {"memory", "sqlite"};
    const char *const *names = argc > 2 ? (const char *const *)argv + 2 : defaults;
    int count = argc > 2 ? argc - 2 : 2;
    char work[] = "/tmp/keelson-store-plugin-bench.XXXXXX";
    if (!mkdtemp(work)) {
        perror("store_plugin_bench: mkdtemp");
        return 1;
    }
    printf("store plugins alone: %d pods, each a create, two updates and three Events; "
           "a group commit every %d pods; history %d revisions\n", pods, PODS_PER_COMMIT,
           HISTORY_REVISIONS);
    printf("%-10s %12s %12s %14s %8s %10s\n", "plugin", "writes/s", "cpu us/write",
           "vs first", "failed", "file MiB");
    double first_rate = 0;
    int status = 0;
    for (int i = 0; i < count; i++) {
        result_t r;
        if (run_plugin(names[i], work, pods, &r) < 0) {
            status = 1;
            continue;
        }
        double rate = (double)r.writes / r.seconds;
        if (first_rate == 0)
            first_rate = rate;
        printf("%-10s %12.0f %12.1f %13.2fx %8lld %10.1f\n", names[i], rate,
               1e6 * r.cpu_seconds / (double)r.writes, rate / first_rate, (long long)r.failed,
               r.file_mib);
        if (r.failed)
            status = 1;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    if (system(cmd) != 0)
        fprintf(stderr, "store_plugin_bench: cleaning up %s failed\n", work);
    return status;
}
