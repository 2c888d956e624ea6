/* The deployment controller: one ReplicaSet per pod template (named by the
 * template's hash), rolled from old to new by RollingUpdate or Recreate.
 * This file runs it: settings, informers, the work queue and the reconcile
 * pass of one Deployment, whose steps are in replicasets.c, rollout.c and
 * status.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <keelson/controller.h>

#include "deployment.h"

#define DP_POLL_MS 50
#define DP_EXPECTATION_MS 10000
#define DP_WARN_AFTER 3

static const kl_setting_spec_t dp_settings[] = {
    {"resync_ms", KL_SETTING_INT, 0, "milliseconds between full reconciles of every Deployment (default 30000)"},
    KL_SETTINGS_END};

/* ---- helpers ------------------------------------------------------------ */

static int64_t now_ms(const dp_controller_t *self)
{
    return self->host->monotonic_ms(self->host);
}

/* ---- informer handlers ---------------------------------------------------- */

typedef struct match_visit {
    dp_controller_t *self;
    const json_t *rs;
} match_visit_t;

static int queue_matching_deployment(const json_t *deployment, void *arg)
{
    match_visit_t *visit = arg;
    const char *ns = kl_object_meta(visit->rs, "namespace");
    const char *dns = kl_object_meta(deployment, "namespace");
    const json_t *match = json_object_get(json_object_get(json_object_get(deployment, "spec"), "selector"),
                                          "matchLabels");
    if (ns && dns && strcmp(ns, dns) == 0
        && kl_labels_match(match, json_object_get(json_object_get(visit->rs, "metadata"), "labels"))) {
        char key[600];
        kl_workqueue_add(visit->self->queue, kl_object_key(deployment, key, sizeof key),
                         now_ms(visit->self), 0);
    }
    return 0;
}

static void on_set(const char *type, const json_t *rs, void *arg)
{
    dp_controller_t *self = arg;
    (void)type;
    if (kl_object_revision(rs) > self->observed_set_rv)
        self->observed_set_rv = kl_object_revision(rs);
    const json_t *ref = kl_object_controller_ref(rs);
    if (ref) {
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *ns = kl_object_meta(rs, "namespace");
        if (kind && name && ns && strcmp(kind, "Deployment") == 0) {
            char key[600];
            snprintf(key, sizeof key, "%s/%s", ns, name);
            kl_workqueue_add(self->queue, key, now_ms(self), 0);
        }
        return;
    }
    match_visit_t visit = {self, rs};
    kl_informer_each(self->deployments, queue_matching_deployment, &visit);
}

static void on_deployment(const char *type, const json_t *deployment, void *arg)
{
    dp_controller_t *self = arg;
    char key[600];
    kl_object_key(deployment, key, sizeof key);
    if (strcmp(type, "DELETED") == 0) {
        json_object_del(self->expectations, key);
        json_object_del(self->failures, key);
        return;
    }
    kl_workqueue_add(self->queue, key, now_ms(self), 0);
}

static int queue_every_deployment(const json_t *deployment, void *arg)
{
    dp_controller_t *self = arg;
    char key[600];
    kl_workqueue_add(self->queue, kl_object_key(deployment, key, sizeof key), now_ms(self), 0);
    return 0;
}

/* ---- reconcile -------------------------------------------------------------- */

static int reconcile(dp_controller_t *self, const char *key, kl_error_t *err)
{
    char ns[256], name[320];
    kl_object_key_split(key, ns, sizeof ns, name, sizeof name);
    const json_t *deployment = kl_informer_get(self->deployments, ns, name);
    if (!deployment)
        return 0;
    int64_t now = now_ms(self);
    json_t *expectation = json_object_get(self->expectations, key);
    if (expectation) {
        if (self->observed_set_rv < json_integer_value(json_object_get(expectation, "rv"))
            && now < json_integer_value(json_object_get(expectation, "deadline"))) {
            kl_workqueue_add(self->queue, key, now, DP_POLL_MS * 2);
            return 0;
        }
        json_object_del(self->expectations, key);
    }
    const json_t *spec = json_object_get(deployment, "spec");
    const char *uid = kl_object_meta(deployment, "uid");
    if (!uid || !json_is_object(json_object_get(spec, "template")))
        return kl_error_set(err, KL_ERR_INVALID, "Deployment %s has no uid or template", key);
    dp_pass_t p = {self, deployment, ns, uid, 0, json_array(), json_array()};
    kl_informer_each(self->sets, deployment_collect_set, &p);
    int rc = 0;
    size_t i;
    json_t *rs;
    /* A set changed or gone meanwhile, or its Deployment being deleted, is
     * no failure of this pass. */
    json_array_foreach(p.orphans, i, rs)
        if (deployment_adopt_set(&p, rs, err) < 0 && err->code != KL_ERR_CONFLICT
            && err->code != KL_ERR_NOT_FOUND)
            rc = -1;
    json_t *new_set = NULL;
    int64_t replicas = 0, max_unavailable = 0;
    if (rc == 0)
        rc = deployment_rollout(&p, &new_set, &replicas, &max_unavailable, err);
    if (rc == 0) {
        kl_error_t serr = {0, ""};
        if (deployment_write_status(&p, new_set, replicas, max_unavailable, &serr) < 0) {
            if (serr.code == KL_ERR_CONFLICT)
                kl_workqueue_add(self->queue, key, now, DP_POLL_MS * 2);
            else {
                *err = serr;
                rc = -1;
            }
        }
    }
    if (p.written_rv > 0)
        json_object_set_new(self->expectations, key,
                            json_pack("{s:I, s:I}", "rv", (json_int_t)p.written_rv, "deadline",
                                      (json_int_t)(now + DP_EXPECTATION_MS)));
    json_decref(p.owned);
    json_decref(p.orphans);
    return rc;
}

