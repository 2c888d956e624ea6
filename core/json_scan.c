/* Tokenized JSON: see json_scan.h. jsmn runs in strict mode (keys and
 * values as JSON allows them) and checks brackets and string escapes; the
 * punctuation between tokens, primitives and control characters are
 * checked here. A tree built from the tokens checks the rest as jansson's
 * own parser does: UTF-8, surrogate pairs, NUL characters, number ranges
 * and depth. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>

#include "json_scan.h"

#define FIRST_TOKENS 1024

#define LOCAL_TOKENS 256    /* a request's tokens fit on the stack */
#define MAX_DEPTH 2048      /* jansson's own nesting limit */

struct kl_json_scan {
    const char *text;
    jsmntok_t *tokens;
    unsigned int capacity;
    int count;
    int borrowed;  /* tokens is the caller's array, not ours to free or grow in place */
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

/* "tru" and "1x" are not JSON. */
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

/* jsmn takes any primitive that starts like one: the offset of the first
 * that is not JSON, or -1. */
static int primitive_error(const kl_json_scan_t *self)
{
    for (int i = 0; i < self->count; i++) {
        const jsmntok_t *t = &self->tokens[i];
        if (t->type == JSMN_PRIMITIVE
            && !valid_primitive(self->text + t->start, (size_t)(t->end - t->start)))
            return t->start;
    }
    return -1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

typedef enum structure { WELL_FORMED, MISPLACED, TRAILING, TOO_DEEP, CUT_SHORT, RAW_CONTROL } structure_t;

static int is_primitive_char(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-' || c == '+' || c == '.'
           || c == 'E';
}

/* jsmn does not check the punctuation between values: it takes
 * {"a" "b"}, [1 2] and ["a":1]. This walks the text's structure as the
 * grammar has it, and refuses raw control characters in strings on the
 * way (their escapes are jsmn's to check, primitives primitive_error()'s);
 * *at is the offset of the first character out of place. */
static structure_t structure_error(const char *text, size_t len, size_t *at)
{
    enum { VALUE, KEY_OR_END, KEY, COLON, VALUE_OR_END, COMMA_OR_END, DONE } expect = VALUE;
    char stack[MAX_DEPTH];  /* the open containers: '{' or '[' */
    size_t depth = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        *at = i;
        if (is_space(c))
            continue;
        if (expect == DONE)
            return TRAILING;
        if ((expect == KEY_OR_END || expect == VALUE_OR_END || expect == COMMA_OR_END)
            && (c == '}' || c == ']')) {
            if ((c == '}') != (stack[depth - 1] == '{'))
                return MISPLACED;
            depth--;
            expect = depth ? COMMA_OR_END : DONE;
            continue;
        }
        if (expect == COMMA_OR_END) {
            if (c != ',')
                return MISPLACED;
            expect = stack[depth - 1] == '{' ? KEY : VALUE;
            continue;
        }
        if (expect == COLON) {
            if (c != ':')
                return MISPLACED;
            expect = VALUE;
            continue;
        }
        int key = expect == KEY || expect == KEY_OR_END;
        if (c == '"') {
            for (i++; i < len && text[i] != '"'; i++) {
                if ((unsigned char)text[i] < 0x20) {
                    *at = i;
                    return RAW_CONTROL;
                }
                if (text[i] == '\\')
                    i++;
            }
            if (i >= len)
                break;
            expect = key ? COLON : depth ? COMMA_OR_END : DONE;
        } else if (key) {
            return MISPLACED;
        } else if (c == '{' || c == '[') {
            if (depth == MAX_DEPTH)
                return TOO_DEEP;
            stack[depth++] = c;
            expect = c == '{' ? KEY_OR_END : VALUE_OR_END;
        } else if (is_primitive_char(c)) {
            while (i + 1 < len && is_primitive_char(text[i + 1]))
                i++;
            expect = depth ? COMMA_OR_END : DONE;
        } else {
            return MISPLACED;
        }
    }
    *at = len;
    return expect == DONE ? WELL_FORMED : CUT_SHORT;
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
            jsmntok_t *grown = self->borrowed ? malloc(capacity * sizeof *grown)
                                              : realloc(self->tokens, capacity * sizeof *grown);
            if (!grown)
                return kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading JSON");
            if (self->borrowed)
                memcpy(grown, self->tokens, self->capacity * sizeof *grown);
            self->tokens = grown;
            self->capacity = capacity;
            self->borrowed = 0;
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
    size_t at;
    structure_t structure = structure_error(text, len, &at);
    if (structure != WELL_FORMED) {
        static const char *const says[] = {"", "misplaced character", "text after the object",
                                           "nested deeper than 2048 levels", "it ends early",
                                           "invalid value"};
        self->count = 0;
        return kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: %s at byte %zu",
                            says[structure], at);
    }
    int bad = primitive_error(self);
    if (bad >= 0) {
        self->count = 0;
        return kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: invalid value at byte %d",
                            bad);
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

/* ---- whole trees ------------------------------------------------------ */

static int hex_value(const char *p)
{
    int value = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        value = value * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return value;  /* jsmn has checked the four hex digits */
}

static size_t put_utf8(char *out, unsigned int code)
{
    if (code < 0x80) {
        out[0] = (char)code;
        return 1;
    }
    if (code < 0x800) {
        out[0] = (char)(0xC0 | (code >> 6));
        out[1] = (char)(0x80 | (code & 0x3F));
        return 2;
    }
    if (code < 0x10000) {
        out[0] = (char)(0xE0 | (code >> 12));
        out[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        out[2] = (char)(0x80 | (code & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (code >> 18));
    out[1] = (char)(0x80 | ((code >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((code >> 6) & 0x3F));
    out[3] = (char)(0x80 | (code & 0x3F));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at p (no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *p, size_t left)
{
    unsigned int c = p[0], code, need;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 1, code = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF)
        need = 2, code = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 3, code = c & 0x07;
    else
        return 0;
    if (left < need + 1)
        return 0;
    for (unsigned int i = 1; i <= need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        code = (code << 6) | (p[i] & 0x3F);
    }
    if ((need == 2 && code < 0x800) || (need == 3 && (code < 0x10000 || code > 0x10FFFF))
        || (code >= 0xD800 && code <= 0xDFFF))
        return 0;
    return need + 1;
}

/* Decodes a string token's text into `out` (room for `len` bytes, which
 * is always enough); its length, or -1 with err naming the offset. */
static long decode_string(const char *p, size_t len, int offset, char *out, kl_error_t *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)p[i];
        if (c != '\\') {
            size_t n = utf8_sequence((const unsigned char *)p + i, len - i);
            if (!n) {
                kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: invalid UTF-8 at byte %d",
                             offset + (int)i);
                return -1;
            }
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
            continue;
        }
        char e = p[i + 1];  /* jsmn has checked every escape */
        i += 2;
        switch (e) {
        case 'b': out[o++] = '\b'; continue;
        case 'f': out[o++] = '\f'; continue;
        case 'n': out[o++] = '\n'; continue;
        case 'r': out[o++] = '\r'; continue;
        case 't': out[o++] = '\t'; continue;
        case 'u': break;
        default: out[o++] = e; continue;  /* " \ / */
        }
        unsigned int code = (unsigned int)hex_value(p + i);
        i += 4;
        if (code >= 0xDC00 && code <= 0xDFFF)
            code = 0;  /* a low surrogate alone */
        else if (code >= 0xD800 && code <= 0xDBFF) {
            unsigned int low = i + 6 <= len && p[i] == '\\' && p[i + 1] == 'u'
                               ? (unsigned int)hex_value(p + i + 2) : 0;
            if (low >= 0xDC00 && low <= 0xDFFF) {
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                i += 6;
            } else {
                code = 0;  /* a high surrogate alone */
            }
        }
        if (code == 0) {
            /* \u0000 too: jansson refuses NUL in strings by default. */
            kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: invalid \\u escape at byte %d",
                         offset + (int)i - 6);
            return -1;
        }
        o += put_utf8(out + o, code);
    }
    return (long)o;
}

/* A number token as jansson reads it: an integer unless it has a fraction
 * or an exponent; out of range is an error, not a rounded value. */
static json_t *number_value(const char *p, size_t len, int offset, kl_error_t *err)
{
    char local[64];
    char *digits = len < sizeof local ? local : malloc(len + 1);
    if (!digits) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading JSON");
        return NULL;
    }
    memcpy(digits, p, len);
    digits[len] = '\0';
    json_t *value = NULL;
    errno = 0;
    if (!memchr(p, '.', len) && !memchr(p, 'e', len) && !memchr(p, 'E', len)) {
        long long integer = strtoll(digits, NULL, 10);
        if (errno != ERANGE)
            value = json_integer(integer);
    } else {
        double real = strtod(digits, NULL);
        if (!(errno == ERANGE && isinf(real)))
            value = json_real(real);
    }
    if (digits != local)
        free(digits);
    if (!value)
        kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: number out of range at byte %d",
                     offset);
    return value;
}

