/* Unit tests for runtime/sim: the plugin is compiled into this program and
 * driven through its descriptor with a small host table whose clock the test
 * can push forward. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <keelson/keelson.h>
#include "tap.h"

extern const kl_plugin_descriptor_t keelson_plugin;

/* Settings of the fake host: a NULL-terminated table, per test. */
typedef struct fake_setting {
    const char *name;
    long long value;
} fake_setting_t;

static const fake_setting_t *fake_settings;
static int64_t clock_skew_ms;  /* added to the real clocks so tests can jump ahead */

static void fake_log(const kl_host_t *host, kl_log_level_t level, const char *fmt, ...)
{
    (void)host;
    va_list ap;
    va_start(ap, fmt);
    printf("# log(%d): ", (int)level);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

static long long fake_setting_int(const kl_host_t *host, const char *name, long long fallback)
{
    (void)host;
    for (const fake_setting_t *s = fake_settings; s && s->name; s++)
        if (strcmp(s->name, name) == 0)
            return s->value;
    return fallback;
}

static const char *const *fake_missing_images;  /* NULL-terminated, per test */

static const char *fake_setting_string(const kl_host_t *host, const char *name, const char *fallback)
{
    (void)host;
    (void)name;
    return fallback;
}

static const char *fake_setting_list_item(const kl_host_t *host, const char *name, size_t index)
{
    (void)host;
    if (strcmp(name, "missing_images") != 0 || !fake_missing_images)
        return NULL;
    for (size_t i = 0; i <= index; i++)
        if (!fake_missing_images[i])
            return NULL;
    return fake_missing_images[index];
}

static int64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t fake_monotonic_ms(const kl_host_t *host)
{
    (void)host;
    return clock_ms(CLOCK_MONOTONIC) + clock_skew_ms;
}

static int64_t fake_realtime_ms(const kl_host_t *host)
{
    (void)host;
    return clock_ms(CLOCK_REALTIME) + clock_skew_ms;
}

static const kl_host_t host = {
    .size = sizeof(kl_host_t),
    .abi_version = KL_HOST_ABI_VERSION,
    .plugin_name = "runtime/sim",
    .node_name = "node-1",
    .log = fake_log,
    .setting_string = fake_setting_string,
    .setting_int = fake_setting_int,
    .setting_list_item = fake_setting_list_item,
    .monotonic_ms = fake_monotonic_ms,
    .realtime_ms = fake_realtime_ms,
};

static const kl_runtime_ops_t *ops;

static void *open_with(const fake_setting_t *settings, kl_error_t *err)
{
    fake_settings = settings;
    kl_error_clear(err);
    return ops->open(&host, err);
}

/* A pod with the given annotations (a JSON object text, or NULL). */
static json_t *make_pod(const char *annotations)
{
    json_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "web", "namespace", "default",
                            "uid", "0123456789abcdef");
    if (annotations)
        json_object_set_new(json_object_get(pod, "metadata"), "annotations",
                            json_loads(annotations, 0, NULL));
    return pod;
}

static int start_pod(void *rt, const char *annotations, char id[KL_CONTAINER_ID_MAX], kl_error_t *err)
{
    json_t *pod = make_pod(annotations);
    json_t *container = json_pack("{s:s, s:s}", "name", "app", "image", "busybox");
    kl_container_request_t request = {
        .pod_namespace = "default", .pod_name = "web", .pod_uid = "0123456789abcdef",
        .container_name = "app", .container = container, .pod = pod,
    };
    kl_error_clear(err);
    int rc = ops->start(rt, &request, id, err);
    json_decref(container);
    json_decref(pod);
    return rc;
}

static kl_container_state_t state_of(void *rt, const char *id, kl_container_status_t *status)
{
    kl_error_t err;
    if (ops->status(rt, id, status, &err) < 0) {
        diag("status(%s) failed: %s", id, err.text);
        return KL_CONTAINER_UNKNOWN;
    }
    return status->state;
}

