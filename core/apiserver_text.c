/* Encoded objects shared by the API server's cache, its watch history and
 * its replies: each stored revision is encoded once, and replies and watch
 * answers are assembled from those texts instead of encoding again. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_internal.h"
#include "json_encode.h"

static api_text_t *text_alloc(size_t length)
{
    api_text_t *t = malloc(sizeof *t + length + 1);
    if (t) {
        t->refs = 1;
        t->length = length;
        t->data[length] = '\0';
    }
    return t;
}

api_text_t *kl_api_text_of(const json_t *object)
{
    size_t length;
    char *encoded = kl_json_encode(object, &length);
    if (!encoded)
        return NULL;
    api_text_t *t = text_alloc(length);
    if (t)
        memcpy(t->data, encoded, length);
    free(encoded);
    return t;
}

/* The stored text (no resourceVersion; `mark` just inside its metadata's
 * braces) with "resourceVersion" spliced in first: the same object as the
 * cached one, whose resourceVersion is the revision the store gave it. */
api_text_t *kl_api_text_with_revision(const char *stored, size_t length, size_t mark,
                                      int64_t revision)
{
    if (!stored || mark == KL_JSON_NO_MARK || mark > length)
        return NULL;
    char field[64];
    int empty = mark < length && stored[mark] == '}';
    int n = snprintf(field, sizeof field, "\"resourceVersion\":\"%" PRId64 "\"%s", revision,
                     empty ? "" : ",");
    api_text_t *t = text_alloc(length + (size_t)n);
    if (!t)
        return NULL;
    memcpy(t->data, stored, mark);
    memcpy(t->data + mark, field, (size_t)n);
    memcpy(t->data + mark + (size_t)n, stored + mark, length - mark);
    return t;
}

api_text_t *kl_api_text_ref(api_text_t *t)
{
    if (t)
        t->refs++;
    return t;
}

void kl_api_text_unref(api_text_t **t_p)
{
    if (t_p && *t_p && --(*t_p)->refs == 0)
        free(*t_p);
    if (t_p)
        *t_p = NULL;
}

/* ---- replies assembled from texts ----------------------------------------- */

void kl_api_buffer_append(api_buffer_t *b, const char *data, size_t length)
{
    if (b->failed)
        return;
    if (b->length + length + 1 > b->capacity) {
        size_t capacity = b->capacity ? b->capacity : 4096;
        while (capacity < b->length + length + 1)
            capacity *= 2;
        char *grown = realloc(b->data, capacity);
        if (!grown) {
            b->failed = 1;
            return;
        }
        b->data = grown;
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, data, length);
    b->length += length;
}

void kl_api_buffer_text(api_buffer_t *b, const char *text)
{
    kl_api_buffer_append(b, text, strlen(text));
}

char *kl_api_buffer_take(api_buffer_t *b, size_t *length)
{
    kl_api_buffer_append(b, "", 0);  /* room for the terminator */
    if (b->failed || !b->data) {
        free(b->data);
        *b = (api_buffer_t){0};
        return NULL;
    }
    char *data = b->data;
    data[b->length] = '\0';
    *length = b->length;
    *b = (api_buffer_t){0};
    return data;
}
