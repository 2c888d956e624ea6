/* etcd's answers to a get and to a transaction that succeeded, read straight
 * from their text. Private to the etcd store. */
#ifndef KL_STORE_ETCD_REPLY_SCAN_H
#define KL_STORE_ETCD_REPLY_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "etcd_store.h"

/* What a scan found: the answer as read, or one of another shape (a failed
 * transaction, an escape in a string, anything malformed) for the caller to
 * read from a parsed tree, which also words any error. */
typedef enum etcd_scan_result {
    ETCD_SCAN_READ = 0,
    ETCD_SCAN_OTHER = 1
} etcd_scan_result_t;

/* A range of one key: *revision from the header; *found 0 when no key came
 * back, else `d` holds it decoded (free with etcd_decoded_kv_free()). */
etcd_scan_result_t etcd_scan_get_reply(etcd_store_t *s, const char *text, size_t len,
                                       int64_t *revision, int *found, decoded_kv_t *d);

/* A transaction that succeeded, with *revision from the header. */
etcd_scan_result_t etcd_scan_txn_succeeded(etcd_store_t *s, const char *text, size_t len,
                                           int64_t *revision);

#endif