static void test_descriptor(void)
{
    is_int(keelson_plugin.magic, KL_PLUGIN_MAGIC, "descriptor has the plugin magic");
    is_int(keelson_plugin.kind, KL_KIND_RUNTIME, "descriptor is a runtime");
    is_str(keelson_plugin.name, "sim", "descriptor is named sim");
    is_int(keelson_plugin.ops_size, sizeof(kl_runtime_ops_t), "ops table has the runtime size");
    int found = 0;
    for (const kl_setting_spec_t *s = keelson_plugin.settings; s && s->name; s++)
        found += !strcmp(s->name, "start_delay_ms") || !strcmp(s->name, "run_ms") || !strcmp(s->name, "exit_code");
    is_int(found, 3, "settings start_delay_ms, run_ms and exit_code are declared");
}

static void test_defaults(void)
{
    kl_error_t err;
    void *rt = open_with(NULL, &err);
    ok(rt != NULL, "open with default settings");
    char id[KL_CONTAINER_ID_MAX];
    kl_container_status_t st;
    ok(start_pod(rt, NULL, id, &err) == 0, "start a container");
    ok(strchr(id, '/') == NULL && strstr(id, "..") == NULL, "id %s is safe", id);
    is_int(state_of(rt, id, &st), KL_CONTAINER_RUNNING, "without a delay it runs at once");
    ok(st.started_at_ms > 0, "started_at_ms is set");
    clock_skew_ms += 7 * 24 * 3600 * 1000LL;
    is_int(state_of(rt, id, &st), KL_CONTAINER_RUNNING, "run_ms 0 keeps running a week later");

    ok(ops->stop(rt, id, 1000, &err) == 0, "stop a running container");
    is_int(state_of(rt, id, &st), KL_CONTAINER_EXITED, "a stopped container has exited");
    is_int(st.exit_code, 143, "a stopped container exits with 143");
    is_str(st.reason, "Terminated", "a stopped container's reason is Terminated");
    ok(st.finished_at_ms >= st.started_at_ms && st.finished_at_ms > 0, "finished_at_ms follows started_at_ms");

    char second[KL_CONTAINER_ID_MAX];
    ok(start_pod(rt, NULL, second, &err) == 0 && strcmp(id, second) != 0, "a second container gets another id");
    ok(ops->remove(rt, id, &err) == 0, "remove the stopped container");
    ok(ops->status(rt, id, &st, &err) < 0 && err.code == KL_ERR_NOT_FOUND, "status of a removed container is NotFound");
    ok(strstr(err.text, id) != NULL, "the NotFound message names the id: %s", err.text);
    ok(ops->remove(rt, id, &err) < 0 && err.code == KL_ERR_NOT_FOUND, "removing twice is NotFound");
    ok(ops->stop(rt, "sim-nonexistent", 0, &err) < 0 && err.code == KL_ERR_NOT_FOUND, "stop of an unknown id is NotFound");
    is_int(state_of(rt, second, &st), KL_CONTAINER_RUNNING, "the other container is untouched");
    ops->close(rt);  /* frees the still running one */
}

