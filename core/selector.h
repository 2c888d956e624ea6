/* Label and field selectors (`app=web,tier!=db`, `spec.nodeName=n1`): parsed
 * once into a kl_selector_t, then matched against many objects. */
#ifndef KL_CORE_SELECTOR_H
#define KL_CORE_SELECTOR_H

#include <jansson.h>
#include <keelson/error.h>

typedef struct kl_selector kl_selector_t;

/* Parses a label selector and a field selector together; either may be NULL
 * or "" (matches everything). Label forms: `k=v`, `k==v`, `k!=v`, `k`
 * (exists), `!k` (absent), `k in (a,b)`, `k notin (a,b)`. Field forms:
 * `metadata.name`, `metadata.namespace`, `spec.nodeName` and `status.phase`
 * with `=`, `==` or `!=`. Returns the selector (caller owns) or NULL with
 * KL_ERR_INVALID naming the selector and the character position. */
kl_selector_t *kl_selector_new(const char *label_selector, const char *field_selector,
                               kl_error_t *err);
/* Shares a parsed selector: each reference is given back with destroy. */
kl_selector_t *kl_selector_ref(kl_selector_t *self);
void kl_selector_destroy(kl_selector_t **self_p);

/* 1 when `object` satisfies every requirement, else 0. A NULL selector
 * matches everything. */
int kl_selector_matches(const kl_selector_t *self, const json_t *object);
/* The same for a pod whose spec.nodeName the caller has read already
 * (node_name; "" when unset): watchers of many nodes test every pod event. */
int kl_selector_matches_pod(const kl_selector_t *self, const json_t *pod, const char *node_name);

/* 1 when the selector has no requirement at all (NULL counts as empty). */
int kl_selector_is_empty(const kl_selector_t *self);

/* If the field selector pins `field` with `=` (e.g. "spec.nodeName"), its
 * value (borrowed), else NULL. Lets callers index watchers cheaply. */
const char *kl_selector_field_equals(const kl_selector_t *self, const char *field);

#endif
