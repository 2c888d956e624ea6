/* YAML <-> JSON for keelctl: reads manifests written in YAML (typed like
 * YAML 1.2's core schema) into jansson values and writes objects back as YAML. */
#ifndef KL_KEELCTL_YAML_JSON_H
#define KL_KEELCTL_YAML_JSON_H

#include <stddef.h>
#include <jansson.h>
#include <keelson/error.h>

/* Parses every document of a YAML stream. Returns a JSON array with one
 * element per document, in order (caller owns); when `lines` is not NULL it
 * receives an array of the 1-based line where each document starts (caller
 * owns). On a syntax error returns NULL with err naming `source`, the
 * document number and the line and column. Plain scalars become null, bools,
 * integers or reals; quoted and block scalars, and `!!str`, stay strings. */
json_t *kl_yaml_parse(const char *text, size_t length, const char *source, json_t **lines,
                      kl_error_t *err);

/* Writes `value` as one YAML document (block style, strings quoted wherever
 * they would otherwise read back as another type). Returns a NUL-terminated
 * string (caller frees with free()) or NULL with err filled. */
char *kl_yaml_emit(const json_t *value, kl_error_t *err);

/* True when `text`, written as a plain YAML scalar, would not read back as a
 * string (e.g. "true", "12", "~", ""). */
int kl_yaml_plain_is_ambiguous(const char *text);

#endif
