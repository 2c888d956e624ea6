/* Store plugin ABI: a revisioned key-value store in the shape of etcd v3.
 * Only the API server calls it, always from one thread. Keys are
 * NUL-terminated strings; values are byte strings (JSON text in practice). */
#ifndef KEELSON_STORE_H
#define KEELSON_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <keelson/plugin.h>

/* One key as the store holds it. Everything is borrowed and valid only during
 * the visit callback that receives it. */
typedef struct kl_store_kv {
    const char *key;
    const char *value;
    size_t value_len;
    int64_t create_revision;  /* revision of the write that created the key */
    int64_t mod_revision;     /* revision of the last write to the key */
} kl_store_kv_t;

/* Return 0 to go on, non-zero to stop the range early. */
typedef int (*kl_store_visit_fn)(const kl_store_kv_t *kv, void *arg);

#define KL_STORE_DURABLE 0x1u
#define KL_STORE_SHARED 0x2u

typedef enum kl_store_event_type {
    KL_STORE_PUT = 1,
    KL_STORE_DELETE = 2
} kl_store_event_type_t;

/* One change. For a DELETE, kv.value is NULL and kv.mod_revision is the
 * revision of the delete. prev is the key's previous state when the store
 * knows it (NULL otherwise, and always NULL for a create). Borrowed for the
 * duration of the callback. */
typedef struct kl_store_event {
    kl_store_event_type_t type;
    kl_store_kv_t kv;
    const kl_store_kv_t *prev;
} kl_store_event_t;

/* Return 0 to go on, non-zero to stop early. */
typedef int (*kl_store_event_fn)(const kl_store_event_t *event, void *arg);

/* One operation for submit() (ABI 1.3); everything is borrowed for the call. */
typedef enum kl_store_op_kind {
    KL_STORE_OP_GET = 1,     /* as get() */
    KL_STORE_OP_CREATE = 2,  /* as create(): KL_ERR_EXISTS when the key is present */
    KL_STORE_OP_UPDATE = 3,  /* as update() */
    KL_STORE_OP_REMOVE = 4   /* as remove() */
} kl_store_op_kind_t;

typedef struct kl_store_op {
    kl_store_op_kind_t kind;
    const char *key;
    const char *value;              /* create and update */
    size_t value_len;
    int64_t expected_mod_revision;  /* update and remove: 0 means "do not compare" */
} kl_store_op_t;

/* A submitted operation's outcome: rc 0, or -1 with err filled as the
 * synchronous call would. A write reports its revision; a get reports the
 * key's state in kv (with err and kv borrowed for the call). */
typedef void (*kl_store_done_fn)(int rc, int64_t revision, const kl_store_kv_t *kv,
                                 const kl_error_t *err, void *arg);

/* Every write advances one global, strictly increasing revision (starting
 * at 1) and reports it in *revision. Compare-and-swap arguments take the
 * key's mod_revision; 0 means "do not compare". */
