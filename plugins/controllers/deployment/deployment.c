/* The deployment controller: one ReplicaSet per pod template (named by the
 * template's hash), rolled from old to new by RollingUpdate or Recreate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <keelson/controller.h>
#include <keelson/kit.h>

#define DP_POLL_MS 50
#define DP_REQUEST_MS 5000
#define DP_EXPECTATION_MS 10000
#define DP_WARN_AFTER 3
#define DP_HASH_LABEL "pod-template-hash"
#define DP_REVISION "deployment.kubernetes.io/revision"

typedef struct dp_controller {
    const kl_host_t *host;
    kl_informer_t *deployments;
    kl_informer_t *sets;
    kl_workqueue_t *queue;
    json_t *expectations;  /* "ns/name" -> {"rv", "deadline"} */
    json_t *failures;
    int64_t observed_set_rv;
    int64_t resync_ms;
    int64_t quiet_until[2];
} dp_controller_t;

static const kl_setting_spec_t dp_settings[] = {
    {"resync_ms", KL_SETTING_INT, 0, "milliseconds between full reconciles of every Deployment (default 30000)"},
    KL_SETTINGS_END};

/* ---- helpers ------------------------------------------------------------ */

static int64_t now_ms(const dp_controller_t *self)
{
    return self->host->monotonic_ms(self->host);
}

static int64_t int_field(const json_t *object, const char *section, const char *key, int64_t fallback)
{
    const json_t *value = json_object_get(json_object_get(object, section), key);
    return json_is_integer(value) ? json_integer_value(value) : fallback;
}

static int64_t set_revision(const json_t *rs)
{
    const char *text = json_string_value(
        json_object_get(json_object_get(json_object_get(rs, "metadata"), "annotations"), DP_REVISION));
    return text ? strtoll(text, NULL, 10) : 0;
}

/* FNV-1a over the template's canonical JSON (sorted keys, compact): the
 * same template always gives the same ReplicaSet name, across restarts. */
static void template_hash(const json_t *template, char *buf, size_t size)
{
    char *text = json_dumps(template, JSON_SORT_KEYS | JSON_COMPACT);
    uint64_t hash = 14695981039346656037ull;
    for (const char *p = text ? text : ""; *p; p++) {
        hash ^= (unsigned char)*p;
        hash *= 1099511628211ull;
    }
    free(text);
    /* Consonants and digits only, as label values and names allow, and no
     * words spelt by chance. */
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    size_t i = 0;
    for (; i < 10 && i + 1 < size; i++) {
        buf[i] = alphabet[hash % (sizeof alphabet - 1)];
        hash /= (sizeof alphabet - 1);
    }
    buf[i] = '\0';
}

/* maxSurge / maxUnavailable: an int, or a percentage of `total` rounded up
 * (surge) or down (unavailable), as Kubernetes does. */
static int64_t int_or_percent(const json_t *value, int64_t total, int64_t fallback_percent, int round_up)
{
    if (json_is_integer(value))
        return json_integer_value(value);
    int64_t percent = fallback_percent;
    const char *text = json_string_value(value);
    if (text) {
        char *end;
        long n = strtol(text, &end, 10);
        if (end != text && strcmp(end, "%") == 0 && n >= 0)
            percent = n;
    }
    int64_t scaled = percent * total;
    return round_up ? (scaled + 99) / 100 : scaled / 100;
}

