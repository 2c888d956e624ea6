/* The replicaset controller: keeps spec.replicas pods matching each
 * ReplicaSet's selector, owned by it, and reports their count in its status.
 * This file runs it: settings, informers, the work queue and the reconcile
 * pass of one ReplicaSet, whose steps are in ownership.c, pods.c and
 * status.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <keelson/controller.h>
#include <keelson/kit.h>

#include "replicaset.h"

#define RS_POLL_MS 50
/* Writes made by one pass must be seen by the pod informer before the next
 * pass trusts its cache; after this long the cache is trusted anyway. */
#define RS_EXPECTATION_MS 10000
/* Bounds the writes of one pass so one big ReplicaSet cannot starve others. */
#define RS_BURST 200
#define RS_WARN_AFTER 3

static const kl_setting_spec_t rs_settings[] = {
    {"resync_ms", KL_SETTING_INT, 0, "milliseconds between full reconciles of every ReplicaSet (default 30000)"},
    KL_SETTINGS_END};

static int64_t replicas_of(const json_t *rs)
{
    const json_t *replicas = json_object_get(json_object_get(rs, "spec"), "replicas");
    return json_is_integer(replicas) ? json_integer_value(replicas) : 1;
}

static int64_t now_ms(const rs_controller_t *self)
{
    return self->host->monotonic_ms(self->host);
}

/* ---- informer handlers: every change queues the ReplicaSet it concerns --- */

typedef struct orphan_visit {
    rs_controller_t *self;
    const json_t *pod;
} orphan_visit_t;

static int queue_matching_set(const json_t *rs, void *arg)
{
    orphan_visit_t *visit = arg;
    const char *ns = kl_object_meta(visit->pod, "namespace");
    const char *rs_ns = kl_object_meta(rs, "namespace");
    if (!ns || !rs_ns || strcmp(ns, rs_ns) != 0)
        return 0;
    const json_t *selector = json_object_get(json_object_get(rs, "spec"), "selector");
    if (kl_labels_match(json_object_get(selector, "matchLabels"),
                     json_object_get(json_object_get(visit->pod, "metadata"), "labels"))) {
        char key[600];
        kl_workqueue_add(visit->self->queue, kl_object_key(rs, key, sizeof key), now_ms(visit->self), 0);
    }
    return 0;
}

static void on_pod(const char *type, const json_t *pod, void *arg)
{
    rs_controller_t *self = arg;
    (void)type;
    int64_t rv = kl_object_revision(pod);
    if (rv > self->observed_pod_rv)
        self->observed_pod_rv = rv;
    const json_t *ref = kl_object_controller_ref(pod);
    if (ref) {
        const char *kind = json_string_value(json_object_get(ref, "kind"));
        const char *name = json_string_value(json_object_get(ref, "name"));
        const char *ns = kl_object_meta(pod, "namespace");
        if (kind && name && ns && strcmp(kind, "ReplicaSet") == 0) {
            char key[600];
            snprintf(key, sizeof key, "%s/%s", ns, name);
            kl_workqueue_add(self->queue, key, now_ms(self), 0);
        }
        return;
    }
    /* An orphan may be adopted by any ReplicaSet whose selector it matches. */
    orphan_visit_t visit = {self, pod};
    kl_informer_each(self->sets, queue_matching_set, &visit);
}

static void on_set(const char *type, const json_t *rs, void *arg)
{
    rs_controller_t *self = arg;
    char key[600];
    kl_object_key(rs, key, sizeof key);
    if (strcmp(type, "DELETED") == 0) {
        json_object_del(self->expectations, key);
        json_object_del(self->failures, key);
        return;  /* its pods are the gc controller's to collect */
    }
    kl_workqueue_add(self->queue, key, now_ms(self), 0);
}

static int queue_every_set(const json_t *rs, void *arg)
{
    rs_controller_t *self = arg;
    char key[600];
    kl_workqueue_add(self->queue, kl_object_key(rs, key, sizeof key), now_ms(self), 0);
    return 0;
}

/* ---- reconcile ------------------------------------------------------- */

/* Brief list of names for an event message. */
static void append_name(char *buf, size_t size, const char *name)
{
    size_t used = strlen(buf);
    if (used + 1 >= size)
        return;
    snprintf(buf + used, size - used, "%s%s", used ? ", " : "", name ? name : "?");
}

