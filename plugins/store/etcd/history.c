/* The etcd store's history (changes and compaction), kept apart from plain reads
 * and writes: it follows etcd through watches and the live change feed. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base64.h"
#include "etcd_store.h"
#include "feed.h"

/* Revisions the change feed keeps: the API server reads it every few
 * milliseconds; one that falls further behind reads etcd's history. */
#define FEED_REVISIONS 1024
/* How long a read of the feed waits for a revision this store has seen
 * written to arrive on it. */
#define FEED_WAIT_MS 20

typedef struct changes_walk {
    etcd_store_t *s;
    const char *prefix;      /* store prefix + requested prefix */
    size_t prefix_len;
    size_t limit;
    int64_t target;          /* stop once events reach this revision */
    kl_store_event_fn visit;
    void *arg;
    size_t delivered;
    int64_t last;            /* revision of the last event delivered */
    int expired;
    int64_t compact_revision;
} changes_walk_t;

static int event_matches(const changes_walk_t *w, const json_t *event)
{
    const char *key = json_string_value(json_object_get(json_object_get(event, "kv"), "key"));
    size_t len;
    int bad;
    char *raw = key ? kl_base64_decode(key, strlen(key), &len, &bad) : NULL;
    int match = raw && len >= w->prefix_len && memcmp(raw, w->prefix, w->prefix_len) == 0;
    free(raw);
    return match;
}

static int event_deliver(changes_walk_t *w, const json_t *event, int *stop, kl_error_t *err)
{
    decoded_kv_t kv, prev;
    const json_t *prev_json = json_object_get(event, "prev_kv");
    if (etcd_kv_decode(w->s, json_object_get(event, "kv"), &kv, "/v3/watch", err) < 0)
        return -1;
    if (prev_json && etcd_kv_decode(w->s, prev_json, &prev, "/v3/watch", err) < 0) {
        etcd_decoded_kv_free(&kv);
        return -1;
    }
    const char *type = json_string_value(json_object_get(event, "type"));
    kl_store_event_t e = {.type = KL_STORE_PUT, .kv = kv.kv, .prev = prev_json ? &prev.kv : NULL};
    if (type && strcmp(type, "DELETE") == 0) {
        e.type = KL_STORE_DELETE;
        e.kv.value = NULL;
        e.kv.value_len = 0;
    }
    w->delivered++;
    w->last = e.kv.mod_revision;
    *stop = w->visit(&e, w->arg);
    etcd_decoded_kv_free(&kv);
    if (prev_json)
        etcd_decoded_kv_free(&prev);
    return 0;
}

/* One watch message. It holds every event of each revision it covers (the
 * watch is not fragmented), so `limit` is applied revision by revision and a
 * caller resuming from *last_revision never misses half a revision. */
/* Delivers events[i..j), the events of revision `rev`, whole or not at
 * all: 1 when the walk is done, 0 for more, -1 on error. */
static int deliver_revision(changes_walk_t *w, const json_t *events, size_t i, size_t j,
                            int64_t rev, kl_error_t *err)
{
    size_t matching = 0;
    for (size_t k = i; k < j; k++)
        matching += event_matches(w, json_array_get(events, k));
    if (w->limit && w->delivered && w->delivered + matching > w->limit)
        return 1;
    for (size_t k = i; k < j; k++) {
        const json_t *e = json_array_get(events, k);
        int stop = 0;
        if (!event_matches(w, e))
            continue;
        if (event_deliver(w, e, &stop, err) < 0)
            return -1;
        if (stop)
            return 1;
    }
    return (w->limit && w->delivered >= w->limit) || rev >= w->target;
}

static int changes_message(const json_t *result, void *arg, kl_error_t *err)
{
    changes_walk_t *w = arg;
    int64_t compact;
    if (etcd_json_int64(result, "compact_revision", &compact) < 0)
        return etcd_bad_reply("/v3/watch", "a malformed compact_revision", err);
    if (compact > 0 || json_is_true(json_object_get(result, "canceled"))) {
        w->expired = 1;
        w->compact_revision = compact;
        return kl_error_set(err, KL_ERR_EXPIRED, "etcd store: the watch was cancelled: %s",
                            compact > 0 ? "history was compacted" : "etcd refused it");
    }
    const json_t *events = json_object_get(result, "events");
    size_t n = json_array_size(events);
    for (size_t i = 0; i < n;) {
        int64_t rev;
        if (etcd_json_int64(json_object_get(json_array_get(events, i), "kv"), "mod_revision",
                            &rev) < 0)
            return etcd_bad_reply("/v3/watch", "an event with a malformed mod_revision", err);
        size_t j = i;
        for (; j < n; j++) {
            int64_t r;
            const json_t *e = json_array_get(events, j);
            if (etcd_json_int64(json_object_get(e, "kv"), "mod_revision", &r) < 0 || r != rev)
                break;
        }
        int rc = deliver_revision(w, events, i, j, rev, err);
        if (rc != 0)
            return rc;
        i = j;
    }
    return 0;
}

