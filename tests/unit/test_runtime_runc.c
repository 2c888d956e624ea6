/* Tests for runtime/runc. Reference, quantity and spec checks always run;
 * real containers (busybox built by scripts/build-busybox-image.sh) need
 * root, runc and umoci and are skipped without them. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <keelson/keelson.h>
#include "runc.h"
#include "tap.h"

extern const kl_plugin_descriptor_t keelson_plugin;
static const kl_runtime_ops_t *ops;

static char image_store[512], state_dir[512];

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

static const char *fake_setting_string(const kl_host_t *host, const char *name, const char *fallback)
{
    (void)host;
    if (strcmp(name, "image_store") == 0)
        return image_store;
    if (strcmp(name, "state_dir") == 0)
        return state_dir;
    return fallback;
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
    return clock_ms(CLOCK_MONOTONIC);
}

static int64_t fake_realtime_ms(const kl_host_t *host)
{
    (void)host;
    return clock_ms(CLOCK_REALTIME);
}

static const kl_host_t host = {
    .size = sizeof(kl_host_t),
    .abi_version = KL_HOST_ABI_VERSION,
    .plugin_name = "runtime/runc",
    .node_name = "node-1",
    .log = fake_log,
    .setting_string = fake_setting_string,
    .monotonic_ms = fake_monotonic_ms,
    .realtime_ms = fake_realtime_ms,
};

static void test_references(void)
{
    static const char *good[][3] = {
        { "busybox", "busybox", "latest" },
        { "busybox:1.36", "busybox", "1.36" },
        { "library/busybox:v1", "busybox", "v1" },
        { "localhost:5000/busybox:test", "busybox", "test" },
        { "registry.example.com/team/my-app_x:1.0-rc.1", "my-app_x", "1.0-rc.1" },
        { "localhost/web", "web", "latest" },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        runc_image_ref_t ref;
        kl_error_t err;
        int rc = runc_image_ref_parse(good[i][0], &ref, &err);
        ok(rc == 0 && !strcmp(ref.name, good[i][1]) && !strcmp(ref.tag, good[i][2]), "reference %s -> %s:%s",
           good[i][0], rc == 0 ? ref.name : err.text, rc == 0 ? ref.tag : "");
    }
    static const char *bad[] = {
        "", "Busybox", "busy box", "../busybox", "busybox/..", "busybox:", "busybox:../x", "busybox:-x",
        "/busybox", "busybox/", "a//b", "busybox@sha256:abc", "bad..name", "name-", "x:y:z/w",
        "..", "host:port/busybox", "a..b:1/c", "busy\nbox",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        runc_image_ref_t ref;
        kl_error_t err;
        kl_error_clear(&err);
        int rc = runc_image_ref_parse(bad[i], &ref, &err);
        ok(rc < 0 && err.code == KL_ERR_INVALID, "bad reference \"%s\" is Invalid: %s", bad[i], err.text);
    }
}

static void test_quantities(void)
{
    static const struct { const char *text; int64_t millicores; } cpu[] = {
        { "2", 2000 }, { "500m", 500 }, { "0.5", 500 }, { "1.25", 1250 }, { "0.0001", 1 }, { "100m", 100 },
    };
    for (size_t i = 0; i < sizeof cpu / sizeof cpu[0]; i++) {
        int64_t value = -1;
        kl_error_t err;
        runc_quantity_cpu(cpu[i].text, &value, &err);
        is_int(value, cpu[i].millicores, "cpu %s is %lld millicores", cpu[i].text, (long long)cpu[i].millicores);
    }
    static const struct { const char *text; int64_t bytes; } memory[] = {
        { "64Mi", 64LL << 20 }, { "1G", 1000000000LL }, { "1Gi", 1LL << 30 }, { "1024", 1024 },
        { "1.5Gi", 3LL << 29 }, { "1e3", 1000 }, { "128k", 128000 }, { "2Ki", 2048 },
        { "2E", 2000000000000000000LL }, { "1e+2", 100 },
    };
    for (size_t i = 0; i < sizeof memory / sizeof memory[0]; i++) {
        int64_t value = -1;
        kl_error_t err;
        runc_quantity_memory(memory[i].text, &value, &err);
        is_int(value, memory[i].bytes, "memory %s is %lld bytes", memory[i].text, (long long)memory[i].bytes);
    }
    static const char *bad[] = { "", "abc", "1.2.3", "-1", "5Xi", "12 Mi", "1e99", "99999999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t value;
        kl_error_t err;
        kl_error_clear(&err);
        ok(runc_quantity_memory(bad[i], &value, &err) < 0 && err.code == KL_ERR_INVALID,
           "bad quantity \"%s\" is Invalid: %s", bad[i], err.text);
    }
    int64_t value;
    kl_error_t err;
    ok(runc_quantity_memory("8Ei", &value, &err) < 0 && strstr(err.text, "too large"),
       "8Ei overflows and says so: %s", err.text);
}

static json_t *umoci_like_spec(void)
{
    return json_loads("{\"process\": {\"terminal\": true, \"args\": [\"/bin/sh\"], \"cwd\": \"/\","
                      " \"env\": [\"PATH=/bin\", \"HOME=/root\"]},"
                      " \"linux\": {\"namespaces\": [{\"type\": \"network\"}]}, \"hostname\": \"umoci-default\"}",
                      0, NULL);
}

static int apply(const char *container_text, const char *image_text, json_t **spec_out, kl_error_t *err)
{
    json_t *container = json_loads(container_text, 0, NULL);
    json_t *image = json_loads(image_text, 0, NULL);
    json_t *spec = umoci_like_spec();
    kl_container_request_t request = {
        .pod_namespace = "default", .pod_name = "web", .pod_uid = "6a1f0c2e-1111-2222-3333-444455556666",
        .container_name = "app", .container = container, .pod = NULL,
    };
    kl_error_clear(err);
    int rc = runc_spec_apply(spec, &request, image, err);
    json_decref(container);
    json_decref(image);
    *spec_out = spec;
    return rc;
}

static char *dump_path(const json_t *spec, const char *path)
{
    const json_t *at = spec;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *save = NULL, *key = strtok_r(copy, ".", &save); key && at; key = strtok_r(NULL, ".", &save))
        at = json_object_get(at, key);
    return at ? json_dumps(at, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(absent)");
}

static void is_json(const json_t *spec, const char *path, const char *expected, const char *what)
{
    char *got = dump_path(spec, path);
    is_str(got, expected, "%s", what);
    free(got);
}

static void test_spec(void)
{
    static const char *image = "{\"config\": {\"Entrypoint\": [\"/entry\"], \"Cmd\": [\"serve\", \"--port=80\"]}}";
    json_t *spec;
    kl_error_t err;

    ok(apply("{\"name\": \"app\"}", image, &spec, &err) == 0, "image defaults apply");
    is_json(spec, "process.args", "[\"/entry\",\"serve\",\"--port=80\"]", "no command or args: Entrypoint + Cmd");
    is_json(spec, "process.terminal", "false", "terminal is off");
    is_json(spec, "hostname", "\"web\"", "hostname is the pod name");
    json_t *annotations = json_object_get(spec, "annotations");
    is_str(json_string_value(json_object_get(annotations, "io.keelson.pod.uid")),
           "6a1f0c2e-1111-2222-3333-444455556666", "annotation ties the bundle to the pod uid");
    is_str(json_string_value(json_object_get(annotations, "io.keelson.container.name")), "app",
           "annotation names the container");
    is_json(spec, "linux.namespaces", "[{\"type\":\"network\"}]", "the network namespace is kept");
    json_decref(spec);

    ok(apply("{\"name\": \"app\", \"args\": [\"--debug\"]}", image, &spec, &err) == 0, "args only");
    is_json(spec, "process.args", "[\"/entry\",\"--debug\"]", "args replace Cmd and keep Entrypoint");
    json_decref(spec);

    ok(apply("{\"name\": \"app\", \"command\": [\"sh\", \"-c\"], \"args\": [\"echo hi\"], \"workingDir\": \"/srv\","
             " \"env\": [{\"name\": \"HOME\", \"value\": \"/home/app\"}, {\"name\": \"EMPTY\"}],"
             " \"resources\": {\"limits\": {\"cpu\": \"500m\", \"memory\": \"64Mi\"}}}",
             image, &spec, &err) == 0,
       "command, args, env, workingDir and limits: %s", err.text);
    is_json(spec, "process.args", "[\"sh\",\"-c\",\"echo hi\"]", "command replaces Entrypoint and Cmd");
    is_json(spec, "process.env", "[\"PATH=/bin\",\"HOME=/home/app\",\"EMPTY=\"]",
            "container env overrides and extends the image's");
    is_json(spec, "process.cwd", "\"/srv\"", "workingDir becomes cwd");
    is_json(spec, "linux.resources.memory.limit", "67108864", "memory limit 64Mi");
    is_json(spec, "linux.resources.cpu.quota", "50000", "cpu quota for 500m");
    is_json(spec, "linux.resources.cpu.period", "100000", "cpu period");
    json_decref(spec);

    static const char *bad[][2] = {
        { "{\"name\": \"app\", \"command\": \"sh\"}", "command" },
        { "{\"name\": \"app\", \"args\": [1]}", "args[0]" },
        { "{\"name\": \"app\", \"env\": [{\"value\": \"x\"}]}", "env[0].name" },
        { "{\"name\": \"app\", \"env\": [{\"name\": \"A=B\"}]}", "env[0].name" },
        { "{\"name\": \"app\", \"env\": [{\"name\": \"A\", \"valueFrom\": {}}]}", "valueFrom" },
        { "{\"name\": \"app\", \"workingDir\": \"srv\"}", "workingDir" },
        { "{\"name\": \"app\", \"resources\": {\"limits\": {\"cpu\": \"lots\"}}}", "resources.limits.cpu" },
        { "{\"name\": \"app\", \"resources\": {\"limits\": {\"memory\": \"0\"}}}", "resources.limits.memory" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = apply(bad[i][0], image, &spec, &err);
        ok(rc < 0 && err.code == KL_ERR_INVALID && strstr(err.text, bad[i][1]) && strstr(err.text, "\"app\""),
           "bad container %s is Invalid naming %s: %s", bad[i][0], bad[i][1], err.text);
        json_decref(spec);
    }
    ok(apply("{\"name\": \"app\"}", "{\"config\": {}}", &spec, &err) < 0 && strstr(err.text, "no command"),
       "no command anywhere is Invalid: %s", err.text);
    json_decref(spec);
}

/* ---- real containers ---- */

