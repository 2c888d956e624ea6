/* The etcd store's writes, kept apart from its reads: each is a guarded
 * transaction whose failure branch tells a retried write etcd already applied. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "etcd_store.h"
#include "reply_scan.h"

/* Every write is one transaction guarded by a compare, with a read of the key
 * in its failure branch, so a failure names its cause in one round trip.
 * When the gateway had to retry after sending (the first endpoint died or
 * timed out with the request in flight), etcd may have applied the first
 * attempt: the guard then fails on our own write. The failure branch's read
 * tells: a key holding exactly our value (and lease) past the expected
 * revision is reported as our success; a removed key that is gone, likewise.
 * The residual risk is another writer storing the identical value in that
 * window, which leaves the store in the state the caller asked for anyway. */

typedef enum write_kind {
    WRITE_CREATE,
    WRITE_UPDATE,
    WRITE_REMOVE
} write_kind_t;

/* The transaction's text, written directly: key and value are base64,
 * which JSON never escapes, and building and encoding a jansson tree for
 * each write cost about a tenth of the plugin's cpu. Caller frees. */
static char *txn_text(write_kind_t kind, const char *k, const char *v, int64_t expected,
                      int64_t lease, int keep_lease)
{
    char guard[160], rev[24];
    const char *op = kind == WRITE_REMOVE ? "request_delete_range" : "request_put";
    if (kind == WRITE_CREATE || expected <= 0)
        snprintf(guard, sizeof guard, "\"target\":\"CREATE\",\"result\":\"%s\",\"create_revision\":\"0\"",
                 kind == WRITE_CREATE ? "EQUAL" : "GREATER");
    else
        snprintf(guard, sizeof guard, "\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"%s\"",
                 etcd_int64_text(expected, rev));
    char lease_field[48] = "";
    if (kind != WRITE_REMOVE && lease)
        snprintf(lease_field, sizeof lease_field, ",\"lease\":\"%s\"", etcd_int64_text(lease, rev));
    char *text = NULL;
    int n = asprintf(&text,
                     "{\"compare\":[{\"key\":\"%s\",%s}],"
                     "\"success\":[{\"%s\":{\"key\":\"%s\"%s%s%s%s%s}}],"
                     "\"failure\":[{\"request_range\":{\"key\":\"%s\"}}]}",
                     k, guard, op, k, v ? ",\"value\":\"" : "", v ? v : "", v ? "\"" : "", lease_field,
                     kind != WRITE_REMOVE && keep_lease ? ",\"ignore_lease\":true" : "", k);
    return n < 0 ? NULL : text;
}

/* One write as etcd_write() and etcd_submit() both describe it. */
typedef struct write_spec {
    write_kind_t kind;
    const char *key;
    const char *value;
    size_t value_len;
    int64_t expected;
    int64_t lease;
    int keep_lease;
} write_spec_t;

/* The transaction's text for `w` (caller frees), or NULL with err filled. */
static char *write_body(etcd_store_t *s, const write_spec_t *w, kl_error_t *err)
{
    if (etcd_check_key(w->key, err) < 0)
        return NULL;
    if (w->kind != WRITE_REMOVE && !w->value && w->value_len) {
        kl_error_set(err, KL_ERR_INVALID, "etcd store: value of \"%.200s\" is NULL", w->key);
        return NULL;
    }
    if (w->expected < 0) {
        kl_error_set(err, KL_ERR_INVALID,
                     "etcd store: expected revision %" PRId64 " of \"%.200s\" is negative",
                     w->expected, w->key);
        return NULL;
    }
    char *k = etcd_key_b64(s, w->key, 0);
    char *v = w->kind != WRITE_REMOVE ? kl_base64_encode(w->value ? w->value : "", w->value_len)
                                      : NULL;
    char *body = k && (v || w->kind == WRITE_REMOVE)
                     ? txn_text(w->kind, k, v, w->expected, w->lease, w->keep_lease)
                     : NULL;
    free(k);
    free(v);
    if (!body)
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory encoding a write of \"%.200s\"",
                     w->key);
    return body;
}

