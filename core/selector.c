/* Selector parsing and matching. Parsing allocates one block of requirements;
 * matching does no allocation so it is cheap enough to run per watch event. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objects.h"
#include "selector.h"

typedef enum op {
    OP_EQUALS,
    OP_NOT_EQUALS,
    OP_IN,
    OP_NOT_IN,
    OP_EXISTS,
    OP_NOT_EXISTS
} op_t;

typedef enum field {
    FIELD_NAME,
    FIELD_NAMESPACE,
    FIELD_NODE_NAME,
    FIELD_PHASE
} field_t;

static const char *const field_names[] = {"metadata.name", "metadata.namespace",
                                          "spec.nodeName", "status.phase"};

typedef struct requirement {
    op_t op;
    int is_field;
    field_t field;
    char *key;
    char **values;   /* NULL-terminated */
    size_t value_count;
    json_t *value_set;  /* the values as a hash set, for long `in` lists */
} requirement_t;

/* Above this many values an `in` set is looked up by hash: a kubelet serving
 * a thousand simulated nodes watches `spec.nodeName in (...)` of them all. */
#define VALUE_SET_MIN 8

struct kl_selector {
    requirement_t *items;
    size_t count;
    size_t capacity;
    size_t refs;
};

static void requirement_clear(requirement_t *r)
{
    free(r->key);
    for (size_t i = 0; i < r->value_count; i++)
        free(r->values[i]);
    free(r->values);
    json_decref(r->value_set);
}

kl_selector_t *kl_selector_ref(kl_selector_t *self)
{
    if (self)
        self->refs++;
    return self;
}

void kl_selector_destroy(kl_selector_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_selector_t *self = *self_p;
    *self_p = NULL;
    if (--self->refs > 0)
        return;
    for (size_t i = 0; i < self->count; i++)
        requirement_clear(&self->items[i]);
    free(self->items);
    free(self);
}

static requirement_t *add(kl_selector_t *self)
{
    if (self->count == self->capacity) {
        size_t cap = self->capacity ? self->capacity * 2 : 4;
        requirement_t *items = realloc(self->items, cap * sizeof *items);
        if (!items)
            return NULL;
        self->items = items;
        self->capacity = cap;
    }
    requirement_t *r = &self->items[self->count++];
    memset(r, 0, sizeof *r);
    return r;
}

static int add_value(requirement_t *r, const char *start, size_t len)
{
    char **values = realloc(r->values, (r->value_count + 2) * sizeof *values);
    if (!values)
        return -1;
    r->values = values;
    values[r->value_count] = strndup(start, len);
    if (!values[r->value_count])
        return -1;
    values[++r->value_count] = NULL;
    return 0;
}

/* ---- parsing --------------------------------------------------------- */

typedef struct parser {
    const char *text;   /* the whole selector, for messages */
    const char *p;
    const char *what;   /* "label selector" or "field selector" */
    kl_error_t *err;
} parser_t;

__attribute__((format(printf, 2, 3)))
static int parse_error(parser_t *ps, const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return kl_error_set(ps->err, KL_ERR_INVALID, "%s \"%.200s\" at position %d: %s", ps->what,
                        ps->text, (int)(ps->p - ps->text) + 1, reason);
}

static void skip_spaces(parser_t *ps)
{
    while (*ps->p == ' ' || *ps->p == '\t')
        ps->p++;
}

/* A key or a value: anything up to an operator, separator or space. */
static size_t token(parser_t *ps)
{
    const char *start = ps->p;
    while (*ps->p && !strchr("=!,() \t", *ps->p))
        ps->p++;
    return (size_t)(ps->p - start);
}

static int word_is(const char *start, size_t len, const char *word)
{
    return strlen(word) == len && strncmp(start, word, len) == 0;
}

static int check_value(parser_t *ps, const char *start, size_t len, int is_field)
{
    char buf[128], why[256];
    if (is_field)
        return 0;
    if (len >= sizeof buf) {
        ps->p = start;
        return parse_error(ps, "value must be no more than 63 characters");
    }
    memcpy(buf, start, len);
    buf[len] = '\0';
    if (kl_label_value_check(buf, why, sizeof why) < 0) {
        ps->p = start;
        return parse_error(ps, "invalid value \"%s\": %s", buf, why);
    }
    return 0;
}