/* The store prefix followed by `prefix`, as the keys in etcd start (caller frees). */
static char *full_prefix(const etcd_store_t *s, const char *prefix, size_t *len)
{
    *len = s->prefix_len + strlen(prefix);
    char *full = malloc(*len + 1);
    if (full) {
        memcpy(full, s->prefix, s->prefix_len);
        strcpy(full + s->prefix_len, prefix);
    }
    return full;
}

typedef struct feed_walk {
    changes_walk_t *w;
    kl_error_t *err;
    int failed, stopped;
} feed_walk_t;

static int feed_visit(const json_t *events, int64_t revision, void *arg)
{
    feed_walk_t *fw = arg;
    int rc = deliver_revision(fw->w, events, 0, json_array_size(events), revision, fw->err);
    fw->failed = rc < 0;
    fw->stopped = rc > 0;
    return rc != 0;
}

/* ---- notification ---------------------------------------------------- */

static void listen_to_feed(etcd_store_t *s)
{
    if (s->listener.fd >= 0 && s->feed && !s->listening) {
        etcd_feed_listen(s->feed, &s->listener);
        s->listening = 1;
    }
}

/* The feed itself starts with the first read of changes, not here: until
 * someone watches, etcd is not asked to stream every write. */
int etcd_changes_fd(void *store)
{
    etcd_store_t *s = store;
    if (s->listener.fd < 0) {
        s->listener.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        atomic_store(&s->listener.armed, 1);
    }
    listen_to_feed(s);
    return s->listener.fd;
}

void etcd_changes_fd_close(etcd_store_t *s)
{
    if (s->listening)
        etcd_feed_unlisten(s->feed, &s->listener);
    s->listening = 0;
    if (s->listener.fd >= 0)
        close(s->listener.fd);
    s->listener.fd = -1;
}

/* Clears the descriptor and arms it before a read, so whatever the feed
 * takes in from here on, and this read may miss, wakes the reader. */
static void rearm(etcd_store_t *s)
{
    uint64_t count;
    if (s->listener.fd < 0)
        return;
    if (read(s->listener.fd, &count, sizeof count) < 0 && errno != EAGAIN)
        s->host->log(s->host, KL_LOG_WARN, "etcd store: clearing the change descriptor: %s",
                     strerror(errno));
    atomic_store(&s->listener.armed, 1);
}

/* From here on the feed follows etcd; reads resume from it. */
static void follow_from(etcd_store_t *s, int64_t revision)
{
    if (!s->feed && s->endpoints)
        s->feed = etcd_feed_start((const char *const *)s->endpoints, revision, FEED_REVISIONS);
    listen_to_feed(s);
}

/* ---- changes ---------------------------------------------------------- */

/* A watch over the prefix alone cannot tell "no more events" from "events
 * still coming", so it watches the whole keyspace, where every revision has
 * at least one event, keeps those under the prefix, and stops on reaching
 * the revision current at the call. */
