/* JSON to YAML for keelctl, on libyaml's emitter: block style, with strings
 * quoted wherever a plain scalar would read back as another type. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yaml_json.h"

typedef struct out_buffer {
    char *data;
    size_t length;
    size_t capacity;
    bool failed;
} out_buffer_t;

static int write_handler(void *data, unsigned char *bytes, size_t size)
{
    out_buffer_t *out = data;
    if (out->length + size + 1 > out->capacity) {
        size_t capacity = out->capacity ? out->capacity : 256;
        while (out->length + size + 1 > capacity)
            capacity *= 2;
        char *grown = realloc(out->data, capacity);
        if (!grown) {
            out->failed = true;
            return 0;
        }
        out->data = grown;
        out->capacity = capacity;
    }
    memcpy(out->data + out->length, bytes, size);
    out->length += size;
    out->data[out->length] = '\0';
    return 1;
}

static int emit_scalar(yaml_emitter_t *emitter, const char *text, size_t length,
                       yaml_scalar_style_t style)
{
    yaml_event_t event;
    if (!yaml_scalar_event_initialize(&event, NULL, NULL, (yaml_char_t *)text, (int)length, 1, 1,
                                      style))
        return -1;
    return yaml_emitter_emit(emitter, &event) ? 0 : -1;
}

static int emit_string(yaml_emitter_t *emitter, const char *text, size_t length)
{
    yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
    if (memchr(text, '\0', length) || kl_yaml_plain_is_ambiguous(text))
        style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    else if (memchr(text, '\n', length))
        style = YAML_LITERAL_SCALAR_STYLE;
    return emit_scalar(emitter, text, length, style);
}

/* The shortest decimal that reads back as the same double, always with a
 * '.' or exponent so it reads back as a float, not an integer. */
static void format_real(double v, char *buf, size_t size)
{
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(buf, size, "%.*g", precision, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    if (!strpbrk(buf, ".eEn"))
        strncat(buf, ".0", size - strlen(buf) - 1);
}

static int emit_value(yaml_emitter_t *emitter, const json_t *value)
{
    yaml_event_t event;
    char number[64];
    switch (json_typeof(value)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *child;
        if (!yaml_mapping_start_event_initialize(&event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE) ||
            !yaml_emitter_emit(emitter, &event))
            return -1;
        json_object_foreach((json_t *)value, key, child) {
            if (emit_string(emitter, key, strlen(key)) < 0 || emit_value(emitter, child) < 0)
                return -1;
        }
        if (!yaml_mapping_end_event_initialize(&event))
            return -1;
        return yaml_emitter_emit(emitter, &event) ? 0 : -1;
    }
    case JSON_ARRAY: {
        size_t index;
        json_t *child;
        if (!yaml_sequence_start_event_initialize(&event, NULL, NULL, 1,
                                                  YAML_BLOCK_SEQUENCE_STYLE) ||
            !yaml_emitter_emit(emitter, &event))
            return -1;
        json_array_foreach(value, index, child) {
            if (emit_value(emitter, child) < 0)
                return -1;
        }
        if (!yaml_sequence_end_event_initialize(&event))
            return -1;
        return yaml_emitter_emit(emitter, &event) ? 0 : -1;
    }
    case JSON_STRING:
        return emit_string(emitter, json_string_value(value), json_string_length(value));
    case JSON_INTEGER:
        snprintf(number, sizeof number, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        return emit_scalar(emitter, number, strlen(number), YAML_PLAIN_SCALAR_STYLE);
    case JSON_REAL:
        format_real(json_real_value(value), number, sizeof number);
        return emit_scalar(emitter, number, strlen(number), YAML_PLAIN_SCALAR_STYLE);
    case JSON_TRUE:
        return emit_scalar(emitter, "true", 4, YAML_PLAIN_SCALAR_STYLE);
    case JSON_FALSE:
        return emit_scalar(emitter, "false", 5, YAML_PLAIN_SCALAR_STYLE);
    case JSON_NULL:
    default:
        return emit_scalar(emitter, "null", 4, YAML_PLAIN_SCALAR_STYLE);
    }
}

char *kl_yaml_emit(const json_t *value, kl_error_t *err)
{
    if (!value) {
        kl_error_set(err, KL_ERR_INVALID, "no value to write as YAML");
        return NULL;
    }
    yaml_emitter_t emitter;
    yaml_event_t event;
    out_buffer_t out = {0};
    if (!yaml_emitter_initialize(&emitter)) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot start the YAML emitter");
        return NULL;
    }
    yaml_emitter_set_output(&emitter, write_handler, &out);
    yaml_emitter_set_unicode(&emitter, 1);
    yaml_emitter_set_width(&emitter, -1); /* never fold long strings */
    yaml_emitter_set_indent(&emitter, 2);
    int ok = yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING) &&
             yaml_emitter_emit(&emitter, &event) &&
             yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1) &&
             yaml_emitter_emit(&emitter, &event) && emit_value(&emitter, value) == 0 &&
             yaml_document_end_event_initialize(&event, 1) && yaml_emitter_emit(&emitter, &event) &&
             yaml_stream_end_event_initialize(&event) && yaml_emitter_emit(&emitter, &event) &&
             yaml_emitter_flush(&emitter);
    if (!ok || out.failed) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot write YAML: %s",
                     emitter.problem ? emitter.problem : "out of memory");
        yaml_emitter_delete(&emitter);
        free(out.data);
        return NULL;
    }
    yaml_emitter_delete(&emitter);
    if (!out.data)
        out.data = strdup("");
    return out.data;
}
