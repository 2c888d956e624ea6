/* Parsing of Kubernetes resource quantities. Only exact integer results are
 * accepted: a fraction of a millicore or of a byte is an error. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantity.h"

typedef struct suffix {
    const char *text;
    double factor;
} suffix_t;

static const suffix_t memory_suffixes[] = {
    {"Ki", 1024.0}, {"Mi", 1048576.0}, {"Gi", 1073741824.0}, {"Ti", 1099511627776.0},
    {"Pi", 1125899906842624.0}, {"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9},
    {"T", 1e12}, {"P", 1e15}, {"m", 1e-3}, {"", 1.0}, {NULL, 0},
};

/* Splits "12.5Gi" into number and suffix; the number must be a plain
 * non-negative decimal (optionally with an exponent). */
static int parse_number(const char *text, double *value, const char **suffix_out,
                        const char *what, kl_error_t *err)
{
    if (!text || !*text)
        return kl_error_set(err, KL_ERR_INVALID, "%s quantity is empty", what);
    const char *p = text;
    if (!isdigit((unsigned char)*p) && *p != '.')
        return kl_error_set(err, KL_ERR_INVALID,
                            "%s quantity \"%s\" must start with a non-negative number", what, text);
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (errno || end == p || !isfinite(v) || v < 0)
        return kl_error_set(err, KL_ERR_INVALID, "%s quantity \"%s\" is not a number", what, text);
    *value = v;
    *suffix_out = end;
    return 0;
}

int kl_quantity_parse_memory(const char *text, int64_t *bytes, kl_error_t *err)
{
    double v;
    const char *suffix;
    if (parse_number(text, &v, &suffix, "memory", err) < 0)
        return -1;
    for (const suffix_t *s = memory_suffixes; s->text; s++) {
        if (strcmp(suffix, s->text) == 0) {
            double total = v * s->factor;
            if (total > 9.0e18)
                return kl_error_set(err, KL_ERR_INVALID, "memory quantity \"%s\" is too large", text);
            *bytes = (int64_t)ceil(total - 1e-9);
            return 0;
        }
    }
    return kl_error_set(err, KL_ERR_INVALID,
                        "memory quantity \"%s\" has unknown suffix \"%s\" (use Ki, Mi, Gi, k, M, G)",
                        text, suffix);
}

int kl_quantity_parse_cpu(const char *text, int64_t *millicores, kl_error_t *err)
{
    double v;
    const char *suffix;
    if (parse_number(text, &v, &suffix, "cpu", err) < 0)
        return -1;
    double milli;
    if (strcmp(suffix, "m") == 0)
        milli = v;
    else if (*suffix == '\0')
        milli = v * 1000.0;
    else
        return kl_error_set(err, KL_ERR_INVALID,
                            "cpu quantity \"%s\" has unknown suffix \"%s\" (use cores like \"2\" or millicores like \"500m\")",
                            text, suffix);
    if (milli > 9.0e15)
        return kl_error_set(err, KL_ERR_INVALID, "cpu quantity \"%s\" is too large", text);
    *millicores = (int64_t)ceil(milli - 1e-9);
    return 0;
}

void kl_quantity_format_cpu(int64_t millicores, char *buf, size_t size)
{
    if (millicores % 1000 == 0)
        snprintf(buf, size, "%" PRId64, millicores / 1000);
    else
        snprintf(buf, size, "%" PRId64 "m", millicores);
}

void kl_quantity_format_memory(int64_t bytes, char *buf, size_t size)
{
    static const char *units[] = {"Ki", "Mi", "Gi", "Ti"};
    const char *unit = "";
    int64_t value = bytes;
    for (int i = 0; i < 4 && value != 0 && value % 1024 == 0; i++) {
        value /= 1024;
        unit = units[i];
    }
    snprintf(buf, size, "%" PRId64 "%s", value, unit);
}

/* One formatting for every reader (validation, requests, the scheduler) so a
 * number means the same amount everywhere: %.15g keeps what was written
 * where a fixed number of decimals would round small fractions to 0. */
const char *kl_quantity_json_text(const json_t *value, char *buf, size_t size)
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_integer(value)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
        return buf;
    }
    if (json_is_real(value)) {
        snprintf(buf, size, "%.15g", json_real_value(value));
        return buf;
    }
    return NULL;
}

int kl_quantity_from_json(const json_t *value, int cpu, int64_t *out, const char *where,
                          kl_error_t *err)
{
    char buf[64];
    const char *text = kl_quantity_json_text(value, buf, sizeof buf);
    if (!text)
        return kl_error_set(err, KL_ERR_INVALID, "%s%smust be a quantity string",
                            where ? where : "", where ? ": " : "");
    kl_error_t inner;
    kl_error_t *target = where ? &inner : err;
    int rc = cpu ? kl_quantity_parse_cpu(text, out, target)
                 : kl_quantity_parse_memory(text, out, target);
    if (rc < 0 && where)
        return kl_error_set(err, inner.code, "%s: %s", where, inner.text);
    return rc;
}