static int tool_works(const char *tool)
{
    char *argv[] = { (char *)tool, "--version", NULL };
    char message[256];
    return runc_command_run(argv, 10000, NULL, message, sizeof message) == 0;
}

static int start_container(void *rt, const char *container_text, char id[KL_CONTAINER_ID_MAX], kl_error_t *err)
{
    json_t *container = json_loads(container_text, 0, NULL);
    if (!container)
        return kl_error_set(err, KL_ERR_INVALID, "test bug: bad JSON %s", container_text);
    json_t *pod = json_pack("{s:{s:s, s:s, s:s}}", "metadata", "name", "web", "namespace", "default", "uid",
                            "6a1f0c2e-1111-2222-3333-444455556666");
    kl_container_request_t request = {
        .pod_namespace = "default", .pod_name = "web", .pod_uid = "6a1f0c2e-1111-2222-3333-444455556666",
        .container_name = json_string_value(json_object_get(container, "name")),
        .container = container, .pod = pod,
    };
    kl_error_clear(err);
    int rc = ops->start(rt, &request, id, err);
    json_decref(container);
    json_decref(pod);
    return rc;
}

/* Polls until the container reaches `state` or timeout_ms passes. */
static kl_container_state_t wait_state(void *rt, const char *id, kl_container_state_t state, int timeout_ms,
                                       kl_container_status_t *st)
{
    int64_t end = clock_ms(CLOCK_MONOTONIC) + timeout_ms;
    kl_error_t err;
    for (;;) {
        if (ops->status(rt, id, st, &err) < 0) {
            diag("status %s: %s", id, err.text);
            return KL_CONTAINER_UNKNOWN;
        }
        if (st->state == state || clock_ms(CLOCK_MONOTONIC) > end)
            return st->state;
        usleep(20000);
    }
}