static void stamp_now(const dp_controller_t *self, char *buf, size_t size)
{
    time_t seconds = (time_t)(self->host->realtime_ms(self->host) / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
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

/* ---- API writes ------------------------------------------------------------ */

typedef struct pass {
    dp_controller_t *self;
    const json_t *deployment;
    const char *ns;
    const char *uid;
    int64_t written_rv;
    json_t *owned;    /* ReplicaSets this Deployment controls */
    json_t *orphans;  /* matching ReplicaSets nothing controls */
} pass_t;

static json_t *request(pass_t *p, const char *method, json_t *payload, kl_error_t *err)
{
    json_t *reply = p->self->host->request(p->self->host, method, payload, DP_REQUEST_MS, err);
    json_decref(payload);
    if (reply && kl_object_revision(reply) > p->written_rv)
        p->written_rv = kl_object_revision(reply);
    return reply;
}

/* Scales `rs` (and optionally sets its revision) against the revision cached. */
static int scale_set(pass_t *p, json_t *rs, int64_t replicas, int64_t revision, kl_error_t *err)
{
    int64_t current = int_field(rs, "spec", "replicas", 1);
    if (current == replicas && (revision == 0 || set_revision(rs) == revision))
        return 0;
    json_t *copy = json_deep_copy(rs);
    json_object_set_new(json_object_get(copy, "spec"), "replicas", json_integer(replicas));
    if (revision > 0) {
        json_t *metadata = json_object_get(copy, "metadata");
        json_t *annotations = json_object_get(metadata, "annotations");
        if (!json_is_object(annotations)) {
            annotations = json_object();
            json_object_set_new(metadata, "annotations", annotations);
        }
        char text[32];
        snprintf(text, sizeof text, "%lld", (long long)revision);
        json_object_set_new(annotations, DP_REVISION, json_string(text));
    }
    json_t *reply = request(p, "api.update", json_pack("{s:o}", "object", copy), err);
    if (!reply)
        return -1;
    /* Later steps of this pass read the ReplicaSet as written. */
    json_object_update(rs, reply);
    json_decref(reply);
    if (current != replicas)
        kl_event_record(p->self->host, p->deployment, "Normal", "ScalingReplicaSet",
                        "Scaled %s replica set %s to %lld", replicas > current ? "up" : "down",
                        kl_object_meta(rs, "name"), (long long)replicas);
    return 0;
}

static json_t *create_set(pass_t *p, const char *hash, int64_t replicas, int64_t revision,
                          kl_error_t *err)
{
    const json_t *spec = json_object_get(p->deployment, "spec");
    json_t *template = json_deep_copy(json_object_get(spec, "template"));
    json_t *template_meta = json_object_get(template, "metadata");
    if (!json_is_object(template_meta)) {
        template_meta = json_object();
        json_object_set_new(template, "metadata", template_meta);
    }
    json_t *labels = json_object_get(template_meta, "labels");
    if (!json_is_object(labels)) {
        labels = json_object();
        json_object_set_new(template_meta, "labels", labels);
    }
    json_object_set_new(labels, DP_HASH_LABEL, json_string(hash));
    json_t *match = json_deep_copy(json_object_get(json_object_get(spec, "selector"), "matchLabels"));
    json_object_set_new(match, DP_HASH_LABEL, json_string(hash));
    char name[320], revision_text[32];
    snprintf(name, sizeof name, "%.240s-%s", kl_object_meta(p->deployment, "name"), hash);
    snprintf(revision_text, sizeof revision_text, "%lld", (long long)revision);
    json_t *rs = json_pack("{s:s, s:s, s:{s:s, s:s, s:O, s:{s:s}, s:[{s:s, s:s, s:s, s:s, s:b, s:b}]},"
                           " s:{s:I, s:{s:o}, s:o}}",
                           "apiVersion", "apps/v1", "kind", "ReplicaSet", "metadata", "name", name,
                           "namespace", p->ns, "labels", labels, "annotations", DP_REVISION, revision_text,
                           "ownerReferences", "apiVersion", "apps/v1", "kind", "Deployment", "name",
                           kl_object_meta(p->deployment, "name"), "uid", p->uid, "controller", 1,
                           "blockOwnerDeletion", 1, "spec", "replicas", (json_int_t)replicas, "selector",
                           "matchLabels", match, "template", template);
    if (!rs) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot build ReplicaSet %s", name);
        return NULL;
    }
    json_t *reply = request(p, "api.create", json_pack("{s:o}", "object", rs), err);
    if (reply)
        kl_event_record(p->self->host, p->deployment, "Normal", "ScalingReplicaSet",
                        "Scaled up replica set %s to %lld", name, (long long)replicas);
    return reply;
}

static int adopt_set(pass_t *p, const json_t *orphan, kl_error_t *err)
{
    /* As for pods: a Deployment being deleted with Orphan must not take its
     * freed ReplicaSets back from a stale cache. */
    json_t *owner_key = json_pack("{s:s, s:s, s:s}", "kind", "Deployment", "namespace", p->ns, "name",
                                  kl_object_meta(p->deployment, "name"));
    json_t *owner = p->self->host->request(p->self->host, "api.get", owner_key, DP_REQUEST_MS, err);
    json_decref(owner_key);
    const char *owner_uid = kl_object_meta(owner, "uid");
    int same = owner_uid && strcmp(owner_uid, p->uid) == 0;
    json_decref(owner);
    if (!same)
        return kl_error_set(err, KL_ERR_NOT_FOUND, "Deployment %s is gone: not adopting",
                            kl_object_meta(p->deployment, "name"));
    json_t *fresh = request(p, "api.get", json_pack("{s:s, s:s, s:s}", "kind", "ReplicaSet", "namespace",
                                                    p->ns, "name", kl_object_meta(orphan, "name")), err);
    if (!fresh)
        return -1;
    json_t *metadata = json_object_get(fresh, "metadata");
    const json_t *match = json_object_get(json_object_get(json_object_get(p->deployment, "spec"), "selector"),
                                          "matchLabels");
    if (kl_object_controller_ref(fresh) || !kl_labels_match(match, json_object_get(metadata, "labels"))) {
        json_decref(fresh);
        return 0;
    }
    json_t *refs = json_object_get(metadata, "ownerReferences");
    if (!json_is_array(refs)) {
        refs = json_array();
        json_object_set_new(metadata, "ownerReferences", refs);
    }
    json_array_append_new(refs, json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "apiVersion", "apps/v1",
                                          "kind", "Deployment", "name", kl_object_meta(p->deployment, "name"),
                                          "uid", p->uid, "controller", 1, "blockOwnerDeletion", 1));
    json_t *reply = request(p, "api.update", json_pack("{s:o}", "object", fresh), err);
    if (!reply)
        return -1;
    json_array_append_new(p->owned, reply);
    return 0;
}

