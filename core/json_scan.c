/* Tokenized JSON: see json_scan.h. jsmn runs in strict mode (keys and
 * values as JSON allows them) and checks the text's structure and string
 * escapes; primitives and control characters are checked here. UTF-8 is
 * left to jansson, which parses anything a caller keeps. */
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>

#include "json_scan.h"

#define FIRST_TOKENS 1024

struct kl_json_scan {
    const char *text;
    jsmntok_t *tokens;
    unsigned int capacity;
    int count;
};

kl_json_scan_t *kl_json_scan_new(void)
{
    return calloc(1, sizeof(kl_json_scan_t));
}

void kl_json_scan_destroy(kl_json_scan_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->tokens);
    free(*self_p);
    *self_p = NULL;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* jsmn takes any primitive that starts like one ("tru", "1x"). */
static int valid_primitive(const char *p, size_t len)
{
    if ((len == 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0))
        || (len == 5 && memcmp(p, "false", 5) == 0))
        return 1;
    size_t i = 0;
    if (i < len && p[i] == '-')
        i++;
    if (i < len && p[i] == '0')
        i++;
    else if (i < len && is_digit(p[i]))
        while (i < len && is_digit(p[i]))
            i++;
    else
        return 0;
    if (i < len && p[i] == '.') {
        if (++i >= len || !is_digit(p[i]))
            return 0;
        while (i < len && is_digit(p[i]))
            i++;
    }
    if (i < len && (p[i] == 'e' || p[i] == 'E')) {
        if (++i < len && (p[i] == '+' || p[i] == '-'))
            i++;
        if (i >= len || !is_digit(p[i]))
            return 0;
        while (i < len && is_digit(p[i]))
            i++;
    }
    return i == len;
}

/* What jsmn leaves unchecked: primitives, and raw control characters in
 * strings. An offending token's offset, or -1. */
static int unchecked_error(const kl_json_scan_t *self)
{
    for (int i = 0; i < self->count; i++) {
        const jsmntok_t *t = &self->tokens[i];
        const char *p = self->text + t->start;
        size_t len = (size_t)(t->end - t->start);
        if (t->type == JSMN_PRIMITIVE && !valid_primitive(p, len))
            return t->start;
        if (t->type == JSMN_STRING)
            for (size_t j = 0; j < len; j++)
                if ((unsigned char)p[j] < 0x20)
                    return t->start + (int)j;
    }
    return -1;
}

int kl_json_scan_parse(kl_json_scan_t *self, const char *text, size_t len, kl_error_t *err)
{
    self->text = text;
    self->count = 0;
    if (len >= INT_MAX)
        return kl_error_set(err, KL_ERR_TOO_LARGE, "JSON text of %zu bytes is too large", len);
    jsmn_parser parser;
    jsmn_init(&parser);
    for (;;) {
        int rc = self->capacity ? jsmn_parse(&parser, text, len, self->tokens, self->capacity)
                                : JSMN_ERROR_NOMEM;
        if (rc == JSMN_ERROR_NOMEM) {
            /* jsmn resumes where it stopped once it has room for more. */
            unsigned int capacity = self->capacity ? self->capacity * 2 : FIRST_TOKENS;
            jsmntok_t *grown = realloc(self->tokens, capacity * sizeof *grown);
            if (!grown)
                return kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading JSON");
            self->tokens = grown;
            self->capacity = capacity;
            continue;
        }
        if (rc < 0)
            return kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: %s at byte %u",
                                rc == JSMN_ERROR_PART ? "it ends early" : "invalid character",
                                parser.pos);
        self->count = rc;
        break;
    }
    if (self->count < 1 || self->tokens[0].type != JSMN_OBJECT) {
        self->count = 0;
        return kl_error_set(err, KL_ERR_INVALID, "payload must be a JSON object");
    }
    int bad = unchecked_error(self);
    if (bad >= 0) {
        self->count = 0;
        return kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: invalid value at byte %d",
                            bad);
    }
    /* Strict jsmn still accepts text after the first value. */
    for (size_t i = (size_t)self->tokens[0].end; i < len; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t') {
            self->count = 0;
            return kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: text after the "
                                "object at byte %zu", i);
        }
    return 0;
}

