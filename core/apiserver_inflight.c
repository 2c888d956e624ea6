/* The API server's gets and writes to the store: made at once, or, on a
 * store that keeps requests in flight together (store ABI 1.3), submitted
 * and finished when the store says each is done. Either way one function
 * finishes each, so a deferred request's answer is the one it would have
 * had. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_internal.h"
#include "log.h"

static int deferring(const kl_apiserver_t *self)
{
    return self->request.token && self->in_flight;
}

/* The tail of every create and update once the store has answered. */
static json_t *finish_write(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                            const char *key, json_t *object, json_t *previous, const char *text,
                            size_t length, size_t mark, int64_t revision, const kl_error_t *serr,
                            kl_error_t *err)
{
    const char *name = kl_object_name(object);
    if (serr) {
        if (type == EVENT_ADDED && serr->code == KL_ERR_EXISTS)
            kl_error_set(err, KL_ERR_EXISTS, "%s \"%.253s\" already exists", info->resource, name);
        else if (type != EVENT_ADDED && serr->code == KL_ERR_CONFLICT)
            kl_api_conflict(err, info, name);
        else if (type != EVENT_ADDED && serr->code == KL_ERR_NOT_FOUND)
            kl_api_not_found(err, info, name);
        else
            kl_error_set(err, serr->code ? serr->code : KL_ERR_INTERNAL, "%s", serr->text);
        json_decref(object);
        json_decref(previous);
        return NULL;
    }
    api_text_t *written = kl_api_text_with_revision(text, length, mark, revision);
    kl_object_set_resource_version(object, revision);
    kl_api_remember(self, key, object, revision);
    kl_api_record(self, type, info, object, previous, revision, written);
    kl_api_set_reply_object(self, object, written);
    kl_api_text_unref(&written);
    return object;
}

/* The tail of every delete once the store has answered: the object as it
 * was, at the revision of its deletion, where watchers resume. */
static json_t *finish_remove(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                             json_t *object, int64_t revision, const kl_error_t *serr, kl_error_t *err)
{
    const char *name = kl_object_name(object);
    if (serr) {
        if (serr->code == KL_ERR_CONFLICT)
            kl_api_conflict(err, info, name);
        else if (serr->code == KL_ERR_NOT_FOUND)
            kl_api_not_found(err, info, name);
        else
            kl_error_set(err, serr->code ? serr->code : KL_ERR_INTERNAL, "%s", serr->text);
        json_decref(object);
        return NULL;
    }
    kl_api_cache_remove(self->cache, key);
    json_t *last = kl_object_copy_for_write(object);
    if (!last) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory after deleting %s \"%.253s\"", info->resource,
                     name);
        json_decref(object);
        return NULL;
    }
    json_decref(object);
    kl_object_set_resource_version(last, revision);
    kl_api_record(self, EVENT_DELETED, info, last, NULL, revision, NULL);
    return last;
}

/* The object a get read, or NULL with err filled. */
static json_t *finish_get(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                          const char *name, const kl_store_kv_t *kv, const kl_error_t *serr,
                          kl_error_t *err)
{
    if (serr) {
        kl_api_cache_remove(self->cache, key);
        if (serr->code == KL_ERR_NOT_FOUND)
            kl_api_not_found(err, info, name);
        else
            kl_error_set(err, serr->code ? serr->code : KL_ERR_INTERNAL, "%s", serr->text);
        return NULL;
    }
    return kl_api_object_for(self, kv, err);
}

/* Gives a finished request's slot back, freeing what it still owns. */
static void release(kl_apiserver_t *self, pending_op_t *p)
{
    json_decref(p->object);
    json_decref(p->previous);
    free(p->text);
    json_decref(p->payload);
    *p = (pending_op_t){.self = self};
    self->in_flight_count--;
}

static void op_done(int rc, int64_t revision, const kl_store_kv_t *kv, const kl_error_t *serr,
                    void *arg)
{
    pending_op_t *p = arg;
    kl_apiserver_t *self = p->self;
    void *token = p->token;
    kl_error_t err = {0, ""}, broken = {0, ""};
    if ((rc == 0 && p->get && !kv) || (rc < 0 && !serr)) {
        kl_error_set(&broken, KL_ERR_INTERNAL, "the store answered a %s of %.300s with %s",
                     p->get ? "get" : "write", p->key, rc == 0 ? "no key" : "no error");
        rc = -1;
        serr = &broken;
    }
    /* A write built on the cache's copy met a key that had moved on: the
     * request runs again from a fresh read once the store has settled. */
    if (!p->get && p->from_cache && rc < 0 && serr
        && (serr->code == KL_ERR_CONFLICT || serr->code == KL_ERR_NOT_FOUND)
        && self->retry_count < KL_API_IN_FLIGHT) {
        kl_api_cache_remove(self->cache, p->key);
        self->writes_run_again++;
        retry_t *r = &self->retries[self->retry_count++];
        memcpy(r->method, p->method, sizeof r->method);
        r->payload = p->payload;
        r->token = token;
        p->payload = NULL;
        release(self, p);
        return;
    }
    json_t *reply;
    if (p->get) {
        const char *slash = strrchr(p->key, '/');
        reply = finish_get(self, p->info, p->key, slash ? slash + 1 : p->key, kv,
                           rc == 0 ? NULL : serr, &err);
    } else if (p->type == EVENT_DELETED) {
        reply = finish_remove(self, p->info, p->key, p->object, revision, rc == 0 ? NULL : serr, &err);
        p->object = NULL;
    } else {
        /* finish_write() takes the object and the one before it. */
        reply = finish_write(self, p->type, p->info, p->key, p->object, p->previous, p->text,
                             p->length, p->mark, revision, rc == 0 ? NULL : serr, &err);
        p->object = p->previous = NULL;
    }
    release(self, p);
    self->done(self, token, reply, reply ? NULL : &err, self->done_arg);
    kl_api_set_reply_object(self, NULL, NULL);
}

