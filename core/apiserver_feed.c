/* Watch events from the store's change feed: a watch older than the ring is
 * answered from the store's own history, and a shared store's changes, by
 * whichever writer, are taken into the ring. */
#include <inttypes.h>
#include <string.h>

#include <czmq.h>

#include "apiserver_internal.h"
#include "json_encode.h"
#include "json_scan.h"
#include "log.h"

static const kl_kind_info_t *kind_of_key(const char *key)
{
    static const char *const kinds[] = {"Pod", "Node", "ReplicaSet", "Deployment", "Event",
                                        "Lease"};
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        const kl_kind_info_t *info = kl_kind_lookup(kinds[i]);
        size_t len = strlen(info->resource);
        if (strncmp(key, "/registry/", 10) == 0 && strncmp(key + 10, info->resource, len) == 0
            && key[10 + len] == '/')
            return info;
    }
    return NULL;
}

static json_t *parse_stored(const char *value, size_t len, int64_t revision)
{
    if (!value)
        return NULL;
    kl_error_t err;
    json_t *object = kl_json_parse_object(value, len, &err);
    if (!object)
        return NULL;
    kl_object_set_resource_version(object, revision);
    return object;
}

/* A store change as an API event (fields owned by the caller), or -1 when
 * it is not an object keelson serves. */
static int event_from_change(const kl_store_event_t *change, event_t *e)
{
    memset(e, 0, sizeof *e);
    e->kind = kind_of_key(change->kv.key);
    if (!e->kind)
        return -1;
    e->revision = change->kv.mod_revision;
    if (change->type == KL_STORE_DELETE) {
        e->type = EVENT_DELETED;
        e->object = change->prev ? parse_stored(change->prev->value, change->prev->value_len,
                                                e->revision) : NULL;
    } else {
        e->type = change->kv.create_revision == change->kv.mod_revision ? EVENT_ADDED
                                                                         : EVENT_MODIFIED;
        e->object = parse_stored(change->kv.value, change->kv.value_len, e->revision);
        if (e->type == EVENT_MODIFIED && change->prev)
            e->previous = parse_stored(change->prev->value, change->prev->value_len,
                                       change->prev->mod_revision);
    }
    if (!e->object) {
        json_decref(e->previous);
        return -1;
    }
    return 0;
}

static json_t *event_json(const event_t *e, int type)
{
    return json_pack("{s:s,s:O}", "type", event_names[type], "object", e->object);
}

typedef struct replay {
    kl_apiserver_t *self;
    const watch_request_t *req;  /* collecting for one watch; NULL: ingesting */
    json_t *events;
    size_t found;
    int64_t last;
    int64_t limit;  /* collecting: the last committed revision */
} replay_t;

static int replay_visit(const kl_store_event_t *change, void *arg)
{
    replay_t *r = arg;
    if (r->req && change->kv.mod_revision > r->limit)
        return 1;
    r->last = change->kv.mod_revision;
    event_t e;
    if (event_from_change(change, &e) < 0)
        return 0;
    if (!r->req) {
        kl_api_record_event(r->self, e.type, e.kind, e.object, e.previous, e.revision, NULL);
        json_decref(e.object);
        return 0;
    }
    int type = kl_api_event_view(&e, r->req->kind, r->req->namespace_name, r->req->selector);
    if (type >= 0) {
        if (!r->events)
            r->events = json_array();
        json_array_append_new(r->events, event_json(&e, type));
        r->found++;
    }
    json_decref(e.object);
    json_decref(e.previous);
    return r->found >= KL_APISERVER_WATCH_MAX_EVENTS;
}

/* Events older than the ring, read back from the store's own history: a
 * watch resumes exactly even across an API server restart. */
char *kl_api_collect_from_store(kl_apiserver_t *self, const watch_request_t *req,
                                int64_t *resume, size_t *length, kl_error_t *err)
{
    replay_t r = {self, req, NULL, 0, req->revision, kl_api_examined_revision(self)};
    int64_t last = 0;
    kl_error_t serr = {0, ""};
    if (self->ops->changes(self->store, "/registry/", req->revision, 5000, replay_visit, &r, &last,
                           &serr) < 0) {
        json_decref(r.events);
        return kl_error_set(err, serr.code == KL_ERR_EXPIRED ? KL_ERR_EXPIRED : KL_ERR_INTERNAL,
                            "too old resource version: %" PRId64 " (%s)", req->revision, serr.text),
               NULL;
    }
    /* Stopped early on the event limit: resume after the last one taken. */
    *resume = r.found >= KL_APISERVER_WATCH_MAX_EVENTS ? r.last : (last > r.last ? last : r.last);
    if (*resume > r.limit)
        *resume = r.limit;
    if (*resume < req->revision)
        *resume = req->revision;
    if (!r.events)
        return NULL;
    json_t *reply = kl_api_watch_reply_json(r.events, *resume);
    char *text = reply ? kl_json_encode(reply, length) : NULL;
    json_decref(reply);
    if (!text)
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for a watch reply");
    return text;
}

/* Changes a shared store's reader takes in per round. */
#define INGEST_ROUND 1000
/* A reader that took changes in this recently is not far behind, and need
 * not ask the store where it stands (a round trip to etcd) first. */
#define INGEST_IDLE_MS 1000

/* Shared stores: take in what any writer changed since the last look. */
void kl_api_ingest(kl_apiserver_t *self)
{
    if (!self->shared)
        return;
    /* With nobody parked here, a history far behind is not worth catching
     * up on (one of several API workers may have idled long; one that took
     * changes in within the last second has not): it restarts
     * at the store's revision, and a watch from before that is answered
     * from the store's own change feed. */
    int64_t now_ms = zclock_mono();
    if (!self->pending && now_ms - self->ingest_ms >= INGEST_IDLE_MS) {
        int64_t now = self->ops->revision(self->store);  /* a request to etcd: only here */
        if (now - self->ingested > INGEST_ROUND) {
            self->ingested = self->floor = now;
            self->ingest_ms = now_ms;
            return;
        }
    }
    self->ingest_ms = now_ms;
    for (int rounds = 0; rounds < 100; rounds++) {
        replay_t r = {self, NULL, NULL, 0, self->ingested, 0};
        int64_t last = 0;
        kl_error_t serr = {0, ""};
        if (self->ops->changes(self->store, "/registry/", self->ingested, INGEST_ROUND, replay_visit,
                               &r, &last, &serr) < 0) {
            if (serr.code == KL_ERR_EXPIRED) {
                /* Fell behind compaction: watchers of older revisions relist. */
                kl_warn("api", "store history compacted past %" PRId64 "; watch history restarts at %" PRId64,
                        self->ingested, self->ops->revision(self->store));
                self->ingested = self->floor = self->ops->revision(self->store);
            } else {
                kl_warn("api", "reading the store's changes failed: %s", serr.text);
            }
            return;
        }
        int done = r.last == self->ingested || last <= self->ingested;
        self->ingested = r.last > last ? r.last : last;
        if (done)
            return;
    }
}