static json_t *primitive_value(const kl_json_scan_t *self, const jsmntok_t *t, kl_error_t *err)
{
    const char *p = self->text + t->start;
    switch (p[0]) {
    case 't': return json_true();
    case 'f': return json_false();
    case 'n': return json_null();
    default: return number_value(p, (size_t)(t->end - t->start), t->start, err);
    }
}

/* A string token's text: the text itself when it is plain ASCII, else
 * decoded into *heap (malloc'd, freed by the caller); NULL with err set. */
static const char *string_text(const kl_json_scan_t *self, const jsmntok_t *t, char **heap,
                               size_t *length, kl_error_t *err)
{
    const char *p = self->text + t->start;
    size_t len = (size_t)(t->end - t->start);
    size_t i = 0;
    while (i < len && (unsigned char)p[i] < 0x80 && p[i] != '\\')
        i++;
    if (i == len) {
        *length = len;
        return p;
    }
    /* Decoding never lengthens: an escape is longer than what it stands for. */
    *heap = malloc(len);
    if (!*heap) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading JSON");
        return NULL;
    }
    long n = decode_string(p, len, t->start, *heap, err);
    if (n < 0)
        return NULL;
    *length = (size_t)n;
    return *heap;
}

/* Builds the value at `token` into *out; the token after it, or -1. */
static int build(const kl_json_scan_t *self, int token, int depth, json_t **out, kl_error_t *err)
{
    *out = NULL;
    if (token >= self->count) {
        kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: a value is missing");
        return -1;
    }
    const jsmntok_t *t = &self->tokens[token];
    if (depth > MAX_DEPTH) {
        kl_error_set(err, KL_ERR_INVALID, "payload is not JSON: nested deeper than %d at byte %d",
                     MAX_DEPTH, t->start);
        return -1;
    }
    if (t->type == JSMN_PRIMITIVE) {
        *out = primitive_value(self, t, err);
        return *out ? token + 1 : -1;
    }
    if (t->type == JSMN_STRING) {
        char *heap = NULL;
        size_t length;
        const char *text = string_text(self, t, &heap, &length, err);
        *out = text ? json_stringn_nocheck(text, length) : NULL;
        free(heap);
        if (text && !*out)
            kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading JSON");
        return *out ? token + 1 : -1;
    }
    int is_object = t->type == JSMN_OBJECT;
    json_t *container = is_object ? json_object() : json_array();
    int next = token + 1;
    for (int i = 0; container && i < t->size; i++) {
        char *heap = NULL;
        const char *key = NULL;
        size_t key_length = 0;
        if (is_object) {
            key = string_text(self, &self->tokens[next], &heap, &key_length, err);
            if (!key) {
                free(heap);
                json_decref(container);
                return -1;
            }
            next++;
        }
        json_t *value;
        next = build(self, next, depth + 1, &value, err);
        int failed = next < 0
                     || (is_object ? json_object_setn_new_nocheck(container, key, key_length, value)
                                   : json_array_append_new(container, value)) < 0;
        free(heap);
        if (failed) {
            if (next >= 0)
                kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading JSON");
            json_decref(container);
            return -1;
        }
    }
    if (!container) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading JSON");
        return -1;
    }
    *out = container;
    return next;
}

json_t *kl_json_scan_load(const kl_json_scan_t *self, int token, kl_error_t *err)
{
    if (!valid(self, token)) {
        kl_error_set(err, KL_ERR_INVALID, "no such JSON value");
        return NULL;
    }
    json_t *value;
    return build(self, token, 1, &value, err) < 0 ? NULL : value;
}

json_t *kl_json_parse_object(const char *text, size_t len, kl_error_t *err)
{
    jsmntok_t local[LOCAL_TOKENS];
    kl_json_scan_t scan = {.tokens = local, .capacity = LOCAL_TOKENS, .borrowed = 1};
    json_t *value = NULL;
    if (kl_json_scan_parse(&scan, text, len, err) == 0)
        value = kl_json_scan_load(&scan, 0, err);
    if (!scan.borrowed)
        free(scan.tokens);
    return value;
}