static int parse_requirement(kl_selector_t *self, parser_t *ps, int is_field)
{
    skip_spaces(ps);
    int negated = 0;
    if (!is_field && *ps->p == '!') {
        negated = 1;
        ps->p++;
        skip_spaces(ps);
    }
    const char *key_start = ps->p;
    size_t key_len = token(ps);
    if (key_len == 0)
        return parse_error(ps, "expected a %s", is_field ? "field name" : "label key");
    requirement_t *r = add(self);
    if (!r)
        return kl_error_set(ps->err, KL_ERR_INTERNAL, "out of memory parsing %s", ps->what);
    r->is_field = is_field;
    r->key = strndup(key_start, key_len);
    if (!r->key)
        return kl_error_set(ps->err, KL_ERR_INTERNAL, "out of memory parsing %s", ps->what);
    if (is_field) {
        int found = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(field_names[i], r->key) == 0)
                found = i;
        if (found < 0) {
            ps->p = key_start;
            return parse_error(ps, "field \"%s\" is not supported (use metadata.name, "
                                   "metadata.namespace, spec.nodeName or status.phase)", r->key);
        }
        r->field = (field_t)found;
    } else {
        char why[256];
        if (kl_label_key_check(r->key, why, sizeof why) < 0) {
            ps->p = key_start;
            return parse_error(ps, "invalid label key \"%s\": %s", r->key, why);
        }
    }
    skip_spaces(ps);
    if (negated) {
        r->op = OP_NOT_EXISTS;
        if (*ps->p && *ps->p != ',')
            return parse_error(ps, "expected ',' or the end after \"!%s\"", r->key);
        return 0;
    }
    if (*ps->p == '\0' || *ps->p == ',') {
        if (is_field)
            return parse_error(ps, "expected '=', '==' or '!=' after field \"%s\"", r->key);
        r->op = OP_EXISTS;
        return 0;
    }
    if (ps->p[0] == '!' && ps->p[1] == '=') {
        r->op = OP_NOT_EQUALS;
        ps->p += 2;
    } else if (ps->p[0] == '=') {
        r->op = OP_EQUALS;
        ps->p += ps->p[1] == '=' ? 2 : 1;
    } else {
        const char *word_start = ps->p;
        size_t word_len = token(ps);
        if (word_is(word_start, word_len, "in"))
            r->op = OP_IN;
        else if (word_is(word_start, word_len, "notin"))
            r->op = OP_NOT_IN;
        else {
            ps->p = word_start;
            return parse_error(ps, "expected '=', '==', '!=', 'in' or 'notin'");
        }
        skip_spaces(ps);
        if (*ps->p != '(')
            return parse_error(ps, "expected '(' after '%s'", r->op == OP_IN ? "in" : "notin");
        ps->p++;
        for (;;) {
            skip_spaces(ps);
            const char *value_start = ps->p;
            size_t value_len = token(ps);
            if (check_value(ps, value_start, value_len, is_field) < 0)
                return -1;
            if (add_value(r, value_start, value_len) < 0)
                return kl_error_set(ps->err, KL_ERR_INTERNAL, "out of memory parsing %s", ps->what);
            skip_spaces(ps);
            if (*ps->p == ',') {
                ps->p++;
                continue;
            }
            if (*ps->p == ')') {
                ps->p++;
                break;
            }
            return parse_error(ps, "expected ',' or ')' in the value set");
        }
        skip_spaces(ps);
        if (*ps->p && *ps->p != ',')
            return parse_error(ps, "expected ',' or the end after ')'");
        if (r->value_count >= VALUE_SET_MIN) {
            r->value_set = json_object();
            for (size_t i = 0; r->value_set && i < r->value_count; i++)
                json_object_set_new(r->value_set, r->values[i], json_true());
        }
        return 0;
    }
    skip_spaces(ps);
    const char *value_start = ps->p;
    /* Field values may contain anything but a separator. */
    size_t value_len;
    if (is_field) {
        while (*ps->p && *ps->p != ',')
            ps->p++;
        value_len = (size_t)(ps->p - value_start);
        while (value_len && (value_start[value_len - 1] == ' ' || value_start[value_len - 1] == '\t'))
            value_len--;
    } else {
        value_len = token(ps);
    }
    if (check_value(ps, value_start, value_len, is_field) < 0)
        return -1;
    if (add_value(r, value_start, value_len) < 0)
        return kl_error_set(ps->err, KL_ERR_INTERNAL, "out of memory parsing %s", ps->what);
    skip_spaces(ps);
    if (*ps->p && *ps->p != ',')
        return parse_error(ps, "unexpected '%c' after the value of \"%s\"", *ps->p, r->key);
    return 0;
}

