/* The etcd store's writes, kept apart from its reads: each is a guarded
 * transaction whose failure branch tells a retried write etcd already applied. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "etcd_store.h"

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

static int etcd_write(etcd_store_t *s, write_kind_t kind, const char *key, const char *value,
                      size_t value_len, int64_t expected, int64_t lease, int keep_lease,
                      int64_t *revision, kl_error_t *err)
{
    if (etcd_check_key(key, err) < 0)
        return -1;
    if (kind != WRITE_REMOVE && !value && value_len)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: value of \"%.200s\" is NULL", key);
    if (expected < 0)
        return kl_error_set(err, KL_ERR_INVALID,
                            "etcd store: expected revision %" PRId64 " of \"%.200s\" is negative",
                            expected, key);
    char *k = etcd_key_b64(s, key, 0);
    char *v = kind != WRITE_REMOVE ? kl_base64_encode(value ? value : "", value_len) : NULL;
    char *body = k && (v || kind == WRITE_REMOVE) ? txn_text(kind, k, v, expected, lease, keep_lease)
                                                  : NULL;
    free(k);
    free(v);
    int maybe_applied = 0;
    json_t *reply = etcd_call_text(s, "/v3/kv/txn", body, &maybe_applied, err);
    if (!reply)
        return -1;
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
        int ours = maybe_applied && present && kind != WRITE_REMOVE && d.kv.value_len == value_len
                   && (!value_len || memcmp(d.kv.value, value, value_len) == 0)
                   && (keep_lease || d.lease == lease) && d.kv.mod_revision > expected;
        if (ours || (maybe_applied && !present && kind == WRITE_REMOVE)) {
            if (revision)
                *revision = ours ? d.kv.mod_revision : header_rev;
            s->host->log(s->host, KL_LOG_INFO,
                         "etcd store: a retried write of \"%.200s\" found it already applied", key);
        } else if (kind == WRITE_CREATE) {
            rc = kl_error_set(err, present ? KL_ERR_EXISTS : KL_ERR_INTERNAL,
                              present ? "etcd store: key \"%.200s\" already exists"
                                      : "etcd store: creating \"%.200s\" failed with no key present",
                              key);
        } else if (!present) {
            rc = kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: key \"%.200s\" not found", key);
        } else {
            rc = kl_error_set(err, KL_ERR_CONFLICT,
                              "etcd store: key \"%.200s\" is at revision %" PRId64 ", not %" PRId64,
                              key, d.kv.mod_revision, expected);
        }
    }
    etcd_decoded_kv_free(&d);
    json_decref(reply);
    return rc;
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
