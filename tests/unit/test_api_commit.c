/* The API actor when a group commit fails: the sqlite store's file may not
 * grow (RLIMIT_FSIZE), so a write's commit fails. Its request fails, and so
 * does every answer that could have shown it (a read and a watch in the same
 * burst), its pub/sub event never goes out, and later requests find the
 * store as it was. */
#define _GNU_SOURCE
#include <libconfig.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apiserver.h"
#include "bus.h"
#include "loader.h"
#include "log.h"
#include "tap.h"

#define ENDPOINT "inproc://api-commit"
#define EVENTS_ENDPOINT "inproc://api-commit-events"

static json_t *pod_payload(const char *name, size_t annotation_bytes)
{
    json_t *payload = json_pack("{s:{s:s, s:s, s:{s:s, s:s}, s:{s:[{s:s, s:s}]}}}", "object",
                                "apiVersion", "v1", "kind", "Pod", "metadata", "name", name,
                                "namespace", "default", "spec", "containers", "name", "c",
                                "image", "busybox");
    if (annotation_bytes) {
        char *filler = malloc(annotation_bytes + 1);
        memset(filler, 'x', annotation_bytes);
        filler[annotation_bytes] = '\0';
        json_object_set_new(json_object_get(json_object_get(payload, "object"), "metadata"),
                            "annotations", json_pack("{s:s}", "filler", filler));
        free(filler);
    }
    return payload;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* Names of the pods in a watch reply's events or a list's items. */
static int names_include(const json_t *reply, const char *field, const char *name)
{
    size_t i;
    const json_t *entry;
    json_array_foreach(json_object_get(reply, field), i, entry) {
        const json_t *object = json_object_get(entry, "object") ? json_object_get(entry, "object")
                                                                 : entry;
        const char *n = json_string_value(json_object_get(json_object_get(object, "metadata"), "name"));
        if (n && strcmp(n, name) == 0)
            return 1;
    }
    return 0;
}

int main(void)
{
    kl_log_set_level(KL_LOG_ERROR);
    char dir[] = "/tmp/keelson-api-commit.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char db[256], wal[256], settings[512];
    snprintf(db, sizeof db, "%s/store.db", dir);
    snprintf(wal, sizeof wal, "%s/store.db-wal", dir);
    snprintf(settings, sizeof settings, "settings = { path = \"%s\"; };", db);
    config_t cfg;
    config_init(&cfg);
    kl_error_t err = {0, ""};
    kl_plugin_t *store = NULL;
    if (config_read_string(&cfg, settings))
        store = kl_plugin_load(KL_KIND_STORE, "sqlite", NULL, &err);
    if (!ok(store && kl_plugin_configure(store, config_lookup(&cfg, "settings"), NULL, NULL, &err) == 0,
            "the sqlite store loads")) {
        diag("%s", err.text);
        return done_testing();
    }
    kl_broker_t *broker = kl_broker_new((const char *[]){ENDPOINT, NULL},
                                        (const char *[]){EVENTS_ENDPOINT, NULL}, &err);
    kl_apiserver_config_t config = {.bus_endpoint = ENDPOINT, .store = store};
    zactor_t *actor = broker ? zactor_new(kl_apiserver_actor, &config) : NULL;
    if (!ok(actor && !config.failed, "the API actor starts on it")) {
        diag("%s", broker ? config.error.text : err.text);
        return done_testing();
    }
    kl_bus_client_t *writer = kl_bus_client_new(ENDPOINT, &err);
    kl_bus_client_t *reader = kl_bus_client_new(ENDPOINT, &err);
    kl_bus_client_t *watcher = kl_bus_client_new(ENDPOINT, &err);
    kl_bus_subscriber_t *sub = kl_bus_subscriber_new(EVENTS_ENDPOINT, "api.", &err);
    zclock_sleep(100);  /* let the subscription reach the broker */

    json_t *payload = pod_payload("kept", 0);
    json_t *kept = kl_bus_request(writer, "api.create", payload, 5000, &err);
    json_decref(payload);
    ok(kept != NULL, "a pod is created and committed");
    const char *kept_rv = json_string_value(
        json_object_get(json_object_get(kept, "metadata"), "resourceVersion"));
    char topic[64];
    json_t *event = kl_bus_subscriber_recv(sub, topic, sizeof topic, 2000, &err);
    ok(event != NULL, "... and published");
    json_decref(event);

    /* From here the files may not grow: the next commit cannot be written. */
    struct rlimit saved;
    getrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_IGN);
    off_t largest = file_size(db) > file_size(wal) ? file_size(db) : file_size(wal);
    struct rlimit tight = {(rlim_t)largest + 4096, saved.rlim_max};
    setrlimit(RLIMIT_FSIZE, &tight);

    /* The read and the watch go out while the big create is being handled,
     * so they meet it in the same burst. */
    payload = pod_payload("lost", 512 * 1024);
    json_t *get = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", "default", "name", "lost");
    json_t *watch = json_pack("{s:s, s:s, s:i}", "kind", "Pod", "resourceVersion", kept_rv,
                              "timeoutMs", 1000);
    uint64_t id;
    kl_bus_send(writer, "api.create", payload, &id, &err);
    kl_bus_send(reader, "api.get", get, &id, &err);
    kl_bus_send(watcher, "api.watch", watch, &id, &err);
    json_decref(payload);
    json_decref(get);
    json_decref(watch);

    kl_error_t create_err = {0, ""}, get_err = {0, ""}, watch_err = {0, ""};
    json_t *created = kl_bus_recv(writer, NULL, 10000, &create_err);
    ok(!created && strstr(create_err.text, "could not make writes durable"),
       "the write whose commit failed fails: %s", create_err.text);
    json_t *read = kl_bus_recv(reader, NULL, 10000, &get_err);
    ok(!read && get_err.code, "a read in its burst does not see it: %s", get_err.text);
    json_t *watched = kl_bus_recv(watcher, NULL, 10000, &watch_err);
    ok(!names_include(watched, "events", "lost") && (watched || watch_err.code),
       "a watch in its burst does not see it (%s)",
       watched ? (names_include(watched, "events", "lost") ? "it did" : "answered without it")
               : watch_err.text);
    json_t *published = kl_bus_subscriber_recv(sub, topic, sizeof topic, 300, &err);
    ok(published == NULL, "its event is not published");
    json_decref(created);
    json_decref(read);
    json_decref(watched);
    json_decref(published);

    setrlimit(RLIMIT_FSIZE, &saved);
    get = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", "default", "name", "lost");
    read = kl_bus_request(reader, "api.get", get, 5000, &get_err);
    ok(!read && get_err.code == KL_ERR_NOT_FOUND, "afterwards it is not found: %s", get_err.text);
    json_decref(read);
    json_decref(get);
    payload = pod_payload("after", 0);
    created = kl_bus_request(writer, "api.create", payload, 5000, &err);
    json_decref(payload);
    ok(created != NULL, "the next write is committed");
    json_decref(created);
    json_t *list_payload = json_pack("{s:s, s:s}", "kind", "Pod", "namespace", "default");
    json_t *list = kl_bus_request(reader, "api.list", list_payload, 5000, &err);
    json_decref(list_payload);
    ok(list && json_array_size(json_object_get(list, "items")) == 2
           && names_include(list, "items", "kept") && names_include(list, "items", "after"),
       "the store holds the committed pods only");
    json_decref(list);
    watch = json_pack("{s:s, s:s, s:i}", "kind", "Pod", "resourceVersion", kept_rv, "timeoutMs", 1000);
    watched = kl_bus_request(watcher, "api.watch", watch, 5000, &err);
    json_decref(watch);
    ok(watched && json_array_size(json_object_get(watched, "events")) == 1
           && names_include(watched, "events", "after"),
       "a watch from before the failure shows only the write made since");
    json_decref(watched);
    json_decref(kept);

    kl_bus_subscriber_destroy(&sub);
    kl_bus_client_destroy(&watcher);
    kl_bus_client_destroy(&reader);
    kl_bus_client_destroy(&writer);
    zactor_destroy(&actor);
    kl_plugin_destroy(&store);
    kl_broker_destroy(&broker);
    config_destroy(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return done_testing();
}
