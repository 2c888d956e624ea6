/* The API server on a real one-member etcd: a watch parked on one API
 * server woken by another's write, gets and writes in flight together, and
 * writes made from the cached copy that etcd's compare-and-swap checks. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apiserver.h"
#include "etcd_fixture.h"
#include "loader.h"
#include "objects.h"
#include "tap.h"

typedef struct watch_answer {
    int calls;
    json_t *reply;
} watch_answer_t;

static void keep_answer(void *token, json_t *reply, const kl_error_t *err, void *arg)
{
    (void)err;
    (void)arg;
    watch_answer_t *a = token;
    a->calls++;
    json_decref(a->reply);
    a->reply = reply;
}

/* Two API servers on one etcd, as two API workers: a watch parked on one
 * is answered as soon as the other writes, through the store's change
 * descriptor, with no tick of the watching server in between. */
static void test_watch_wakeup(const char *settings)
{
    config_t cfg_a, cfg_b;
    kl_error_t err = {0, ""};
    kl_plugin_t *a = etcd_store_new(settings, &cfg_a, &err);
    int tried_b = a != NULL;
    kl_plugin_t *b = a ? etcd_store_new(settings, &cfg_b, &err) : NULL;
    kl_apiserver_t *writer = b ? kl_apiserver_new(a, 0, &err) : NULL;
    kl_apiserver_t *watcher = writer ? kl_apiserver_new(b, 0, &err) : NULL;
    if (!ok(watcher != NULL, "two API servers on one etcd %s", watcher ? "" : err.text))
        goto done;
    int fd = kl_apiserver_changes_fd(watcher);
    ok(fd >= 0, "the etcd store gives the API server a change descriptor");
    watch_answer_t answer = {0};
    kl_apiserver_set_reply(watcher, keep_answer, NULL);
    char payload[160];
    snprintf(payload, sizeof payload,
             "{\"kind\":\"Pod\",\"namespace\":\"wake\",\"resourceVersion\":\"%lld\","
             "\"timeoutMs\":60000}",
             (long long)kl_apiserver_revision(watcher));
    json_t *watch = json_loads(payload, 0, NULL);
    kl_apiserver_watch(watcher, watch, &answer, 0);
    json_decref(watch);
    is_int((int)kl_apiserver_pending_watches(watcher), 1, "a watch is parked on the second server");
    struct pollfd idle = {fd, POLLIN, 0};
    is_int(poll(&idle, 1, 300), 0, "nothing changed: the descriptor stays quiet");

    json_t *create = json_loads("{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","
                                "\"metadata\":{\"name\":\"woken\",\"namespace\":\"wake\"},"
                                "\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}",
                                0, NULL);
    double t0 = etcd_fixture_seconds();
    json_t *created = kl_apiserver_handle(writer, "create", create, &err);
    json_decref(create);
    ok(created != NULL, "the first server creates a pod %s", created ? "" : err.text);
    json_decref(created);
    struct pollfd wake = {fd, POLLIN, 0};
    int readable = poll(&wake, 1, 5000) == 1;
    ok(readable, "the descriptor turns readable %.1f ms after the write", (etcd_fixture_seconds() - t0) * 1000);
    kl_apiserver_after_burst(watcher);
    const json_t *event = json_array_get(json_object_get(answer.reply, "events"), 0);
    const char *name = json_string_value(
        json_object_get(json_object_get(json_object_get(event, "object"), "metadata"), "name"));
    ok(answer.calls == 1 && name && strcmp(name, "woken") == 0,
       "the parked watch is answered with the pod, with no tick (%d answers)", answer.calls);
    struct pollfd after = {fd, POLLIN, 0};
    is_int(poll(&after, 1, 300), 0, "reading the changes cleared the descriptor");
    json_decref(answer.reply);
done:
    kl_apiserver_destroy(&watcher);
    kl_apiserver_destroy(&writer);
    kl_plugin_destroy(&b);
    kl_plugin_destroy(&a);
    if (tried_b)
        config_destroy(&cfg_b);
    config_destroy(&cfg_a);
}

