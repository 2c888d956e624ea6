/* The garbage collector: deletes pods and ReplicaSets whose owners (by uid)
 * are gone, the Background half of cascading deletion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <keelson/controller.h>
#include <keelson/kit.h>

#define GC_POLL_MS 50
#define GC_REQUEST_MS 5000
#define GC_WARN_AFTER 3

/* Dependent kinds, each with an informer; owners are looked up by uid in
 * every informer's cache and confirmed with api.get before any delete. */
static const char *const gc_kinds[] = {"Pod", "ReplicaSet", "Deployment"};
#define GC_KINDS 3
#define GC_DEPENDENT_KINDS 2  /* the first two may have owners */

typedef struct gc_controller gc_controller_t;

/* Tells a shared handler which informer called it. */
typedef struct handler_arg {
    gc_controller_t *self;
    int index;
} handler_arg_t;

struct gc_controller {
    const kl_host_t *host;
    handler_arg_t handlers[GC_KINDS];
    kl_informer_t *informers[GC_KINDS];
    int64_t quiet_until[GC_KINDS];
    kl_workqueue_t *queue;  /* keys "Kind/namespace/name" */
    json_t *failures;
    int64_t resync_ms;
};

static const kl_setting_spec_t gc_settings[] = {
    {"resync_ms", KL_SETTING_INT, 0, "milliseconds between full scans for orphaned dependents (default 30000)"},
    KL_SETTINGS_END};

static int64_t now_ms(const gc_controller_t *self)
{
    return self->host->monotonic_ms(self->host);
}

static void queue_dependent(gc_controller_t *self, const char *kind, const json_t *object, int64_t delay)
{
    const json_t *refs = json_object_get(json_object_get(object, "metadata"), "ownerReferences");
    if (json_array_size(refs) == 0)
        return;  /* never touch what nothing owns */
    char key[700];
    snprintf(key, sizeof key, "%s/%s/%s", kind, kl_object_meta(object, "namespace") ? kl_object_meta(object, "namespace") : "",
             kl_object_meta(object, "name") ? kl_object_meta(object, "name") : "");
    kl_workqueue_add(self->queue, key, now_ms(self), delay);
}

typedef struct owner_gone {
    gc_controller_t *self;
    const char *kind;
    const char *uid;
} owner_gone_t;

static int queue_if_owned_by(const json_t *object, void *arg)
{
    owner_gone_t *gone = arg;
    const json_t *refs = json_object_get(json_object_get(object, "metadata"), "ownerReferences");
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (uid && strcmp(uid, gone->uid) == 0) {
            queue_dependent(gone->self, gone->kind, object, 0);
            break;
        }
    }
    return 0;
}

static void on_change(const char *type, const json_t *object, void *arg)
{
    handler_arg_t *h = arg;
    gc_controller_t *self = h->self;
    if (h->index < GC_DEPENDENT_KINDS && strcmp(type, "DELETED") != 0)
        queue_dependent(self, gc_kinds[h->index], object, 0);
    if (strcmp(type, "DELETED") == 0 && kl_object_meta(object, "uid")) {
        /* An owner went away: look at whatever referenced it. */
        for (int k = 0; k < GC_DEPENDENT_KINDS; k++) {
            owner_gone_t gone = {self, gc_kinds[k], kl_object_meta(object, "uid")};
            kl_informer_each(self->informers[k], queue_if_owned_by, &gone);
        }
    }
}

typedef struct resync_arg {
    gc_controller_t *self;
    const char *kind;
} resync_arg_t;

static int queue_all(const json_t *object, void *arg)
{
    resync_arg_t *r = arg;
    queue_dependent(r->self, r->kind, object, 0);
    return 0;
}

static json_t *api_get(gc_controller_t *self, const char *kind, const char *ns, const char *name,
                       kl_error_t *err)
{
    json_t *payload = json_pack("{s:s, s:s}", "kind", kind, "name", name);
    if (ns && *ns)
        json_object_set_new(payload, "namespace", json_string(ns));
    json_t *reply = self->host->request(self->host, "api.get", payload, GC_REQUEST_MS, err);
    json_decref(payload);
    return reply;
}

