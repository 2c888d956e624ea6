/* runtime/docker: Kubernetes resource quantities, parsed exactly (as a
 * fraction in 128 bits) so "0.5Gi" and "1536Mi" give the bytes dockerd wants. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "docker.h"

typedef struct unit {
    const char *suffix;
    unsigned __int128 multiply, divide;
} unit_t;

static const unit_t units[] = {
    { "", 1, 1 },           { "m", 1, 1000 },
    { "k", 1000, 1 },       { "M", 1000000, 1 },
    { "G", 1000000000, 1 }, { "T", 1000000000000ULL, 1 },
    { "P", 1000000000000000ULL, 1 }, { "E", 1000000000000000000ULL, 1 },
    { "Ki", 1ULL << 10, 1 }, { "Mi", 1ULL << 20, 1 }, { "Gi", 1ULL << 30, 1 },
    { "Ti", 1ULL << 40, 1 }, { "Pi", 1ULL << 50, 1 }, { "Ei", 1ULL << 60, 1 },
};

/* value = numerator / denominator, rounded up after scaling: a limit is never
 * made tighter than asked. Up to 18 digits keep every product in range. */
static int quantity_scaled(const char *text, const char *what, unsigned __int128 scale, int64_t *out,
                           kl_error_t *err)
{
    if (!text)
        return kl_error_set(err, KL_ERR_INVALID, "%s is missing", what);
    const char *p = text;
    unsigned __int128 numerator = 0, denominator = 1;
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++)
        if (++digits <= 18)
            numerator = numerator * 10 + (unsigned)(*p - '0');
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++)
            if (++digits <= 18) {
                numerator = numerator * 10 + (unsigned)(*p - '0');
                denominator *= 10;
            }
    if (digits == 0 || digits > 18)
        return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" is not a quantity like \"500m\", \"2\" or \"64Mi\"",
                            what, text);
    const unit_t *unit = NULL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(p, units[i].suffix) == 0)
            unit = &units[i];
    if (!unit)
        return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" has an unknown unit \"%.8s\" (use m, k, M, G, Ki, Mi, Gi...)",
                            what, text, p);
    unsigned __int128 factor = unit->multiply * scale;
    if (numerator > ~(unsigned __int128)0 / 2 / factor)
        return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" is too large", what, text);
    unsigned __int128 value = (numerator * unit->multiply * scale + denominator * unit->divide - 1)
                              / (denominator * unit->divide);
    if (value > (unsigned __int128)INT64_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "%s \"%.64s\" is too large", what, text);
    *out = (int64_t)value;
    return 0;
}

int docker_quantity_cpu(const char *text, const char *what, int64_t *millicores, kl_error_t *err)
{
    return quantity_scaled(text, what, 1000, millicores, err);
}

int docker_quantity_memory(const char *text, const char *what, int64_t *bytes, kl_error_t *err)
{
    return quantity_scaled(text, what, 1, bytes, err);
}
