/* The groups of keelson-runtime-conformance: each starts real containers
 * through the plugin under test and checks what the runtime ABI promises. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime_conformance.h"

#define EXIT_TIMEOUT_MS 60000   /* a cold start on a busy 2-core host unpacks an image */
#define READY_TIMEOUT_MS 30000

static const char *const sh_c[] = { "/bin/sh", "-c", NULL };

/* sh -c SCRIPT as a spec; run_ms and exit code are the sim runtime's view. */
static kl_rconf_spec_t script(const char *const *args, long sim_run_ms, int sim_exit_code)
{
    kl_rconf_spec_t spec = { .command = sh_c, .args = args, .sim_run_ms = sim_run_ms,
                             .sim_exit_code = sim_exit_code };
    return spec;
}

static int start_ok(kl_rconf_t *c, const char *name, const kl_rconf_spec_t *spec, char id[KL_CONTAINER_ID_MAX])
{
    kl_error_t err;
    return kl_tap_call(kl_rconf_start(c, name, spec, id, &err), &err, "start() of container %s", name);
}

static void check_exit(kl_rconf_t *c, const char *id, const char *name, int code, const char *reason)
{
    kl_container_status_t st;
    if (!kl_tap_ok(kl_rconf_wait(c, id, 0, EXIT_TIMEOUT_MS, &st) == 0, "%s reaches EXITED", name))
        return;
    kl_tap_is_int(st.exit_code, code, "%s: exit code %d", name, code);
    kl_tap_is_str(st.reason, reason, "%s: reason %s", name, reason);
    kl_tap_is_int(st.oom_killed, 0, "%s: not reported OOM-killed", name);
    kl_tap_ok(st.started_at_ms > 0 && st.finished_at_ms >= st.started_at_ms,
              "%s: started_at_ms %lld and finished_at_ms %lld are set and ordered", name,
              (long long)st.started_at_ms, (long long)st.finished_at_ms);
}

void kl_group_complete(kl_rconf_t *c)
{
    if (!kl_rconf_begin(c, "complete", NULL))
        return;
    static const char *const args[] = { "exit 0", NULL };
    kl_rconf_spec_t spec = script(args, 300, 0);
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "completes", &spec, id))
        return;
    kl_tap_ok(id[0] != '\0' && strnlen(id, KL_CONTAINER_ID_MAX) < KL_CONTAINER_ID_MAX,
              "start() wrote a container id (%s)", id);
    check_exit(c, id, "completes", 0, "Completed");
}

void kl_group_exit_code(kl_rconf_t *c)
{
    if (!kl_rconf_begin(c, "exit-code", NULL))
        return;
    static const char *const args[] = { "exit 7", NULL };
    kl_rconf_spec_t spec = script(args, 300, 7);
    char id[KL_CONTAINER_ID_MAX];
    if (start_ok(c, "exits-seven", &spec, id))
        check_exit(c, id, "exits-seven", 7, "Error");
}

void kl_group_env_args(kl_rconf_t *c)
{
    static const char *const needs[] = { "logs", NULL };
    if (!kl_rconf_begin(c, "env-args", needs))
        return;
    /* $0 and $1 come from args; GREETING from env; the image's PATH must survive env. */
    static const char *const args[] = { "echo \"args=[$0] [$1] greeting=[$GREETING] other=[$OTHER]\"; "
                                        "command -v sleep >/dev/null && echo path-kept",
                                        "first-arg", "second arg", NULL };
    static const char *const env[] = { "GREETING=hello world", "OTHER=", NULL };
    kl_rconf_spec_t spec = script(args, 300, 0);
    spec.env = env;
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "env-args", &spec, id))
        return;
    kl_container_status_t st;
    memset(&st, 0, sizeof st);
    /* Waited for first: the message must show the code the wait read. */
    int waited = kl_rconf_wait(c, id, 0, EXIT_TIMEOUT_MS, &st) == 0;
    kl_tap_ok(waited && st.exit_code == 0, "the container exits 0 (code %d)", st.exit_code);
    char log[4096];
    kl_error_t err;
    if (!kl_tap_call(kl_rconf_logs(c, id, sizeof log, log, sizeof log, &err), &err, "logs() of it"))
        return;
    const char *want = "args=[first-arg] [second arg] greeting=[hello world] other=[]";
    if (!kl_tap_ok(strstr(log, want) != NULL, "args and env reach the process: %s", want))
        kl_tap_diag("  log: %.300s", log);
    kl_tap_ok(strstr(log, "path-kept") != NULL, "the image's PATH is kept beside the container's env");
}

