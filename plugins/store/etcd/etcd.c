/* The `etcd` store plugin: keelson's revisioned key-value store kept in a
 * real etcd 3.4 cluster, reached through its v3 JSON gateway. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <keelson/store.h>

#include "base64.h"
#include "etcd_store.h"
#include "feed.h"
#include "gateway.h"
#include "reply_scan.h"

#define DEFAULT_PREFIX "/keelson"
#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_DIAL_TIMEOUT_MS 1000
/* Keys per range request: keeps every reply small whatever the limit. */
#define PAGE_SIZE 1000

/* ---- open / close ----------------------------------------------------------- */

static void etcd_close(void *store);

static int setting_range(long long v, long long low, long long high, const char *name,
                         kl_error_t *err)
{
    if (v < low || v > high)
        return kl_error_set(err, KL_ERR_INVALID,
                            "etcd store: setting %s = %lld is out of range (%lld to %lld ms)", name, v,
                            low, high);
    return 0;
}

static void *etcd_open(const kl_host_t *host, kl_error_t *err)
{
    long long timeout_ms = host->setting_int(host, "timeout_ms", DEFAULT_TIMEOUT_MS);
    if (setting_range(timeout_ms, 1, 600000, "timeout_ms", err) < 0)
        return NULL;
    long long dial_ms = host->setting_int(host, "dial_timeout_ms",
                                          timeout_ms < DEFAULT_DIAL_TIMEOUT_MS ? timeout_ms
                                                                               : DEFAULT_DIAL_TIMEOUT_MS);
    if (setting_range(dial_ms, 1, 600000, "dial_timeout_ms", err) < 0)
        return NULL;
    const char *endpoints[65];
    size_t count = 0;
    for (const char *e; (e = host->setting_list_item(host, "endpoints", count));) {
        if (count == 64) {
            kl_error_set(err, KL_ERR_INVALID, "etcd store: setting endpoints lists more than 64 endpoints");
            return NULL;
        }
        endpoints[count++] = e;
    }
    endpoints[count] = NULL;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: libcurl failed to initialise");
        return NULL;
    }
    etcd_store_t *s = calloc(1, sizeof *s);
    const char *prefix = host->setting_string(host, "prefix", DEFAULT_PREFIX);
    if (!s || !(s->prefix = strdup(prefix))) {
        free(s);
        curl_global_cleanup();
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
        return NULL;
    }
    s->host = host;
    s->listener.fd = -1;
    s->prefix_len = strlen(s->prefix);
    s->endpoints = calloc(count + 1, sizeof *s->endpoints);
    for (size_t i = 0; s->endpoints && i < count; i++)
        if (!(s->endpoints[i] = strdup(endpoints[i]))) {
            kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
            etcd_close(s);
            return NULL;
        }
    s->timeout_ms = (long)timeout_ms;
    s->gateway = kl_gateway_new(endpoints, (long)timeout_ms, (long)dial_ms, err);
    if (!s->gateway) {
        etcd_close(s);
        return NULL;
    }
    /* A cluster that is down now may be up later: start anyway, and let
     * each request report it. */
    kl_error_t probe_err = {0, ""};
    if (etcd_current_revision(s, &probe_err) < 0)
        host->log(host, KL_LOG_WARN, "%s; requests will fail until etcd answers", probe_err.text);
    return s;
}

static void etcd_close(void *store)
{
    etcd_store_t *s = store;
    if (!s)
        return;
    etcd_changes_fd_close(s);
    etcd_feed_stop(&s->feed);
    kl_gateway_destroy(&s->gateway);
    for (size_t i = 0; s->endpoints && s->endpoints[i]; i++)
        free(s->endpoints[i]);
    free(s->endpoints);
    free(s->prefix);
    free(s);
    curl_global_cleanup();
}

/* ---- reads ---------------------------------------------------------------- */

/* The store's revision now, from a range that matches at most the prefix key
 * itself and returns only a count. */
int64_t etcd_current_revision(etcd_store_t *s, kl_error_t *err)
{
    char *key = kl_base64_encode(s->prefix_len ? s->prefix : "", s->prefix_len ? s->prefix_len : 1);
    json_t *reply = etcd_call(s, "/v3/kv/range",
                              key ? json_pack("{s:s, s:b}", "key", key, "count_only", 1) : NULL,
                              NULL, err);
    free(key);
    int64_t rev = -1;
    if (reply && etcd_note_header(s, reply, "/v3/kv/range", &rev, err) < 0)
        rev = -1;
    json_decref(reply);
    return rev;
}

static int64_t etcd_revision(void *store)
{
    etcd_store_t *s = store;
    /* Other processes write too (KL_STORE_SHARED); when etcd cannot be
     * reached the last revision seen is the best answer left. */
    etcd_current_revision(s, NULL);
    return s->revision;
}

/* What etcd's answer to a get of `key` says (reply taken): the key's
 * state to visit, or KL_ERR_NOT_FOUND. */
