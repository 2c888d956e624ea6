/* runtime/podman: starting a container. The pod's request is checked, turned
 * into one `podman run --detach`, its image pulled as the policy says, and
 * the container run; the id podman prints is then known to this instance,
 * or the container it could not start is removed. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "podman.h"

#define PODMAN_RUN_TIMEOUT_MS 120000
#define PODMAN_FRESH_PULL_MS 10000     /* a pull this recent satisfies Always at start() */

/* One start() in progress: the request as checked, the command that runs
 * it, and what podman answered. */
typedef struct start {
    const char *name;               /* the container's name in the pod */
    const json_t *container;
    const char *image;
    const json_t *command;          /* string lists, NULL when unset */
    const json_t *run_args;
    const json_t *workdir;
    int64_t millicores, bytes;
    kl_pull_policy_t policy;
    char container_name[160];       /* podman's name for it: name_make() */
    podman_args_t args;             /* the `podman run` command */
    char *entrypoint;               /* borrowed by `args` */
    int own_cgroup;                 /* keelson's parent cgroup was made for it */
    int rc;                         /* of `podman run` */
    char *out;
    char message[2048];
    off_t events_from;              /* the event log's size before the run */
} start_t;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int request_check(const kl_container_request_t *request, start_t *s, kl_error_t *err)
{
    if (!request)
        return kl_error_set(err, KL_ERR_INVALID, "container request is missing");
    if (check_label("pod namespace", request->pod_namespace, err) < 0
        || check_label("pod name", request->pod_name, err) < 0 || check_label("pod uid", request->pod_uid, err) < 0
        || check_label("container name", request->container_name, err) < 0)
        return -1;
    s->name = request->container_name;
    s->container = request->container;
    if (!json_is_object(s->container))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" is not a JSON object", s->name);
    s->image = json_string_value(json_object_get(s->container, "image"));
    if (!s->image)
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" has no image", s->name);

    /* Everything the pod asks is checked before anything is pulled or made. */
    int failed;
    s->command = string_list(s->container, "command", s->name, err, &failed);
    if (failed)
        return -1;
    s->run_args = string_list(s->container, "args", s->name, err, &failed);
    if (failed)
        return -1;
    s->workdir = json_object_get(s->container, "workingDir");
    if (s->workdir && !json_is_null(s->workdir)
        && (!json_is_string(s->workdir) || json_string_value(s->workdir)[0] != '/'))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\": workingDir must be an absolute path", s->name);
    if (read_limits(s->container, s->name, &s->millicores, &s->bytes, err) < 0
        || pull_policy_of(s->container, s->name, &s->policy, err) < 0 || reference_check(s->image, NULL, err) < 0
        || name_make(request, s->container_name, sizeof s->container_name, err) < 0)
        return -1;
    return 0;
}

/* The `podman run` command line, and keelson's parent cgroup when the memory
 * limit needs one. On failure nothing is left to free. */
static int run_command_build(podman_runtime_t *rt, const kl_container_request_t *request, start_t *s,
                             kl_error_t *err)
{
    podman_args_t *args = &s->args;
    args_begin(args, rt);
    args_add(args, "run");
    args_add(args, "--detach");
    args_add(args, "--name");
    args_add(args, s->container_name);
    args_add(args, "--pull");
    args_add(args, "never");
    args_add(args, "--network");
    args_add(args, "host");
    args_add(args, "--log-driver");
    args_add(args, "k8s-file");
    /* podman's defaults come from the host's hard limits, which runc refuses here. */
    args_add(args, "--ulimit");
    args_add(args, "nofile=1024:1024");
    args_add(args, "--ulimit");
    args_add(args, "nproc=1024:1024");
    args_add(args, "--label");
    args_addf(args, LABEL_NAMESPACE "=%s", request->pod_namespace);
    args_add(args, "--label");
    args_addf(args, LABEL_NAME "=%s", request->pod_name);
    args_add(args, "--label");
    args_addf(args, LABEL_UID "=%s", request->pod_uid);
    args_add(args, "--label");
    args_addf(args, LABEL_CONTAINER "=%s", s->name);
    if (add_env(args, s->container, s->name, err) < 0) {
        args_free(args);
        return -1;
    }
    if (s->workdir && json_is_string(s->workdir)) {
        args_add(args, "--workdir");
        args_add(args, json_string_value(s->workdir));
    }
    if (s->millicores > 0) {
        args_add(args, "--cpus");
        args_addf(args, "%lld.%03lld", (long long)(s->millicores / 1000), (long long)(s->millicores % 1000));
    }
    s->own_cgroup = 0;
    if (s->bytes > 0 && rt->memcg_v1) {
        /* conmon lives under the same parent: the parent gets headroom so
         * the OOM killer, held to the container's own limit below, never
         * picks the monitor instead of the container. */
        if (cgroup_parent_make(s->container_name, s->bytes + CONMON_HEADROOM_BYTES, err) < 0) {
            args_free(args);
            return -1;
        }
        s->own_cgroup = 1;
        args_add(args, "--cgroup-parent");
        args_addf(args, "/" CGROUP_PARENT "/%s", s->container_name);
    }
    if (s->bytes > 0) {
        args_add(args, "--memory");
        args_addf(args, "%lld", (long long)s->bytes);
        args_add(args, "--memory-swap");
        args_addf(args, "%lld", (long long)s->bytes);
    }
    s->entrypoint = NULL;
    if (s->command) {
        /* Kubernetes: command replaces the image's Entrypoint (and drops its Cmd). */
        s->entrypoint = json_dumps(s->command, JSON_COMPACT);
        args_add(args, "--entrypoint");
        args_add(args, s->entrypoint ? s->entrypoint : "[]");
    }
    args_add(args, s->image);
    size_t i;
    const json_t *item;
    if (s->run_args)
        json_array_foreach(s->run_args, i, item)
            args_add(args, json_string_value(item));
    return 0;
}

