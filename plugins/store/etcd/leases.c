/* The etcd store's leases: grant, keepalive and revoke talk to etcd's lease
 * service rather than its key space; the writes attach keys to leases. */
#include <inttypes.h>

#include "etcd_store.h"

int etcd_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err)
{
    etcd_store_t *s = store;
    if (ttl_ms <= 0)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: lease TTL %" PRId64 " ms is not positive",
                            ttl_ms);
    /* etcd counts whole seconds (and raises short TTLs to its minimum);
     * rounding up never expires a key early. An unknown outcome just leaves
     * an unused lease to expire. */
    char ttl_text[24];
    json_t *reply = etcd_call(s, "/v3/lease/grant",
                              json_pack("{s:s}", "TTL",
                                        etcd_int64_text((ttl_ms + 999) / 1000, ttl_text)),
                              NULL, err);
    if (!reply)
        return -1;
    int64_t id = 0;
    const char *error = json_string_value(json_object_get(reply, "error"));
    int rc = 0;
    if (error && *error)
        rc = kl_error_set(err, KL_ERR_UNAVAILABLE, "etcd store: granting a lease failed: %.300s", error);
    else if (etcd_json_int64(reply, "ID", &id) < 0 || id <= 0)
        rc = etcd_bad_reply("/v3/lease/grant", "no valid lease ID", err);
    else if (lease_id)
        *lease_id = id;
    json_decref(reply);
    return rc;
}

static int keepalive_message(const json_t *result, void *arg, kl_error_t *err)
{
    int64_t *ttl = arg;
    if (etcd_json_int64(result, "TTL", ttl) < 0)
        return etcd_bad_reply("/v3/lease/keepalive", "a malformed TTL", err);
    return 1;
}

int etcd_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err)
{
    etcd_store_t *s = store;
    char id_text[24];
    json_t *body = json_pack("{s:s}", "ID", etcd_int64_text(lease_id, id_text));
    int64_t ttl = 0;
    size_t messages;
    int rc = body ? kl_gateway_stream(s->gateway, "/v3/lease/keepalive", body, s->timeout_ms,
                                      keepalive_message, &ttl, &messages, err)
                  : kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory");
    json_decref(body);
    if (rc == 0 && ttl <= 0)
        rc = kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: lease %" PRId64 " not found (expired?)",
                          lease_id);
    return rc;
}

int etcd_lease_revoke(void *store, int64_t lease_id, kl_error_t *err)
{
    etcd_store_t *s = store;
    char id_text[24];
    int maybe_applied = 0;
    kl_error_t call_err = {0, ""};
    json_t *reply = etcd_call(s, "/v3/lease/revoke",
                              json_pack("{s:s}", "ID", etcd_int64_text(lease_id, id_text)),
                              &maybe_applied, &call_err);
    if (!reply) {
        /* A retry after a revoke that went through finds no lease. */
        if (call_err.code == KL_ERR_NOT_FOUND && maybe_applied)
            return 0;
        if (call_err.code == KL_ERR_NOT_FOUND)
            return kl_error_set(err, KL_ERR_NOT_FOUND, "etcd store: lease %" PRId64 " not found",
                                lease_id);
        if (err)
            *err = call_err;
        return -1;
    }
    int rc = etcd_note_header(s, reply, "/v3/lease/revoke", NULL, err);
    json_decref(reply);
    return rc;
}
