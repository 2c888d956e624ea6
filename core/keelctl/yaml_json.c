/* YAML to JSON for keelctl, on libyaml's event parser. Plain scalars are
 * typed by YAML 1.2's core schema, the one JSON is a subset of. The way
 * back is in yaml_emit.c. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yaml_json.h"

/* Nesting and alias expansion are bounded so a hostile manifest cannot
 * exhaust the stack or memory ("billion laughs"). */
#define KL_YAML_MAX_DEPTH 200
#define KL_YAML_MAX_NODES 1000000

typedef struct parse_ctx {
    yaml_parser_t parser;
    const char *source;
    int document;       /* 1-based number of the document being read */
    json_t *anchors;    /* anchor name -> value, for aliases */
    size_t nodes;       /* values created so far, aliases counted in full */
    kl_error_t *err;
} parse_ctx_t;

static int fail_at(parse_ctx_t *ctx, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(parse_ctx_t *ctx, yaml_mark_t mark, const char *fmt, ...)
{
    char what[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return kl_error_set(ctx->err, KL_ERR_INVALID, "%s: document %d, line %zu column %zu: %s",
                        ctx->source, ctx->document, mark.line + 1, mark.column + 1, what);
}

static int next_event(parse_ctx_t *ctx, yaml_event_t *event)
{
    if (yaml_parser_parse(&ctx->parser, event))
        return 0;
    yaml_parser_t *p = &ctx->parser;
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->context)
        return fail_at(ctx, p->problem_mark, "%s (%s started at line %zu column %zu)", problem,
                       p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    return fail_at(ctx, p->problem_mark, "%s", problem);
}

static bool all_chars_in(const char *s, size_t len, const char *set)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr(set, s[i]))
            return false;
    return true;
}

static bool is_one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (strcmp(s, *words) == 0)
            return true;
    return false;
}

static const char *const null_words[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const true_words[] = {"true", "True", "TRUE", NULL};
static const char *const false_words[] = {"false", "False", "FALSE", NULL};
static const char *const special_float_words[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                                 "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN",
                                                 NULL};

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float_syntax(const char *s)
{
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    size_t int_digits = 0, frac_digits = 0;
    while (isdigit((unsigned char)*p)) {
        p++;
        int_digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            p++;
            frac_digits++;
        }
    }
    if (int_digits == 0 && frac_digits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '-' || *p == '+')
            p++;
        if (!isdigit((unsigned char)*p))
            return false;
        while (isdigit((unsigned char)*p))
            p++;
    }
    return *p == '\0';
}

typedef enum { PLAIN_STRING, PLAIN_NULL, PLAIN_BOOL, PLAIN_INT, PLAIN_FLOAT, PLAIN_SPECIAL } plain_kind_t;

/* Which core-schema type a plain scalar resolves to. */
static plain_kind_t plain_kind(const char *s)
{
    size_t len = strlen(s);
    if (is_one_of(s, null_words))
        return PLAIN_NULL;
    if (is_one_of(s, true_words) || is_one_of(s, false_words))
        return PLAIN_BOOL;
    if (is_one_of(s, special_float_words))
        return PLAIN_SPECIAL;
    const char *digits = (s[0] == '-' || s[0] == '+') ? s + 1 : s;
    if (all_chars_in(digits, strlen(digits), "0123456789"))
        return PLAIN_INT;
    if (len > 2 && s[0] == '0' && s[1] == 'o' && all_chars_in(s + 2, len - 2, "01234567"))
        return PLAIN_INT;
    if (len > 2 && s[0] == '0' && s[1] == 'x' &&
        all_chars_in(s + 2, len - 2, "0123456789abcdefABCDEF"))
        return PLAIN_INT;
    if (is_float_syntax(s))
        return PLAIN_FLOAT;
    return PLAIN_STRING;
}

int kl_yaml_plain_is_ambiguous(const char *text)
{
    /* Besides the core schema, quote what YAML 1.1 readers (many tools that
     * read manifests) would take for a bool, a null or a number. */
    static const char *const yaml11_words[] = {"y", "Y", "yes", "Yes", "YES", "n", "N", "no",
                                               "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
                                               NULL};
    if (!text || plain_kind(text) != PLAIN_STRING)
        return 1;
    if (is_one_of(text, yaml11_words))
        return 1;
    size_t len = strlen(text);
    if (len > 0 && strchr("0123456789+-.", text[0]) && strpbrk(text, "0123456789") &&
        all_chars_in(text, len, "0123456789_:.+-eEoObBxXabcdefABCDEF"))
        return 1;
    return 0;
}