static char *read_log(const char *id)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s/container.log", state_dir, id);
    FILE *f = fopen(path, "r");
    if (!f)
        return strdup("");
    char *text = calloc(1, 65536);
    size_t n = fread(text, 1, 65535, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static int bundle_exists(const char *id)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", state_dir, id);
    return stat(path, &st) == 0;
}

static void remove_container(void *rt, const char *id)
{
    kl_error_t err;
    if (ops->remove(rt, id, &err) < 0)
        diag("remove %s: %s", id, err.text);
}

static int list_visit(const kl_container_info_t *info, void *arg)
{
    if (!strcmp(info->pod_namespace, "default") && !strcmp(info->pod_name, "web")
        && !strcmp(info->pod_uid, "6a1f0c2e-1111-2222-3333-444455556666") && !strcmp(info->container_name, "talker")
        && !strcmp(info->image, "busybox") && info->status.state == KL_CONTAINER_RUNNING)
        (*(int *)arg)++;
    return 0;
}

static void test_containers(void *rt)
{
    char id[KL_CONTAINER_ID_MAX];
    kl_container_status_t st;
    kl_error_t err;

    ok(start_container(rt, "{\"name\": \"echo\", \"image\": \"busybox\", \"command\": [\"sh\", \"-c\","
                           " \"echo hi; exit 3\"]}", id, &err) == 0,
       "start sh -c 'echo hi; exit 3': %s", err.text);
    ok(strncmp(id, "kl-6a1f0c2e-echo-", 17) == 0 && !strchr(id, '/'), "id %s names pod and container", id);
    is_int(wait_state(rt, id, KL_CONTAINER_EXITED, 10000, &st), KL_CONTAINER_EXITED, "it exits");
    is_int(st.exit_code, 3, "with exit code 3");
    is_str(st.reason, "Error", "reason Error");
    ok(st.started_at_ms > 0 && st.finished_at_ms >= st.started_at_ms, "start and finish times are recorded");
    char *log = read_log(id);
    is_str(log, "hi\n", "its output is in container.log");
    free(log);
    ok(ops->remove(rt, id, &err) == 0, "remove it: %s", err.text);
    ok(!bundle_exists(id), "remove deletes the bundle");
    ok(ops->status(rt, id, &st, &err) < 0 && err.code == KL_ERR_NOT_FOUND, "a removed container is NotFound");

    ok(start_container(rt, "{\"name\": \"env\", \"image\": \"localhost:5000/library/busybox:latest\","
                           " \"command\": [\"sh\", \"-c\", \"echo \\\"$GREETING\\\" \\\"$1\\\"; pwd; hostname\","
                           " \"argv0\", \"world\"], \"workingDir\": \"/tmp\","
                           " \"env\": [{\"name\": \"GREETING\", \"value\": \"hello\"}],"
                           " \"resources\": {\"limits\": {\"cpu\": \"500m\", \"memory\": \"64Mi\"}}}",
                           id, &err) == 0,
       "start with env, args, workingDir and limits from a registry-style reference: %s", err.text);
    is_int(wait_state(rt, id, KL_CONTAINER_EXITED, 10000, &st), KL_CONTAINER_EXITED, "it exits");
    is_int(st.exit_code, 0, "with code 0");
    is_str(st.reason, "Completed", "reason Completed");
    log = read_log(id);
    is_str(log, "hello world\n/tmp\nweb\n", "env, args, cwd and hostname are visible inside");
    free(log);
    remove_container(rt, id);

    ok(start_container(rt, "{\"name\": \"args\", \"image\": \"busybox\", \"args\": [\"echo\", \"from-args\"]}", id,
                       &err) == 0,
       "start with args only");
    wait_state(rt, id, KL_CONTAINER_EXITED, 10000, &st);
    log = read_log(id);
    is_str(log, "from-args\n", "args alone run when the image has no Entrypoint");
    free(log);
    remove_container(rt, id);

    ok(start_container(rt, "{\"name\": \"sleeper\", \"image\": \"busybox\", \"command\": [\"sleep\", \"100\"]}", id,
                       &err) == 0,
       "start sleep 100");
    is_int(wait_state(rt, id, KL_CONTAINER_RUNNING, 10000, &st), KL_CONTAINER_RUNNING, "it runs");
    ok(st.started_at_ms > 0, "a running container has a start time");
    /* A new runtime instance sees it too: all state is on disk. */
    void *again = ops->open(&host, &err);
    is_int(wait_state(again, id, KL_CONTAINER_RUNNING, 1000, &st), KL_CONTAINER_RUNNING,
           "a second runtime instance sees it running");
    ops->close(again);
    int64_t before = clock_ms(CLOCK_MONOTONIC);
    ok(ops->stop(rt, id, 200, &err) == 0, "stop with a 200 ms grace: %s", err.text);
    int64_t took = clock_ms(CLOCK_MONOTONIC) - before;
    ok(took < 1500, "stop returned within 1.5 s (%lld ms)", (long long)took);
    is_int(wait_state(rt, id, KL_CONTAINER_EXITED, 0, &st), KL_CONTAINER_EXITED, "it has exited when stop returns");
    is_int(st.exit_code, 137, "pid 1 ignores SIGTERM, so SIGKILL ended it (137)");
    ok(ops->stop(rt, id, 200, &err) == 0, "stopping it again is fine");
    remove_container(rt, id);

    /* The supervisor must outlive the process that started the container,
     * as containers outlive a kubelet restart. */
    int channel[2];
    memset(id, 0, KL_CONTAINER_ID_MAX);
    if (pipe(channel) == 0) {
        pid_t starter = fork();
        if (starter == 0) {
            close(channel[0]);
            char child_id[KL_CONTAINER_ID_MAX] = "";
            kl_error_t child_err;
            if (start_container(rt, "{\"name\": \"orphan\", \"image\": \"busybox\", \"command\": [\"sh\", \"-c\","
                                    " \"sleep 1; echo survived; exit 5\"]}", child_id, &child_err) == 0)
                (void)!write(channel[1], child_id, sizeof child_id);
            _exit(0);
        }
        close(channel[1]);
        ssize_t got = read(channel[0], id, KL_CONTAINER_ID_MAX);
        close(channel[0]);
        int child_status;
        waitpid(starter, &child_status, 0);
        ok(got == KL_CONTAINER_ID_MAX && id[0], "a child process started container %s and exited", id);
        is_int(wait_state(rt, id, KL_CONTAINER_EXITED, 10000, &st), KL_CONTAINER_EXITED,
               "the container ran on after its starter exited");
        is_int(st.exit_code, 5, "and its exit code 5 was recorded");
        log = read_log(id);
        is_str(log, "survived\n", "with its output");
        free(log);
        remove_container(rt, id);
    }

    ok(start_container(rt, "{\"name\": \"forever\", \"image\": \"busybox\", \"command\": [\"sleep\", \"100\"]}", id,
                       &err) == 0,
       "start another sleep 100");
    wait_state(rt, id, KL_CONTAINER_RUNNING, 10000, &st);
    before = clock_ms(CLOCK_MONOTONIC);
    ok(ops->remove(rt, id, &err) == 0, "remove a running container: %s", err.text);
    ok(clock_ms(CLOCK_MONOTONIC) - before < 3000, "remove stops it quickly");
    ok(!bundle_exists(id), "and deletes its bundle");

    ok(start_container(rt, "{\"name\": \"nocmd\", \"image\": \"busybox\", \"command\": [\"/no/such/program\"]}",
                       id, &err) == 0,
       "start a command missing from the image");
    is_int(wait_state(rt, id, KL_CONTAINER_EXITED, 10000, &st), KL_CONTAINER_EXITED, "it ends");
    ok(st.exit_code != 0, "with a non-zero exit code (%d)", st.exit_code);
    is_str(st.reason, "ContainerCannotRun", "reason ContainerCannotRun");
    ok(strstr(st.message, "/no/such/program") != NULL, "the message names the command: %s", st.message);
    remove_container(rt, id);

    ok(start_container(rt, "{\"name\": \"missing\", \"image\": \"busybox:9.9\"}", id, &err) < 0
           && err.code == KL_ERR_NOT_FOUND,
       "a missing tag is NotFound");
    char expected[1024];
    snprintf(expected, sizeof expected, "image \"busybox:9.9\" not found in image store %s", image_store);
    is_str(err.text, expected, "the message names image and store");
    ok(start_container(rt, "{\"name\": \"missing\", \"image\": \"nginx\"}", id, &err) < 0
           && err.code == KL_ERR_NOT_FOUND,
       "a missing image is NotFound: %s", err.text);
    ok(start_container(rt, "{\"name\": \"bad\", \"image\": \"Not A/Reference\"}", id, &err) < 0
           && err.code == KL_ERR_INVALID && strstr(err.text, "Not A/Reference"),
       "a bad reference is Invalid and named: %s", err.text);
    ok(start_container(rt, "{\"name\": \"bad\", \"image\": \"busybox\", \"workingDir\": \"tmp\"}", id, &err) < 0
           && err.code == KL_ERR_INVALID,
       "a bad container spec fails start: %s", err.text);
    ok(start_container(rt, "{\"name\": \"Bad_Name\", \"image\": \"busybox\"}", id, &err) < 0
           && err.code == KL_ERR_INVALID,
       "a bad container name is Invalid: %s", err.text);

    ok(ops->status(rt, "kl-../../etc", &st, &err) < 0 && err.code == KL_ERR_INVALID, "an id with .. is Invalid");
    ok(ops->status(rt, "kl-a/b", &st, &err) < 0 && err.code == KL_ERR_INVALID, "an id with / is Invalid");
    ok(ops->remove(rt, "kl-nothing-here-0", &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "removing an unknown id is NotFound");

    /* ABI 1.1: kill, logs, list and pull from the image store. */
    ok(start_container(rt, "{\"name\": \"talker\", \"image\": \"busybox\", \"command\": [\"sh\", \"-c\","
                           " \"echo one; echo two >&2; exec sleep 100\"]}", id, &err) == 0,
       "start a container that talks and sleeps");
    is_int(wait_state(rt, id, KL_CONTAINER_RUNNING, 10000, &st), KL_CONTAINER_RUNNING, "it runs");
    char text[64];
    size_t length = 0;
    int64_t end = clock_ms(CLOCK_MONOTONIC) + 5000;
    while (clock_ms(CLOCK_MONOTONIC) < end && ops->logs(rt, id, 0, text, sizeof text - 1, &length, &err) == 0
           && length < 8)
        usleep(20000);
    text[length] = '\0';
    is_str(text, "one\ntwo\n", "logs return stdout and stderr");
    ok(ops->logs(rt, id, 4, text, 2, &length, &err) == 0 && length == 2 && !strncmp(text, "tw", 2),
       "logs honour offset and size");
    ok(ops->logs(rt, id, 100, text, 10, &length, &err) == 0 && length == 0, "logs past the end are empty");
    int listed = 0;
    ok(ops->list(rt, list_visit, &listed, &err) == 0, "list succeeds: %s", err.text);
    is_int(listed, 1, "list reports the container with its pod, name and image");
    ok(ops->kill(rt, id, 9, &err) == 0, "kill with SIGKILL returns at once: %s", err.text);
    is_int(wait_state(rt, id, KL_CONTAINER_EXITED, 10000, &st), KL_CONTAINER_EXITED, "it exits");
    is_int(st.exit_code, 137, "with 137");
    ok(ops->kill(rt, id, 15, &err) == 0, "killing an exited container is fine");
    ok(ops->kill(rt, id, 0, &err) < 0 && err.code == KL_ERR_INVALID, "signal 0 is Invalid");
    remove_container(rt, id);
    ok(ops->logs(rt, id, 0, text, 10, &length, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "logs of a removed container are NotFound");

    ok(ops->pull(rt, "busybox", KL_PULL_NEVER, &err) == KL_PULL_PRESENT, "pull Never of a present image finds it present");
    ok(ops->pull(rt, "busybox:latest", KL_PULL_ALWAYS, &err) == KL_PULL_PRESENT, "pull Always without a registry uses the store");
    ok(ops->pull(rt, "busybox:9.9", KL_PULL_IF_NOT_PRESENT, &err) < 0 && err.code == KL_ERR_NOT_FOUND,
       "an absent tag without a registry is NotFound: %s", err.text);
    ok(ops->pull(rt, "127.0.0.1:9/busybox:9.9", KL_PULL_NEVER, &err) < 0 && err.code == KL_ERR_NOT_FOUND
           && strstr(err.text, "Never"),
       "Never with an absent image is NotFound: %s", err.text);
    ok(ops->pull(rt, "Bad Ref", KL_PULL_IF_NOT_PRESENT, &err) < 0 && err.code == KL_ERR_INVALID,
       "a bad reference is Invalid");
    if (tool_works("skopeo")) {
        /* Port 9 (discard) has no listener on loopback: unreachable. */
        ok(ops->pull(rt, "127.0.0.1:9/busybox:1.0", KL_PULL_IF_NOT_PRESENT, &err) < 0
               && err.code == KL_ERR_UNAVAILABLE && strstr(err.text, "127.0.0.1:9"),
           "an unreachable registry is Unavailable: %s", err.text);
        struct stat unused;
        char layout[1024];
        snprintf(layout, sizeof layout, "%s/busybox", image_store);
        ok(stat(layout, &unused) == 0, "a failed pull leaves the existing layout alone");
    }

    /* Nothing but the runc root may be left behind. */
    char path[1024];
    snprintf(path, sizeof path, "%s/runc-root", state_dir);
    int leftovers = 0;
    char *argv[] = { "ls", "-A", state_dir, NULL };
    char *out = NULL, message[256];
    if (runc_command_run(argv, 5000, &out, message, sizeof message) == 0)
        for (char *save = NULL, *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
            leftovers += strcmp(line, "runc-root") != 0 && strcmp(line, "events") != 0;
    free(out);
    is_int(leftovers, 0, "no bundles are left in state_dir");
}

static void run_container_tests(void)
{
    const char *srcdir = getenv("KEELSON_SRCDIR");
    if (geteuid() != 0) {
        ok(1, "# SKIP containers need root");
        return;
    }
    if (!tool_works("runc") || !tool_works("umoci")) {
        ok(1, "# SKIP containers need runc and umoci (apt-get install runc umoci)");
        return;
    }
    if (access("/bin/busybox", X_OK) != 0) {
        ok(1, "# SKIP the test image needs /bin/busybox (apt-get install busybox-static)");
        return;
    }
    char script[1024];
    snprintf(script, sizeof script, "%s/scripts/build-busybox-image.sh", srcdir ? srcdir : ".");
    if (access(script, R_OK) != 0) {
        ok(1, "# SKIP %s not found: set KEELSON_SRCDIR to the source tree", script);
        return;
    }

    char top[] = "/tmp/keelson-runc-test.XXXXXX";
    if (!mkdtemp(top)) {
        ok(0, "create a temporary folder");
        return;
    }
    snprintf(image_store, sizeof image_store, "%s/images", top);
    snprintf(state_dir, sizeof state_dir, "%s/state", top);
    char layout[1024];
    snprintf(layout, sizeof layout, "%s/busybox", image_store);
    char *build[] = { "sh", script, layout, "latest", NULL };
    char message[1024];
    int rc = runc_command_run(build, 120000, NULL, message, sizeof message);
    is_int(rc, 0, "build the busybox image %s", rc ? message : "");
    rc = runc_command_run(build, 120000, NULL, message, sizeof message);
    is_int(rc, 0, "building it again is fine");

    kl_error_t err;
    void *rt = ops->open(&host, &err);
    ok(rt != NULL, "open runtime/runc: %s", rt ? "" : err.text);
    if (rt) {
        test_containers(rt);
        ops->close(rt);
    }
    ok(runc_tree_remove(top) == 0, "clean up %s", top);
}

static void test_open_settings(void)
{
    kl_error_t err;
    snprintf(image_store, sizeof image_store, "relative/images");
    snprintf(state_dir, sizeof state_dir, "/tmp");
    ok(ops->open(&host, &err) == NULL && err.code == KL_ERR_INVALID && strstr(err.text, "image_store"),
       "a relative image_store is refused: %s", err.text);
}

int main(void)
{
    ops = keelson_plugin.ops;
    is_str(keelson_plugin.name, "runc", "descriptor is named runc");
    is_int(keelson_plugin.kind, KL_KIND_RUNTIME, "descriptor is a runtime");
    test_references();
    test_quantities();
    test_spec();
    test_open_settings();
    run_container_tests();
    return done_testing();
}
