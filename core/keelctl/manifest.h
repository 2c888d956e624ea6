/* Manifests for keelctl: the objects in a YAML stream or a JSON file (one
 * object or a List), each checked for the fields every command needs. */
#ifndef KL_KEELCTL_MANIFEST_H
#define KL_KEELCTL_MANIFEST_H

#include <stddef.h>
#include <jansson.h>
#include <keelson/error.h>

typedef struct kl_manifest kl_manifest_t;

/* Splits `text` into objects. `source` names the input in messages ("-" is
 * written as "<stdin>"). A document that is not an object with kind and
 * metadata.name is kept as a problem so the caller can report it and go on
 * with the rest; a syntax error fails the whole input (NULL, err filled),
 * since nothing after it can be trusted. Empty documents are skipped.
 * Caller owns the result. */
kl_manifest_t *kl_manifest_parse(const char *text, size_t length, const char *source,
                                 kl_error_t *err);
/* Reads a file ("-" for standard input) and parses it. Caller owns. */
kl_manifest_t *kl_manifest_load(const char *path, kl_error_t *err);
void kl_manifest_destroy(kl_manifest_t **self_p);

size_t kl_manifest_size(const kl_manifest_t *self);
/* The object of entry i (borrowed), or NULL when the entry has a problem. */
json_t *kl_manifest_object(const kl_manifest_t *self, size_t i);
/* The sentence saying what is wrong with entry i, or NULL. Borrowed. */
const char *kl_manifest_problem(const kl_manifest_t *self, size_t i);
/* "FILE: document N (line L)" or "FILE: item N": where entry i came from. */
const char *kl_manifest_where(const kl_manifest_t *self, size_t i);

#endif