void kl_group_logs(kl_rconf_t *c)
{
    static const char *const needs[] = { "logs", NULL };
    if (!kl_rconf_begin(c, "logs", needs))
        return;
    static const char *const args[] = { "echo out-one; echo err-two >&2; i=0; while [ $i -lt 200 ]; do "
                                        "echo line-$i; i=$((i+1)); done; echo err-end >&2", NULL };
    kl_rconf_spec_t spec = script(args, 300, 0);
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "logger", &spec, id))
        return;
    kl_container_status_t st;
    kl_tap_ok(kl_rconf_wait(c, id, 0, EXIT_TIMEOUT_MS, &st) == 0, "the logging container exits");
    static char whole[65536], pieces[65536];
    kl_error_t err;
    if (!kl_tap_call(kl_rconf_logs(c, id, sizeof whole, whole, sizeof whole, &err), &err, "logs() from offset 0"))
        return;
    size_t total = strlen(whole);
    kl_tap_ok(strstr(whole, "out-one") && strstr(whole, "line-199"), "stdout is captured (%zu bytes)", total);
    kl_tap_ok(strstr(whole, "err-two") && strstr(whole, "err-end"), "stderr is captured");
    if (!kl_tap_call(kl_rconf_logs(c, id, 7, pieces, sizeof pieces, &err), &err, "logs() in 7-byte pieces"))
        return;
    kl_tap_ok(strcmp(whole, pieces) == 0, "reading in pieces by offset gives the same bytes");
    char tail[64] = "";
    size_t got = 0;
    int64_t offset = total > 10 ? (int64_t)total - 10 : 0;
    kl_error_clear(&err);
    int rc = c->ops->logs(c->rt, id, offset, tail, sizeof tail - 1, &got, &err);
    kl_tap_ok(rc == 0 && got == total - (size_t)offset && memcmp(tail, whole + offset, got) == 0,
              "logs() at offset %lld returns the last %zu bytes", (long long)offset, total - (size_t)offset);
    got = 99;
    rc = c->ops->logs(c->rt, id, (int64_t)total + 1000, tail, sizeof tail, &got, &err);
    kl_tap_ok(rc == 0 && got == 0, "logs() past the end returns 0 bytes");
    rc = c->ops->logs(c->rt, id, -1, tail, sizeof tail, &got, &err);
    kl_tap_fails_with(rc, &err, KL_ERR_INVALID, "logs() at a negative offset fails with Invalid");
}

void kl_group_oom(kl_rconf_t *c)
{
    if (!kl_rconf_begin(c, "oom", NULL))
        return;
    /* tail holds the whole line: 100 MiB of zeros without a newline. */
    static const char *const args[] = { "head -c 100m /dev/zero | tail", NULL };
    kl_rconf_spec_t spec = script(args, 300, 137);
    spec.memory_limit = "16Mi";
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "memory-hog", &spec, id))
        return;
    kl_container_status_t st;
    if (!kl_tap_ok(kl_rconf_wait(c, id, 0, EXIT_TIMEOUT_MS, &st) == 0, "the container over its 16Mi limit exits"))
        return;
    kl_tap_is_int(st.oom_killed, 1, "it is reported oom_killed");
    kl_tap_is_str(st.reason, "OOMKilled", "its reason is OOMKilled");
    kl_tap_is_int(st.exit_code, 137, "its exit code is 137 (128 + SIGKILL)");
}

void kl_group_stop(kl_rconf_t *c)
{
    if (!kl_rconf_begin(c, "stop", NULL))
        return;
    /* A shell as pid 1 ignores TERM unless it traps it; `sleep & wait` lets the trap run at once. */
    static const char *const args[] = { "trap 'exit 143' TERM; echo ready; sleep 100 & wait", NULL };
    kl_rconf_spec_t spec = script(args, -1, 0);
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "sleeper", &spec, id))
        return;
    kl_rconf_wait_ready(c, id, "ready", READY_TIMEOUT_MS);
    kl_container_status_t st;
    kl_error_t err;
    memset(&st, 0, sizeof st);
    kl_error_clear(&err);
    kl_tap_ok(c->ops->status(c->rt, id, &st, &err) == 0 && st.state == KL_CONTAINER_RUNNING,
              "status() says RUNNING (%s)", kl_rconf_state_name(st.state));
    int64_t begin = kl_rconf_now_ms();
    int rc = c->ops->stop(c->rt, id, 10000, &err);
    int64_t took = kl_rconf_now_ms() - begin;
    kl_tap_call(rc, &err, "stop() with a 10 s grace period");
    kl_tap_ok(took < 5000, "a process that exits on TERM stops well within the grace period (%lld ms)",
              (long long)took);
    memset(&st, 0, sizeof st);
    rc = c->ops->status(c->rt, id, &st, &err);
    kl_tap_ok(rc == 0 && st.state == KL_CONTAINER_EXITED, "status() says EXITED once stop() returned (%s)",
              kl_rconf_state_name(st.state));
    kl_tap_is_int(st.exit_code, 143, "the exit code is the process's own 143");
    kl_tap_ok(c->ops->stop(c->rt, id, 1000, &err) == 0, "stop() of an exited container succeeds");
}

