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
     * mod_revision differs from a non-zero expected_mod_revision. */
    int (*update)(void *store, const char *key, const char *value, size_t value_len,
                  int64_t expected_mod_revision, int64_t *revision, kl_error_t *err);

    /* Same errors as update(). */
    int (*remove)(void *store, const char *key, int64_t expected_mod_revision,
                  int64_t *revision, kl_error_t *err);

    /* The revision of the latest write (0 for an empty new store). */
    int64_t (*revision)(void *store);
} kl_store_ops_t;

#define KL_STORE_PLUGIN(NAME, VERSION, DESCRIPTION, SETTINGS, OPS)                         \
    KL_DEFINE_PLUGIN_(KL_KIND_STORE, KL_STORE_ABI_MAJOR, KL_STORE_ABI_MINOR, NAME, VERSION, \
                      DESCRIPTION, SETTINGS, OPS)

#endif