/* ---- reconcile -------------------------------------------------------------- */

static int sort_sets(const json_t *rs, void *arg)
{
    pass_t *p = arg;
    const char *ns = kl_object_meta(rs, "namespace");
    if (!ns || strcmp(ns, p->ns) != 0)
        return 0;
    const json_t *ref = kl_object_controller_ref(rs);
    if (ref) {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (uid && strcmp(uid, p->uid) == 0)
            json_array_append_new(p->owned, json_deep_copy(rs));
        return 0;
    }
    const json_t *match = json_object_get(json_object_get(json_object_get(p->deployment, "spec"), "selector"),
                                          "matchLabels");
    if (kl_labels_match(match, json_object_get(json_object_get(rs, "metadata"), "labels")))
        json_array_append(p->orphans, (json_t *)rs);
    return 0;
}

/* Oldest revision first: those are scaled down first. */
static int compare_revision(const void *a, const void *b)
{
    int64_t ra = set_revision(*(json_t *const *)a), rb = set_revision(*(json_t *const *)b);
    return ra < rb ? -1 : ra > rb;
}

static int64_t available_of(const json_t *rs)
{
    /* A status written before the last scale-down may still count pods the
     * ReplicaSet is deleting; never count more than it is asked to keep. */
    int64_t available = int_field(rs, "status", "availableReplicas", 0);
    int64_t wanted = int_field(rs, "spec", "replicas", 1);
    return available < wanted ? available : wanted;
}