void kl_group_grace(kl_rconf_t *c)
{
    if (!kl_rconf_begin(c, "grace", NULL))
        return;
    static const char *const args[] = { "trap '' TERM; echo ready; while :; do sleep 1; done", NULL };
    kl_rconf_spec_t spec = script(args, -1, 0);
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "ignores-term", &spec, id))
        return;
    kl_rconf_wait_ready(c, id, "ready", READY_TIMEOUT_MS);
    kl_error_t err;
    kl_error_clear(&err);
    int grace = 2000;
    int64_t begin = kl_rconf_now_ms();
    int rc = c->ops->stop(c->rt, id, grace, &err);
    int64_t took = kl_rconf_now_ms() - begin;
    kl_tap_call(rc, &err, "stop() with a %d ms grace period", grace);
    kl_tap_ok(took >= grace - 100 && took < grace + 10000,
              "a process that ignores TERM is killed after the grace period (%lld ms)", (long long)took);
    kl_container_status_t st;
    memset(&st, 0, sizeof st);
    rc = c->ops->status(c->rt, id, &st, &err);
    kl_tap_ok(rc == 0 && st.state == KL_CONTAINER_EXITED, "status() says EXITED (%s)", kl_rconf_state_name(st.state));
    kl_tap_is_int(st.exit_code, 137, "the exit code is 137 (128 + SIGKILL)");
}

void kl_group_kill(kl_rconf_t *c)
{
    static const char *const needs[] = { "kill", NULL };
    if (!kl_rconf_begin(c, "kill", needs))
        return;
    static const char *const args[] = { "trap '' TERM; echo ready; while :; do sleep 1; done", NULL };
    kl_rconf_spec_t spec = script(args, -1, 0);
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "killed", &spec, id))
        return;
    kl_rconf_wait_ready(c, id, "ready", READY_TIMEOUT_MS);
    kl_error_t err;
    kl_error_clear(&err);
    kl_container_status_t st;
    int64_t begin, took;
    int rc;
    if (!kl_rconf_skipped(c, "grace")) {
        /* Only a real process can ignore TERM; a runtime without one
         * (--skip grace) ends the container on any signal. */
        begin = kl_rconf_now_ms();
        rc = c->ops->kill(c->rt, id, SIGTERM, &err);
        took = kl_rconf_now_ms() - begin;
        kl_tap_call(rc, &err, "kill(SIGTERM)");
        kl_tap_ok(took < 2000, "kill() returns at once, without waiting for an exit (%lld ms)", (long long)took);
        kl_rconf_sleep_ms(500);
        memset(&st, 0, sizeof st);
        c->ops->status(c->rt, id, &st, &err);
        kl_tap_ok(st.state == KL_CONTAINER_RUNNING, "a process that ignores TERM is still RUNNING (%s)",
                  kl_rconf_state_name(st.state));
    }
    begin = kl_rconf_now_ms();
    rc = c->ops->kill(c->rt, id, SIGKILL, &err);
    took = kl_rconf_now_ms() - begin;
    kl_tap_call(rc, &err, "kill(SIGKILL)");
    kl_tap_ok(took < 2000, "kill(SIGKILL) returns at once (%lld ms)", (long long)took);
    if (kl_tap_ok(kl_rconf_wait(c, id, 0, 10000, &st) == 0, "the container exits soon after"))
        kl_tap_is_int(st.exit_code, 137, "its exit code is 137");
    kl_tap_fails_with(c->ops->kill(c->rt, id, 0, &err), &err, KL_ERR_INVALID, "kill() with signal 0 fails with Invalid");
}

typedef struct found {
    const char *id;
    int seen;
    kl_container_info_t info;  /* strings copied below */
    char pod_namespace[256], pod_name[256], pod_uid[256], container_name[256], image[512];
} found_t;

typedef struct found_set {
    found_t *items;
    size_t count;
    size_t total;
} found_set_t;

static int found_visit(const kl_container_info_t *info, void *arg)
{
    found_set_t *set = arg;
    set->total++;
    for (size_t i = 0; i < set->count; i++) {
        found_t *f = &set->items[i];
        if (!info->id || strcmp(info->id, f->id) != 0)
            continue;
        f->seen++;
        f->info = *info;
        snprintf(f->pod_namespace, sizeof f->pod_namespace, "%s", info->pod_namespace ? info->pod_namespace : "");
        snprintf(f->pod_name, sizeof f->pod_name, "%s", info->pod_name ? info->pod_name : "");
        snprintf(f->pod_uid, sizeof f->pod_uid, "%s", info->pod_uid ? info->pod_uid : "");
        snprintf(f->container_name, sizeof f->container_name, "%s", info->container_name ? info->container_name : "");
        snprintf(f->image, sizeof f->image, "%s", info->image ? info->image : "");
    }
    return 0;
}

static int list_find(kl_rconf_t *c, found_set_t *set, kl_error_t *err)
{
    for (size_t i = 0; i < set->count; i++)
        set->items[i].seen = 0;
    set->total = 0;
    kl_error_clear(err);
    return c->ops->list(c->rt, found_visit, set, err);
}