/* Answers what a store that broke its word left in flight, so no client
 * waits forever and the slots come back. */
static void fail_stranded(kl_apiserver_t *self)
{
    kl_error_log("api", "the store left %zu requests in flight after settling them",
                 self->in_flight_count);
    kl_error_t lost = {0, ""};
    kl_error_set(&lost, KL_ERR_INTERNAL, "the store never finished this request");
    for (size_t i = 0; i < KL_API_IN_FLIGHT && self->in_flight_count; i++)
        if (self->in_flight[i].used)
            op_done(-1, 0, NULL, &lost, &self->in_flight[i]);
}

/* Runs again the requests whose writes started from an out-of-date cached
 * copy, each from a fresh read. It may be called in the middle of another
 * request (settling a key that request needs), which then resumes. */
static void run_retries(kl_apiserver_t *self)
{
    if (self->retrying || !self->retry_count)
        return;
    self->retrying = 1;
    request_context_t interrupted = self->request;
    self->fresh_reads++;
    while (self->retry_count) {
        retry_t r = self->retries[0];
        memmove(self->retries, self->retries + 1, --self->retry_count * sizeof *self->retries);
        kl_error_t err = {0, ""};
        int again = 0;
        json_t *reply = kl_apiserver_handle_token(self, r.method, r.payload, r.token, &again, &err);
        if (!again) {
            self->done(self, r.token, reply, reply ? NULL : &err, self->done_arg);
            kl_api_set_reply_object(self, NULL, NULL);
        }
        json_decref(r.payload);
    }
    self->fresh_reads--;
    self->request = interrupted;
    self->retrying = 0;
}

/* Hands back what the store has finished: everything in flight (wait) or
 * only what is done. Waiting, it returns with nothing in flight, requests
 * run again included. */
static void settle(kl_apiserver_t *self, int wait)
{
    if (!self)
        return;
    do {
        if (self->in_flight_count) {
            kl_error_t err = {0, ""};
            if (self->ops->settle(self->store, wait, &err) < 0)
                kl_error_log("api", "%s requests in flight: %s", wait ? "settling" : "finishing",
                             err.text);
            if (wait && self->in_flight_count)
                fail_stranded(self);
        }
        run_retries(self);
    } while (wait && self->in_flight_count && !self->retrying);
}

void kl_apiserver_settle(kl_apiserver_t *self)
{
    settle(self, 1);
}

void kl_apiserver_progress(kl_apiserver_t *self)
{
    settle(self, 0);
}

int kl_apiserver_settle_fd(const kl_apiserver_t *self)
{
    if (!self || !self->in_flight_count || !self->can_settle_fd)
        return -1;
    return self->ops->settle_fd(self->store);
}

static int key_in_flight(const kl_apiserver_t *self, const char *key, int reading)
{
    for (size_t i = 0; i < KL_API_IN_FLIGHT && self->in_flight_count; i++)
        if (self->in_flight[i].used && (!reading || !self->in_flight[i].get)
            && strcmp(self->in_flight[i].key, key) == 0)
            return 1;
    return 0;
}

void kl_api_settle_key(kl_apiserver_t *self, const char *key, int reading)
{
    while (key_in_flight(self, key, reading))
        kl_apiserver_settle(self);
}

json_t *kl_api_load_for_write(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                              const char *name, int64_t expected, int64_t *mod_revision,
                              kl_error_t *err)
{
    kl_api_settle_key(self, key, 0);
    self->request.from_cache = 0;
    if (self->shared && deferring(self) && !self->fresh_reads && expected <= 0 && self->request.method
        && strlen(self->request.method) < sizeof self->in_flight[0].method) {
        json_t *cached = kl_api_cache_latest(self->cache, key, mod_revision);
        if (cached) {
            self->request.from_cache = self->request.cache_served = 1;
            return cached;
        }
    }
    return kl_api_load(self, info, key, name, mod_revision, err);
}

/* Submits `op` for a new pending entry filled from `p`; NULL with
 * self->request.deferred set, or with err filled when it could not start. */
