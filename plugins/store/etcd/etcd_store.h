/* What the etcd store's files share: the store itself, a decoded key and the
 * functions one file defines for another. Private to the plugin. */
#ifndef KL_STORE_ETCD_STORE_H
#define KL_STORE_ETCD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/store.h>

#include "feed.h"
#include "gateway.h"

typedef struct etcd_store {
    const kl_host_t *host;
    kl_gateway_t *gateway;
    char *prefix;          /* prepended verbatim to every key */
    size_t prefix_len;
    long timeout_ms;
    int64_t revision;      /* highest revision any reply reported */
    int64_t compacted;     /* highest compaction this process knows of */
    char **endpoints;      /* NULL-terminated, for the change feed */
    etcd_feed_t *feed;     /* started by the first read of changes */
    etcd_feed_listener_t listener;  /* fd -1 until changes_fd() */
    int listening;         /* listener is on feed's list */
} etcd_store_t;

/* One key of a reply, decoded; `kv` points into the buffers. */
typedef struct decoded_kv {
    kl_store_kv_t kv;
    int64_t lease;
    char *key_buf;
    char *value_buf;
} decoded_kv_t;

/* request.c: encoding requests, reading replies, calling the gateway. */
int etcd_json_int64(const json_t *object, const char *field, int64_t *out);
int etcd_bad_reply(const char *path, const char *what, kl_error_t *err);
int etcd_note_header(etcd_store_t *s, const json_t *reply, const char *path, int64_t *revision,
                     kl_error_t *err);
char *etcd_key_b64(const etcd_store_t *s, const char *key, int nul);
char *etcd_prefix_end_b64(const etcd_store_t *s, const char *prefix);
char *etcd_int64_text(int64_t n, char buf[24]);
int etcd_check_key(const char *key, kl_error_t *err);
void etcd_decoded_kv_free(decoded_kv_t *d);
int etcd_kv_decode(const etcd_store_t *s, const json_t *j, decoded_kv_t *d, const char *path,
                   kl_error_t *err);
/* A KeyValue's base64 key and value into `d` (revisions and lease left to
 * the caller), the key checked to lie under the store prefix. NULL, or
 * what is wrong ("" when out of memory), with nothing left to free. */
const char *etcd_kv_decode_text(const etcd_store_t *s, const char *key, size_t key_len,
                                const char *value, size_t value_len, decoded_kv_t *d);
json_t *etcd_call(etcd_store_t *s, const char *path, json_t *body, int *maybe_applied,
                  kl_error_t *err);
/* etcd_call() with the body already encoded (taken; NULL: out of memory). */
json_t *etcd_call_text(etcd_store_t *s, const char *path, char *text, int *maybe_applied,
                       kl_error_t *err);

/* etcd.c */
int64_t etcd_current_revision(etcd_store_t *s, kl_error_t *err);
/* submit() of a get: the read half of etcd_submit(). */
int etcd_submit_get(etcd_store_t *s, const char *key, kl_store_done_fn done, void *arg,
                    kl_error_t *err);

/* writes.c */
int etcd_create(void *store, const char *key, const char *value, size_t value_len,
                int64_t *revision, kl_error_t *err);
int etcd_update(void *store, const char *key, const char *value, size_t value_len,
                int64_t expected_mod_revision, int64_t *revision, kl_error_t *err);
int etcd_remove(void *store, const char *key, int64_t expected_mod_revision, int64_t *revision,
                kl_error_t *err);
int etcd_put_with_lease(void *store, const char *key, const char *value, size_t value_len,
                        int64_t expected_mod_revision, int64_t lease_id, int64_t *revision,
                        kl_error_t *err);

/* Requests kept in flight together (ABI 1.3): submit() starts a get or a
 * write, settle() reports each through its done() once it is finished, and
 * settle_fd() is readable when some are. */
int etcd_submit(void *store, const kl_store_op_t *op, kl_store_done_fn done, void *arg,
                kl_error_t *err);
int etcd_settle(void *store, int wait, kl_error_t *err);
int etcd_settle_fd(void *store);

/* history.c */
int etcd_changes(void *store, const char *prefix, int64_t after_revision, size_t limit,
                 kl_store_event_fn visit, void *arg, int64_t *last_revision, kl_error_t *err);
int etcd_compact(void *store, int64_t revision, kl_error_t *err);
int64_t etcd_compacted_revision(void *store);
int etcd_changes_fd(void *store);
/* Takes the listener off the feed and closes its descriptor. */
void etcd_changes_fd_close(etcd_store_t *s);

/* leases.c */
int etcd_lease_grant(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err);
int etcd_lease_keepalive(void *store, int64_t lease_id, kl_error_t *err);
int etcd_lease_revoke(void *store, int64_t lease_id, kl_error_t *err);

#endif