/* What etcd's answer to the transaction says about `w` (reply taken). */
static int write_outcome(etcd_store_t *s, const write_spec_t *w, json_t *reply, int maybe_applied,
                         int64_t *revision, kl_error_t *err)
{
    int64_t header_rev;
    int rc = etcd_note_header(s, reply, "/v3/kv/txn", &header_rev, err);
    if (rc == 0 && json_is_true(json_object_get(reply, "succeeded"))) {
        if (revision)
            *revision = header_rev;
        json_decref(reply);
        return 0;
    }
    const json_t *range = json_object_get(json_array_get(json_object_get(reply, "responses"), 0),
                                          "response_range");
    const json_t *kvs = json_object_get(range, "kvs");
    decoded_kv_t d = {0};
    int present = json_array_size(kvs) > 0;
    if (rc == 0 && present)
        rc = etcd_kv_decode(s, json_array_get(kvs, 0), &d, "/v3/kv/txn", err);
    if (rc == 0) {
        int ours = maybe_applied && present && w->kind != WRITE_REMOVE && d.kv.value_len == w->value_len
                   && (!w->value_len || memcmp(d.kv.value, w->value, w->value_len) == 0)
                   && (w->keep_lease || d.lease == w->lease) && d.kv.mod_revision > w->expected;
        if (ours || (maybe_applied && !present && w->kind == WRITE_REMOVE)) {
            if (revision)
                *revision = ours ? d.kv.mod_revision : header_rev;
            s->host->log(s->host, KL_LOG_INFO,
                         "etcd store: a retried write of \"%.200s\" found it already applied", w->key);
        } else if (w->kind == WRITE_CREATE) {
            rc = kl_error_set(err, present ? KL_ERR_EXISTS : KL_ERR_INTERNAL,
                              present ? "etcd store: key \"%.200s\" already exists"
                                      : "etcd store: creating \"%.200s\" failed with no key present",
                              w->key);
        } else if (!present) {
            rc = kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: key \"%.200s\" not found", w->key);
        } else {
            rc = kl_error_set(err, KL_ERR_CONFLICT,
                              "etcd store: key \"%.200s\" is at revision %" PRId64 ", not %" PRId64,
                              w->key, d.kv.mod_revision, w->expected);
        }
    }
    etcd_decoded_kv_free(&d);
    json_decref(reply);
    return rc;
}

static int etcd_write(etcd_store_t *s, write_kind_t kind, const char *key, const char *value,
                      size_t value_len, int64_t expected, int64_t lease, int keep_lease,
                      int64_t *revision, kl_error_t *err)
{
    write_spec_t w = {kind, key, value, value_len, expected, lease, keep_lease};
    char *body = write_body(s, &w, err);
    if (!body)
        return -1;
    int maybe_applied = 0;
    json_t *reply = etcd_call_text(s, "/v3/kv/txn", body, &maybe_applied, err);
    if (!reply)
        return -1;
    return write_outcome(s, &w, reply, maybe_applied, revision, err);
}

/* ---- requests in flight together (ABI 1.3) ----------------------------- */

/* A submitted write: its own copies of key and value, which the outcome
 * compares against when a retry finds a write already applied. */
typedef struct submitted {
    etcd_store_t *store;
    write_spec_t spec;
    char *key;
    char *value;
    kl_store_done_fn done;
    void *arg;
} submitted_t;

static void submitted_free(submitted_t *sub)
{
    if (!sub)
        return;
    free(sub->key);
    free(sub->value);
    free(sub);
}

static void submitted_done(kl_gateway_answer_t *answer, int maybe_applied,
                           const kl_error_t *gateway_err, void *arg)
{
    submitted_t *sub = arg;
    kl_error_t err = {0, ""};
    int64_t revision = 0;
    int rc = -1;
    if (gateway_err) {
        err = *gateway_err;
    } else if (etcd_scan_txn_succeeded(sub->store, answer->text, answer->len, &revision)
               == ETCD_SCAN_READ) {
        rc = 0;
    } else {
        json_t *reply = kl_gateway_parse(answer, "/v3/kv/txn", &err);
        if (reply)
            rc = write_outcome(sub->store, &sub->spec, reply, maybe_applied, &revision, &err);
    }
    sub->done(rc, rc == 0 ? revision : 0, NULL, rc == 0 ? NULL : &err, sub->arg);
    submitted_free(sub);
}