void kl_group_adoption(kl_rconf_t *c)
{
    static const char *const needs[] = { "list", NULL };
    if (!kl_rconf_begin(c, "adoption", needs))
        return;
    static const char *const run_args[] = { "trap 'exit 143' TERM; echo ready; sleep 100 & wait", NULL };
    static const char *const done_args[] = { "exit 3", NULL };
    kl_rconf_spec_t running = script(run_args, -1, 0), done = script(done_args, 200, 3);
    char run_id[KL_CONTAINER_ID_MAX], done_id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "keeps-running", &running, run_id) || !start_ok(c, "has-exited", &done, done_id))
        return;
    kl_container_status_t st;
    kl_tap_ok(kl_rconf_wait(c, done_id, 0, EXIT_TIMEOUT_MS, &st) == 0, "one container exits before the restart");
    kl_tap_ok(kl_rconf_wait(c, run_id, 1, EXIT_TIMEOUT_MS, &st) == 0, "the other is RUNNING");

    kl_error_t err;
    kl_rconf_close(c);
    if (!kl_tap_call(kl_rconf_open(c, &err), &err, "the plugin closes and a fresh instance opens"))
        return;  /* main() reports the lost plugin; the containers are left to the runtime */
    found_t items[2] = { { .id = run_id }, { .id = done_id } };
    found_set_t set = { items, 2, 0 };
    if (!kl_tap_call(list_find(c, &set, &err), &err, "list() on the fresh instance"))
        return;
    kl_tap_ok(items[0].seen == 1 && items[1].seen == 1, "list() reports both containers once (%d, %d of %zu)",
              items[0].seen, items[1].seen, set.total);
    for (int i = 0; i < 2; i++) {
        if (!items[i].seen)
            continue;
        const char *name = i == 0 ? "keeps-running" : "has-exited";
        char pod_name[256], pod_uid[256];
        kl_rconf_pod_name(c, name, pod_name, sizeof pod_name);
        kl_rconf_pod_uid(c, name, pod_uid, sizeof pod_uid);
        kl_tap_ok(strcmp(items[i].pod_namespace, "conformance") == 0 && strcmp(items[i].pod_name, pod_name) == 0
                  && strcmp(items[i].pod_uid, pod_uid) == 0 && strcmp(items[i].container_name, name) == 0,
                  "%s: pod namespace, name, uid and container name survive (%s/%s %s %s)", name,
                  items[i].pod_namespace, items[i].pod_name, items[i].pod_uid, items[i].container_name);
        kl_tap_ok(strstr(items[i].image, c->image) || strstr(c->image, items[i].image),
                  "%s: the image is reported (%s)", name, items[i].image);
    }
    if (items[0].seen)
        kl_tap_ok(items[0].info.status.state == KL_CONTAINER_RUNNING, "the running one is reported RUNNING (%s)",
                  kl_rconf_state_name(items[0].info.status.state));
    if (items[1].seen)
        kl_tap_ok(items[1].info.status.state == KL_CONTAINER_EXITED && items[1].info.status.exit_code == 3,
                  "the exited one is reported EXITED with code 3 (%s, %d)",
                  kl_rconf_state_name(items[1].info.status.state), items[1].info.status.exit_code);
    kl_tap_call(c->ops->stop(c->rt, run_id, 10000, &err), &err, "the fresh instance stops the adopted container");
    memset(&st, 0, sizeof st);
    c->ops->status(c->rt, run_id, &st, &err);
    kl_tap_ok(st.state == KL_CONTAINER_EXITED, "it is EXITED (%s)", kl_rconf_state_name(st.state));
}

/* REPOSITORY:keelson-absent-tag and REGISTRY/keelson-absent-image:1, from c->image. */
static void absent_references(const kl_rconf_t *c, char *tag_ref, size_t tag_size, char *image_ref, size_t image_size)
{
    const char *slash = strrchr(c->image, '/');
    const char *colon = strrchr(c->image, ':');
    size_t repository = colon && (!slash || colon > slash) ? (size_t)(colon - c->image) : strlen(c->image);
    snprintf(tag_ref, tag_size, "%.*s:keelson-absent-tag", (int)repository, c->image);
    if (slash)
        snprintf(image_ref, image_size, "%.*s/keelson-absent-image:1", (int)(slash - c->image), c->image);
    else
        snprintf(image_ref, image_size, "keelson-absent-image:1");
}

/* pull() succeeded: 0, or (ABI 1.2) KL_PULL_PRESENT when nothing was fetched. */
static int pulled(int rc)
{
    return rc == KL_PULL_PRESENT ? 0 : rc;
}