static void test_settings_lifecycle(void)
{
    static const fake_setting_t settings[] = {
        { "start_delay_ms", 10000 }, { "run_ms", 20000 }, { "exit_code", 7 }, { NULL, 0 }
    };
    kl_error_t err;
    void *rt = open_with(settings, &err);
    ok(rt != NULL, "open with delay, run time and exit code settings");
    char id[KL_CONTAINER_ID_MAX];
    kl_container_status_t st;
    ok(start_pod(rt, NULL, id, &err) == 0, "start a delayed container");
    is_int(state_of(rt, id, &st), KL_CONTAINER_CREATED, "CREATED during the start delay");
    is_int(st.started_at_ms, 0, "no start time while CREATED");
    clock_skew_ms += 10500;
    is_int(state_of(rt, id, &st), KL_CONTAINER_RUNNING, "RUNNING after the start delay");
    int64_t started = st.started_at_ms;
    clock_skew_ms += 20000;
    is_int(state_of(rt, id, &st), KL_CONTAINER_EXITED, "EXITED after run_ms");
    is_int(st.exit_code, 7, "exit code comes from the setting");
    is_str(st.reason, "Error", "a non-zero exit is an Error");
    is_int(st.started_at_ms, started, "started_at_ms stays the same once exited");
    int64_t ran = st.finished_at_ms - st.started_at_ms;
    ok(ran >= 19990 && ran <= 20010, "it ran for run_ms (%lld ms)", (long long)ran);
    ok(ops->stop(rt, id, 0, &err) == 0, "stopping an exited container succeeds");
    is_int(state_of(rt, id, &st), KL_CONTAINER_EXITED, "still exited after stop");
    is_int(st.exit_code, 7, "stop keeps the exit code of a container that ended by itself");

    ok(start_pod(rt, NULL, id, &err) == 0, "start another delayed container");
    ok(ops->stop(rt, id, 0, &err) == 0, "stop it before it runs");
    is_int(state_of(rt, id, &st), KL_CONTAINER_EXITED, "stopped before running: EXITED");
    is_int(st.exit_code, 143, "with code 143");
    is_int(st.started_at_ms, 0, "and it never started");
    ops->close(rt);
}