/* The etcd store's revision() is a round trip to etcd; counted here. */
static const kl_store_ops_t *counted_ops;
static int revision_calls;

static int64_t counted_revision(void *store)
{
    revision_calls++;
    return counted_ops->revision(store);
}

/* Parks a watch of namespace "rtt" from `from`, answered into `answer`. */
static void park_watch(kl_apiserver_t *api, watch_answer_t *answer, int64_t from)
{
    char text[160];
    snprintf(text, sizeof text,
             "{\"kind\":\"Pod\",\"namespace\":\"rtt\",\"resourceVersion\":\"%lld\",\"timeoutMs\":60000}",
             (long long)from);
    json_t *watch = json_loads(text, 0, NULL);
    kl_apiserver_watch(api, watch, answer, 0);
    json_decref(watch);
}

/* Watches on a shared store from an API server that takes changes in
 * all the time (each answered watch comes straight back, as informers and
 * the benchmark's watchers do) never wait on etcd for its revision; one
 * idle for a second asks once, to skip a history too far behind. */
static void test_watch_without_round_trips(const char *settings)
{
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = etcd_store_new(settings, &cfg, &err);
    kl_store_ops_t ops;
    watch_answer_t answer = {0};
    if (p) {
        counted_ops = p->ops;
        memcpy(&ops, p->ops, sizeof ops);
        ops.revision = counted_revision;
        p->ops = &ops;
    }
    kl_apiserver_t *api = p ? kl_apiserver_new(p, 0, &err) : NULL;
    if (!ok(api != NULL, "an API server on etcd %s", api ? "" : err.text))
        goto done;
    kl_apiserver_set_reply(api, keep_answer, NULL);
    char text[200];
    int64_t from = kl_apiserver_revision(api);
    revision_calls = 0;
    int answered = 0, created = 0;
    for (int i = 0; i < 10; i++) {
        park_watch(api, &answer, from);
        snprintf(text, sizeof text,
                 "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"rtt-%d\","
                 "\"namespace\":\"rtt\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}",
                 i);
        json_t *create = json_loads(text, 0, NULL);
        json_t *pod = kl_apiserver_handle(api, "create", create, &err);
        json_decref(create);
        created += pod != NULL;
        if (pod)
            from = kl_object_revision(pod);
        json_decref(pod);
        int fd = kl_apiserver_changes_fd(api);
        struct pollfd wake = {fd, POLLIN, 0};
        for (int tries = 0; answer.calls == answered && tries < 50; tries++) {
            poll(&wake, 1, 100);
            kl_apiserver_after_burst(api);
        }
        answered = answer.calls;
    }
    ok(created == 10 && answered == 10, "10 creates, each answering the watch parked for it (%d, %d)",
       created, answered);
    ok(revision_calls <= 1, "the watches asked etcd its revision %d times (at most once, when first idle)",
       revision_calls);
    usleep(1100 * 1000);
    revision_calls = 0;
    park_watch(api, &answer, from);
    is_int(revision_calls, 1, "after a second idle, a watch asks once where the store stands");
done:
    kl_apiserver_destroy(&api);  /* answers the watch still parked */
    json_decref(answer.reply);
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
}

/* ---- writes in flight together through the API server ------------------- */

#define INFLIGHT_PODS 20

typedef struct write_answers {
    int calls[64];
    int code[64];
    int64_t revision[64];
    int text_has_revision[64];
    char node[64][32];
    int total;
} write_answers_t;

static void keep_write(kl_apiserver_t *api, void *token, json_t *reply, const kl_error_t *err,
                       void *arg)
{
    write_answers_t *a = arg;
    int i = (int)(intptr_t)token;
    a->calls[i]++;
    a->total++;
    if (!reply) {
        a->code[i] = err ? err->code : -1;
        return;
    }
    a->revision[i] = kl_object_revision(reply);
    const char *node = json_string_value(json_object_get(json_object_get(reply, "spec"), "nodeName"));
    snprintf(a->node[i], sizeof a->node[i], "%s", node ? node : "");
    size_t length = 0;
    char *text = kl_apiserver_reply_text(api, reply, &length);
    char expect[64];
    snprintf(expect, sizeof expect, "\"resourceVersion\":\"%lld\"", (long long)a->revision[i]);
    a->text_has_revision[i] = text && strstr(text, expect) != NULL;
    free(text);
    json_decref(reply);
}

