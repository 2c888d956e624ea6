/* A fast compact JSON encoder: the same text as jansson's json_dumps with
 * JSON_COMPACT, written straight into one growing buffer. The API server and
 * the bus serialise every object they send, so this is on the hot path. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_encode.h"

typedef struct text_buffer {
    char *data;
    size_t length;
    size_t capacity;
    int failed;
} text_buffer_t;

static int reserve(text_buffer_t *b, size_t more)
{
    if (b->failed)
        return -1;
    if (b->length + more + 1 <= b->capacity)
        return 0;
    size_t capacity = b->capacity ? b->capacity : 1024;
    while (capacity < b->length + more + 1)
        capacity *= 2;
    char *data = realloc(b->data, capacity);
    if (!data) {
        b->failed = 1;
        return -1;
    }
    b->data = data;
    b->capacity = capacity;
    return 0;
}

static void append(text_buffer_t *b, const char *text, size_t length)
{
    if (reserve(b, length) < 0)
        return;
    memcpy(b->data + b->length, text, length);
    b->length += length;
}

static void append_char(text_buffer_t *b, char c)
{
    if (reserve(b, 1) < 0)
        return;
    b->data[b->length++] = c;
}

/* jansson keeps strings valid UTF-8, so only quotes, backslashes and
 * control characters need escaping; runs between them are copied whole. */
static void append_string(text_buffer_t *b, const char *s, size_t length)
{
    static const char hex[] = "0123456789abcdef";
    append_char(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < length; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': append(b, "\\\"", 2); break;
        case '\\': append(b, "\\\\", 2); break;
        case '\n': append(b, "\\n", 2); break;
        case '\t': append(b, "\\t", 2); break;
        case '\r': append(b, "\\r", 2); break;
        case '\b': append(b, "\\b", 2); break;
        case '\f': append(b, "\\f", 2); break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            append(b, esc, 6);
        }
        }
    }
    append(b, s + run, length - run);
    append_char(b, '"');
}

static void append_integer(text_buffer_t *b, json_int_t value)
{
    char digits[24];
    int n = 0;
    uint64_t magnitude = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    do {
        digits[n++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        digits[n++] = '-';
    if (reserve(b, (size_t)n) < 0)
        return;
    while (n)
        b->data[b->length++] = digits[--n];
}

static int encode(text_buffer_t *b, const json_t *value, int depth)
{
    if (depth > 2048)
        return -1;  /* as jansson, refuse absurd nesting instead of overflowing the stack */
    switch (json_typeof(value)) {
    case JSON_OBJECT: {
        append_char(b, '{');
        const char *key;
        size_t key_length;
        json_t *child;
        int first = 1;
        json_object_keylen_foreach((json_t *)value, key, key_length, child) {
            if (!first)
                append_char(b, ',');
            first = 0;
            append_string(b, key, key_length);
            append_char(b, ':');
            if (encode(b, child, depth + 1) < 0)
                return -1;
        }
        append_char(b, '}');
        return 0;
    }
    case JSON_ARRAY: {
        append_char(b, '[');
        size_t n = json_array_size(value);
        for (size_t i = 0; i < n; i++) {
            if (i)
                append_char(b, ',');
            if (encode(b, json_array_get(value, i), depth + 1) < 0)
                return -1;
        }
        append_char(b, ']');
        return 0;
    }
    case JSON_STRING:
        append_string(b, json_string_value(value), json_string_length(value));
        return 0;
    case JSON_INTEGER:
        append_integer(b, json_integer_value(value));
        return 0;
    case JSON_REAL: {
        /* Rare in objects: let jansson choose the exact shortest form. */
        char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text)
            return -1;
        append(b, text, strlen(text));
        free(text);
        return 0;
    }
    case JSON_TRUE:
        append(b, "true", 4);
        return 0;
    case JSON_FALSE:
        append(b, "false", 5);
        return 0;
    case JSON_NULL:
        append(b, "null", 4);
        return 0;
    }
    return -1;
}

static char *finish(text_buffer_t *b, size_t *length)
{
    if (reserve(b, 0) < 0) {
        free(b->data);
        return NULL;
    }
    b->data[b->length] = '\0';
    if (length)
        *length = b->length;
    return b->data;
}

char *kl_json_encode(const json_t *value, size_t *length)
{
    text_buffer_t b = {NULL, 0, 0, 0};
    if (!value || encode(&b, value, 0) < 0) {
        free(b.data);
        return NULL;
    }
    return finish(&b, length);
}

char *kl_json_encode_marked(const json_t *value, const char *member, size_t *length, size_t *mark)
{
    *mark = KL_JSON_NO_MARK;
    if (!json_is_object(value))
        return kl_json_encode(value, length);
    text_buffer_t b = {NULL, 0, 0, 0};
    append_char(&b, '{');
    const char *key;
    size_t key_length;
    json_t *child;
    int first = 1;
    json_object_keylen_foreach((json_t *)value, key, key_length, child) {
        if (!first)
            append_char(&b, ',');
        first = 0;
        append_string(&b, key, key_length);
        append_char(&b, ':');
        size_t start = b.length;
        if (encode(&b, child, 1) < 0) {
            free(b.data);
            return NULL;
        }
        if (json_is_object(child) && strcmp(key, member) == 0)
            *mark = start + 1;  /* just inside its '{' */
    }
    append_char(&b, '}');
    return finish(&b, length);
}
