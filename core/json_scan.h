/* Reading a few fields of a large JSON text without building all of it.
 *
 * A watch reply carries hundreds of whole objects, and a watcher often
 * needs only a name, a revision and a phase from most of them. jsmn
 * tokenizes the text in place, with no allocation per value; only the
 * values a caller asks for become jansson trees, built from the tokens and
 * checked in full. */
#ifndef KL_JSON_SCAN_H
#define KL_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include <keelson/error.h>

typedef struct kl_json_scan kl_json_scan_t;

kl_json_scan_t *kl_json_scan_new(void);
void kl_json_scan_destroy(kl_json_scan_t **self_p);

/* Tokenizes `text` (which must outlive the tokens); the whole text is
 * token 0 and must be an object. */
int kl_json_scan_parse(kl_json_scan_t *self, const char *text, size_t len, kl_error_t *err);

/* The value of member `key` of object token `object`, or -1. */
int kl_json_scan_get(const kl_json_scan_t *self, int object, const char *key);
/* Follows a NULL-terminated path of member names from `object`; -1 where
 * one is missing. */
int kl_json_scan_find(const kl_json_scan_t *self, int object, ...);

int kl_json_scan_is_object(const kl_json_scan_t *self, int token);
int kl_json_scan_is_array(const kl_json_scan_t *self, int token);
/* The first element of array token `array` and the one after `element`;
 * -1 past the end (or when `array` is not an array). */
int kl_json_scan_first(const kl_json_scan_t *self, int array);
int kl_json_scan_next(const kl_json_scan_t *self, int array, int element);

/* The string value of `token` copied into `buf`, or NULL when the token is
 * not a string, does not fit, or holds an escape (callers then fall back
 * to kl_json_scan_load()). */
const char *kl_json_scan_string(const kl_json_scan_t *self, int token, char *buf, size_t size);
/* The integer value of a number token; -1 when it is none. */
int kl_json_scan_integer(const kl_json_scan_t *self, int token, int64_t *value);

/* The value of `token` as a jansson tree built from the tokens, checked as
 * jansson checks what it parses (UTF-8, surrogate pairs, no NUL, numbers
 * in range, at most 2,048 levels deep), in less than half the time jansson's
 * own parser takes, which reads one character at a time. */
json_t *kl_json_scan_load(const kl_json_scan_t *self, int token, kl_error_t *err);
/* A whole JSON object text so built, without a scanner kept between calls. */
json_t *kl_json_parse_object(const char *text, size_t len, kl_error_t *err);

#endif