static void test_annotations(void)
{
    static const fake_setting_t settings[] = { { "start_delay_ms", 50000 }, { NULL, 0 } };
    kl_error_t err;
    void *rt = open_with(settings, &err);
    char id[KL_CONTAINER_ID_MAX];
    kl_container_status_t st;
    ok(start_pod(rt, "{\"sim.keelson.io/start-delay-ms\": \"0\", \"sim.keelson.io/run-ms\": \"100\","
                     " \"sim.keelson.io/exit-code\": \"0\"}", id, &err) == 0,
       "start with annotation overrides");
    is_int(state_of(rt, id, &st), KL_CONTAINER_RUNNING, "annotation start-delay-ms 0 overrides the setting");
    clock_skew_ms += 150;
    is_int(state_of(rt, id, &st), KL_CONTAINER_EXITED, "annotation run-ms 100 ends it");
    is_int(st.exit_code, 0, "annotation exit-code 0");
    is_str(st.reason, "Completed", "exit 0 is Completed");

    ok(start_pod(rt, "{\"sim.keelson.io/exit-code\": \"3\", \"sim.keelson.io/run-ms\": \"1\"}", id, &err) == 0,
       "start with exit-code 3 and the delay from settings");
    is_int(state_of(rt, id, &st), KL_CONTAINER_CREATED, "the setting's delay still applies");
    clock_skew_ms += 50001;
    is_int(state_of(rt, id, &st), KL_CONTAINER_EXITED, "exits 1 ms after running");
    is_int(st.exit_code, 3, "annotation exit-code 3");

    static const char *bad[][2] = {
        { "{\"sim.keelson.io/run-ms\": \"ten\"}", "sim.keelson.io/run-ms" },
        { "{\"sim.keelson.io/run-ms\": \"-5\"}", "sim.keelson.io/run-ms" },
        { "{\"sim.keelson.io/start-delay-ms\": \"12x\"}", "sim.keelson.io/start-delay-ms" },
        { "{\"sim.keelson.io/start-delay-ms\": \"\"}", "sim.keelson.io/start-delay-ms" },
        { "{\"sim.keelson.io/exit-code\": \"256\"}", "sim.keelson.io/exit-code" },
        { "{\"sim.keelson.io/exit-code\": 3}", "sim.keelson.io/exit-code" },
        { "{\"sim.keelson.io/run-ms\": \"99999999999999999999999\"}", "sim.keelson.io/run-ms" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = start_pod(rt, bad[i][0], id, &err);
        ok(rc < 0 && err.code == KL_ERR_INVALID && strstr(err.text, bad[i][1]),
           "bad annotation %s is Invalid and named: %s", bad[i][0], err.text);
    }
    ops->close(rt);
}

static void test_bad_settings(void)
{
    static const fake_setting_t negative[] = { { "run_ms", -1 }, { NULL, 0 } };
    static const fake_setting_t big_code[] = { { "exit_code", 300 }, { NULL, 0 } };
    kl_error_t err;
    ok(open_with(negative, &err) == NULL && err.code == KL_ERR_INVALID && strstr(err.text, "run_ms"),
       "negative run_ms is refused: %s", err.text);
    ok(open_with(big_code, &err) == NULL && err.code == KL_ERR_INVALID && strstr(err.text, "exit_code"),
       "exit_code 300 is refused: %s", err.text);
}

static void test_many(void)
{
    kl_error_t err;
    void *rt = open_with(NULL, &err);
    enum { COUNT = 20000 };
    static char ids[COUNT][KL_CONTAINER_ID_MAX];
    int started = 0, running = 0, removed = 0;
    for (int i = 0; i < COUNT; i++)
        started += start_pod(rt, NULL, ids[i], &err) == 0;
    is_int(started, COUNT, "start %d containers", COUNT);
    kl_container_status_t st;
    for (int i = 0; i < COUNT; i++)
        running += state_of(rt, ids[i], &st) == KL_CONTAINER_RUNNING;
    is_int(running, COUNT, "all of them report RUNNING");
    for (int i = 0; i < COUNT; i += 2)
        removed += ops->remove(rt, ids[i], &err) == 0;
    is_int(removed, COUNT / 2, "remove every other one");
    int found = 0;
    for (int i = 0; i < COUNT; i++)
        found += ops->status(rt, ids[i], &st, &err) == 0;
    is_int(found, COUNT / 2, "only the others remain");
    ops->close(rt);
}

static int count_visit(const kl_container_info_t *info, void *arg)
{
    int *count = arg;
    if (!strcmp(info->pod_namespace, "default") && !strcmp(info->pod_name, "web")
        && !strcmp(info->pod_uid, "0123456789abcdef") && !strcmp(info->container_name, "app")
        && !strcmp(info->image, "busybox") && info->status.state == KL_CONTAINER_RUNNING)
        (*count)++;
    return 0;
}

static int stop_visit(const kl_container_info_t *info, void *arg)
{
    (void)info;
    (*(int *)arg)++;
    return 1;
}

static char *logs_of(void *rt, const char *id, int64_t offset, size_t size)
{
    static char text[1024];
    size_t length = 0;
    kl_error_t err;
    if (ops->logs(rt, id, offset, text, size < sizeof text ? size : sizeof text - 1, &length, &err) < 0)
        snprintf(text, sizeof text, "error: %s", err.text);
    else
        text[length] = '\0';
    return text;
}

static void test_abi_1_1(void)
{
    static const char *const missing[] = { "127.0.0.1:5000/nosuch", "busybox:9.9", NULL };
    fake_missing_images = missing;
    kl_error_t err;
    void *rt = open_with(NULL, &err);
    ok(rt != NULL, "open with missing_images");
    ok(ops->pull(rt, "busybox", KL_PULL_IF_NOT_PRESENT, &err) == KL_PULL_PRESENT, "pull IfNotPresent of busybox finds it present");
    ok(ops->pull(rt, "127.0.0.1:5000/busybox:1.35", KL_PULL_ALWAYS, &err) == 0, "pull Always from a registry pulls");
    ok(ops->pull(rt, "busybox:9.9", KL_PULL_IF_NOT_PRESENT, &err) < 0 && err.code == KL_ERR_NOT_FOUND
           && strstr(err.text, "busybox:9.9"),
       "a listed NAME:TAG is NotFound: %s", err.text);
    ok(ops->pull(rt, "127.0.0.1:5000/nosuch:2", KL_PULL_NEVER, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "a listed NAME is NotFound for every tag");
    ok(ops->pull(rt, "busybox:1.0", KL_PULL_IF_NOT_PRESENT, &err) == KL_PULL_PRESENT, "another tag of a listed NAME:TAG is fine");
    static const char *bad[] = { "", "Busybox", "busy box", "busybox:", "busybox:-x", "a//b", "/busybox", "name-" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kl_error_clear(&err);
        ok(ops->pull(rt, bad[i], KL_PULL_IF_NOT_PRESENT, &err) < 0 && err.code == KL_ERR_INVALID,
           "bad reference \"%s\" is Invalid: %s", bad[i], err.text);
    }
    ok(ops->pull(rt, "busybox", (kl_pull_policy_t)7, &err) < 0 && err.code == KL_ERR_INVALID,
       "an unknown pull policy is Invalid");

    json_t *container = json_pack("{s:s, s:s}", "name", "app", "image", "busybox:9.9");
    kl_container_request_t request = {
        .pod_namespace = "default", .pod_name = "web", .pod_uid = "0123456789abcdef",
        .container_name = "app", .container = container, .pod = NULL,
    };
    char id[KL_CONTAINER_ID_MAX];
    ok(ops->start(rt, &request, id, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "start with a missing image is NotFound, as ErrImagePull needs");
    json_decref(container);

    char first[KL_CONTAINER_ID_MAX], second[KL_CONTAINER_ID_MAX];
    ok(start_pod(rt, NULL, first, &err) == 0 && start_pod(rt, NULL, second, &err) == 0, "start two containers");
    int count = 0;
    ok(ops->list(rt, count_visit, &count, &err) == 0, "list succeeds");
    is_int(count, 2, "list reports both with their pod, container and image");
    count = 0;
    ops->list(rt, stop_visit, &count, &err);
    is_int(count, 1, "a visit returning non-zero stops the listing");

    is_str(logs_of(rt, first, 0, 1000), "sim container app created\nsim container app running\n",
           "logs of a running container");
    is_str(logs_of(rt, first, 4, 5), "conta", "logs honour offset and size");
    is_str(logs_of(rt, first, 1000, 100), "", "logs past the end are empty");
    is_str(logs_of(rt, "sim-0-none", 0, 100), "error: container sim-0-none not found in runtime/sim",
           "logs of an unknown id are NotFound");
    size_t length;
    ok(ops->logs(rt, first, -1, NULL, 0, &length, &err) < 0 && err.code == KL_ERR_INVALID,
       "a negative offset is Invalid");

    kl_container_status_t st;
    ok(ops->kill(rt, first, 15, &err) == 0, "kill with SIGTERM");
    is_int(state_of(rt, first, &st), KL_CONTAINER_EXITED, "it has exited");
    is_int(st.exit_code, 143, "with 143");
    ok(ops->kill(rt, second, 9, &err) == 0, "kill with SIGKILL");
    state_of(rt, second, &st);
    is_int(st.exit_code, 137, "with 137");
    ok(ops->kill(rt, second, 15, &err) == 0, "killing an exited container is fine");
    state_of(rt, second, &st);
    is_int(st.exit_code, 137, "and keeps its first exit code");
    ok(strstr(logs_of(rt, first, 0, 1000), "sim container app exited with code 143\n") != NULL,
       "the log records the exit");
    ok(ops->kill(rt, first, 0, &err) < 0 && err.code == KL_ERR_INVALID, "signal 0 is Invalid");
    ok(ops->kill(rt, "sim-0-none", 9, &err) < 0 && err.code == KL_ERR_NOT_FOUND, "kill of an unknown id is NotFound");
    ops->close(rt);

    static const char *const bad_setting[] = { "Not Valid", NULL };
    fake_missing_images = bad_setting;
    ok(open_with(NULL, &err) == NULL && err.code == KL_ERR_INVALID && strstr(err.text, "missing_images[0]"),
       "a bad missing_images entry is refused: %s", err.text);
    fake_missing_images = NULL;
}

int main(void)
{
    ops = keelson_plugin.ops;
    test_descriptor();
    test_defaults();
    test_settings_lifecycle();
    test_annotations();
    test_bad_settings();
    test_many();
    test_abi_1_1();
    return done_testing();
}
