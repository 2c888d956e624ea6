/* Standard base64 (RFC 4648, with padding): the etcd JSON gateway carries
 * every key and value this way. */
#ifndef KL_STORE_ETCD_BASE64_H
#define KL_STORE_ETCD_BASE64_H

#include <stddef.h>

/* Encodes `len` bytes. Returns a NUL-terminated string (caller owns) or NULL
 * when out of memory. */
char *kl_base64_encode(const void *data, size_t len);

/* Decodes `text` (`text_len` characters, padding optional). Returns the bytes
 * followed by an extra NUL, so text values read as C strings (caller owns),
 * with their count in *out_len; NULL when `text` is not base64 or out of
 * memory (*bad set to 1 for the former). */
char *kl_base64_decode(const char *text, size_t text_len, size_t *out_len, int *bad);

#endif