static json_t *pod_request(int i)
{
    char text[320];
    snprintf(text, sizeof text,
             "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"fly-%d\","
             "\"namespace\":\"inflight\"},\"spec\":{\"containers\":[{\"name\":\"c\","
             "\"image\":\"busybox\"}]}}}",
             i);
    return json_loads(text, 0, NULL);
}

static json_t *named_request(const char *fmt, int i)
{
    char text[200];
    snprintf(text, sizeof text, fmt, i);
    return json_loads(text, 0, NULL);
}

static void test_writes_in_flight(const char *settings)
{
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = etcd_store_new(settings, &cfg, &err);
    kl_apiserver_t *api = p ? kl_apiserver_new(p, 0, &err) : NULL;
    if (!ok(api != NULL, "an API server on etcd %s", api ? "" : err.text))
        goto done;
    static write_answers_t a;
    memset(&a, 0, sizeof a);
    kl_apiserver_set_done(api, keep_write, &a);

    int deferred_all = 1;
    for (int i = 1; i <= INFLIGHT_PODS; i++) {
        json_t *create = pod_request(i);
        int deferred = 0;
        json_t *reply = kl_apiserver_handle_token(api, "create", create, (void *)(intptr_t)i,
                                                  &deferred, &err);
        json_decref(create);
        deferred_all &= deferred && !reply;
        json_decref(reply);
    }
    ok(deferred_all, "%d creates are submitted without waiting for etcd", INFLIGHT_PODS);
    is_int(a.total, 0, "none is answered before the writes settle");

    /* A write to a key in flight waits for it: the same name again. */
    json_t *again = pod_request(1);
    int deferred = 0;
    json_t *reply = kl_apiserver_handle_token(api, "create", again, (void *)(intptr_t)21, &deferred,
                                              &err);
    json_decref(again);
    ok(!reply && deferred, "a second create of a name in flight is submitted too");
    is_int(a.total, INFLIGHT_PODS, "after the first writes to that name were settled");
    kl_apiserver_settle(api);
    is_int(a.code[21], KL_ERR_EXISTS, "and it is answered \"already exists\"");

    int answered = 1, distinct = 1, texts = 1;
    for (int i = 1; i <= INFLIGHT_PODS; i++) {
        answered &= a.calls[i] == 1 && a.code[i] == 0 && a.revision[i] > 0;
        texts &= a.text_has_revision[i];
        for (int j = 1; j < i; j++)
            distinct &= a.revision[i] != a.revision[j];
    }
    ok(answered, "each create is answered once, with the object");
    ok(distinct, "each at a revision of its own");
    ok(texts, "each reply's text carries its resourceVersion");

    /* Binds in flight; gets join them, unless they read a key being written. */
    for (int i = 1; i <= 10; i++) {
        json_t *bind = named_request("{\"kind\":\"Pod\",\"namespace\":\"inflight\",\"name\":\"fly-%d\","
                                     "\"nodeName\":\"node-a\"}",
                                     i);
        reply = kl_apiserver_handle_token(api, "bind", bind, (void *)(intptr_t)(21 + i), &deferred,
                                          &err);
        json_decref(bind);
        json_decref(reply);
    }
    int before_read = a.total;
    json_t *get = named_request("{\"kind\":\"Pod\",\"namespace\":\"inflight\",\"name\":\"fly-%d\"}", 15);
    reply = kl_apiserver_handle_token(api, "get", get, (void *)(intptr_t)40, &deferred, &err);
    json_decref(get);
    ok(!reply && deferred && a.total == before_read,
       "a get of a pod nobody is writing joins the binds in flight");
    get = named_request("{\"kind\":\"Pod\",\"namespace\":\"inflight\",\"name\":\"fly-%d\"}", 3);
    reply = kl_apiserver_handle_token(api, "get", get, (void *)(intptr_t)41, &deferred, &err);
    json_decref(get);
    ok(!reply && deferred, "a get of a pod being bound is submitted too");
    is_int(a.total - before_read, 11, "after the binds and the first get were answered");
    kl_apiserver_settle(api);
    ok(a.calls[40] == 1 && a.revision[40] == a.revision[15] && strcmp(a.node[40], "") == 0,
       "the first get gives the unbound pod at its create's revision");
    ok(a.calls[41] == 1 && strcmp(a.node[41], "node-a") == 0 && a.revision[41] == a.revision[24],
       "the second sees its bind");
    int bound = 1;
    for (int i = 22; i <= 31; i++)
        bound &= a.calls[i] == 1 && strcmp(a.node[i], "node-a") == 0 && a.revision[i] > a.revision[i - 21];
    ok(bound, "each bind is answered with the pod on its node, at a later revision");
    json_t *list = json_loads("{\"kind\":\"Pod\",\"namespace\":\"inflight\"}", 0, NULL);
    json_t *missing = named_request("{\"kind\":\"Pod\",\"namespace\":\"inflight\",\"name\":\"fly-%d\"}", 77);
    reply = kl_apiserver_handle_token(api, "get", missing, (void *)(intptr_t)42, &deferred, &err);
    json_decref(missing);
    json_decref(reply);
    reply = kl_apiserver_handle_token(api, "list", list, (void *)(intptr_t)43, &deferred, &err);
    json_decref(list);
    ok(reply && !deferred && json_array_size(json_object_get(reply, "items")) == INFLIGHT_PODS,
       "a list is answered at once, with every pod");
    json_decref(reply);
    ok(a.calls[42] == 1 && a.code[42] == KL_ERR_NOT_FOUND,
       "after settling the get before it, which found nothing (code %d)", a.code[42]);

    /* Answers as the store finishes them, with no settle: the descriptor
     * says when. */
    is_int(kl_apiserver_settle_fd(api), -1, "with nothing in flight there is no descriptor to poll");
    for (int i = 50; i < 60; i++) {
        json_t *create = pod_request(i);
        reply = kl_apiserver_handle_token(api, "create", create, (void *)(intptr_t)i, &deferred, &err);
        json_decref(create);
        json_decref(reply);
    }
    int fd = kl_apiserver_settle_fd(api), wakes = 0, progressed = 0;
    ok(fd >= 0, "with creates in flight the API server gives a descriptor");
    for (int round = 0; round < 100 && progressed < 10; round++) {
        struct pollfd pf = {kl_apiserver_settle_fd(api), POLLIN, 0};
        if (pf.fd < 0)
            break;
        wakes += poll(&pf, 1, 100) == 1;
        kl_apiserver_progress(api);
        progressed = 0;
        for (int i = 50; i < 60; i++)
            progressed += a.calls[i] == 1 && a.code[i] == 0;
    }
    is_int(progressed, 10, "all 10 are answered by progress() as the descriptor wakes (%d wakes)",
           wakes);
    is_int(kl_apiserver_settle_fd(api), -1, "and then nothing is in flight");

    /* Without a token the same API server answers at once, as before. */
    json_t *plain = pod_request(99);
    reply = kl_apiserver_handle(api, "create", plain, &err);
    json_decref(plain);
    ok(reply && kl_object_revision(reply) > 0, "a create without a token is answered at once %s",
       reply ? "" : err.text);
    json_decref(reply);
done:
    kl_apiserver_destroy(&api);
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
}

