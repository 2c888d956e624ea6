/* Manifests for keelctl: splits YAML streams and JSON files into objects and
 * checks each for what every command needs (kind and metadata.name). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "yaml_json.h"

/* Manifests are small; this bounds what a mistaken `-f /dev/zero` reads. */
#define KL_MANIFEST_MAX_BYTES (16 * 1024 * 1024)

struct kl_manifest {
    json_t *entries; /* [{"where", "object"? , "problem"?}] */
};

static const char *check_object(const json_t *object, char *problem, size_t size)
{
    if (!json_is_object(object)) {
        snprintf(problem, size, "expected an object (a mapping), found %s",
                 json_is_array(object) ? "a list" : "a scalar");
        return problem;
    }
    const json_t *kind = json_object_get(object, "kind");
    if (!json_is_string(kind) || json_string_length(kind) == 0) {
        snprintf(problem, size, "kind: Required value (a string such as Pod or Node)");
        return problem;
    }
    const json_t *metadata = json_object_get(object, "metadata");
    const json_t *name = json_object_get(metadata, "name");
    if (!json_is_object(metadata) || !json_is_string(name) || json_string_length(name) == 0) {
        snprintf(problem, size, "%s without metadata.name: Required value",
                 json_string_value(kind));
        return problem;
    }
    return NULL;
}

static void add_entry(kl_manifest_t *self, json_t *object, const char *where)
{
    char problem[384];
    json_t *entry = json_pack("{s:s}", "where", where);
    if (check_object(object, problem, sizeof problem))
        json_object_set_new(entry, "problem", json_string(problem));
    else
        json_object_set(entry, "object", object);
    json_array_append_new(self->entries, entry);
}

/* A List's items become entries of their own, as kubectl treats them. */
static void add_document(kl_manifest_t *self, json_t *document, const char *where)
{
    const char *kind = json_string_value(json_object_get(document, "kind"));
    json_t *items = json_object_get(document, "items");
    if (kind && strcmp(kind, "List") == 0 && json_is_array(items)) {
        size_t index;
        json_t *item;
        json_array_foreach(items, index, item) {
            char item_where[512];
            snprintf(item_where, sizeof item_where, "%s, item %zu", where, index + 1);
            add_entry(self, item, item_where);
        }
        return;
    }
    add_entry(self, document, where);
}

kl_manifest_t *kl_manifest_parse(const char *text, size_t length, const char *source,
                                 kl_error_t *err)
{
    const char *name = !source ? "<input>" : strcmp(source, "-") == 0 ? "<stdin>" : source;
    size_t start = 0;
    while (start < length && strchr(" \t\r\n", text[start]))
        start++;
    kl_manifest_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "%s: out of memory", name);
        return NULL;
    }
    self->entries = json_array();
    char where[512];
    if (start < length && text[start] == '{') {
        /* JSON proper: jansson gives exact positions and keeps number types. */
        json_error_t json_err;
        json_t *document = json_loadb(text, length, JSON_REJECT_DUPLICATES, &json_err);
        if (!document) {
            kl_error_set(err, KL_ERR_INVALID, "%s: line %d column %d: %s", name, json_err.line,
                         json_err.column, json_err.text);
            kl_manifest_destroy(&self);
            return NULL;
        }
        snprintf(where, sizeof where, "%s", name);
        add_document(self, document, where);
        json_decref(document);
        return self;
    }
    json_t *lines = NULL;
    json_t *documents = kl_yaml_parse(text, length, name, &lines, err);
    if (!documents) {
        kl_manifest_destroy(&self);
        return NULL;
    }
    size_t index;
    json_t *document;
    json_array_foreach(documents, index, document) {
        if (json_is_null(document))
            continue;
        snprintf(where, sizeof where, "%s: document %zu (line %lld)", name, index + 1,
                 (long long)json_integer_value(json_array_get(lines, index)));
        add_document(self, document, where);
    }
    json_decref(documents);
    json_decref(lines);
    return self;
}

kl_manifest_t *kl_manifest_load(const char *path, kl_error_t *err)
{
    int use_stdin = strcmp(path, "-") == 0;
    FILE *f = use_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        kl_error_set(err, KL_ERR_INVALID, "cannot open manifest %s: %s", path, strerror(errno));
        return NULL;
    }
    char *text = NULL;
    size_t length = 0, capacity = 0;
    for (;;) {
        if (capacity - length < 4096) {
            capacity = capacity ? capacity * 2 : 8192;
            char *grown = realloc(text, capacity);
            if (!grown) {
                free(text);
                if (!use_stdin)
                    fclose(f);
                kl_error_set(err, KL_ERR_INTERNAL, "%s: out of memory", path);
                return NULL;
            }
            text = grown;
        }
        size_t n = fread(text + length, 1, capacity - length, f);
        length += n;
        if (length > KL_MANIFEST_MAX_BYTES) {
            free(text);
            if (!use_stdin)
                fclose(f);
            kl_error_set(err, KL_ERR_TOO_LARGE, "manifest %s is larger than %d bytes", path,
                         KL_MANIFEST_MAX_BYTES);
            return NULL;
        }
        if (n == 0)
            break;
    }
    int read_failed = ferror(f);
    if (!use_stdin)
        fclose(f);
    if (read_failed) {
        free(text);
        kl_error_set(err, KL_ERR_INVALID, "cannot read manifest %s", path);
        return NULL;
    }
    kl_manifest_t *self = kl_manifest_parse(text, length, path, err);
    free(text);
    return self;
}

void kl_manifest_destroy(kl_manifest_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    json_decref((*self_p)->entries);
    free(*self_p);
    *self_p = NULL;
}

size_t kl_manifest_size(const kl_manifest_t *self)
{
    return self ? json_array_size(self->entries) : 0;
}

json_t *kl_manifest_object(const kl_manifest_t *self, size_t i)
{
    return self ? json_object_get(json_array_get(self->entries, i), "object") : NULL;
}

const char *kl_manifest_problem(const kl_manifest_t *self, size_t i)
{
    return self ? json_string_value(json_object_get(json_array_get(self->entries, i), "problem"))
                : NULL;
}

const char *kl_manifest_where(const kl_manifest_t *self, size_t i)
{
    return self ? json_string_value(json_object_get(json_array_get(self->entries, i), "where"))
                : NULL;
}
