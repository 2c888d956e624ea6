/* Fast compact JSON text for jansson values. */
#ifndef KL_CORE_JSON_ENCODE_H
#define KL_CORE_JSON_ENCODE_H

#include <stddef.h>
#include <jansson.h>

/* Compact JSON text of `value` (same output as json_dumps with
 * JSON_COMPACT, object keys in insertion order) several times faster than
 * jansson's encoder. Returns a NUL-terminated string (caller frees) and its
 * length in *length (may be NULL), or NULL when out of memory or for a value
 * jansson cannot encode. */
char *kl_json_encode(const json_t *value, size_t *length);

#define KL_JSON_NO_MARK ((size_t)-1)

/* kl_json_encode() of an object that also tells, in *mark, where the text of
 * its member `member` (an object) begins inside the braces, so a field can
 * be spliced in later without encoding again; KL_JSON_NO_MARK when the
 * member is absent or not an object. */
char *kl_json_encode_marked(const json_t *value, const char *member, size_t *length, size_t *mark);

#endif