/* ---- writes from the cache's copy, checked by the store ------------------ */

typedef struct kept_replies {
    json_t *reply[16];
    int calls[16], code[16];
    char text[16][300];
} kept_replies_t;

static void keep_reply(kl_apiserver_t *api, void *token, json_t *reply, const kl_error_t *err,
                       void *arg)
{
    (void)api;
    kept_replies_t *k = arg;
    int i = (int)(intptr_t)token;
    k->calls[i]++;
    json_decref(k->reply[i]);
    k->reply[i] = reply;
    k->code[i] = reply ? 0 : err ? err->code : -1;
    snprintf(k->text[i], sizeof k->text[i], "%.250s", reply || !err ? "" : err->text);
}

/* `api` (B) labels stale-I "by: b" behind the other server's back; the
 * pod as updated (caller owns), or NULL. */
static json_t *label_by_b(kl_apiserver_t *api, int i, kl_error_t *err)
{
    json_t *get = named_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\"}", i);
    json_t *current = kl_apiserver_handle(api, "get", get, err);
    json_decref(get);
    if (!current)
        return NULL;
    json_t *labelled = json_deep_copy(current);
    json_decref(current);
    json_object_set_new(json_object_get(labelled, "metadata"), "labels", json_pack("{s:s}", "by", "b"));
    json_t *update = json_pack("{s:o}", "object", labelled);
    json_t *updated = kl_apiserver_handle(api, "update", update, err);
    json_decref(update);
    return updated;
}