static int image_ready(podman_runtime_t *rt, const start_t *s, kl_error_t *err)
{
    /* The kubelet's pull() has just fetched an Always image: a second
     * registry round trip here would bring nothing newer. */
    kl_pull_policy_t start_policy = s->policy;
    if (s->policy == KL_PULL_ALWAYS && rt->fresh_image && !strcmp(rt->fresh_image, s->image)
        && podman_monotonic_ms() - rt->fresh_ms < PODMAN_FRESH_PULL_MS)
        start_policy = KL_PULL_IF_NOT_PRESENT;
    return podman_pull(rt, s->image, start_policy, err) < 0 ? -1 : 0;
}

/* Removes what a failed run left under `name`, if anything, at once; what
 * podman answers does not matter. */
static void discard_container(podman_runtime_t *rt, const char *name)
{
    podman_args_t rm;
    char ignored[256];
    args_begin(&rm, rt);
    args_add(&rm, "rm");
    args_add(&rm, "--force");
    args_add(&rm, "--ignore");
    args_add(&rm, "--time");
    args_add(&rm, "0");
    args_add(&rm, name);
    args_run(&rm, PODMAN_COMMAND_TIMEOUT_MS, 0, NULL, ignored, sizeof ignored);
    args_free(&rm);
}

/* One podman process: `run --detach` creates and starts, and prints the
 * id; its start time is in the event log, so nothing is inspected.
 * Returns -1 only when the image, found missing, could not be pulled again;
 * podman's own answer is in s->rc, s->out and s->message. */
static int run_detached(podman_runtime_t *rt, start_t *s, kl_error_t *err)
{
    s->out = NULL;
    s->events_from = events_log_size(rt);
    rt->starting++;
    s->rc = args_run(&s->args, PODMAN_RUN_TIMEOUT_MS, 0, &s->out, s->message, sizeof s->message);
    rt->starting--;
    if (s->rc != 0 && is_image_missing(s->message)) {
        /* Removed behind keelson's back since it was seen: pull and run again. */
        image_forget(rt, s->image);
        free(s->out);
        s->out = NULL;
        discard_container(rt, s->container_name);
        kl_error_t pull_err;
        if (podman_pull(rt, s->image, s->policy, &pull_err) < 0)
            return kl_error_set(err, pull_err.code, "%s", pull_err.text);
        s->events_from = events_log_size(rt);
        rt->starting++;
        s->rc = args_run(&s->args, PODMAN_RUN_TIMEOUT_MS, 0, &s->out, s->message, sizeof s->message);
        rt->starting--;
    }
    return 0;
}

/* Known from its start, so an exit reported before the first status() is
 * not missed, and neither status() nor remove() needs an inspect: `run
 * --detach` returns once the container runs. */
static void remember_running(podman_runtime_t *rt, const start_t *s, const char *id, int64_t returned_ms)
{
    known_container_t *k = known_add(rt, id);
    if (!k)
        return;
    k->cgroup_known = 1;
    snprintf(k->cgroup, sizeof k->cgroup, "%s", s->own_cgroup ? s->container_name : "");
    memset(&k->status, 0, sizeof k->status);
    k->status.state = KL_CONTAINER_RUNNING;
    k->status.started_at_ms = events_log_start_ms(rt, id, s->events_from);
    if (!k->status.started_at_ms || k->status.started_at_ms > returned_ms)
        k->status.started_at_ms = returned_ms;
    k->checked_ms = podman_monotonic_ms();
}

/* A container podman made but could not start is of no use: remove it. */
static int run_failed(podman_runtime_t *rt, const start_t *s, kl_error_t *err)
{
    discard_container(rt, s->container_name);
    if (s->own_cgroup)
        cgroup_parent_remove(s->container_name);
    if (s->rc == 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "podman run of container \"%s\" printed no container id", s->name);
    return kl_error_set(err, KL_ERR_INVALID, "podman cannot run container \"%s\": %s", s->name,
                        s->message[0] ? last_line(s->message) : "it failed without a message");
}

int podman_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                 kl_error_t *err)
{
    podman_runtime_t *rt = runtime;
    start_t s;
    if (request_check(request, &s, err) < 0 || run_command_build(rt, request, &s, err) < 0)
        return -1;
    if (image_ready(rt, &s, err) < 0 || run_detached(rt, &s, err) < 0) {
        free(s.entrypoint);
        args_free(&s.args);
        if (s.own_cgroup)
            cgroup_parent_remove(s.container_name);
        return -1;
    }
    int64_t returned_ms = wall_ms();
    free(s.entrypoint);
    args_free(&s.args);
    /* podman prints the new id: a line of 64 hex digits. */
    size_t length = s.out ? strspn(s.out, "0123456789abcdef") : 0;
    if (s.rc == 0 && length == 64 && (s.out[64] == '\n' || s.out[64] == '\0')) {
        memcpy(id, s.out, 64);
        id[64] = '\0';
        free(s.out);
        remember_running(rt, &s, id, returned_ms);
        return 0;
    }
    free(s.out);
    return run_failed(rt, &s, err);
}