void kl_group_pull(kl_rconf_t *c)
{
    static const char *const needs[] = { "pull", NULL };
    if (!kl_rconf_begin(c, "pull", needs))
        return;
    kl_error_t err;
    char tag_ref[600], image_ref[600];
    absent_references(c, tag_ref, sizeof tag_ref, image_ref, sizeof image_ref);
    kl_error_clear(&err);
    kl_tap_call(pulled(c->ops->pull(c->rt, c->image, KL_PULL_IF_NOT_PRESENT, &err)), &err,
                "pull(%s, IfNotPresent)", c->image);
    kl_tap_call(pulled(c->ops->pull(c->rt, c->image, KL_PULL_NEVER, &err)), &err,
                "pull(%s, Never) once present", c->image);
    kl_tap_call(pulled(c->ops->pull(c->rt, c->image, KL_PULL_ALWAYS, &err)), &err, "pull(%s, Always)",
                c->image);
    kl_tap_fails_with(c->ops->pull(c->rt, tag_ref, KL_PULL_ALWAYS, &err), &err, KL_ERR_NOT_FOUND,
                      "pull(%s, Always): an unknown tag is NotFound", tag_ref);
    kl_tap_fails_with(c->ops->pull(c->rt, tag_ref, KL_PULL_IF_NOT_PRESENT, &err), &err, KL_ERR_NOT_FOUND,
                      "pull(%s, IfNotPresent): an unknown tag is NotFound", tag_ref);
    kl_tap_fails_with(c->ops->pull(c->rt, "Not A/valid::reference!", KL_PULL_IF_NOT_PRESENT, &err), &err,
                      KL_ERR_INVALID, "pull() of a malformed reference is Invalid");
    kl_tap_fails_with(c->ops->pull(c->rt, image_ref, KL_PULL_NEVER, &err), &err, KL_ERR_NOT_FOUND,
                      "pull(%s, Never) of an absent image is NotFound", image_ref);
    kl_tap_fails_with(c->ops->pull(c->rt, c->image, (kl_pull_policy_t)42, &err), &err, KL_ERR_INVALID,
                      "pull() with an unknown policy is Invalid");
}

#define MANY 20

void kl_group_many(kl_rconf_t *c)
{
    if (!kl_rconf_begin(c, "many", NULL))
        return;
    static const char *const args[] = { "echo many; exit 0", NULL };
    kl_rconf_spec_t spec = script(args, 500, 0);
    char ids[MANY][KL_CONTAINER_ID_MAX];
    int started = 0, completed = 0, removed = 0, distinct = 1;
    kl_error_t err;
    int64_t begin = kl_rconf_now_ms();
    for (int i = 0; i < MANY; i++) {
        char name[32];
        snprintf(name, sizeof name, "many-%02d", i);
        if (kl_rconf_start(c, name, &spec, ids[started], &err) == 0)
            started++;
        else
            kl_tap_diag("  start of %s: %s", name, err.text);
    }
    kl_tap_is_int(started, MANY, "%d containers start (%lld ms)", MANY, (long long)(kl_rconf_now_ms() - begin));
    for (int i = 0; i < started; i++)
        for (int k = 0; k < i; k++)
            distinct &= strcmp(ids[i], ids[k]) != 0;
    kl_tap_ok(distinct, "their ids are distinct");
    for (int i = 0; i < started; i++) {
        kl_container_status_t st;
        if (kl_rconf_wait(c, ids[i], 0, EXIT_TIMEOUT_MS, &st) == 0 && st.exit_code == 0)
            completed++;
        else
            kl_tap_diag("  %s: %s exit code %d %s %s", ids[i], kl_rconf_state_name(st.state), st.exit_code,
                        st.reason, st.message);
    }
    kl_tap_is_int(completed, started, "all of them complete with exit code 0 (%lld ms)",
                  (long long)(kl_rconf_now_ms() - begin));
    for (int i = 0; i < started; i++) {
        if (kl_rconf_remove(c, ids[i], &err) == 0)
            removed++;
        else
            kl_tap_diag("  remove %s: %s", ids[i], err.text);
    }
    kl_tap_is_int(removed, started, "all of them are removed");
    if (KL_RCONF_HAS(c, list)) {
        found_t items[MANY];
        memset(items, 0, sizeof items);
        for (int i = 0; i < started; i++)
            items[i].id = ids[i];
        found_set_t set = { items, (size_t)started, 0 };
        int left = 0;
        if (kl_tap_call(list_find(c, &set, &err), &err, "list() after the removals")) {
            for (int i = 0; i < started; i++)
                left += items[i].seen;
            kl_tap_is_int(left, 0, "list() reports none of them");
        }
    }
}

#define PARALLEL 8

/* One of the parallel group's threads, doing what a kubelet start worker
 * does: pull, start, then status of what started. */
typedef struct parallel_start {
    const kl_rconf_t *c;
    json_t *pod;
    int pull_rc, start_rc, status_rc;
    kl_error_t pull_err, start_err, status_err;
    char id[KL_CONTAINER_ID_MAX];
    kl_container_status_t status;
} parallel_start_t;

static void *parallel_run(void *arg)
{
    parallel_start_t *p = arg;
    const kl_rconf_t *c = p->c;
    kl_container_request_t request = kl_rconf_request(p->pod);
    kl_error_clear(&p->pull_err);
    p->pull_rc = pulled(c->ops->pull(c->rt, c->image, KL_PULL_IF_NOT_PRESENT, &p->pull_err));
    if (p->pull_rc < 0)
        return NULL;
    kl_error_clear(&p->start_err);
    p->start_rc = c->ops->start(c->rt, &request, p->id, &p->start_err);
    if (p->start_rc < 0)
        return NULL;
    kl_error_clear(&p->status_err);
    p->status_rc = c->ops->status(c->rt, p->id, &p->status, &p->status_err);
    return NULL;
}