static json_t *condition(const dp_controller_t *self, const json_t *old_status, const char *type,
                         int ok, const char *reason, const char *message)
{
    char stamp[32];
    stamp_now(self, stamp, sizeof stamp);
    const char *status = ok ? "True" : "False";
    const char *transition = stamp;
    const char *update = stamp;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(old_status, "conditions"), i, c) {
        const char *have_type = json_string_value(json_object_get(c, "type"));
        if (!have_type || strcmp(have_type, type) != 0)
            continue;
        const char *have_status = json_string_value(json_object_get(c, "status"));
        const char *have_reason = json_string_value(json_object_get(c, "reason"));
        if (have_status && strcmp(have_status, status) == 0 && json_string_value(json_object_get(c, "lastTransitionTime")))
            transition = json_string_value(json_object_get(c, "lastTransitionTime"));
        /* Keep the stamps when nothing changed, so the status stays equal. */
        if (have_status && strcmp(have_status, status) == 0 && have_reason && strcmp(have_reason, reason) == 0
            && json_string_value(json_object_get(c, "lastUpdateTime")))
            update = json_string_value(json_object_get(c, "lastUpdateTime"));
    }
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", type, "status", status, "reason", reason,
                     "message", message, "lastUpdateTime", update, "lastTransitionTime", transition);
}

static int write_status(pass_t *p, const json_t *new_set, int64_t replicas, int64_t max_unavailable,
                        kl_error_t *err)
{
    int64_t total = 0, ready = 0, available = 0, updated = 0;
    size_t i;
    json_t *rs;
    json_array_foreach(p->owned, i, rs) {
        total += int_field(rs, "status", "replicas", 0);
        ready += int_field(rs, "status", "readyReplicas", 0);
        available += int_field(rs, "status", "availableReplicas", 0);
    }
    if (new_set)
        updated = int_field(new_set, "status", "replicas", 0);
    const json_t *old_status = json_object_get(p->deployment, "status");
    const json_t *generation = json_object_get(json_object_get(p->deployment, "metadata"), "generation");
    int64_t min_available = replicas - max_unavailable;
    char message[400];
    snprintf(message, sizeof message, available >= min_available ? "Deployment has minimum availability."
                                                                  : "Deployment does not have minimum availability.");
    json_t *conditions = json_array();
    json_array_append_new(conditions, condition(p->self, old_status, "Available", available >= min_available,
                                                available >= min_available ? "MinimumReplicasAvailable"
                                                                           : "MinimumReplicasUnavailable",
                                                message));
    int complete = new_set && updated == replicas && total == replicas && available >= replicas;
    snprintf(message, sizeof message, complete ? "ReplicaSet \"%s\" has successfully progressed."
                                               : "ReplicaSet \"%s\" is progressing.",
             new_set ? kl_object_meta(new_set, "name") : "");
    json_array_append_new(conditions, condition(p->self, old_status, "Progressing", 1,
                                                complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated",
                                                message));
    json_t *status = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "observedGeneration",
                               json_is_integer(generation) ? json_integer_value(generation) : (json_int_t)0,
                               "replicas", (json_int_t)total, "updatedReplicas", (json_int_t)updated,
                               "readyReplicas", (json_int_t)ready, "availableReplicas", (json_int_t)available,
                               "unavailableReplicas",
                               (json_int_t)(replicas - available > 0 ? replicas - available : 0),
                               "conditions", conditions);
    if (json_equal(status, old_status)) {
        json_decref(status);
        return 0;
    }
    json_t *object = json_deep_copy(p->deployment);
    json_object_set_new(object, "status", status);
    json_t *payload = json_pack("{s:o}", "object", object);
    json_t *reply = p->self->host->request(p->self->host, "api.update_status", payload, DP_REQUEST_MS, err);
    json_decref(payload);
    if (!reply)
        return -1;
    json_decref(reply);
    return 0;
}