/* ---- plugin entry points ------------------------------------------------------ */

static void dp_close(void *controller)
{
    dp_controller_t *self = controller;
    if (!self)
        return;
    kl_informer_destroy(&self->deployments);
    kl_informer_destroy(&self->sets);
    kl_workqueue_destroy(&self->queue);
    json_decref(self->expectations);
    json_decref(self->failures);
    free(self);
}

static void *dp_open(const kl_host_t *host, kl_error_t *err)
{
    long long resync = host->setting_int(host, "resync_ms", 30000);
    if (resync < 100 || resync > 86400000) {
        kl_error_set(err, KL_ERR_INVALID, "setting resync_ms %lld must be between 100 and 86400000",
                     resync);
        return NULL;
    }
    dp_controller_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the deployment controller");
        return NULL;
    }
    self->host = host;
    self->resync_ms = resync;
    self->expectations = json_object();
    self->failures = json_object();
    self->deployments = kl_informer_new(host, "Deployment", NULL, NULL, err);
    self->sets = self->deployments ? kl_informer_new(host, "ReplicaSet", NULL, NULL, err) : NULL;
    self->queue = kl_workqueue_new(100, 30000);
    if (!self->deployments || !self->sets || !self->queue) {
        if (self->deployments && self->sets)
            kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the deployment work queue");
        dp_close(self);
        return NULL;
    }
    kl_informer_set_handler(self->deployments, on_deployment, self);
    kl_informer_set_handler(self->sets, on_set, self);
    return self;
}

static void note_failure(dp_controller_t *self, const char *key, const kl_error_t *err)
{
    json_int_t count = json_integer_value(json_object_get(self->failures, key)) + 1;
    json_object_set_new(self->failures, key, json_integer(count));
    int64_t delay = kl_workqueue_retry(self->queue, key, now_ms(self));
    self->host->log(self->host, count >= DP_WARN_AFTER ? KL_LOG_WARN : KL_LOG_INFO,
                    "Deployment %s: %s (attempt %lld, retry in %lld ms)", key, err->text, (long long)count,
                    (long long)delay);
    if (count == DP_WARN_AFTER || (count > DP_WARN_AFTER && count % 10 == 0)) {
        char ns[256], name[320];
        kl_object_key_split(key, ns, sizeof ns, name, sizeof name);
        const json_t *deployment = kl_informer_get(self->deployments, ns, name);
        if (deployment)
            kl_event_record(self->host, deployment, "Warning", "FailedSync", "%s", err->text);
    }
}

static int dp_run(void *controller, kl_error_t *err)
{
    dp_controller_t *self = controller;
    (void)err;
    kl_informer_t *informers[2] = {self->deployments, self->sets};
    int64_t next_resync = 0;
    while (!self->host->stopping(self->host)) {
        int wait = kl_workqueue_wait_ms(self->queue, now_ms(self)) == 0 ? 0 : DP_POLL_MS;
        for (int k = 0; k < 2; k++) {
            if (now_ms(self) < self->quiet_until[k]) {
                usleep(20000);
                continue;
            }
            kl_error_t perr = {0, ""};
            if (kl_informer_poll(informers[k], wait, &perr) < 0) {
                self->host->log(self->host, KL_LOG_WARN, "watch failed, retrying in 1 s: %s", perr.text);
                self->quiet_until[k] = now_ms(self) + 1000;
            }
        }
        if (!kl_informer_synced(self->deployments) || !kl_informer_synced(self->sets))
            continue;
        int64_t now = now_ms(self);
        if (now >= next_resync) {
            kl_informer_each(self->deployments, queue_every_deployment, self);
            next_resync = now + self->resync_ms;
        }
        char *key;
        int64_t until = now + 200;
        while (now_ms(self) < until && !self->host->stopping(self->host)
               && (key = kl_workqueue_pop(self->queue, now_ms(self)))) {
            kl_error_t rerr = {0, ""};
            if (reconcile(self, key, &rerr) < 0) {
                note_failure(self, key, &rerr);
            } else {
                kl_workqueue_forget(self->queue, key);
                json_object_del(self->failures, key);
            }
            free(key);
        }
    }
    return 0;
}

static const kl_controller_ops_t dp_ops = {
    .open = dp_open,
    .close = dp_close,
    .run = dp_run,
};

KL_CONTROLLER_PLUGIN("deployment", "0.1.0", "rolls Deployments out through one ReplicaSet per pod template",
                     dp_settings, dp_ops);