static int count_visit(const kl_container_info_t *info, void *arg)
{
    (void)info;
    (*(int *)arg)++;
    return 0;
}

void kl_group_parallel(kl_rconf_t *c)
{
    static const char *const needs[] = { "pull", "concurrent", NULL };
    if (!kl_rconf_begin(c, "parallel", needs))
        return;
    static const char *const args[] = { "echo parallel; exit 0", NULL };
    kl_rconf_spec_t spec = script(args, 300, 0);
    parallel_start_t starts[PARALLEL];
    pthread_t threads[PARALLEL];
    int running[PARALLEL];
    memset(starts, 0, sizeof starts);
    for (int i = 0; i < PARALLEL; i++) {
        char name[32];
        snprintf(name, sizeof name, "par-%02d", i);
        starts[i].c = c;
        starts[i].pod = kl_rconf_pod(c, name, &spec);
        starts[i].pull_rc = starts[i].start_rc = starts[i].status_rc = -1;
    }
    int64_t begin = kl_rconf_now_ms();
    int spawned = 0;
    for (int i = 0; i < PARALLEL; i++) {
        running[i] = starts[i].pod && pthread_create(&threads[i], NULL, parallel_run, &starts[i]) == 0;
        spawned += running[i];
    }
    /* The kubelet's own thread goes on calling the runtime meanwhile. */
    int lists_ok = 0, lists = KL_RCONF_HAS(c, list) ? 3 : 0;
    for (int i = 0; i < lists; i++) {
        int seen = 0;
        kl_error_t err;
        kl_error_clear(&err);
        if (c->ops->list(c->rt, count_visit, &seen, &err) == 0)
            lists_ok++;
        else
            kl_tap_diag("  list() during the starts: %s", err.text);
    }
    for (int i = 0; i < PARALLEL; i++)
        if (running[i])
            pthread_join(threads[i], NULL);
    int64_t took = kl_rconf_now_ms() - begin;
    kl_tap_is_int(spawned, PARALLEL, "%d threads run pull, start and status at once", PARALLEL);
    int pulls = 0, started = 0, statuses = 0, distinct = 1;
    kl_error_t err;
    for (int i = 0; i < PARALLEL; i++) {
        parallel_start_t *p = &starts[i];
        pulls += p->pull_rc == 0;
        if (p->pull_rc < 0)
            kl_tap_diag("  pull %d: %s", i, p->pull_err.text);
        else if (p->start_rc < 0)
            kl_tap_diag("  start %d: %s", i, p->start_err.text);
        if (p->start_rc == 0 && kl_rconf_track(c, p->id, &err) == 0)
            started++;
        if (p->start_rc == 0 && p->status_rc == 0 && p->status.state <= KL_CONTAINER_EXITED)
            statuses++;
        else if (p->start_rc == 0)
            kl_tap_diag("  status %d: %s", i, p->status_rc < 0 ? p->status_err.text : "an unknown state");
        for (int k = 0; k < i; k++)
            distinct &= p->start_rc != 0 || starts[k].start_rc != 0 || strcmp(p->id, starts[k].id) != 0;
    }
    kl_tap_is_int(pulls, PARALLEL, "%d pulls of one image at once succeed", PARALLEL);
    kl_tap_is_int(started, PARALLEL, "%d containers start from %d threads at once (%lld ms)", PARALLEL, PARALLEL,
                  (long long)took);
    kl_tap_ok(distinct, "their ids are distinct");
    kl_tap_is_int(statuses, started, "status() right after each start reports a known state");
    kl_tap_is_int(lists_ok, lists, "list() from another thread meanwhile succeeds");
    int completed = 0;
    for (int i = 0; i < PARALLEL; i++) {
        kl_container_status_t st;
        if (starts[i].start_rc == 0 && kl_rconf_wait(c, starts[i].id, 0, EXIT_TIMEOUT_MS, &st) == 0
            && st.exit_code == 0)
            completed++;
    }
    kl_tap_is_int(completed, started, "all of them complete with exit code 0");
    for (int i = 0; i < PARALLEL; i++)
        json_decref(starts[i].pod);
}

