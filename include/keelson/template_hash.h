/* The name suffix of a pod template: the Deployment controller names each
 * ReplicaSet by it and keelctl's rollout commands find that ReplicaSet by
 * it, so both must compute it from this one definition. */
#ifndef KEELSON_TEMPLATE_HASH_H
#define KEELSON_TEMPLATE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <jansson.h>

/* FNV-1a 64 over the template's canonical JSON (sorted keys, compact), in
 * up to 10 consonants and digits: the same template always gives the same
 * name, across restarts, with no words spelt by chance. */
static inline void kl_template_hash(const json_t *template_object, char *buf, size_t size)
{
    char *text = json_dumps(template_object, JSON_SORT_KEYS | JSON_COMPACT);
    uint64_t hash = 14695981039346656037ull;
    for (const char *p = text ? text : ""; *p; p++) {
        hash ^= (unsigned char)*p;
        hash *= 1099511628211ull;
    }
    free(text);
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    size_t i = 0;
    for (; i < 10 && i + 1 < size; i++) {
        buf[i] = alphabet[hash % (sizeof alphabet - 1)];
        hash /= (sizeof alphabet - 1);
    }
    buf[i] = '\0';
}

#endif