typedef struct kl_store_ops {
    void *(*open)(const kl_host_t *host, kl_error_t *err);
    void (*close)(void *store);

    /* KL_ERR_NOT_FOUND when absent; otherwise visit() is called once. */
    int (*get)(void *store, const char *key, kl_store_visit_fn visit, void *arg, kl_error_t *err);

    /* Keys starting with `prefix`, in byte order, strictly after
     * `start_after` (NULL: from the first), at most `limit` (0: all).
     * *revision receives the store revision the range was read at. */
    int (*range)(void *store, const char *prefix, const char *start_after, size_t limit,
                 kl_store_visit_fn visit, void *arg, int64_t *revision, kl_error_t *err);

    /* KL_ERR_EXISTS when the key is present. */
    int (*create)(void *store, const char *key, const char *value, size_t value_len,
                  int64_t *revision, kl_error_t *err);

    /* KL_ERR_NOT_FOUND when absent, KL_ERR_CONFLICT when the key's
     * mod_revision differs from a non-zero expected_mod_revision. Detaches
     * the key from any lease, as etcd's put does. */
    int (*update)(void *store, const char *key, const char *value, size_t value_len,
                  int64_t expected_mod_revision, int64_t *revision, kl_error_t *err);

    /* Same errors as update(). */
    int (*remove)(void *store, const char *key, int64_t expected_mod_revision,
                  int64_t *revision, kl_error_t *err);

    /* The revision of the latest write (0 for an empty new store). */
    int64_t (*revision)(void *store);

    /* ---- ABI 1.1: history, durability, leases ---------------------------
     * A 1.0 plugin lacks these; the core checks ops_size before use. */

    /* What the store promises: KL_STORE_DURABLE (acknowledged writes survive
     * a crash), KL_STORE_SHARED (other processes may write to it too, so
     * changes() can return writes this process did not make). */
    uint32_t (*features)(void *store);

    /* Like range(), read as of `at_revision` (0: the current revision).
     * KL_ERR_EXPIRED when that revision was compacted away. *more is set
     * to 1 when `limit` cut the result short. */
    int (*range_at)(void *store, const char *prefix, const char *start_after, size_t limit,
                    int64_t at_revision, kl_store_visit_fn visit, void *arg, int64_t *revision,
                    int *more, kl_error_t *err);

    /* Every change under `prefix` with revision > after_revision, in
     * revision order, at most `limit` (0: all). Never blocks. *last_revision
     * receives the revision of the last change delivered, or the store's
     * current revision when there were none. KL_ERR_EXPIRED when
     * after_revision is older than the compacted revision. */
    int (*changes)(void *store, const char *prefix, int64_t after_revision, size_t limit,
                   kl_store_event_fn visit, void *arg, int64_t *last_revision, kl_error_t *err);

    /* Forgets history up to and including `revision`: changes() and
     * range_at() before it then give KL_ERR_EXPIRED. */
    int (*compact)(void *store, int64_t revision, kl_error_t *err);
    int64_t (*compacted_revision)(void *store);

    /* Makes every write so far durable. The API server acknowledges writes
     * only after flush() returns, and calls it once per burst of requests,
     * so a store may batch writes into one group commit. NULL: every write
     * is durable (or volatile) on return. */
    int (*flush)(void *store, kl_error_t *err);

    /* Leases: keys written with a lease are deleted (with a DELETE change)
     * when the lease expires or is revoked. ttl_ms > 0. */
    int (*lease_grant)(void *store, int64_t ttl_ms, int64_t *lease_id, kl_error_t *err);
    int (*lease_keepalive)(void *store, int64_t lease_id, kl_error_t *err);
    int (*lease_revoke)(void *store, int64_t lease_id, kl_error_t *err);
    /* create() (expected_mod_revision -1: KL_ERR_EXISTS when present) or
     * update() (0: the key must exist, any revision; >0: CAS; both
     * KL_ERR_NOT_FOUND when absent) that attaches the key to lease_id (0:
     * no lease). */
    int (*put_with_lease)(void *store, const char *key, const char *value, size_t value_len,
                          int64_t expected_mod_revision, int64_t lease_id, int64_t *revision,
                          kl_error_t *err);

    /* Housekeeping the API server calls about every 100 ms: expiring
     * leases, background compaction. May be NULL. */
    int (*tick)(void *store, kl_error_t *err);

    /* ---- ABI 1.2: change notification -----------------------------------
     * A shared store that hears of other writers' changes by itself (a
     * watch stream) returns a descriptor that turns readable when changes()
     * has something after what it last returned, so the API server answers
     * its watchers at once instead of on its next tick. Each changes() call
     * clears it and arms it again: a reader that stops calling changes() is
     * not woken again. The caller only polls it; the store closes it. -1:
     * none. May be NULL. */
    int (*changes_fd)(void *store);

    /* ---- ABI 1.3: requests in flight together ----------------------------
     * A store whose calls wait on a round trip (etcd) can keep many going at
     * once: submit() starts a get or a write and returns without waiting;
     * done() is called exactly once with its outcome, on the caller's
     * thread, from submit() itself or from a later settle(), and must not
     * call the store. The store copies what it needs from `op`.
     * Operations in flight together may be applied in any order, so the
     * caller never has a write in flight with anything else on its key, and
     * takes a write as made only when its done() says so. -1 (done() not
     * called) when the operation could not be started. Both NULL, or
     * neither. */
    int (*submit)(void *store, const kl_store_op_t *op, kl_store_done_fn done, void *arg,
                  kl_error_t *err);
    /* Calls done() for submitted operations: with `wait`, returns once
     * every one is done; without, for those already finished, never
     * blocking. */
    int (*settle)(void *store, int wait, kl_error_t *err);
    /* A descriptor that turns readable when settle(store, 0) has
     * operations to finish, for the caller to poll while any are in
     * flight; -1 when there is none (the caller then settles with wait).
     * The store closes it. May be NULL. */
    int (*settle_fd)(void *store);
} kl_store_ops_t;

#define KL_STORE_PLUGIN(NAME, VERSION, DESCRIPTION, SETTINGS, OPS)                         \
    KL_DEFINE_PLUGIN_(KL_KIND_STORE, KL_STORE_ABI_MAJOR, KL_STORE_ABI_MINOR, NAME, VERSION, \
                      DESCRIPTION, SETTINGS, OPS)

#endif