static int parse_list(kl_selector_t *self, const char *text, int is_field, kl_error_t *err)
{
    if (!text)
        return 0;
    parser_t ps = {text, text, is_field ? "field selector" : "label selector", err};
    skip_spaces(&ps);
    if (!*ps.p)
        return 0;
    for (;;) {
        if (parse_requirement(self, &ps, is_field) < 0)
            return -1;
        if (!*ps.p)
            return 0;
        ps.p++;  /* the ',' */
    }
}

kl_selector_t *kl_selector_new(const char *label_selector, const char *field_selector,
                               kl_error_t *err)
{
    kl_selector_t *self = calloc(1, sizeof *self);
    if (!self) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory parsing a selector");
        return NULL;
    }
    self->refs = 1;
    if (parse_list(self, label_selector, 0, err) < 0
        || parse_list(self, field_selector, 1, err) < 0)
        kl_selector_destroy(&self);
    return self;
}

/* ---- matching -------------------------------------------------------- */

/* node_name: the pod's spec.nodeName when the caller has read it already. */
static const char *field_value(const json_t *object, field_t field, const char *node_name)
{
    switch (field) {
    case FIELD_NAME: return kl_object_name(object);
    case FIELD_NAMESPACE: return kl_object_namespace(object);
    case FIELD_NODE_NAME: return node_name ? node_name : kl_pod_node_name(object);
    case FIELD_PHASE: return kl_pod_phase(object);
    }
    return NULL;
}

static int in_values(const requirement_t *r, const char *value)
{
    if (r->value_set)
        return json_object_get(r->value_set, value) != NULL;
    for (size_t i = 0; i < r->value_count; i++)
        if (strcmp(r->values[i], value) == 0)
            return 1;
    return 0;
}

static int matches(const kl_selector_t *self, const json_t *object, const char *node_name)
{
    if (!self)
        return 1;
    const json_t *labels = NULL;
    int labels_read = 0;
    for (size_t i = 0; i < self->count; i++) {
        const requirement_t *r = &self->items[i];
        const char *value;
        if (r->is_field) {
            /* An absent field compares as "", as Kubernetes does for an
             * unbound pod's spec.nodeName. */
            value = field_value(object, r->field, node_name);
            if (!value)
                value = "";
        } else {
            if (!labels_read) {
                labels = json_object_get(json_object_get(object, "metadata"), "labels");
                labels_read = 1;
            }
            value = json_string_value(json_object_get(labels, r->key));
        }
        switch (r->op) {
        case OP_EQUALS:
            if (!value || strcmp(value, r->values[0]) != 0)
                return 0;
            break;
        case OP_NOT_EQUALS:
            if (value && strcmp(value, r->values[0]) == 0)
                return 0;
            break;
        case OP_IN:
            if (!value || !in_values(r, value))
                return 0;
            break;
        case OP_NOT_IN:
            if (value && in_values(r, value))
                return 0;
            break;
        case OP_EXISTS:
            if (!value)
                return 0;
            break;
        case OP_NOT_EXISTS:
            if (value)
                return 0;
            break;
        }
    }
    return 1;
}

int kl_selector_matches(const kl_selector_t *self, const json_t *object)
{
    return matches(self, object, NULL);
}

int kl_selector_matches_pod(const kl_selector_t *self, const json_t *pod, const char *node_name)
{
    return matches(self, pod, node_name);
}

int kl_selector_is_empty(const kl_selector_t *self)
{
    return !self || self->count == 0;
}

const char *kl_selector_field_equals(const kl_selector_t *self, const char *field)
{
    if (!self || !field)
        return NULL;
    for (size_t i = 0; i < self->count; i++) {
        const requirement_t *r = &self->items[i];
        if (r->is_field && r->op == OP_EQUALS && strcmp(field_names[r->field], field) == 0)
            return r->values[0];
    }
    return NULL;
}
