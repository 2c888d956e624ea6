/* Controller host: a controller plugin runs on its own thread, stops when
 * asked, and is closed on that thread after its loop ends. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "controller_host.h"
#include "log.h"
#include "tap.h"

static char *slurp(const char *path)
{
    static char text[512];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    return text;
}

int main(void)
{
    kl_log_set_level(KL_LOG_ERROR);
    if (!getenv("KEELSON_PLUGIN_PATH")) {
        printf("1..0 # SKIP KEELSON_PLUGIN_PATH is not set\n");
        return 0;
    }
    char marker[64], conf[64];
    snprintf(marker, sizeof marker, "/tmp/keelson-controller-%d.log", (int)getpid());
    snprintf(conf, sizeof conf, "/tmp/keelson-controller-%d.conf", (int)getpid());
    FILE *f = fopen(conf, "w");
    fprintf(f, "good = { marker = \"%s\"; };\nbad = { };\n"
               "crashing = { marker = \"%s\"; crash_after = 3; };\n", marker, marker);
    fclose(f);
    config_t cfg;
    config_init(&cfg);
    ok(config_read_file(&cfg, conf) == CONFIG_TRUE, "fixture config parses");

    kl_error_t err;
    kl_plugin_t *p = kl_plugin_load(KL_KIND_CONTROLLER, "counter", NULL, &err);
    ok(p != NULL, "controller plugin loads (%s)", p ? p->path : err.text);
    if (!p)
        return done_testing();
    ok(kl_plugin_configure(p, config_lookup(&cfg, "good"), NULL, NULL, &err) == 0, "configured");
    kl_controller_host_t *host = kl_controller_host_new(p, &err);
    ok(host != NULL, "controller host starts it");
    usleep(100000);
    ok(strstr(slurp(marker), "running") != NULL, "run() is running on its own thread");
    ok(!p->host.stopping(&p->host), "not stopping yet");
    kl_controller_host_destroy(&host);
    ok(host == NULL, "destroy nulls the pointer");
    const char *life = slurp(marker);
    long loops = -1;
    const char *stopped = strstr(life, "stopped ");
    if (stopped)
        loops = strtol(stopped + 8, NULL, 10);
    ok(stopped != NULL && loops > 0, "run() looped (%ld times) and returned when asked to stop", loops);
    ok(strstr(life, "closed") != NULL && strstr(life, "closed") > stopped, "closed after the loop ended");
    ok(p->state == NULL, "the plugin is closed");
    kl_plugin_destroy(&p);
    unlink(marker);

    /* A controller that crashes in run() stops alone; the process goes on. */
    p = kl_plugin_load(KL_KIND_CONTROLLER, "counter", NULL, &err);
    ok(p && kl_plugin_configure(p, config_lookup(&cfg, "crashing"), NULL, NULL, &err) == 0,
       "a controller that will crash is configured");
    host = p ? kl_controller_host_new(p, &err) : NULL;
    ok(host != NULL, "and started");
    for (int i = 0; i < 100 && p && p->state; i++)
        usleep(10000);
    ok(p && p->state == NULL, "its crash in run() ends it, without a close()");
    life = slurp(marker);
    ok(strstr(life, "running") && !strstr(life, "stopped") && !strstr(life, "closed"),
       "it ran, then neither returned nor was closed");
    kl_controller_host_destroy(&host);
    ok(host == NULL, "its host is destroyed as usual");
    kl_plugin_destroy(&p);
    unlink(marker);

    /* A controller missing a required setting never gets to run. */
    p = kl_plugin_load(KL_KIND_CONTROLLER, "counter", NULL, &err);
    ok(kl_plugin_configure(p, config_lookup(&cfg, "bad"), NULL, NULL, &err) < 0
           && strstr(err.text, "needs the setting \"marker\""),
       "a missing required setting is refused before open: %s", err.text);
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
    unlink(conf);
    return done_testing();
}