static int reconcile(rs_controller_t *self, const char *key, kl_error_t *err)
{
    char ns[256], name[320];
    kl_object_key_split(key, ns, sizeof ns, name, sizeof name);
    const json_t *rs = kl_informer_get(self->sets, ns, name);
    if (!rs)
        return 0;  /* deleted: the gc controller collects its pods */
    int64_t now = now_ms(self);
    json_t *expectation = json_object_get(self->expectations, key);
    if (expectation) {
        int64_t rv = json_integer_value(json_object_get(expectation, "rv"));
        int64_t deadline = json_integer_value(json_object_get(expectation, "deadline"));
        if (self->observed_pod_rv < rv && now < deadline) {
            kl_workqueue_add(self->queue, key, now, RS_POLL_MS * 2);
            return 0;  /* our own last writes are not in the cache yet */
        }
        json_object_del(self->expectations, key);
    }
    const char *uid = kl_object_meta(rs, "uid");
    const json_t *match = json_object_get(json_object_get(json_object_get(rs, "spec"), "selector"),
                                          "matchLabels");
    if (!uid || !json_is_object(match))
        return kl_error_set(err, KL_ERR_INVALID, "ReplicaSet %s has no uid or selector", key);
    rs_pod_sets_t sets = {rs, uid, ns, match, json_array(), json_array(), json_array()};
    kl_informer_each(self->pods, replicaset_sort_pods, &sets);
    int64_t written_rv = 0;
    int failed = 0, writes = 0;
    size_t i;
    json_t *pod;
    json_array_foreach(sets.released, i, pod)
        if (replicaset_release(self, &sets, pod, &written_rv, err) < 0)
            failed = 1;
    json_array_foreach(sets.orphans, i, pod) {
        kl_error_t aerr = {0, ""};
        json_t *adopted = replicaset_adopt(self, &sets, pod, &aerr);
        if (adopted) {
            if (kl_object_revision(adopted) > written_rv)
                written_rv = kl_object_revision(adopted);
            json_array_append_new(sets.owned, adopted);
        } else if (aerr.code != KL_ERR_CONFLICT && aerr.code != KL_ERR_NOT_FOUND) {
            *err = aerr;
            failed = 1;
        }
    }
    /* Ended pods are replaced: a pod never restarts once Succeeded or Failed. */
    json_t *active = json_array();
    char deleted_names[400] = "", created_names[400] = "";
    json_array_foreach(sets.owned, i, pod) {
        if (json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"))
            continue;
        if (replicaset_pod_terminated(pod)) {
            if (writes < RS_BURST
                && replicaset_delete_pod(self, ns, kl_object_meta(pod, "name"), &written_rv, err) < 0)
                failed = 1;
            writes++;
            continue;
        }
        json_array_append(active, pod);
    }
    int64_t want = replicas_of(rs);
    int64_t have = (int64_t)json_array_size(active);
    int created = 0, deleted = 0;
    if (have < want) {
        for (int64_t n = have; n < want && writes < RS_BURST; n++, writes++) {
            kl_error_t cerr = {0, ""};
            json_t *reply = replicaset_create_pod(self, &sets, &cerr);
            if (!reply) {
                *err = cerr;
                failed = 1;
                break;  /* the same template will fail again: back off */
            }
            if (kl_object_revision(reply) > written_rv)
                written_rv = kl_object_revision(reply);
            append_name(created_names, sizeof created_names, kl_object_meta(reply, "name"));
            created++;
            json_decref(reply);
        }
    } else if (have > want) {
        size_t count = json_array_size(active);
        const json_t **order = calloc(count, sizeof *order);
        for (i = 0; order && i < count; i++)
            order[i] = json_array_get(active, i);
        if (order)
            qsort(order, count, sizeof *order, replicaset_compare_for_delete);
        for (int64_t n = 0; order && n < have - want && writes < RS_BURST; n++, writes++) {
            const char *pod_name = kl_object_meta(order[n], "name");
            if (replicaset_delete_pod(self, ns, pod_name, &written_rv, err) < 0) {
                failed = 1;
                continue;
            }
            append_name(deleted_names, sizeof deleted_names, pod_name);
            deleted++;
        }
        free(order);
    }
    if (created)
        kl_event_record(self->host, rs, "Normal", "SuccessfulCreate", "Created %d pod%s: %s", created,
                        created == 1 ? "" : "s", created_names);
    if (deleted)
        kl_event_record(self->host, rs, "Normal", "SuccessfulDelete", "Deleted %d pod%s: %s", deleted,
                        deleted == 1 ? "" : "s", deleted_names);
    if (written_rv > 0)
        json_object_set_new(self->expectations, key,
                            json_pack("{s:I, s:I}", "rv", (json_int_t)written_rv, "deadline",
                                      (json_int_t)(now + RS_EXPECTATION_MS)));
    if (writes >= RS_BURST)
        kl_workqueue_add(self->queue, key, now, RS_POLL_MS);
    kl_error_t serr = {0, ""};
    if (replicaset_update_status(self, rs, sets.owned, &serr) < 0 && serr.code != KL_ERR_CONFLICT
        && !failed) {
        *err = serr;
        failed = 1;
    } else if (serr.code == KL_ERR_CONFLICT) {
        kl_workqueue_add(self->queue, key, now, RS_POLL_MS * 2);  /* a newer RS is on its way */
    }
    json_decref(active);
    json_decref(sets.owned);
    json_decref(sets.orphans);
    json_decref(sets.released);
    return failed ? -1 : 0;
}

/* ---- plugin entry points ----------------------------------------------- */

static void *rs_open(const kl_host_t *host, kl_error_t *err)
{
    long long resync = host->setting_int(host, "resync_ms", 30000);
    if (resync < 100 || resync > 86400000) {
        kl_error_set(err, KL_ERR_INVALID, "setting resync_ms %lld must be between 100 and 86400000",
                     resync);
        return NULL;
    }
    rs_controller_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the replicaset controller");
        return NULL;
    }
    self->host = host;
    self->resync_ms = resync;
    self->random_state = (uint64_t)host->realtime_ms(host) * 2654435761u ^ (uint64_t)getpid() ^
                         (uint64_t)(uintptr_t)self;
    if (!self->random_state)
        self->random_state = 88172645463325252ull;
    self->sets = kl_informer_new(host, "ReplicaSet", NULL, NULL, err);
    self->pods = self->sets ? kl_informer_new(host, "Pod", NULL, NULL, err) : NULL;
    self->queue = kl_workqueue_new(100, 30000);
    self->expectations = json_object();
    self->failures = json_object();
    if (!self->sets || !self->pods || !self->queue) {
        if (self->sets && self->pods)
            kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the replicaset work queue");
        kl_informer_destroy(&self->sets);
        kl_informer_destroy(&self->pods);
        kl_workqueue_destroy(&self->queue);
        json_decref(self->expectations);
        json_decref(self->failures);
        free(self);
        return NULL;
    }
    kl_informer_set_handler(self->sets, on_set, self);
    kl_informer_set_handler(self->pods, on_pod, self);
    return self;
}