void kl_group_remove(kl_rconf_t *c)
{
    if (!kl_rconf_begin(c, "remove", NULL))
        return;
    static const char *const args[] = { "trap 'exit 143' TERM; echo ready; sleep 100 & wait", NULL };
    kl_rconf_spec_t spec = script(args, -1, 0);
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "removed-running", &spec, id))
        return;
    kl_container_status_t st;
    kl_rconf_wait(c, id, 1, EXIT_TIMEOUT_MS, &st);
    kl_error_t err;
    int64_t begin = kl_rconf_now_ms();
    kl_tap_call(kl_rconf_remove(c, id, &err), &err, "remove() of a running container stops and removes it (%lld ms)",
                (long long)(kl_rconf_now_ms() - begin));
    kl_error_clear(&err);
    kl_tap_fails_with(c->ops->status(c->rt, id, &st, &err), &err, KL_ERR_NOT_FOUND, "status() after remove() is NotFound");
    if (KL_RCONF_HAS(c, logs)) {
        char buf[16];
        size_t got = 0;
        kl_tap_fails_with(c->ops->logs(c->rt, id, 0, buf, sizeof buf, &got, &err), &err, KL_ERR_NOT_FOUND,
                          "logs() after remove() is NotFound");
    }
    kl_tap_fails_with(c->ops->remove(c->rt, id, &err), &err, KL_ERR_NOT_FOUND, "a second remove() is NotFound");
    kl_tap_fails_with(c->ops->stop(c->rt, id, 0, &err), &err, KL_ERR_NOT_FOUND, "stop() after remove() is NotFound");
    if (KL_RCONF_HAS(c, list)) {
        found_t item = { .id = id };
        found_set_t set = { &item, 1, 0 };
        if (kl_tap_call(list_find(c, &set, &err), &err, "list() after remove()"))
            kl_tap_is_int(item.seen, 0, "list() no longer reports it");
    }
}

#define EVENTS_MANY 3
#define EVENT_TIMEOUT_MS 30000  /* start to reported exit; only a failing run waits this long */
#define EVENT_LATENCY_MS 2000   /* recorded finish to reported exit: a sync tick would be slower */

/* The ids a group waits to hear of, and what events_read() reported. */
typedef struct event_watch {
    const char *ids[EVENTS_MANY];
    int seen[EVENTS_MANY];
    int64_t heard_at_ms[EVENTS_MANY];  /* wall clock, to compare with finished_at_ms */
    size_t count;
    int calls, others, bad;
} event_watch_t;

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void event_changed(const char *id, void *arg)
{
    event_watch_t *w = arg;
    w->calls++;
    if (!id || !id[0] || strnlen(id, KL_CONTAINER_ID_MAX) >= KL_CONTAINER_ID_MAX) {
        w->bad++;
        return;
    }
    for (size_t i = 0; i < w->count; i++)
        if (strcmp(id, w->ids[i]) == 0) {
            if (w->seen[i]++ == 0)
                w->heard_at_ms[i] = wall_ms();
            return;
        }
    w->others++;  /* a container of an earlier group, or one not ours: allowed */
}

static int events_read(kl_rconf_t *c, event_watch_t *w, kl_error_t *err)
{
    kl_error_clear(err);
    return c->ops->events_read(c->rt, event_changed, w, err);
}

/* poll()'s revents for `fd` after at most timeout_ms; 0 when nothing. */
static int events_poll(int fd, int timeout_ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n;
    do
        n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    return n > 0 ? p.revents : 0;
}

static size_t events_seen(const event_watch_t *w)
{
    size_t seen = 0;
    for (size_t i = 0; i < w->count; i++)
        seen += w->seen[i] > 0;
    return seen;
}

/* Waits on the fd as the kubelet does and reads what it reports until every
 * watched id was reported or timeout_ms passed. Returns how many were;
 * *wakeups counts the times the fd turned readable. */
static size_t events_wait(kl_rconf_t *c, int fd, event_watch_t *w, int timeout_ms, int *wakeups)
{
    int64_t deadline = kl_rconf_now_ms() + timeout_ms;
    *wakeups = 0;
    while (events_seen(w) < w->count) {
        int64_t left = deadline - kl_rconf_now_ms();
        if (left <= 0)
            break;
        int revents = events_poll(fd, (int)left);
        if (!revents)
            continue;
        /* A descriptor that stays readable after events_read() would spin
         * the kubelet's loop: stop before this one does. */
        if (++*wakeups > 1000) {
            kl_tap_diag("  events_fd stayed readable over %d reads (revents 0x%x)", *wakeups - 1, revents);
            break;
        }
        kl_error_t err;
        if (events_read(c, w, &err) < 0) {
            kl_tap_diag("  events_read() failed: %s", err.text);
            kl_rconf_sleep_ms(50);
        }
    }
    return events_seen(w);
}

/* Drains what is pending and checks events_fd then stays quiet. */
static void events_quiet(kl_rconf_t *c, int fd, const char *when)
{
    event_watch_t none = { .count = 0 };
    kl_error_t err;
    int rc = events_read(c, &none, &err);
    kl_tap_call(rc, &err, "events_read() drains what is pending %s (%d ids)", when, none.calls);
    int revents = events_poll(fd, 0);
    kl_tap_ok(revents == 0, "then events_fd is not readable while nothing happens (revents 0x%x)", revents);
    memset(&none, 0, sizeof none);
    int64_t begin = kl_rconf_now_ms();
    rc = events_read(c, &none, &err);
    int64_t took = kl_rconf_now_ms() - begin;
    kl_tap_ok(rc == 0 && none.calls == 0 && took < 1000,
              "events_read() with nothing pending reports nothing and does not block (%d ids, %lld ms)",
              none.calls, (long long)took);
}

