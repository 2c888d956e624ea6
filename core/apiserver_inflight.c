/* The API server's writes to the store: made at once, or, on a store that
 * keeps writes in flight together (store ABI 1.3), submitted and finished
 * when the store says each is done. Either way one function finishes a
 * write, so a deferred write's answer is the one it would have had. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_internal.h"
#include "log.h"

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

static void write_done(int rc, int64_t revision, const kl_error_t *serr, void *arg)
{
    pending_write_t *p = arg;
    kl_apiserver_t *self = p->self;
    kl_error_t err = {0, ""};
    json_t *reply = finish_write(self, p->type, p->info, p->key, p->object, p->previous, p->text,
                                 p->length, p->mark, revision, rc == 0 ? NULL : serr, &err);
    free(p->text);
    p->text = NULL;
    p->object = p->previous = NULL;
    self->write_done(self, p->token, reply, reply ? NULL : &err, self->write_done_arg);
    kl_api_set_reply_object(self, NULL, NULL);
}

void kl_apiserver_settle(kl_apiserver_t *self)
{
    if (!self || !self->writes_count)
        return;
    kl_error_t err = {0, ""};
    if (self->ops->settle(self->store, &err) < 0)
        kl_error_log("api", "settling writes in flight: %s", err.text);
    self->writes_count = 0;
}

void kl_api_settle_key(kl_apiserver_t *self, const char *key)
{
    for (size_t i = 0; i < self->writes_count; i++)
        if (strcmp(self->writes[i].key, key) == 0) {
            kl_apiserver_settle(self);
            return;
        }
}

/* Submits the write; NULL with self->deferred set, or with err filled. */
static json_t *submit_write(kl_apiserver_t *self, event_type_t type, const kl_kind_info_t *info,
                            const char *key, json_t *object, json_t *previous, char *text,
                            size_t length, size_t mark, int64_t mod_revision, kl_error_t *err)
{
    if (self->writes_count == KL_API_WRITES_IN_FLIGHT)
        kl_apiserver_settle(self);
    pending_write_t *p = &self->writes[self->writes_count];
    *p = (pending_write_t){self, self->token, type, info, "", object, previous, text, length, mark};
    memcpy(p->key, key, strlen(key) + 1);
    kl_store_write_t w = {type == EVENT_ADDED ? KL_STORE_WRITE_CREATE : KL_STORE_WRITE_UPDATE, key,
                          text, length, mod_revision};
    kl_error_t serr = {0, ""};
    self->writes_count++;
    if (self->ops->submit(self->store, &w, write_done, p, &serr) < 0) {
        self->writes_count--;
        free(text);
        return finish_write(self, type, info, key, object, previous, NULL, 0, 0, 0, &serr, err);
    }
    self->deferred = 1;
    return NULL;
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
    if (self->token && self->writes)
        return submit_write(self, type, info, key, object, previous, text, length, mark,
                            mod_revision, err);
    int64_t revision = 0;
    kl_error_t serr = {0, ""};
    int rc = type == EVENT_ADDED
                 ? self->ops->create(self->store, key, text, length, &revision, &serr)
                 : self->ops->update(self->store, key, text, length, mod_revision, &revision, &serr);
    json_t *written = finish_write(self, type, info, key, object, previous, text, length, mark,
                                   revision, rc == 0 ? NULL : &serr, err);
    free(text);
    return written;
}

void kl_apiserver_set_write_done(kl_apiserver_t *self, kl_apiserver_write_done_fn done, void *arg)
{
    kl_apiserver_settle(self);
    self->write_done = done;
    self->write_done_arg = arg;
    if (done && self->can_submit && !self->writes)
        self->writes = calloc(KL_API_WRITES_IN_FLIGHT, sizeof *self->writes);
}