/* RollingUpdate: scale the new set up within maxSurge, then old ones down
 * within maxUnavailable, both from the ReplicaSets' last known status. */
static int rolling(pass_t *p, json_t *new_set, json_t **old, size_t old_count, int64_t replicas,
                   int64_t max_surge, int64_t max_unavailable, kl_error_t *err)
{
    int64_t all = int_field(new_set, "spec", "replicas", 1);
    for (size_t i = 0; i < old_count; i++)
        all += int_field(old[i], "spec", "replicas", 1);
    int64_t new_replicas = int_field(new_set, "spec", "replicas", 1);
    if (new_replicas > replicas) {
        if (scale_set(p, new_set, replicas, 0, err) < 0)
            return -1;
    } else if (new_replicas < replicas) {
        int64_t room = replicas + max_surge - all;
        int64_t up = replicas - new_replicas;
        if (room < up)
            up = room;
        if (up > 0 && scale_set(p, new_set, new_replicas + up, 0, err) < 0)
            return -1;
    }
    /* Old sets down: first their unhealthy pods, then as availability allows. */
    int64_t old_pods = 0;
    all = int_field(new_set, "spec", "replicas", 1);
    for (size_t i = 0; i < old_count; i++) {
        old_pods += int_field(old[i], "spec", "replicas", 1);
        all += int_field(old[i], "spec", "replicas", 1);
    }
    if (old_pods == 0)
        return 0;
    int64_t min_available = replicas - max_unavailable;
    int64_t new_unavailable = int_field(new_set, "spec", "replicas", 1) - available_of(new_set);
    int64_t budget = all - min_available - (new_unavailable > 0 ? new_unavailable : 0);
    for (size_t i = 0; i < old_count && budget > 0; i++) {
        int64_t want = int_field(old[i], "spec", "replicas", 1);
        int64_t unhealthy = want - available_of(old[i]);
        int64_t down = unhealthy < budget ? unhealthy : budget;
        if (down <= 0)
            continue;
        if (scale_set(p, old[i], want - down, 0, err) < 0)
            return -1;
        budget -= down;
    }
    int64_t available = available_of(new_set);
    for (size_t i = 0; i < old_count; i++)
        available += available_of(old[i]);
    int64_t down_total = available - min_available;
    for (size_t i = 0; i < old_count && down_total > 0; i++) {
        int64_t want = int_field(old[i], "spec", "replicas", 1);
        if (want == 0)
            continue;
        int64_t down = want < down_total ? want : down_total;
        if (scale_set(p, old[i], want - down, 0, err) < 0)
            return -1;
        down_total -= down;
    }
    return 0;
}

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
    pass_t p = {self, deployment, ns, uid, 0, json_array(), json_array()};
    kl_informer_each(self->sets, sort_sets, &p);
    int rc = 0;
    size_t i;
    json_t *rs;
    json_array_foreach(p.orphans, i, rs)
        if (adopt_set(&p, rs, err) < 0 && err->code != KL_ERR_CONFLICT && err->code != KL_ERR_NOT_FOUND)
            rc = -1;
    char hash[16];
    template_hash(json_object_get(spec, "template"), hash, sizeof hash);
    int64_t replicas = int_field(deployment, "spec", "replicas", 1);
    const json_t *strategy = json_object_get(spec, "strategy");
    const char *type = json_string_value(json_object_get(strategy, "type"));
    int recreate = type && strcmp(type, "Recreate") == 0;
    const json_t *rolling_spec = json_object_get(strategy, "rollingUpdate");
    int64_t max_surge = recreate ? 0 : int_or_percent(json_object_get(rolling_spec, "maxSurge"), replicas, 25, 1);
    int64_t max_unavailable = recreate ? replicas
                                       : int_or_percent(json_object_get(rolling_spec, "maxUnavailable"),
                                                        replicas, 25, 0);
    if (max_unavailable > replicas)
        max_unavailable = replicas;
    if (!recreate && max_surge == 0 && max_unavailable == 0)
        max_unavailable = 1;  /* as Kubernetes: a rollout must be able to move */

    json_t *new_set = NULL;
    size_t count = json_array_size(p.owned);
    json_t **old = calloc(count ? count : 1, sizeof *old);
    size_t old_count = 0;
    int64_t max_revision = 0;
    json_array_foreach(p.owned, i, rs) {
        const char *have = json_string_value(
            json_object_get(json_object_get(json_object_get(rs, "metadata"), "labels"), DP_HASH_LABEL));
        if (set_revision(rs) > max_revision)
            max_revision = set_revision(rs);
        if (!new_set && have && strcmp(have, hash) == 0)
            new_set = rs;
        else
            old[old_count++] = rs;
    }
    qsort(old, old_count, sizeof *old, compare_revision);
    int64_t old_live = 0;  /* pods the old sets still have */
    for (i = 0; i < old_count; i++)
        old_live += int_field(old[i], "status", "replicas", 0) + int_field(old[i], "spec", "replicas", 1);

    if (rc == 0 && recreate) {
        for (i = 0; i < old_count && rc == 0; i++)
            rc = scale_set(&p, old[i], 0, 0, err);
        /* Recreate starts new pods only once every old one is gone. */
        if (rc == 0 && old_live == 0) {
            if (!new_set) {
                json_t *created = create_set(&p, hash, replicas, max_revision + 1, err);
                if (!created)
                    rc = -1;
                else
                    json_array_append_new(p.owned, created);
            } else {
                rc = scale_set(&p, new_set, replicas,
                               set_revision(new_set) < max_revision ? max_revision + 1 : 0, err);
            }
        }
    } else if (rc == 0) {
        if (!new_set) {
            int64_t all = 0;
            for (i = 0; i < old_count; i++)
                all += int_field(old[i], "spec", "replicas", 1);
            int64_t start = old_count == 0 ? replicas : replicas + max_surge - all;
            if (start > replicas)
                start = replicas;
            if (start < 0)
                start = 0;
            json_t *created = create_set(&p, hash, start, max_revision + 1, err);
            if (!created) {
                rc = -1;
            } else {
                json_array_append_new(p.owned, created);
                new_set = created;
            }
        } else if (set_revision(new_set) < max_revision) {
            /* An old template came back (rollout undo): it is the newest now. */
            rc = scale_set(&p, new_set, int_field(new_set, "spec", "replicas", 1), max_revision + 1, err);
        }
        if (rc == 0 && new_set)
            rc = rolling(&p, new_set, old, old_count, replicas, max_surge, max_unavailable, err);
    }
    /* revisionHistoryLimit: old sets scaled to nothing, oldest beyond it go. */
    int64_t limit = int_field(deployment, "spec", "revisionHistoryLimit", 10);
    size_t idle = 0;
    for (i = 0; i < old_count; i++)
        if (int_field(old[i], "spec", "replicas", 1) == 0 && int_field(old[i], "status", "replicas", 0) == 0)
            idle++;
    for (i = 0; rc == 0 && i < old_count && (int64_t)idle > limit; i++) {
        if (int_field(old[i], "spec", "replicas", 1) != 0 || int_field(old[i], "status", "replicas", 0) != 0)
            continue;
        kl_error_t derr = {0, ""};
        json_t *reply = request(&p, "api.delete",
                                json_pack("{s:s, s:s, s:s}", "kind", "ReplicaSet", "namespace", ns, "name",
                                          kl_object_meta(old[i], "name")), &derr);
        if (reply || derr.code == KL_ERR_NOT_FOUND)
            idle--;
        json_decref(reply);
    }
    if (rc == 0) {
        kl_error_t serr = {0, ""};
        if (write_status(&p, new_set, replicas, max_unavailable, &serr) < 0) {
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
    free(old);
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