static json_t *resolve_plain(parse_ctx_t *ctx, const char *s, yaml_mark_t mark)
{
    switch (plain_kind(s)) {
    case PLAIN_NULL:
        return json_null();
    case PLAIN_BOOL:
        return json_boolean(is_one_of(s, true_words));
    case PLAIN_INT: {
        int base = 10;
        const char *start = s;
        if (s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
            base = s[1] == 'o' ? 8 : 16;
            start = s + 2;
        }
        errno = 0;
        char *end;
        long long v = strtoll(start, &end, base);
        if (errno == ERANGE || *end != '\0') {
            fail_at(ctx, mark, "integer %s is out of range", s);
            return NULL;
        }
        return json_integer((json_int_t)v);
    }
    case PLAIN_FLOAT: {
        errno = 0;
        double v = strtod(s, NULL);
        if (errno == ERANGE && isinf(v)) {
            fail_at(ctx, mark, "number %s is out of range", s);
            return NULL;
        }
        return json_real(v);
    }
    case PLAIN_SPECIAL:
        fail_at(ctx, mark, "%s (infinity or not-a-number) has no JSON form; quote it for a string",
                s);
        return NULL;
    case PLAIN_STRING:
    default:
        return json_string(s);
    }
}

static json_t *scalar_value(parse_ctx_t *ctx, yaml_event_t *event)
{
    const char *text = (const char *)event->data.scalar.value;
    size_t length = event->data.scalar.length;
    const char *tag = (const char *)event->data.scalar.tag;
    json_t *value;
    if (memchr(text, '\0', length)) {
        fail_at(ctx, event->start_mark, "a scalar holds a NUL character");
        return NULL;
    }
    if (tag && strcmp(tag, YAML_STR_TAG) == 0)
        value = json_stringn(text, length);
    else if (tag && strcmp(tag, "!") != 0 && strncmp(tag, "tag:yaml.org,2002:", 18) != 0) {
        fail_at(ctx, event->start_mark, "unsupported tag %s", tag);
        return NULL;
    } else if (event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
               !(tag && strcmp(tag, "!") == 0))
        value = resolve_plain(ctx, text, event->start_mark);
    else
        value = json_stringn(text, length);
    if (!value && ctx->err->code == KL_OK)
        fail_at(ctx, event->start_mark, "scalar is not valid UTF-8");
    return value;
}

static size_t count_values(const json_t *value)
{
    size_t n = 1;
    size_t index;
    const char *key;
    json_t *child;
    if (json_is_object(value)) {
        json_object_foreach((json_t *)value, key, child)
            n += count_values(child);
    } else if (json_is_array(value)) {
        json_array_foreach(value, index, child)
            n += count_values(child);
    }
    return n;
}

static json_t *parse_node(parse_ctx_t *ctx, yaml_event_t *event, int depth);

/* Reads a mapping entry's value and stores it under the key; "<<" merge
 * values are gathered in `merged`, applied once the mapping is complete. */
static int parse_mapping_entry(parse_ctx_t *ctx, json_t *object, json_t *merged,
                               yaml_event_t *key_event, int depth)
{
    if (key_event->type != YAML_SCALAR_EVENT)
        return fail_at(ctx, key_event->start_mark,
                       "mapping keys must be plain strings, not collections or aliases");
    const char *key = (const char *)key_event->data.scalar.value;
    bool merge = strcmp(key, "<<") == 0 && key_event->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (!merge && json_object_get(object, key))
        return fail_at(ctx, key_event->start_mark, "duplicate key \"%s\"", key);
    yaml_event_t value_event;
    if (next_event(ctx, &value_event) < 0)
        return -1;
    yaml_mark_t value_mark = value_event.start_mark;
    json_t *value = parse_node(ctx, &value_event, depth + 1);
    if (!value)
        return -1;
    if (merge) {
        /* "<<: *defaults" fills in keys the mapping does not set itself. */
        if (!json_is_object(value)) {
            json_decref(value);
            return fail_at(ctx, value_mark, "a merge key (<<) needs a mapping");
        }
        json_object_update_missing(merged, value);
        json_decref(value);
        return 0;
    }
    if (json_object_set_new(object, key, value) < 0)
        return fail_at(ctx, key_event->start_mark, "key \"%s\" is not valid UTF-8", key);
    return 0;
}

/* Builds the value that starts with `event` (consumed) and everything up to
 * its end. Returns a new reference or NULL with ctx->err filled. */
