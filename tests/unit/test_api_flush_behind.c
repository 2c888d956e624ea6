/* The API server with a batch of writes on its way to the disk (store ABI
 * 1.3, the sqlite store): its writes stay out of watch answers and pub/sub
 * until flush_end() says they are durable, and the writes made meanwhile
 * wait for their own batch. */
#include <libconfig.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver.h"
#include "loader.h"
#include "log.h"
#include "tap.h"

typedef struct seen {
    char answers[512];    /* names in watch answers, in order */
    char published[512];  /* names in pub/sub events, in order */
    int answer_count;
} seen_t;

static void append_names(char *out, size_t size, const char *text, size_t length)
{
    json_t *value = json_loadb(text, length, 0, NULL);
    json_t *events = json_object_get(value, "events");
    json_t *one[] = {value};
    size_t count = events ? json_array_size(events) : 1;
    for (size_t i = 0; i < count; i++) {
        json_t *event = events ? json_array_get(events, i) : one[0];
        const char *name = json_string_value(json_object_get(
            json_object_get(json_object_get(event, "object"), "metadata"), "name"));
        strncat(out, name ? name : "?", size - strlen(out) - 1);
        strncat(out, " ", size - strlen(out) - 1);
    }
    json_decref(value);
}

static void on_reply(void *token, char *text, size_t length, const kl_error_t *err, void *arg)
{
    (void)token;
    seen_t *seen = arg;
    seen->answer_count++;
    if (text)
        append_names(seen->answers, sizeof seen->answers, text, length);
    else
        snprintf(seen->answers + strlen(seen->answers), sizeof seen->answers - strlen(seen->answers),
                 "[%s] ", err ? err->text : "error");
    free(text);
}

static void on_publish(const char *topic, const char *event, size_t length, void *arg)
{
    (void)topic;
    seen_t *seen = arg;
    append_names(seen->published, sizeof seen->published, event, length);
}

static json_t *create(kl_apiserver_t *api, const char *name)
{
    json_t *payload = json_pack("{s:{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:s}]}}}", "object",
                                "apiVersion", "v1", "kind", "Pod", "metadata", "name", name,
                                "namespace", "default", "spec", "containers", "name", "c",
                                "image", "busybox");
    kl_error_t err = {0, ""};
    json_t *reply = kl_apiserver_handle(api, "create", payload, &err);
    json_decref(payload);
    if (!reply)
        diag("create %s: %s", name, err.text);
    return reply;
}

static int lands(kl_apiserver_t *api)
{
    struct pollfd p = {kl_apiserver_flush_fd(api), POLLIN, 0};
    kl_error_t err = {0, ""};
    if (p.fd < 0 || poll(&p, 1, 10000) != 1)
        return 0;
    return kl_apiserver_flush_end(api, &err) == 0;
}

int main(void)
{
    kl_log_set_level(KL_LOG_ERROR);
    char dir[] = "/tmp/keelson-flush-behind.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char settings[512];
    snprintf(settings, sizeof settings, "settings = { path = \"%s/store.db\"; };", dir);
    config_t cfg;
    config_init(&cfg);
    kl_error_t err = {0, ""};
    kl_plugin_t *store = NULL;
    if (config_read_string(&cfg, settings))
        store = kl_plugin_load(KL_KIND_STORE, "sqlite", NULL, &err);
    kl_apiserver_t *api = NULL;
    if (store && kl_plugin_configure(store, config_lookup(&cfg, "settings"), NULL, NULL, &err) == 0)
        api = kl_apiserver_new(store, 0, &err);
    if (!ok(api != NULL, "an API server on the sqlite store")) {
        diag("%s", err.text);
        return done_testing();
    }
    seen_t seen = {"", "", 0};
    kl_apiserver_set_reply_text(api, on_reply, &seen);
    kl_apiserver_set_publish(api, on_publish, &seen);
    kl_apiserver_defer_watches(api, 1);

    json_t *first = create(api, "first");
    ok(first != NULL, "a pod is created");
    ok(kl_apiserver_flush_begin(api, &err) == 0, "its batch starts for the disk");
    ok(kl_apiserver_flush_fd(api) >= 0, "with a descriptor to wait on");
    json_t *second = create(api, "second");
    ok(second != NULL, "a second pod is created meanwhile");
    json_t *watch = json_pack("{s:s, s:s, s:i}", "kind", "Pod", "resourceVersion", "0",
                              "timeoutMs", 10000);
    kl_apiserver_watch(api, watch, NULL, 0);
    kl_apiserver_after_burst(api);
    is_int(seen.answer_count, 0, "a watch from before both waits: neither is durable");
    is_str(seen.published, "", "and nothing is published");

    ok(lands(api), "the first batch lands");
    kl_apiserver_after_burst(api);
    is_str(seen.answers, "first ", "then the watch is answered with the first pod alone");
    is_str(seen.published, "first ", "and the first pod's event is published");

    json_object_set(watch, "resourceVersion",
                    json_object_get(json_object_get(first, "metadata"), "resourceVersion"));
    kl_apiserver_watch(api, watch, NULL, 0);
    kl_apiserver_tick(api, 1);
    is_int(seen.answer_count, 1, "a watch for the second pod waits for its batch, ticks too");
    ok(kl_apiserver_flush_begin(api, &err) == 0 && lands(api), "the second batch lands");
    kl_apiserver_after_burst(api);
    is_str(seen.answers, "first second ", "and the waiting watch gets it alone");
    is_str(seen.published, "first second ", "as does pub/sub, in order");
    json_decref(watch);

    json_decref(first);
    json_decref(second);
    kl_apiserver_destroy(&api);
    kl_plugin_destroy(&store);
    config_destroy(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