static const char *label_of(const json_t *pod, const char *name)
{
    return json_string_value(json_object_get(json_object_get(json_object_get(pod, "metadata"),
                                                             "labels"), name));
}

/* Two API servers on one etcd: A answers binds and status writes from its
 * cached copy of the pod, with no read first; B changes the pods behind A's
 * back. Each of A's writes must still land on the pod as it is, or fail the
 * way a fresh read would have made it fail. */
static void test_writes_from_cache(const char *settings)
{
    config_t cfg_a = {0}, cfg_b = {0};
    kl_error_t err = {0, ""};
    kl_plugin_t *pa = etcd_store_new(settings, &cfg_a, &err);
    kl_plugin_t *pb = pa ? etcd_store_new(settings, &cfg_b, &err) : NULL;
    kl_apiserver_t *a = pb ? kl_apiserver_new(pa, 0, &err) : NULL;
    kl_apiserver_t *b = a ? kl_apiserver_new(pb, 0, &err) : NULL;
    if (!ok(a && b, "two API servers on one etcd %s", b ? "" : err.text))
        goto done;
    static kept_replies_t k;
    memset(&k, 0, sizeof k);
    kl_apiserver_set_done(a, keep_reply, &k);
    int deferred = 0;
    for (int i = 1; i <= 4; i++) {
        json_t *create = named_request(
            "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"stale-%d\","
            "\"namespace\":\"cached\"},\"spec\":{\"containers\":[{\"name\":\"c\",\"image\":\"busybox\"}]}}}",
            i);
        json_decref(kl_apiserver_handle_token(a, "create", create, (void *)(intptr_t)i, &deferred, &err));
        json_decref(create);
    }
    kl_apiserver_settle(a);
    ok(k.code[1] == 0 && k.code[2] == 0 && k.code[3] == 0 && k.code[4] == 0,
       "A creates four pods, and so holds a copy of each");

    /* B: a label on stale-1, stale-2 bound elsewhere, stale-3 deleted. */
    json_t *updated = label_by_b(b, 1, &err);
    int64_t b_revision = kl_object_revision(updated);
    json_t *bind_b = named_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\","
                                   "\"nodeName\":\"node-b\"}", 2);
    json_t *bound_b = kl_apiserver_handle(b, "bind", bind_b, &err);
    json_t *delete_b = named_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\"}", 3);
    json_t *deleted_b = kl_apiserver_handle(b, "delete", delete_b, &err);
    ok(updated && bound_b && deleted_b, "B labels stale-1, binds stale-2 to node-b and deletes stale-3");

    /* A, from its copies: none of them reads etcd before writing. */
    json_t *status = named_request("{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
                                   "{\"name\":\"stale-%d\",\"namespace\":\"cached\"},\"status\":"
                                   "{\"phase\":\"Running\"}}}", 1);
    json_t *reply = kl_apiserver_handle_token(a, "update_status", status, (void *)(intptr_t)5,
                                              &deferred, &err);
    ok(!reply && deferred, "A submits a status write to stale-1 from its copy");
    json_t *bind_a = named_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\","
                                   "\"nodeName\":\"node-a\"}", 2);
    reply = kl_apiserver_handle_token(a, "bind", bind_a, (void *)(intptr_t)6, &deferred, &err);
    ok(!reply && deferred, "a bind of stale-2 to node-a from its copy");
    json_t *status3 = named_request("{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":"
                                    "{\"name\":\"stale-%d\",\"namespace\":\"cached\"},\"status\":"
                                    "{\"phase\":\"Running\"}}}", 3);
    reply = kl_apiserver_handle_token(a, "update_status", status3, (void *)(intptr_t)7, &deferred, &err);
    ok(!reply && deferred, "a status write to the deleted stale-3 from its copy");
    json_t *bind4 = named_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\","
                                  "\"nodeName\":\"node-a\"}", 4);
    reply = kl_apiserver_handle_token(a, "bind", bind4, (void *)(intptr_t)8, &deferred, &err);
    ok(!reply && deferred, "and a bind of stale-4, which nobody else touched");
    is_int(k.calls[5] + k.calls[6] + k.calls[7] + k.calls[8], 0, "none is answered before A settles");
    kl_apiserver_settle(a);

    ok(k.calls[5] == 1 && k.code[5] == 0 && k.reply[5]
           && json_is_string(json_object_get(json_object_get(k.reply[5], "status"), "phase"))
           && strcmp(json_string_value(json_object_get(json_object_get(k.reply[5], "status"), "phase")),
                     "Running") == 0
           && label_of(k.reply[5], "by") && strcmp(label_of(k.reply[5], "by"), "b") == 0
           && kl_object_revision(k.reply[5]) > b_revision,
       "stale-1's status write ran again from a fresh read: Running, B's label kept, after B's "
       "revision (%s)", k.text[5]);
    ok(k.calls[6] == 1 && k.code[6] == KL_ERR_CONFLICT && strstr(k.text[6], "already assigned to node \"node-b\""),
       "stale-2's bind is refused as a fresh read refuses it: %s", k.text[6]);
    ok(k.calls[7] == 1 && k.code[7] == KL_ERR_NOT_FOUND, "stale-3's status write finds no pod: %s",
       k.text[7]);
    ok(k.calls[8] == 1 && k.code[8] == 0 && k.reply[8]
           && strcmp(json_string_value(json_object_get(json_object_get(k.reply[8], "spec"), "nodeName")),
                     "node-a") == 0,
       "stale-4 is bound to node-a from the copy");
    json_t *get2 = named_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\"}", 2);
    json_t *check = kl_apiserver_handle(b, "get", get2, &err);
    const char *node = json_string_value(json_object_get(json_object_get(check, "spec"), "nodeName"));
    ok(node && strcmp(node, "node-b") == 0, "stale-2 stays on node-b in etcd");
    json_t *empty = json_object();
    json_t *info = kl_apiserver_handle(a, "info", empty, &err);
    json_t *writes = json_object_get(info, "writes");
    is_int(json_integer_value(json_object_get(writes, "fromCache")), 4,
           "api.info: A made all four writes from its copies, with no read before them");
    is_int(json_integer_value(json_object_get(writes, "runAgain")), 3,
           "and ran three of them again from a fresh read");
    json_decref(info);
    json_decref(empty);

    /* A delete from a copy B has changed since: it runs again from a fresh
     * read and deletes the pod as B left it. */
    json_t *updated4 = label_by_b(b, 4, &err);
    json_t *get4 = named_request("{\"kind\":\"Pod\",\"namespace\":\"cached\",\"name\":\"stale-%d\"}", 4);
    reply = kl_apiserver_handle_token(a, "delete", get4, (void *)(intptr_t)9, &deferred, &err);
    ok(updated4 && !reply && deferred, "A submits a delete of stale-4 from its copy, which B has since labelled");
    kl_apiserver_settle(a);
    ok(k.calls[9] == 1 && k.code[9] == 0 && label_of(k.reply[9], "by") && strcmp(label_of(k.reply[9], "by"), "b") == 0
           && kl_object_revision(k.reply[9]) > kl_object_revision(updated4),
       "it ran again from a fresh read and deleted the pod as B left it (%s)", k.text[9]);
    json_t *gone4 = kl_apiserver_handle(b, "get", get4, &err);
    ok(!gone4 && err.code == KL_ERR_NOT_FOUND, "stale-4 is gone from etcd");
    json_decref(gone4);
    json_decref(get4);
    json_decref(updated4);

    json_decref(check);
    json_decref(get2);
    json_decref(status);
    json_decref(bind_a);
    json_decref(status3);
    json_decref(bind4);
    json_decref(updated);
    json_decref(bind_b);
    json_decref(bound_b);
    json_decref(delete_b);
    json_decref(deleted_b);
    for (int i = 0; i < 16; i++)
        json_decref(k.reply[i]);