/* After the watched ids were reported, status() must already tell the exit. */
static void events_check_exited(kl_rconf_t *c, const event_watch_t *w, const char *what, int exit_zero)
{
    for (size_t i = 0; i < w->count; i++) {
        if (!w->seen[i])
            continue;
        kl_container_status_t st;
        kl_error_t err;
        memset(&st, 0, sizeof st);
        kl_error_clear(&err);
        int rc = c->ops->status(c->rt, w->ids[i], &st, &err);
        if (!kl_tap_ok(rc == 0 && st.state == KL_CONTAINER_EXITED,
                       "%s %zu: status() says EXITED once its id is reported (%s)", what, i,
                       rc == 0 ? kl_rconf_state_name(st.state) : err.text))
            continue;
        if (exit_zero)
            kl_tap_is_int(st.exit_code, 0, "%s %zu: exit code 0", what, i);
        else
            kl_tap_ok(st.exit_code != 0, "%s %zu: a non-zero exit code (%d, %s)", what, i, st.exit_code, st.reason);
        if (st.finished_at_ms > 0)
            kl_tap_ok(w->heard_at_ms[i] - st.finished_at_ms < EVENT_LATENCY_MS,
                      "%s %zu: reported %lld ms after its recorded finish (under %d)", what, i,
                      (long long)(w->heard_at_ms[i] - st.finished_at_ms), EVENT_LATENCY_MS);
    }
}

void kl_group_events(kl_rconf_t *c)
{
    static const char *const needs[] = { "events", NULL };
    if (!kl_rconf_begin(c, "events", needs))
        return;
    int fd = c->ops->events_fd(c->rt);
    if (fd < 0) {
        kl_tap_skip("events: events_fd() returns -1: this instance reports exits through status() alone");
        return;
    }
    /* Containers earlier groups removed may still be reporting their exit. */
    kl_rconf_sleep_ms(200);
    events_quiet(c, fd, "before the group starts");

    static const char *const args[] = { "sleep 0.2", NULL };
    kl_rconf_spec_t spec = script(args, 200, 0);
    char id[KL_CONTAINER_ID_MAX];
    if (!start_ok(c, "reports-exit", &spec, id))
        return;
    event_watch_t one = { .ids = { id }, .count = 1 };
    int64_t begin = kl_rconf_now_ms();
    int wakeups = 0;
    size_t seen = events_wait(c, fd, &one, EVENT_TIMEOUT_MS, &wakeups);
    kl_tap_ok(wakeups > 0, "events_fd turns readable when the container exits");
    kl_tap_ok(seen == 1, "events_read() reports its id (%lld ms after start(), %d wakeups)",
              (long long)(kl_rconf_now_ms() - begin), wakeups);
    kl_tap_is_int(one.bad, 0, "every id reported is non-empty and shorter than KL_CONTAINER_ID_MAX");
    events_check_exited(c, &one, "reports-exit", 1);
    events_quiet(c, fd, "after the exit");

    /* Close together, so one read may hold several lines. */
    char ids[EVENTS_MANY][KL_CONTAINER_ID_MAX];
    event_watch_t many = { .count = 0 };
    for (int i = 0; i < EVENTS_MANY; i++) {
        char name[32];
        snprintf(name, sizeof name, "reports-exit-%d", i);
        if (start_ok(c, name, &spec, ids[many.count])) {
            many.ids[many.count] = ids[many.count];
            many.count++;
        }
    }
    begin = kl_rconf_now_ms();
    seen = events_wait(c, fd, &many, EVENT_TIMEOUT_MS, &wakeups);
    kl_tap_ok(seen == EVENTS_MANY, "every one of %d exits is reported (%zu, %lld ms, %d wakeups)", EVENTS_MANY, seen,
              (long long)(kl_rconf_now_ms() - begin), wakeups);
    for (size_t i = 0; i < many.count; i++)
        if (many.seen[i] != 1)
            kl_tap_diag("  %s reported %d times", many.ids[i], many.seen[i]);
    events_check_exited(c, &many, "reports-exit-N", 1);

    /* A process that cannot run ends the container as an exit does. */
    static const char *const missing[] = { "/keelson-no-such-program", NULL };
    kl_rconf_spec_t broken = { .command = missing, .sim_run_ms = 100, .sim_exit_code = 127 };
    kl_error_t err;
    if (kl_rconf_start(c, "cannot-run", &broken, id, &err) < 0) {
        kl_tap_skip("events: start() refused a missing program at once (%s): no exit to report", err.text);
    } else {
        event_watch_t failed = { .ids = { id }, .count = 1 };
        seen = events_wait(c, fd, &failed, EVENT_TIMEOUT_MS, &wakeups);
        kl_tap_ok(seen == 1, "a container whose program cannot run is reported too");
        events_check_exited(c, &failed, "cannot-run", 0);
    }
    events_quiet(c, fd, "at the end");
}
