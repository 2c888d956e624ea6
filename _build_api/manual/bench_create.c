#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "apiserver.h"
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100000;
    setenv("KEELSON_PLUGIN_PATH", "plugins/store/memory/.libs", 0);
    kl_error_t err;
    kl_plugin_t *store = kl_plugin_load(KL_KIND_STORE, "memory", NULL, &err);
    kl_plugin_configure(store, NULL, NULL, NULL, &err);
    kl_apiserver_t *api = kl_apiserver_new(store, 0, &err);
    json_t *payload = json_loads("{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"x\","
                            "\"labels\":{\"app\":\"bulk\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
                            "\"image\":\"busybox\",\"resources\":{\"requests\":{\"cpu\":\"100m\"}}}]}}}", 0, NULL);
    json_t *meta = json_object_get(json_object_get(payload, "object"), "metadata");
    struct timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "bulk-%06d", i);
        json_object_set_new(meta, "name", json_string(name));
        json_t *reply = kl_apiserver_handle(api, "create", payload, &err);
        if (!reply) { printf("fail %s\n", err.text); return 1; }
        json_decref(reply);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    double el = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%d creates %.3f s, %.2f us each\n", n, el, el * 1e6 / n);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    json_t *lp = json_loads("{\"kind\":\"Pod\",\"fieldSelector\":\"spec.nodeName=n1\"}", 0, NULL);
    json_t *list = kl_apiserver_handle(api, "list", lp, &err);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    el = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("list %zu items %.3f s\n", json_array_size(json_object_get(list, "items")), el);
    json_decref(list);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "bulk-%06d", i);
        json_t *b = json_pack("{s:s,s:s}", "name", name, "nodeName", "n1");
        json_t *reply = kl_apiserver_handle(api, "bind", b, &err);
        if (!reply) { printf("fail %s\n", err.text); return 1; }
        json_decref(reply);
        json_decref(b);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    el = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%d binds %.3f s, %.2f us each\n", n, el, el * 1e6 / n);
    list = kl_apiserver_handle(api, "list", lp, &err);
    printf("list %zu bound\n", json_array_size(json_object_get(list, "items")));
    json_decref(list);
    json_decref(lp);
    json_decref(payload);
    kl_apiserver_destroy(&api);
    kl_plugin_destroy(&store);
    return 0;
}