int etcd_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
                 kl_store_event_fn visit, void *arg, int64_t *last_revision,
                 kl_error_t *err)
{
    etcd_store_t *s = store;
    rearm(s);
    if (!prefix)
        prefix = "";
    if (after_revision < 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: revision %" PRId64 " is negative",
                            after_revision);
    if (after_revision < s->compacted)
        return kl_error_set(err, KL_ERR_EXPIRED,
                            "etcd store: changes after revision %" PRId64
                            " are gone: history is compacted up to %" PRId64,
                            after_revision, s->compacted);
    /* The live feed first, another API worker's if it runs one already;
     * etcd's history when it does not reach back. */
    if (!s->feed && s->endpoints)
        s->feed = etcd_feed_join((const char *const *)s->endpoints);
    listen_to_feed(s);
    if (s->feed) {
        size_t full_len;
        char *full = full_prefix(s, prefix, &full_len);
        if (!full)
            return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
        changes_walk_t w = {.s = s, .prefix = full, .prefix_len = full_len, .limit = limit,
                            .target = INT64_MAX, .visit = visit, .arg = arg};
        feed_walk_t fw = {&w, err, 0, 0};
        int64_t reached = 0;
        int rc = etcd_feed_read(s->feed, after_revision, s->revision, FEED_WAIT_MS, feed_visit, &fw,
                                &reached);
        free(full);
        if (rc == 0) {
            if (fw.failed)
                return -1;
            if (last_revision)
                *last_revision = fw.stopped && w.delivered ? w.last
                                 : reached > after_revision ? reached : after_revision;
            return 0;
        }
    }
    /* Reading at after_revision both checks it is not compacted and gives
     * the current revision in the header. */
    int64_t target = 0;
    if (after_revision > 0) {
        char *key = kl_base64_encode(s->prefix_len ? s->prefix : "", s->prefix_len ? s->prefix_len : 1);
        char rev_text[24];
        kl_error_t probe_err = {0, ""};
        json_t *reply = etcd_call(s, "/v3/kv/range",
                                  key ? json_pack("{s:s, s:b, s:s}", "key", key, "count_only", 1,
                                                  "revision",
                                                  etcd_int64_text(after_revision, rev_text))
                                      : NULL,
                                  NULL, &probe_err);
        free(key);
        if (!reply && probe_err.code == KL_ERR_EXPIRED) {
            if (after_revision > s->compacted)
                s->compacted = after_revision + 1;
            return kl_error_set(err, KL_ERR_EXPIRED,
                                "etcd store: changes after revision %" PRId64 " are gone: history "
                                "is compacted past it", after_revision);
        }
        if (!reply && probe_err.code != KL_ERR_INVALID) {  /* INVALID: a future revision */
            if (err)
                *err = probe_err;
            return -1;
        }
        int rc = reply ? etcd_note_header(s, reply, "/v3/kv/range", &target, err) : 0;
        json_decref(reply);
        if (rc < 0)
            return -1;
    }
    if (!target && (target = etcd_current_revision(s, err)) < 0)
        return -1;
    if (target <= after_revision) {
        if (last_revision)
            *last_revision = target;
        follow_from(s, target);
        return 0;
    }

    size_t full_len;
    char *full = full_prefix(s, prefix, &full_len);
    if (!full)
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
    changes_walk_t w = {.s = s, .prefix = full, .prefix_len = full_len, .limit = limit,
                        .target = target, .visit = visit, .arg = arg};
    char start_text[24];
    json_t *body = json_pack("{s:{s:s, s:s, s:s, s:b}}", "create_request", "key", "AA==",
                             "range_end", "AA==", "start_revision",
                             etcd_int64_text(after_revision + 1, start_text), "prev_kv", 1);
    size_t messages = 0;
    kl_error_t stream_err = {0, ""};
    int rc = body ? kl_gateway_stream(s->gateway, "/v3/watch", body, s->timeout_ms, changes_message,
                                      &w, &messages, &stream_err)
                  : kl_error_set(&stream_err, KL_ERR_INTERNAL, "etcd store: out of memory");
    json_decref(body);
    free(full);
    if (w.expired) {
        if (w.compact_revision > s->compacted)
            s->compacted = w.compact_revision;
        return kl_error_set(err, KL_ERR_EXPIRED,
                            "etcd store: changes after revision %" PRId64
                            " are gone: history is compacted up to %" PRId64,
                            after_revision, w.compact_revision);
    }
    /* A stream cut short still delivered whole revisions: report those. */
    if (rc < 0 && !w.delivered) {
        if (stream_err.code != KL_ERR_TIMEOUT) {
            if (err)
                *err = stream_err;
            return -1;
        }
        w.last = after_revision;  /* nothing is known past it */
    }
    int64_t last = w.delivered ? w.last : rc == 0 ? target : w.last;
    if (last_revision)
        *last_revision = last;
    follow_from(s, last);
    return 0;
}

int etcd_compact(void *store, int64_t revision, kl_error_t *err)
{
    etcd_store_t *s = store;
    if (revision <= 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: cannot compact at revision %" PRId64,
                            revision);
    char rev_text[24];
    int maybe_applied = 0;
    kl_error_t call_err = {0, ""};
    json_t *reply = etcd_call(s, "/v3/kv/compaction",
                              json_pack("{s:s}", "revision", etcd_int64_text(revision, rev_text)),
                              &maybe_applied, &call_err);
    /* Compacting again at or below the compacted revision changes nothing. */
    if (!reply && call_err.code != KL_ERR_EXPIRED) {
        if (err)
            *err = call_err;
        return -1;
    }
    if (reply)
        etcd_note_header(s, reply, "/v3/kv/compaction", NULL, NULL);
    json_decref(reply);
    if (revision > s->compacted)
        s->compacted = revision;
    return 0;
}

int64_t etcd_compacted_revision(void *store)
{
    return ((etcd_store_t *)store)->compacted;
}
