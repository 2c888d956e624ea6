/* Helpers the etcd store's reads, writes, history and leases all share: etcd's
 * JSON integers, keys in base64 under the store prefix, KeyValues, calls. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "etcd_store.h"

/* etcd's JSON writes int64 as strings and omits zero values. */
int etcd_json_int64(const json_t *object, const char *field, int64_t *out)
{
    const json_t *v = json_object_get(object, field);
    *out = 0;
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *text = json_string_value(v);
    if (!text || !*text)
        return -1;
    char *end;
    long long n = strtoll(text, &end, 10);
    if (*end)
        return -1;
    *out = n;
    return 0;
}

int etcd_bad_reply(const char *path, const char *what, kl_error_t *err)
{
    return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: the reply to %s has %s", path, what);
}

/* Reads header.revision, remembering the highest seen. */
int etcd_note_header(etcd_store_t *s, const json_t *reply, const char *path, int64_t *revision,
                     kl_error_t *err)
{
    int64_t rev;
    if (etcd_json_int64(json_object_get(reply, "header"), "revision", &rev) < 0 || rev < 0)
        return etcd_bad_reply(path, "a malformed header.revision", err);
    if (rev > s->revision)
        s->revision = rev;
    if (revision)
        *revision = rev;
    return 0;
}

/* base64 of the store prefix, `key` and, with `nul`, one NUL byte: the first
 * key strictly after it. Caller owns. */
char *etcd_key_b64(const etcd_store_t *s, const char *key, int nul)
{
    size_t key_len = strlen(key);
    char *full = malloc(s->prefix_len + key_len + 1);
    if (!full)
        return NULL;
    memcpy(full, s->prefix, s->prefix_len);
    memcpy(full + s->prefix_len, key, key_len);
    full[s->prefix_len + key_len] = '\0';
    char *b64 = kl_base64_encode(full, s->prefix_len + key_len + (nul ? 1 : 0));
    free(full);
    return b64;
}

/* etcd's range_end for "every key starting with prefix": the prefix with its
 * last byte below 0xff incremented, or "\0" (to the end) when there is none. */
char *etcd_prefix_end_b64(const etcd_store_t *s, const char *prefix)
{
    size_t len = s->prefix_len + strlen(prefix);
    unsigned char *end = malloc(len + 1);
    if (!end)
        return NULL;
    memcpy(end, s->prefix, s->prefix_len);
    memcpy(end + s->prefix_len, prefix, len - s->prefix_len);
    while (len && end[len - 1] == 0xff)
        len--;
    char *b64;
    if (len) {
        end[len - 1]++;
        b64 = kl_base64_encode(end, len);
    } else {
        b64 = kl_base64_encode("", 1);
    }
    free(end);
    return b64;
}

char *etcd_int64_text(int64_t n, char buf[24])
{
    snprintf(buf, 24, "%" PRId64, n);
    return buf;
}

int etcd_check_key(const char *key, kl_error_t *err)
{
    if (!key || !*key)
        return kl_error_set(err, KL_ERR_INVALID, "etcd store: the key is empty");
    return 0;
}

void etcd_decoded_kv_free(decoded_kv_t *d)
{
    free(d->key_buf);
    free(d->value_buf);
    d->key_buf = d->value_buf = NULL;
}

const char *etcd_kv_decode_text(const etcd_store_t *s, const char *key, size_t key_len,
                                const char *value, size_t value_len, decoded_kv_t *d)
{
    size_t decoded_key_len = 0;
    int bad = 0;
    d->key_buf = kl_base64_decode(key, key_len, &decoded_key_len, &bad);
    if (d->key_buf)
        d->value_buf = kl_base64_decode(value, value_len, &d->kv.value_len, &bad);
    const char *why = NULL;
    if (!d->key_buf || !d->value_buf)
        why = bad ? "a key or value that is not base64" : "";
    else if (decoded_key_len < s->prefix_len || memcmp(d->key_buf, s->prefix, s->prefix_len) != 0)
        why = "a key outside the store prefix";
    if (why) {
        etcd_decoded_kv_free(d);
        return why;
    }
    d->kv.key = d->key_buf + s->prefix_len;
    d->kv.value = d->value_buf;
    return NULL;
}

/* Decodes an etcd KeyValue; keys outside the store prefix are refused since
 * every request is confined to it. */
int etcd_kv_decode(const etcd_store_t *s, const json_t *j, decoded_kv_t *d, const char *path,
                   kl_error_t *err)
{
    memset(d, 0, sizeof *d);
    const char *key = json_string_value(json_object_get(j, "key"));
    const json_t *value = json_object_get(j, "value");
    const char *value_text = value ? json_string_value(value) : "";
    if (!key || !value_text)
        return etcd_bad_reply(path, "a key-value without a key or with a non-string value", err);
    const char *why = etcd_kv_decode_text(s, key, strlen(key), value_text, strlen(value_text), d);
    if (why && !*why)
        return kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory decoding a reply to %s",
                            path);
    if (why)
        return etcd_bad_reply(path, why, err);
    if (etcd_json_int64(j, "create_revision", &d->kv.create_revision) < 0
        || etcd_json_int64(j, "mod_revision", &d->kv.mod_revision) < 0
        || etcd_json_int64(j, "lease", &d->lease) < 0) {
        etcd_decoded_kv_free(d);
        return etcd_bad_reply(path, "a malformed revision or lease", err);
    }
    return 0;
}

json_t *etcd_call_text(etcd_store_t *s, const char *path, char *text, int *maybe_applied,
                       kl_error_t *err)
{
    if (!text) {
        kl_error_set(err, KL_ERR_INTERNAL, "etcd store: out of memory building a request for %s", path);
        return NULL;
    }
    json_t *reply = kl_gateway_call(s->gateway, path, text, maybe_applied, err);
    free(text);
    return reply;
}

json_t *etcd_call(etcd_store_t *s, const char *path, json_t *body, int *maybe_applied,
                  kl_error_t *err)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return etcd_call_text(s, path, text, maybe_applied, err);
}
