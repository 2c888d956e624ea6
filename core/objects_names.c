/* Kubernetes name rules (DNS-1123 labels and subdomains, label keys and
 * values): apart because selectors use them as well as validation. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "objects.h"

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

static int dns1123_label_n(const char *text, size_t len)
{
    if (len == 0 || len > 63 || !is_lower_alnum(text[0]) || !is_lower_alnum(text[len - 1]))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_lower_alnum(text[i]) && text[i] != '-')
            return 0;
    return 1;
}

int kl_name_is_dns1123_label(const char *text)
{
    return text && dns1123_label_n(text, strlen(text));
}

int kl_name_is_dns1123_subdomain(const char *text)
{
    if (!text)
        return 0;
    size_t len = strlen(text);
    if (len == 0 || len > 253)
        return 0;
    const char *start = text;
    for (;;) {
        const char *dot = strchr(start, '.');
        size_t n = dot ? (size_t)(dot - start) : strlen(start);
        if (!dns1123_label_n(start, n))
            return 0;
        if (!dot)
            return 1;
        start = dot + 1;
    }
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], the shape of label names and values. */
static int qualified_part_ok(const char *text, size_t len)
{
    if (len == 0 || !is_alnum(text[0]) || !is_alnum(text[len - 1]))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(text[i]) && text[i] != '-' && text[i] != '_' && text[i] != '.')
            return 0;
    return 1;
}

int kl_label_key_check(const char *key, char *why, size_t why_size)
{
    if (!key || !*key) {
        snprintf(why, why_size, "name part must be non-empty");
        return -1;
    }
    const char *slash = strchr(key, '/');
    const char *name = key;
    if (slash) {
        size_t prefix_len = (size_t)(slash - key);
        char prefix[254];
        if (prefix_len == 0 || prefix_len > 253) {
            snprintf(why, why_size, "prefix part must be a DNS-1123 subdomain of at most 253 characters");
            return -1;
        }
        memcpy(prefix, key, prefix_len);
        prefix[prefix_len] = '\0';
        if (!kl_name_is_dns1123_subdomain(prefix)) {
            snprintf(why, why_size,
                     "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                     "alphanumeric characters, '-' or '.', and must start and end with an "
                     "alphanumeric character");
            return -1;
        }
        name = slash + 1;
        if (strchr(name, '/')) {
            snprintf(why, why_size, "a qualified name must have at most one '/'");
            return -1;
        }
    }
    size_t len = strlen(name);
    if (len == 0) {
        snprintf(why, why_size, "name part must be non-empty");
        return -1;
    }
    if (len > 63) {
        snprintf(why, why_size, "name part must be no more than 63 characters");
        return -1;
    }
    if (!qualified_part_ok(name, len)) {
        snprintf(why, why_size,
                 "name part must consist of alphanumeric characters, '-', '_' or '.', and "
                 "must start and end with an alphanumeric character");
        return -1;
    }
    return 0;
}

int kl_label_value_check(const char *value, char *why, size_t why_size)
{
    size_t len = value ? strlen(value) : 0;
    if (len == 0)
        return 0;
    if (len > 63) {
        snprintf(why, why_size, "must be no more than 63 characters");
        return -1;
    }
    if (!qualified_part_ok(value, len)) {
        snprintf(why, why_size,
                 "a valid label must be an empty string or consist of alphanumeric characters, "
                 "'-', '_' or '.', and must start and end with an alphanumeric character");
        return -1;
    }
    return 0;
}