static int get_outcome(etcd_store_t *s, const char *key, json_t *reply, int64_t *revision,
                       kl_store_visit_fn visit, void *arg, kl_error_t *err)
{
    int rc = etcd_note_header(s, reply, "/v3/kv/range", revision, err);
    json_t *kvs = json_object_get(reply, "kvs");
    if (rc == 0 && json_array_size(kvs) == 0)
        rc = kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: key \"%.200s\" not found", key);
    decoded_kv_t d;
    if (rc == 0 && etcd_kv_decode(s, json_array_get(kvs, 0), &d, "/v3/kv/range", err) == 0) {
        if (visit)
            visit(&d.kv, arg);
        etcd_decoded_kv_free(&d);
    } else {
        rc = -1;
    }
    json_decref(reply);
    return rc;
}

/* The body of a get (caller frees), or NULL with err filled. */
static char *get_body(etcd_store_t *s, const char *key, kl_error_t *err)
{
    if (etcd_check_key(key, err) < 0)
        return NULL;
    char *k = etcd_key_b64(s, key, 0);
    char *body = NULL;
    if (!k || asprintf(&body, "{\"key\":\"%s\"}", k) < 0)
        body = NULL;
    free(k);
    if (!body)
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory reading \"%.200s\"", key);
    return body;
}

static int etcd_get(void *store, const char *key, kl_store_visit_fn visit, void *arg,
                    kl_error_t *err)
{
    etcd_store_t *s = store;
    char *body = get_body(s, key, err);
    if (!body)
        return -1;
    json_t *reply = etcd_call_text(s, "/v3/kv/range", body, NULL, err);
    if (!reply)
        return -1;
    return get_outcome(s, key, reply, NULL, visit, arg, err);
}

typedef struct submitted_get {
    etcd_store_t *store;
    char *key;
    kl_store_done_fn done;
    void *arg;
    int64_t revision;  /* the reply's, read before the key is visited */
} submitted_get_t;

static int submitted_visit(const kl_store_kv_t *kv, void *arg)
{
    submitted_get_t *g = arg;
    g->done(0, g->revision, kv, NULL, g->arg);
    return 0;
}

/* get_outcome() visits the key exactly when it succeeds, and the visit
 * reports it done; a failure is reported here. */
static void submitted_get_done(kl_gateway_answer_t *answer, int maybe_applied,
                               const kl_error_t *gateway_err, void *arg)
{
    (void)maybe_applied;
    submitted_get_t *g = arg;
    kl_error_t err = {0, ""};
    int found = 0;
    decoded_kv_t d;
    json_t *reply = NULL;
    if (gateway_err) {
        g->done(-1, 0, NULL, gateway_err, g->arg);
    } else if (etcd_scan_get_reply(g->store, answer->text, answer->len, &g->revision, &found, &d)
               == ETCD_SCAN_READ) {
        if (found) {
            g->done(0, g->revision, &d.kv, NULL, g->arg);
            etcd_decoded_kv_free(&d);
        } else {
            kl_error_set(&err, KL_ERR_NOT_FOUND, "etcd store: key \"%.200s\" not found", g->key);
            g->done(-1, 0, NULL, &err, g->arg);
        }
    } else if (!(reply = kl_gateway_parse(answer, "/v3/kv/range", &err))
               || get_outcome(g->store, g->key, reply, &g->revision, submitted_visit, g, &err) < 0) {
        g->done(-1, 0, NULL, &err, g->arg);
    }
    free(g->key);
    free(g);
}

int etcd_submit_get(etcd_store_t *s, const char *key, kl_store_done_fn done, void *arg,
                    kl_error_t *err)
{
    char *body = get_body(s, key, err);
    if (!body)
        return -1;
    submitted_get_t *g = calloc(1, sizeof *g);
    if (g && !(g->key = strdup(key))) {
        free(g);
        g = NULL;
    }
    if (!g) {
        free(body);
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory submitting a get");
    }
    g->store = s;
    g->done = done;
    g->arg = arg;
    if (kl_gateway_start(s->gateway, "/v3/kv/range", body, submitted_get_done, g, err) < 0) {
        free(g->key);
        free(g);
        return -1;
    }
    return 0;
}

/* range() and range_at(): pages of PAGE_SIZE keys, every page read at the
 * revision of the first so the whole result is one snapshot. */