int etcd_submit(void *store, const kl_store_op_t *op, kl_store_done_fn done, void *arg,
                kl_error_t *err)
{
    etcd_store_t *s = store;
    if (!op || !done || op->kind < KL_STORE_OP_GET || op->kind > KL_STORE_OP_REMOVE)
        return kl_error_set(err, KL_ERR_INVALID,
                            "etcd store: submit() needs a get, create, update or remove");
    if (op->kind == KL_STORE_OP_GET)
        return etcd_submit_get(s, op->key, done, arg, err);
    write_kind_t kind = op->kind == KL_STORE_OP_CREATE   ? WRITE_CREATE
                        : op->kind == KL_STORE_OP_UPDATE ? WRITE_UPDATE
                                                         : WRITE_REMOVE;
    write_spec_t w = {kind, op->key, op->value, op->value_len,
                      kind == WRITE_CREATE ? 0 : op->expected_mod_revision, 0, 0};
    char *body = write_body(s, &w, err);
    if (!body)
        return -1;
    submitted_t *sub = calloc(1, sizeof *sub);
    if (sub) {
        sub->key = strdup(w.key);
        sub->value = kind != WRITE_REMOVE ? malloc(w.value_len + 1) : NULL;
    }
    if (!sub || !sub->key || (kind != WRITE_REMOVE && !sub->value)) {
        submitted_free(sub);
        free(body);
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory submitting a write");
    }
    if (sub->value && w.value_len)
        memcpy(sub->value, w.value, w.value_len);
    sub->store = s;
    sub->spec = w;
    sub->spec.key = sub->key;
    sub->spec.value = sub->value;
    sub->done = done;
    sub->arg = arg;
    if (kl_gateway_start(s->gateway, "/v3/kv/txn", body, submitted_done, sub, err) < 0) {
        submitted_free(sub);
        return -1;
    }
    return 0;
}

int etcd_settle(void *store, int wait, kl_error_t *err)
{
    (void)err;
    etcd_store_t *s = store;
    if (wait)
        kl_gateway_finish_all(s->gateway);
    else
        kl_gateway_finish_ready(s->gateway);
    return 0;
}

int etcd_settle_fd(void *store)
{
    etcd_store_t *s = store;
    return kl_gateway_progress_fd(s->gateway);
}

int etcd_create(void *store, const char *key, const char *value, size_t value_len,
                int64_t *revision, kl_error_t *err)
{
    return etcd_write(store, WRITE_CREATE, key, value, value_len, 0, 0, 0, revision, err);
}

/* A plain update detaches the key from any lease, like etcd's own put and
 * as store.h specifies for every store. */
int etcd_update(void *store, const char *key, const char *value, size_t value_len,
                int64_t expected_mod_revision, int64_t *revision, kl_error_t *err)
{
    return etcd_write(store, WRITE_UPDATE, key, value, value_len, expected_mod_revision, 0, 0,
                      revision, err);
}

int etcd_remove(void *store, const char *key, int64_t expected_mod_revision,
                int64_t *revision, kl_error_t *err)
{
    return etcd_write(store, WRITE_REMOVE, key, NULL, 0, expected_mod_revision, 0, 0, revision, err);
}

int etcd_put_with_lease(void *store, const char *key, const char *value, size_t value_len,
                        int64_t expected_mod_revision, int64_t lease_id, int64_t *revision,
                        kl_error_t *err)
{
    if (lease_id < 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: lease %" PRId64 " is negative", lease_id);
    if (expected_mod_revision == -1)
        return etcd_write(store, WRITE_CREATE, key, value, value_len, 0, lease_id, 0, revision, err);
    return etcd_write(store, WRITE_UPDATE, key, value, value_len, expected_mod_revision, lease_id, 0,
                      revision, err);
}
