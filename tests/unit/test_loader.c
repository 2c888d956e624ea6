/* Loader tests: real plugins load; deliberately broken ones are refused with
 * one line naming the plugin, the file and the reason. Needs
 * KEELSON_PLUGIN_PATH (make check sets it). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"
#include "tap.h"

static void expect_refusal(kl_plugin_kind_t kind, const char *name, const char *needle, const char *what)
{
    kl_error_t err;
    kl_error_clear(&err);
    kl_plugin_t *p = kl_plugin_load(kind, name, NULL, &err);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "plugin %s/", kl_plugin_kind_name(kind));
    ok(!p && strncmp(err.text, prefix, strlen(prefix)) == 0 && strstr(err.text, needle)
           && !strchr(err.text, '\n'),
       "%s: %s", what, err.text);
    kl_plugin_destroy(&p);
}

int main(void)
{
    kl_log_set_level(KL_LOG_ERROR);
    if (!getenv("KEELSON_PLUGIN_PATH")) {
        printf("1..0 # SKIP KEELSON_PLUGIN_PATH is not set\n");
        return 0;
    }
    kl_error_t err;
    kl_plugin_t *p = kl_plugin_load(KL_KIND_SCHEDULER, "firstfit", NULL, &err);
    ok(p != NULL, "firstfit loads (%s)", p ? p->path : err.text);
    if (p) {
        is_str(p->desc->name, "firstfit", "descriptor name");
        is_str(p->label, "scheduler/firstfit", "label is kind/name");
        ok(kl_plugin_configure(p, NULL, NULL, NULL, &err) == 0, "configure without settings");
        ok(kl_plugin_open(p, &err) == 0 && p->state != NULL, "open gives state");
    }
    kl_plugin_destroy(&p);
    ok(p == NULL, "destroy nulls the pointer");
    kl_plugin_destroy(NULL);

    p = kl_plugin_load(KL_KIND_STORE, "memory", NULL, &err);
    ok(p != NULL, "memory store loads");
    kl_plugin_destroy(&p);
    p = kl_plugin_load(KL_KIND_RUNTIME, "sim", NULL, &err);
    ok(p != NULL, "sim runtime loads");
    kl_plugin_destroy(&p);

    expect_refusal(KL_KIND_SCHEDULER, "nosuchplugin", "not found in", "missing file");
    expect_refusal(KL_KIND_SCHEDULER, "Bad Name", "plugin names use only", "name with bad characters");
    expect_refusal(KL_KIND_SCHEDULER, "../etc/passwd", "no such file", "a path that does not exist");
    expect_refusal(KL_KIND_SCHEDULER, "wrongkind", "it is a runtime plugin, not a scheduler plugin", "wrong kind");
    expect_refusal(KL_KIND_SCHEDULER, "wrongmajor", "rebuild it", "wrong ABI major");
    expect_refusal(KL_KIND_SCHEDULER, "newerminor", "upgrade keelsond", "newer ABI minor");
    expect_refusal(KL_KIND_SCHEDULER, "nosymbol", "not a keelson plugin", "missing descriptor symbol");
    expect_refusal(KL_KIND_SCHEDULER, "badmagic", "bad descriptor magic", "bad magic");
    expect_refusal(KL_KIND_RUNTIME, "missingop", "\"start\"", "missing required operation");
    expect_refusal(KL_KIND_STORE, "firstfit", "not found", "right name, wrong kind prefix");

    /* Not an ELF file, and an ELF that is not a shared object we can load. */
    char dir[] = "/tmp/keelson-loader-XXXXXX";
    if (mkdtemp(dir)) {
        char file[256];
        snprintf(file, sizeof file, "%s/scheduler_text.so", dir);
        FILE *f = fopen(file, "w");
        fputs("this is not a plugin\n", f);
        fclose(f);
        const char *dirs[] = {dir, NULL};
        kl_plugin_t *t = kl_plugin_load(KL_KIND_SCHEDULER, "text", dirs, &err);
        ok(!t && strstr(err.text, "no ELF header") && strstr(err.text, file), "text file refused: %s", err.text);
        snprintf(file, sizeof file, "%s/scheduler_truncated.so", dir);
        f = fopen(file, "w");
        fputs("\177ELF\002\001\001", f);
        fclose(f);
        t = kl_plugin_load(KL_KIND_SCHEDULER, "truncated", dirs, &err);
        ok(!t && strstr(err.text, "dlopen failed"), "truncated ELF refused: %s", err.text);
        t = kl_plugin_load(KL_KIND_SCHEDULER, file, NULL, &err);
        ok(!t && strstr(err.text, "dlopen failed"), "load by path reports the same");
        snprintf(file, sizeof file, "%s/scheduler_text.so", dir);
        unlink(file);
        snprintf(file, sizeof file, "%s/scheduler_truncated.so", dir);
        unlink(file);
        rmdir(dir);
    }

    /* Settings are checked against what the plugin declares. */
    const char *conf_path = "/tmp/keelson-loader-settings.conf";
    FILE *f = fopen(conf_path, "w");
    fputs("good = { weight = 3; label = \"x\"; };\n"
          "unknown = { weight = 3; colour = \"red\"; };\n"
          "badtype = { weight = \"heavy\"; };\n"
          "missing = { label = \"x\"; };\n"
          "crash_open = { crash_in = \"open\"; };\n"
          "crash_close = { crash_in = \"close\"; };\n", f);
    fclose(f);
    config_t cfg;
    config_init(&cfg);
    ok(config_read_file(&cfg, conf_path) == CONFIG_TRUE, "settings fixture parses");
    p = kl_plugin_load(KL_KIND_SCHEDULER, "settingsfixture", NULL, &err);
    ok(p != NULL, "settings fixture loads");
    if (p) {
        ok(kl_plugin_configure(p, config_lookup(&cfg, "good"), NULL, "n1", &err) == 0,
           "declared settings accepted");
        ok(p->host.setting_int(&p->host, "weight", 0) == 3, "host returns the setting");
        is_str(p->host.setting_string(&p->host, "label", NULL), "x", "string setting");
        is_str(p->host.setting_string(&p->host, "absent", "dflt"), "dflt", "fallback when absent");
        ok(kl_plugin_configure(p, config_lookup(&cfg, "unknown"), NULL, NULL, &err) < 0
               && strstr(err.text, ":2:") && strstr(err.text, "\"colour\"") && strstr(err.text, "weight, label"),
           "unknown setting refused with line and the accepted list: %s", err.text);
        ok(kl_plugin_configure(p, config_lookup(&cfg, "badtype"), NULL, NULL, &err) < 0
               && strstr(err.text, ":3:") && strstr(err.text, "must be an integer"),
           "wrong type refused: %s", err.text);
        ok(kl_plugin_configure(p, config_lookup(&cfg, "missing"), NULL, NULL, &err) < 0
               && strstr(err.text, "needs the setting \"weight\""),
           "missing required setting refused: %s", err.text);
        json_t *r = p->host.request(&p->host, "api.get", NULL, 100, &err);
        ok(!r && err.code == KL_ERR_UNAVAILABLE, "host request without a bus fails cleanly");
    }
    kl_plugin_destroy(&p);
    /* A plugin that crashes in open() is an error naming it; one that
     * crashes in close() is logged, and the process goes on. */
    p = kl_plugin_load(KL_KIND_SCHEDULER, "crashy", NULL, &err);
    ok(p != NULL, "the crashing fixture loads");
    if (p) {
        ok(kl_plugin_configure(p, config_lookup(&cfg, "crash_open"), NULL, NULL, &err) == 0,
           "crash_in = open is a declared setting");
        ok(kl_plugin_open(p, &err) < 0 && strstr(err.text, "scheduler/crashy")
               && strstr(err.text, "crashed in open() (SIGSEGV"),
           "a crash in open() is an error naming the plugin: %s", err.text);
        ok(p->state == NULL, "and leaves no state to close");
    }
    kl_plugin_destroy(&p);
    p = kl_plugin_load(KL_KIND_SCHEDULER, "crashy", NULL, &err);
    if (p) {
        kl_plugin_configure(p, config_lookup(&cfg, "crash_close"), NULL, NULL, &err);
        ok(kl_plugin_open(p, &err) == 0, "a plugin that will crash in close() opens");
        kl_plugin_close(p);
        ok(p->state == NULL, "its crash in close() is survived");
    }
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
    unlink(conf_path);
    return done_testing();
}