static int range_pages(etcd_store_t *s, const char *prefix, const char *start_after, size_t limit,
                       int64_t at_revision, kl_store_visit_fn visit, void *arg, int64_t *revision,
                       int *more, kl_error_t *err)
{
    if (!prefix)
        prefix = "";
    if (at_revision < 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: revision %" PRId64 " is negative",
                            at_revision);
    int all_keys = s->prefix_len == 0 && !*prefix;
    char *start = start_after && strcmp(start_after, prefix) >= 0 ? etcd_key_b64(s, start_after, 1)
                  : all_keys ? kl_base64_encode("", 1) : etcd_key_b64(s, prefix, 0);
    char *end = etcd_prefix_end_b64(s, prefix);
    if (more)
        *more = 0;
    int rc = 0;
    size_t visited = 0;
    int64_t read_at = at_revision;
    while (rc == 0) {
        if (!start || !end) {
            rc = kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory building a range");
            break;
        }
        size_t page = limit && limit - visited < PAGE_SIZE ? limit - visited : PAGE_SIZE;
        char page_text[24], rev_text[24];
        json_t *body = json_pack("{s:s, s:s, s:s}", "key", start, "range_end", end, "limit",
                                 etcd_int64_text((int64_t)page, page_text));
        if (body && read_at)
            json_object_set_new(body, "revision", json_string(etcd_int64_text(read_at, rev_text)));
        json_t *reply = etcd_call(s, "/v3/kv/range", body, NULL, err);
        if (!reply) {
            if (err && err->code == KL_ERR_EXPIRED)
                kl_error_set(err, KL_ERR_EXPIRED,
                             "etcd store: revision %" PRId64 " of prefix \"%.200s\" has been compacted",
                             read_at, prefix);
            rc = -1;
            break;
        }
        int64_t header_rev;
        if (etcd_note_header(s, reply, "/v3/kv/range", &header_rev, err) < 0) {
            json_decref(reply);
            rc = -1;
            break;
        }
        if (!read_at)
            read_at = header_rev;
        json_t *kvs = json_object_get(reply, "kvs");
        int reply_more = json_is_true(json_object_get(reply, "more"));
        int stopped = 0;
        size_t i, n = json_array_size(kvs);
        for (i = 0; i < n && !stopped; i++) {
            decoded_kv_t d;
            if (etcd_kv_decode(s, json_array_get(kvs, i), &d, "/v3/kv/range", err) < 0) {
                rc = -1;
                break;
            }
            visited++;
            if (visit)
                stopped = visit(&d.kv, arg);
            if (i + 1 == n) {
                free(start);
                start = etcd_key_b64(s, d.kv.key, 1);
            }
            etcd_decoded_kv_free(&d);
        }
        json_decref(reply);
        if (rc < 0)
            break;
        int cut = stopped ? i < n || reply_more : reply_more && limit && visited >= limit;
        if (cut && more)
            *more = 1;
        if (stopped || !reply_more || (limit && visited >= limit))
            break;
    }
    if (rc == 0 && revision)
        *revision = read_at;
    free(start);
    free(end);
    return rc;
}

static int etcd_range(void *store, const char *prefix, const char *start_after, size_t limit,
                      kl_store_visit_fn visit, void *arg, int64_t *revision, kl_error_t *err)
{
    return range_pages(store, prefix, start_after, limit, 0, visit, arg, revision, NULL, err);
}

static int etcd_range_at(void *store, const char *prefix, const char *start_after, size_t limit,
                         int64_t at_revision, kl_store_visit_fn visit, void *arg, int64_t *revision,
                         int *more, kl_error_t *err)
{
    return range_pages(store, prefix, start_after, limit, at_revision, visit, arg, revision, more,
                       err);
}

/* ---- the plugin ------------------------------------------------------------ */

static uint32_t etcd_features(void *store)
{
    (void)store;
    return KL_STORE_DURABLE | KL_STORE_SHARED;
}

static const kl_setting_spec_t etcd_settings[] = {
    {"endpoints", KL_SETTING_STRING_LIST, 1,
     "etcd client URLs, e.g. [ \"http://127.0.0.1:2379\" ]; the others take over when one fails"},
    {"prefix", KL_SETTING_STRING, 0, "prepended verbatim to every key in etcd (default \"/keelson\")"},
    {"timeout_ms", KL_SETTING_INT, 0, "limit of one request on one endpoint (default 2000)"},
    {"dial_timeout_ms", KL_SETTING_INT, 0, "limit of connecting to an endpoint (default 1000)"},
    KL_SETTINGS_END
};

static const kl_store_ops_t etcd_ops = {
    .open = etcd_open,
    .close = etcd_close,
    .get = etcd_get,
    .range = etcd_range,
    .create = etcd_create,
    .update = etcd_update,
    .remove = etcd_remove,
    .revision = etcd_revision,
    .features = etcd_features,
    .range_at = etcd_range_at,
    .changes = etcd_changes,
    .compact = etcd_compact,
    .compacted_revision = etcd_compacted_revision,
    .flush = NULL,  /* etcd answers a write only after its own fsync */
    .lease_grant = etcd_lease_grant,
    .lease_keepalive = etcd_lease_keepalive,
    .lease_revoke = etcd_lease_revoke,
    .put_with_lease = etcd_put_with_lease,
    .tick = NULL,   /* etcd expires leases and compacts on its own */
    .changes_fd = etcd_changes_fd,
    .submit = etcd_submit,
    .settle = etcd_settle,
    .settle_fd = etcd_settle_fd,
};

KL_STORE_PLUGIN("etcd", "0.1.0", "revisioned key-value store in an etcd 3.4 cluster (durable, shared)",
                etcd_settings, etcd_ops);