/* 1 when the owner named by `ref` is gone (absent, or replaced by another
 * object of the same name), 0 when it exists, -1 when we cannot tell. */
static int owner_absent(gc_controller_t *self, const json_t *ref, const char *ns, kl_error_t *err)
{
    const char *kind = json_string_value(json_object_get(ref, "kind"));
    const char *name = json_string_value(json_object_get(ref, "name"));
    const char *uid = json_string_value(json_object_get(ref, "uid"));
    if (!kind || !name || !uid)
        return 0;  /* malformed references are the API's to refuse, not ours to act on */
    if (strcmp(kind, "Node") == 0)
        ns = NULL;
    kl_error_t gerr = {0, ""};
    json_t *owner = api_get(self, kind, ns, name, &gerr);
    if (!owner) {
        if (gerr.code == KL_ERR_NOT_FOUND)
            return 1;
        *err = gerr;
        return -1;
    }
    const char *have = kl_object_meta(owner, "uid");
    int absent = !have || strcmp(have, uid) != 0;
    json_decref(owner);
    return absent;
}

static int collect(gc_controller_t *self, const char *key, kl_error_t *err)
{
    char kind[32], ns[256], name[320];
    const char *first = strchr(key, '/');
    const char *second = first ? strchr(first + 1, '/') : NULL;
    if (!first || !second || (size_t)(first - key) >= sizeof kind)
        return 0;
    snprintf(kind, sizeof kind, "%.*s", (int)(first - key), key);
    snprintf(ns, sizeof ns, "%.*s", (int)(second - first - 1), first + 1);
    snprintf(name, sizeof name, "%s", second + 1);
    kl_error_t gerr = {0, ""};
    json_t *object = api_get(self, kind, ns, name, &gerr);
    if (!object) {
        if (gerr.code == KL_ERR_NOT_FOUND)
            return 0;
        *err = gerr;
        return -1;
    }
    json_t *refs = json_object_get(json_object_get(object, "metadata"), "ownerReferences");
    size_t count = json_array_size(refs), absent = 0;
    int unknown = 0;
    json_t *keep = json_array();
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref) {
        int gone = owner_absent(self, ref, ns, err);
        if (gone < 0)
            unknown = 1;
        if (gone == 1)
            absent++;
        else
            json_array_append(keep, ref);
    }
    int rc = 0;
    if (count == 0 || absent == 0 || unknown) {
        rc = unknown ? -1 : 0;
    } else if (absent == count) {
        /* Deleted against the revision read, so a dependent adopted in the
         * meantime survives. */
        json_t *payload = json_pack("{s:s, s:s, s:s, s:s}", "kind", kind, "namespace", ns, "name", name,
                                    "resourceVersion", kl_object_meta(object, "resourceVersion")
                                        ? kl_object_meta(object, "resourceVersion") : "0");
        json_t *reply = self->host->request(self->host, "api.delete", payload, GC_REQUEST_MS, err);
        json_decref(payload);
        if (reply) {
            self->host->log(self->host, KL_LOG_INFO, "deleted %s %s/%s: its owner is gone", kind, ns, name);
            json_decref(reply);
        } else if (err->code == KL_ERR_NOT_FOUND) {
            rc = 0;
        } else {
            rc = -1;
        }
    } else {
        /* Some owners remain: only the dangling references go. */
        json_object_set(json_object_get(object, "metadata"), "ownerReferences", keep);
        json_t *payload = json_pack("{s:O}", "object", object);
        json_t *reply = self->host->request(self->host, "api.update", payload, GC_REQUEST_MS, err);
        json_decref(payload);
        if (reply)
            json_decref(reply);
        else if (err->code != KL_ERR_NOT_FOUND)
            rc = -1;
    }
    json_decref(keep);
    json_decref(object);
    return rc;
}

static void gc_close(void *controller);