static int valid(const kl_json_scan_t *self, int token)
{
    return token >= 0 && token < self->count;
}

/* The token after `token` and everything inside it. */
static int skip(const kl_json_scan_t *self, int token)
{
    int end = self->tokens[token].end, next = token + 1;
    while (next < self->count && self->tokens[next].start < end)
        next++;
    return next;
}

static int token_is(const kl_json_scan_t *self, int token, const char *literal)
{
    const jsmntok_t *t = &self->tokens[token];
    size_t len = (size_t)(t->end - t->start);
    return t->type == JSMN_STRING && strlen(literal) == len
           && memcmp(self->text + t->start, literal, len) == 0;
}

int kl_json_scan_get(const kl_json_scan_t *self, int object, const char *key)
{
    if (!valid(self, object) || self->tokens[object].type != JSMN_OBJECT)
        return -1;
    int member = object + 1;
    for (int i = 0; i < self->tokens[object].size && member + 1 < self->count; i++) {
        if (token_is(self, member, key))
            return member + 1;
        member = skip(self, member + 1);
    }
    return -1;
}

int kl_json_scan_find(const kl_json_scan_t *self, int object, ...)
{
    va_list keys;
    va_start(keys, object);
    for (const char *key = va_arg(keys, const char *); key && object >= 0;
         key = va_arg(keys, const char *))
        object = kl_json_scan_get(self, object, key);
    va_end(keys);
    return object;
}

int kl_json_scan_is_object(const kl_json_scan_t *self, int token)
{
    return valid(self, token) && self->tokens[token].type == JSMN_OBJECT;
}

int kl_json_scan_is_array(const kl_json_scan_t *self, int token)
{
    return valid(self, token) && self->tokens[token].type == JSMN_ARRAY;
}

int kl_json_scan_first(const kl_json_scan_t *self, int array)
{
    if (!valid(self, array) || self->tokens[array].type != JSMN_ARRAY
        || self->tokens[array].size == 0)
        return -1;
    return array + 1;
}

int kl_json_scan_next(const kl_json_scan_t *self, int array, int element)
{
    if (!valid(self, element))
        return -1;
    int next = skip(self, element);
    return next < self->count && self->tokens[next].start < self->tokens[array].end ? next : -1;
}

const char *kl_json_scan_string(const kl_json_scan_t *self, int token, char *buf, size_t size)
{
    if (!valid(self, token) || self->tokens[token].type != JSMN_STRING)
        return NULL;
    const jsmntok_t *t = &self->tokens[token];
    size_t len = (size_t)(t->end - t->start);
    if (len >= size || memchr(self->text + t->start, '\\', len))
        return NULL;
    memcpy(buf, self->text + t->start, len);
    buf[len] = '\0';
    return buf;
}

int kl_json_scan_integer(const kl_json_scan_t *self, int token, int64_t *value)
{
    if (!valid(self, token) || self->tokens[token].type != JSMN_PRIMITIVE)
        return -1;
    const jsmntok_t *t = &self->tokens[token];
    char digits[24];
    size_t len = (size_t)(t->end - t->start);
    if (len == 0 || len >= sizeof digits)
        return -1;
    memcpy(digits, self->text + t->start, len);
    digits[len] = '\0';
    char *end;
    long long parsed = strtoll(digits, &end, 10);
    if (*end || (digits[0] != '-' && (digits[0] < '0' || digits[0] > '9')))
        return -1;
    *value = parsed;
    return 0;
}

json_t *kl_json_scan_load(const kl_json_scan_t *self, int token, kl_error_t *err)
{
    if (!valid(self, token)) {
        kl_error_set(err, KL_ERR_INVALID, "no such JSON value");
        return NULL;
    }
    const jsmntok_t *t = &self->tokens[token];
    /* A string token's bounds leave out its quotes. */
    int quoted = t->type == JSMN_STRING;
    json_error_t jerr;
    json_t *value = json_loadb(self->text + t->start - quoted,
                               (size_t)(t->end - t->start + 2 * quoted), JSON_DECODE_ANY, &jerr);
    if (!value)
        kl_error_set(err, KL_ERR_INVALID, "not JSON: %s at byte %d", jerr.text,
                     t->start + jerr.position);
    return value;
}