static json_t *parse_node(parse_ctx_t *ctx, yaml_event_t *event, int depth)
{
    json_t *value = NULL;
    const char *anchor = NULL;
    yaml_mark_t mark = event->start_mark;
    if (depth > KL_YAML_MAX_DEPTH) {
        fail_at(ctx, mark, "nesting deeper than %d levels", KL_YAML_MAX_DEPTH);
        yaml_event_delete(event);
        return NULL;
    }
    if (++ctx->nodes > KL_YAML_MAX_NODES) {
        fail_at(ctx, mark, "more than %d values", KL_YAML_MAX_NODES);
        yaml_event_delete(event);
        return NULL;
    }
    switch (event->type) {
    case YAML_SCALAR_EVENT:
        anchor = (const char *)event->data.scalar.anchor;
        value = scalar_value(ctx, event);
        break;
    case YAML_ALIAS_EVENT: {
        json_t *target = json_object_get(ctx->anchors, (const char *)event->data.alias.anchor);
        if (!target) {
            fail_at(ctx, mark, "alias *%s names no anchor", event->data.alias.anchor);
            break;
        }
        ctx->nodes += count_values(target);
        if (ctx->nodes > KL_YAML_MAX_NODES) {
            fail_at(ctx, mark, "aliases expand to more than %d values", KL_YAML_MAX_NODES);
            break;
        }
        /* A copy, so later edits of one occurrence leave the others alone. */
        value = json_deep_copy(target);
        break;
    }
    case YAML_SEQUENCE_START_EVENT: {
        anchor = (const char *)event->data.sequence_start.anchor;
        value = json_array();
        for (;;) {
            yaml_event_t child_event;
            if (next_event(ctx, &child_event) < 0) {
                json_decref(value);
                value = NULL;
                break;
            }
            if (child_event.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&child_event);
                break;
            }
            json_t *child = parse_node(ctx, &child_event, depth + 1);
            if (!child) {
                json_decref(value);
                value = NULL;
                break;
            }
            json_array_append_new(value, child);
        }
        break;
    }
    case YAML_MAPPING_START_EVENT: {
        anchor = (const char *)event->data.mapping_start.anchor;
        value = json_object();
        json_t *merged = json_object();
        for (;;) {
            yaml_event_t key_event;
            if (next_event(ctx, &key_event) < 0) {
                json_decref(value);
                value = NULL;
                break;
            }
            if (key_event.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&key_event);
                json_object_update_missing(value, merged);
                break;
            }
            int rc = parse_mapping_entry(ctx, value, merged, &key_event, depth);
            yaml_event_delete(&key_event);
            if (rc < 0) {
                json_decref(value);
                value = NULL;
                break;
            }
        }
        json_decref(merged);
        break;
    }
    default:
        fail_at(ctx, mark, "unexpected YAML event %d", (int)event->type);
        break;
    }
    if (value && anchor)
        json_object_set(ctx->anchors, anchor, value);
    yaml_event_delete(event);
    return value;
}

json_t *kl_yaml_parse(const char *text, size_t length, const char *source, json_t **lines,
                      kl_error_t *err)
{
    kl_error_t local_err;
    parse_ctx_t ctx = {.source = source ? source : "<input>", .document = 1,
                       .err = err ? err : &local_err};
    kl_error_clear(ctx.err);
    if (lines)
        *lines = NULL;
    if (!yaml_parser_initialize(&ctx.parser)) {
        kl_error_set(ctx.err, KL_ERR_INTERNAL, "%s: cannot start the YAML parser", ctx.source);
        return NULL;
    }
    yaml_parser_set_input_string(&ctx.parser, (const unsigned char *)text, length);
    json_t *documents = json_array();
    json_t *starts = json_array();
    bool done = false, failed = false;
    while (!done && !failed) {
        yaml_event_t event;
        if (next_event(&ctx, &event) < 0) {
            failed = true;
            break;
        }
        switch (event.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT: {
            /* Anchors do not reach across documents. */
            json_decref(ctx.anchors);
            ctx.anchors = json_object();
            json_array_append_new(starts, json_integer((json_int_t)event.start_mark.line + 1));
            yaml_event_t root_event;
            if (next_event(&ctx, &root_event) < 0) {
                failed = true;
                break;
            }
            json_t *root = parse_node(&ctx, &root_event, 0);
            if (!root) {
                failed = true;
                break;
            }
            json_array_append_new(documents, root);
            break;
        }
        case YAML_DOCUMENT_END_EVENT:
            ctx.document++;
            break;
        default: /* STREAM_START */
            break;
        }
        yaml_event_delete(&event);
    }
    yaml_parser_delete(&ctx.parser);
    json_decref(ctx.anchors);
    if (failed) {
        json_decref(documents);
        json_decref(starts);
        return NULL;
    }
    if (lines)
        *lines = starts;
    else
        json_decref(starts);
    return documents;
}