static void *gc_open(const kl_host_t *host, kl_error_t *err)
{
    long long resync = host->setting_int(host, "resync_ms", 30000);
    if (resync < 100 || resync > 86400000) {
        kl_error_set(err, KL_ERR_INVALID, "setting resync_ms %lld must be between 100 and 86400000",
                     resync);
        return NULL;
    }
    gc_controller_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the gc controller");
        return NULL;
    }
    self->host = host;
    self->resync_ms = resync;
    self->failures = json_object();
    self->queue = kl_workqueue_new(200, 30000);
    for (int k = 0; k < GC_KINDS; k++) {
        self->informers[k] = kl_informer_new(host, gc_kinds[k], NULL, NULL, err);
        if (!self->informers[k]) {
            gc_close(self);
            return NULL;
        }
        self->handlers[k] = (handler_arg_t){self, k};
        kl_informer_set_handler(self->informers[k], on_change, &self->handlers[k]);
    }
    if (!self->queue) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for the gc work queue");
        gc_close(self);
        return NULL;
    }
    return self;
}

static void gc_close(void *controller)
{
    gc_controller_t *self = controller;
    if (!self)
        return;
    for (int k = 0; k < GC_KINDS; k++)
        kl_informer_destroy(&self->informers[k]);
    kl_workqueue_destroy(&self->queue);
    json_decref(self->failures);
    free(self);
}

static int gc_run(void *controller, kl_error_t *err)
{
    gc_controller_t *self = controller;
    (void)err;
    int64_t next_resync = 0;
    while (!self->host->stopping(self->host)) {
        int synced = 1;
        for (int k = 0; k < GC_KINDS && !self->host->stopping(self->host); k++) {
            if (now_ms(self) < self->quiet_until[k]) {
                usleep(20000);
            } else {
                kl_error_t perr = {0, ""};
                int wait = kl_workqueue_wait_ms(self->queue, now_ms(self)) == 0 ? 0 : GC_POLL_MS;
                if (kl_informer_poll(self->informers[k], wait, &perr) < 0) {
                    self->host->log(self->host, KL_LOG_WARN, "watch of %s failed, retrying in 1 s: %s",
                                    gc_kinds[k], perr.text);
                    self->quiet_until[k] = now_ms(self) + 1000;
                }
            }
            synced &= kl_informer_synced(self->informers[k]);
        }
        /* Never judge an owner absent from a half-filled cache. */
        if (!synced)
            continue;
        int64_t now = now_ms(self);
        if (now >= next_resync) {
            for (int k = 0; k < GC_DEPENDENT_KINDS; k++) {
                resync_arg_t r = {self, gc_kinds[k]};
                kl_informer_each(self->informers[k], queue_all, &r);
            }
            next_resync = now + self->resync_ms;
        }
        char *key;
        int64_t until = now + 200;
        while (now_ms(self) < until && !self->host->stopping(self->host)
               && (key = kl_workqueue_pop(self->queue, now_ms(self)))) {
            kl_error_t cerr = {0, ""};
            if (collect(self, key, &cerr) < 0) {
                json_int_t count = json_integer_value(json_object_get(self->failures, key)) + 1;
                json_object_set_new(self->failures, key, json_integer(count));
                int64_t delay = kl_workqueue_retry(self->queue, key, now_ms(self));
                self->host->log(self->host, count >= GC_WARN_AFTER ? KL_LOG_WARN : KL_LOG_INFO,
                                "cannot collect %s: %s (retry in %lld ms)", key, cerr.text,
                                (long long)delay);
            } else {
                kl_workqueue_forget(self->queue, key);
                json_object_del(self->failures, key);
            }
            free(key);
        }
    }
    return 0;
}

static const kl_controller_ops_t gc_ops = {
    .open = gc_open,
    .close = gc_close,
    .run = gc_run,
};

KL_CONTROLLER_PLUGIN("gc", "0.1.0", "deletes pods and ReplicaSets whose owners are gone", gc_settings,
                     gc_ops);