done:
    kl_apiserver_destroy(&b);
    kl_apiserver_destroy(&a);
    kl_plugin_destroy(&pb);
    kl_plugin_destroy(&pa);
    config_destroy(&cfg_a);
    config_destroy(&cfg_b);
}

/* ---- deletes through the API server on etcd ------------------------------ */

static json_t *handle_now(kl_apiserver_t *api, const char *method, const char *text, kl_error_t *err)
{
    json_t *payload = json_loads(text, 0, NULL);
    json_t *reply = payload ? kl_apiserver_handle(api, method, payload, err) : NULL;
    json_decref(payload);
    return reply;
}

/* Deletes made while other requests are in flight: each answered once, in
 * order with the writes before it; an orphaning delete has its dependents
 * lose their owner before the owner goes, and answers only for itself. */
static void test_deletes_in_flight(const char *settings)
{
    config_t cfg;
    kl_error_t err = {0, ""};
    kl_plugin_t *p = etcd_store_new(settings, &cfg, &err);
    kl_apiserver_t *api = p ? kl_apiserver_new(p, 0, &err) : NULL;
    json_t *rs = NULL;
    if (!ok(api != NULL, "an API server on etcd %s", api ? "" : err.text))
        goto done;
    static write_answers_t a;
    memset(&a, 0, sizeof a);
    kl_apiserver_set_done(api, keep_write, &a);

    rs = handle_now(api, "create",
                            "{\"object\":{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
                            "\"metadata\":{\"name\":\"owner\",\"namespace\":\"del\"},\"spec\":{\"replicas\":2,"
                            "\"selector\":{\"matchLabels\":{\"app\":\"d\"}},\"template\":{\"metadata\":"
                            "{\"labels\":{\"app\":\"d\"}},\"spec\":{\"containers\":[{\"name\":\"c\","
                            "\"image\":\"busybox\"}]}}}}}",
                            &err);
    const char *uid = rs ? kl_object_uid(rs) : NULL;
    int made = 0;
    for (int i = 1; uid && i <= 12; i++) {
        char text[600];
        snprintf(text, sizeof text,
                 "{\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"dep-%d\","
                 "\"namespace\":\"del\",\"labels\":{\"app\":\"d\"}%s%s%s},\"spec\":{\"containers\":"
                 "[{\"name\":\"c\",\"image\":\"busybox\"}]}}}",
                 i, i <= 2 ? ",\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\","
                             "\"name\":\"owner\",\"uid\":\"" : "",
                 i <= 2 ? uid : "", i <= 2 ? "\",\"controller\":true}]" : "");
        json_t *pod = handle_now(api, "create", text, &err);
        made += pod != NULL;
        json_decref(pod);
    }
    if (!ok(rs && made == 12, "a ReplicaSet and 12 pods, two of them its own %s", err.text))
        goto done;

    /* Ten plain deletes and a bind, all in flight together. */
    int deferred = 0, all_deferred = 1;
    for (int i = 3; i <= 12; i++) {
        json_t *del = named_request("{\"kind\":\"Pod\",\"namespace\":\"del\",\"name\":\"dep-%d\"}", i);
        json_t *reply = kl_apiserver_handle_token(api, "delete", del, (void *)(intptr_t)i, &deferred, &err);
        json_decref(del);
        all_deferred &= deferred && !reply;
        json_decref(reply);
    }
    ok(all_deferred, "10 deletes are submitted without waiting for etcd");
    kl_apiserver_settle(api);
    int answered = 1;
    for (int i = 3; i <= 12; i++)
        answered &= a.calls[i] == 1 && a.code[i] == 0 && a.revision[i] > 0;
    ok(answered, "each delete is answered once, with the object at its deletion's revision");
    json_t *gone = handle_now(api, "get", "{\"kind\":\"Pod\",\"namespace\":\"del\",\"name\":\"dep-7\"}", &err);
    ok(!gone && err.code == KL_ERR_NOT_FOUND, "a deleted pod is gone: %s", err.text);
    json_decref(gone);
    json_t *again = named_request("{\"kind\":\"Pod\",\"namespace\":\"del\",\"name\":\"dep-%d\"}", 7);
    json_t *reply = kl_apiserver_handle_token(api, "delete", again, (void *)(intptr_t)20, &deferred, &err);
    json_decref(again);
    if (deferred)
        kl_apiserver_settle(api);
    ok(reply ? 0 : (deferred ? a.code[20] == KL_ERR_NOT_FOUND : err.code == KL_ERR_NOT_FOUND),
       "deleting it again: NotFound");
    json_decref(reply);

    /* The orphaning delete of the owner. */
    int before = a.total;
    json_t *orphan = json_loads("{\"kind\":\"ReplicaSet\",\"namespace\":\"del\",\"name\":\"owner\","
                                "\"propagationPolicy\":\"Orphan\"}", 0, NULL);
    reply = kl_apiserver_handle_token(api, "delete", orphan, (void *)(intptr_t)30, &deferred, &err);
    json_decref(orphan);
    if (deferred)
        kl_apiserver_settle(api);
    int own_answer = reply ? a.total == before : (a.calls[30] == 1 && a.code[30] == 0 && a.total == before + 1);
    ok(own_answer, "the orphaning delete is answered once, for itself alone (%d other answers)",
       a.total - before - (reply ? 0 : 1));
    json_decref(reply);
    int orphaned = 1;
    for (int i = 1; i <= 2; i++) {
        char text[120];
        snprintf(text, sizeof text, "{\"kind\":\"Pod\",\"namespace\":\"del\",\"name\":\"dep-%d\"}", i);
        json_t *pod = handle_now(api, "get", text, &err);
        orphaned &= pod && json_array_size(json_object_get(json_object_get(pod, "metadata"),
                                                           "ownerReferences")) == 0;
        json_decref(pod);
    }
    ok(orphaned, "its two pods remain, without the owner reference");
    gone = handle_now(api, "get", "{\"kind\":\"ReplicaSet\",\"namespace\":\"del\",\"name\":\"owner\"}", &err);
    ok(!gone && err.code == KL_ERR_NOT_FOUND, "and the ReplicaSet is gone");
    json_decref(gone);
done:
    json_decref(rs);
    kl_apiserver_destroy(&api);
    kl_plugin_destroy(&p);
    config_destroy(&cfg);
}

int main(void)
{
    char endpoint[64], settings[256];
    int started = etcd_fixture_start(endpoint, sizeof endpoint, settings, sizeof settings);
    if (started < 0)
        return 0;
    ok(started, "one-member etcd started on %s", endpoint);
    if (started) {
        test_watch_wakeup(settings);
        test_writes_in_flight(settings);
        test_writes_from_cache(settings);
        test_watch_without_round_trips(settings);
        test_deletes_in_flight(settings);
    }
    etcd_fixture_stop();
    return done_testing();
}