static void rs_close(void *controller)
{
    rs_controller_t *self = controller;
    if (!self)
        return;
    kl_informer_destroy(&self->sets);
    kl_informer_destroy(&self->pods);
    kl_workqueue_destroy(&self->queue);
    json_decref(self->expectations);
    json_decref(self->failures);
    free(self);
}

static void note_failure(rs_controller_t *self, const char *key, const kl_error_t *err)
{
    json_int_t count = json_integer_value(json_object_get(self->failures, key)) + 1;
    json_object_set_new(self->failures, key, json_integer(count));
    int64_t delay = kl_workqueue_retry(self->queue, key, now_ms(self));
    self->host->log(self->host, count >= RS_WARN_AFTER ? KL_LOG_WARN : KL_LOG_INFO,
                    "ReplicaSet %s: %s (attempt %lld, retry in %lld ms)", key, err->text,
                    (long long)count, (long long)delay);
    if (count == RS_WARN_AFTER || (count > RS_WARN_AFTER && count % 10 == 0)) {
        char ns[256], name[320];
        kl_object_key_split(key, ns, sizeof ns, name, sizeof name);
        const json_t *rs = kl_informer_get(self->sets, ns, name);
        if (rs)
            kl_event_record(self->host, rs, "Warning", "FailedSync", "%s", err->text);
    }
}

/* Polls one informer; a failing API is retried after a pause, not at once. */
static void poll_informer(rs_controller_t *self, kl_informer_t *informer, int wait_ms,
                          int64_t *quiet_until)
{
    if (now_ms(self) < *quiet_until) {
        usleep(20000);
        return;
    }
    kl_error_t err = {0, ""};
    if (kl_informer_poll(informer, wait_ms, &err) < 0) {
        self->host->log(self->host, KL_LOG_WARN, "watch failed, retrying in 1 s: %s", err.text);
        *quiet_until = now_ms(self) + 1000;
    }
}

static int rs_run(void *controller, kl_error_t *err)
{
    rs_controller_t *self = controller;
    (void)err;
    int64_t next_resync = 0, quiet_sets = 0, quiet_pods = 0;
    while (!self->host->stopping(self->host)) {
        int64_t due = kl_workqueue_wait_ms(self->queue, now_ms(self));
        int wait = due == 0 ? 0 : RS_POLL_MS;
        poll_informer(self, self->sets, wait, &quiet_sets);
        poll_informer(self, self->pods, wait, &quiet_pods);
        if (!kl_informer_synced(self->sets) || !kl_informer_synced(self->pods))
            continue;
        int64_t now = now_ms(self);
        if (now >= next_resync) {
            kl_informer_each(self->sets, queue_every_set, self);
            next_resync = now + self->resync_ms;
        }
        char *key;
        int64_t until = now + 200;  /* then watch again so the cache stays fresh */
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

static const kl_controller_ops_t rs_ops = {
    .open = rs_open,
    .close = rs_close,
    .run = rs_run,
};

KL_CONTROLLER_PLUGIN("replicaset", "0.1.0", "keeps the pods of each ReplicaSet at spec.replicas",
                     rs_settings, rs_ops);