static pending_op_t *submit(kl_apiserver_t *self, const pending_op_t *p, const kl_store_op_t *op,
                            kl_error_t *serr)
{
    if (self->in_flight_count == KL_API_IN_FLIGHT)
        kl_apiserver_settle(self);
    pending_op_t *slot = self->in_flight;
    while (slot->used)
        slot++;
    *slot = *p;
    slot->used = 1;
    self->in_flight_count++;
    if (self->ops->submit(self->store, op, op_done, slot, serr) < 0) {
        slot->used = 0;
        self->in_flight_count--;
        return slot;
    }
    self->request.deferred = 1;
    return NULL;
}

static pending_op_t pending_for(kl_apiserver_t *self, int get, event_type_t type,
                                const kl_kind_info_t *info, const char *key)
{
    pending_op_t p = {.self = self, .token = self->request.token, .get = get, .type = type, .info = info};
    snprintf(p.key, sizeof p.key, "%s", key);
    return p;
}

/* Submits a write, keeping the request to run again when it was built on
 * the cache's copy; 1 when submitted, 0 when refused at once (serr filled,
 * and what `p` holds still the caller's). */
static int submit_write(kl_apiserver_t *self, pending_op_t *p, const kl_store_op_t *op, int from_cache,
                        kl_error_t *serr)
{
    if (from_cache) {
        p->from_cache = 1;
        snprintf(p->method, sizeof p->method, "%s", self->request.method);
        p->payload = json_incref((json_t *)self->request.payload);
        self->writes_from_cache++;
    }
    pending_op_t *refused = submit(self, p, op, serr);
    if (!refused)
        return 1;
    json_decref(refused->payload);
    refused->payload = NULL;
    return 0;
}

json_t *kl_api_store_write(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                           const char *key, json_t *object, json_t *previous,
                           int64_t mod_revision, kl_error_t *err)
{
    size_t length, mark;
    char *text = kl_api_dump_for_store(object, &length, &mark, err);
    if (!text) {
        json_decref(object);
        json_decref(previous);
        return NULL;
    }
    int64_t revision = 0;
    kl_error_t serr = {0, ""};
    int rc;
    int from_cache = self->request.from_cache;
    self->request.from_cache = 0;
    if (deferring(self)) {
        pending_op_t p = pending_for(self, 0, type, info, key);
        p.object = object;
        p.previous = previous;
        p.text = text;
        p.length = length;
        p.mark = mark;
        kl_store_op_t op = {type == EVENT_ADDED ? KL_STORE_OP_CREATE : KL_STORE_OP_UPDATE, key, text,
                            length, mod_revision};
        if (submit_write(self, &p, &op, from_cache && type != EVENT_ADDED, &serr))
            return NULL;
        rc = -1;
    } else {
        rc = type == EVENT_ADDED
                 ? self->ops->create(self->store, key, text, length, &revision, &serr)
                 : self->ops->update(self->store, key, text, length, mod_revision, &revision, &serr);
    }
    json_t *written = finish_write(self, type, info, key, object, previous, text, length, mark,
                                   revision, rc == 0 ? NULL : &serr, err);
    free(text);
    return written;
}

json_t *kl_api_store_remove(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                            json_t *object, int64_t mod_revision, kl_error_t *err)
{
    int64_t revision = 0;
    kl_error_t serr = {0, ""};
    int from_cache = self->request.from_cache;
    self->request.from_cache = 0;
    int rc;
    if (deferring(self)) {
        pending_op_t p = pending_for(self, 0, EVENT_DELETED, info, key);
        p.object = object;
        kl_store_op_t op = {KL_STORE_OP_REMOVE, key, NULL, 0, mod_revision};
        if (submit_write(self, &p, &op, from_cache, &serr))
            return NULL;
        rc = -1;
    } else {
        rc = self->ops->remove(self->store, key, mod_revision, &revision, &serr);
    }
    return finish_remove(self, info, key, object, revision, rc == 0 ? NULL : &serr, err);
}

json_t *kl_api_store_get(kl_apiserver_t *self, const kl_kind_info_t *info, const char *key,
                         const char *name, kl_error_t *err)
{
    kl_api_settle_key(self, key, 1);
    /* The only writer reads its cache, which a submitted get would skip. */
    if (!deferring(self) || self->only_writer)
        return kl_api_load(self, info, key, name, NULL, err);
    pending_op_t p = pending_for(self, 1, EVENT_ADDED, info, key);
    kl_store_op_t op = {KL_STORE_OP_GET, key, NULL, 0, 0};
    kl_error_t serr = {0, ""};
    if (!submit(self, &p, &op, &serr))
        return NULL;
    return finish_get(self, info, key, name, NULL, &serr, err);
}

void kl_apiserver_set_done(kl_apiserver_t *self, kl_apiserver_done_fn done, void *arg)
{
    kl_apiserver_settle(self);
    self->done = done;
    self->done_arg = arg;
    if (!done) {
        free(self->in_flight);
        self->in_flight = NULL;
    } else if (self->can_submit && !self->in_flight) {
        self->in_flight = calloc(KL_API_IN_FLIGHT, sizeof *self->in_flight);
    }
}
