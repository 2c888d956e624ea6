/* Reading the answers the store gets most, to gets and writes, without
 * building a jansson tree: jansson reads a reply one character at a time and
 * copies every string, the base64 value included, only for the store to
 * decode that copy and free the tree. jsmn tokenizes the text in place; the
 * few fields needed are read from the tokens and the value decoded from the
 * text itself. Anything else goes the tree's way. */
#include <string.h>

#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#define JSMN_STATIC
#include <jsmn.h>

#include "reply_scan.h"

/* A get's answer has about 25 tokens; a transaction's about 20. */
#define REPLY_TOKENS 64

typedef struct scan {
    const char *text;
    jsmntok_t tok[REPLY_TOKENS];
    int count;
} scan_t;

/* Tokenizes one JSON object filling the whole text (white space aside). */
static int scan_parse(scan_t *sc, const char *text, size_t len)
{
    jsmn_parser parser;
    jsmn_init(&parser);
    sc->text = text;
    sc->count = jsmn_parse(&parser, text, len, sc->tok, REPLY_TOKENS);
    if (sc->count <= 0 || sc->tok[0].type != JSMN_OBJECT)
        return -1;
    for (size_t i = (size_t)sc->tok[0].end; i < len; i++)
        if (!strchr(" \t\r\n", text[i]))
            return -1;
    return 0;
}

/* The value token of member `name` of object token `object`, or -1. */
static int member(const scan_t *sc, int object, const char *name)
{
    size_t n = strlen(name);
    for (int i = object + 1; i + 1 < sc->count && sc->tok[i].start < sc->tok[object].end; i++) {
        const jsmntok_t *t = &sc->tok[i];
        if (t->parent == object && t->type == JSMN_STRING && (size_t)(t->end - t->start) == n
            && memcmp(sc->text + t->start, name, n) == 0)
            return i + 1;
    }
    return -1;
}

/* A string token's text, refused when it holds an escape (base64 and
 * etcd's decimal integers never do). */
static int plain_string(const scan_t *sc, int token, const char **text, size_t *len)
{
    if (token < 0 || sc->tok[token].type != JSMN_STRING)
        return -1;
    *text = sc->text + sc->tok[token].start;
    *len = (size_t)(sc->tok[token].end - sc->tok[token].start);
    return memchr(*text, '\\', *len) ? -1 : 0;
}

/* etcd writes int64 as a string of digits and leaves out zeros: an absent
 * member reads 0. */
static int int64_member(const scan_t *sc, int object, const char *name, int64_t *out)
{
    *out = 0;
    int token = member(sc, object, name);
    if (token < 0)
        return 0;
    const jsmntok_t *t = &sc->tok[token];
    if (t->type != JSMN_STRING && t->type != JSMN_PRIMITIVE)
        return -1;
    int64_t n = 0;
    int digits = t->end - t->start;
    if (digits < 1 || digits > 18)
        return -1;
    for (int i = t->start; i < t->end; i++) {
        if (sc->text[i] < '0' || sc->text[i] > '9')
            return -1;
        n = n * 10 + (sc->text[i] - '0');
    }
    *out = n;
    return 0;
}

static int header_revision(etcd_store_t *s, const scan_t *sc, int64_t *revision)
{
    int header = member(sc, 0, "header");
    if (header < 0 || sc->tok[header].type != JSMN_OBJECT
        || int64_member(sc, header, "revision", revision) < 0 || *revision <= 0)
        return -1;
    if (*revision > s->revision)
        s->revision = *revision;
    return 0;
}

static int decode_kv(const etcd_store_t *s, const scan_t *sc, int object, decoded_kv_t *d)
{
    memset(d, 0, sizeof *d);
    const char *key, *value = "";
    size_t key_len, value_len = 0;
    int value_token = member(sc, object, "value");
    if (plain_string(sc, member(sc, object, "key"), &key, &key_len) < 0
        || (value_token >= 0 && plain_string(sc, value_token, &value, &value_len) < 0)
        || int64_member(sc, object, "create_revision", &d->kv.create_revision) < 0
        || int64_member(sc, object, "mod_revision", &d->kv.mod_revision) < 0
        || int64_member(sc, object, "lease", &d->lease) < 0)
        return -1;
    return etcd_kv_decode_text(s, key, key_len, value, value_len, d) ? -1 : 0;
}

etcd_scan_result_t etcd_scan_get_reply(etcd_store_t *s, const char *text, size_t len,
                                       int64_t *revision, int *found, decoded_kv_t *d)
{
    scan_t sc;
    *found = 0;
    if (!text || scan_parse(&sc, text, len) < 0 || header_revision(s, &sc, revision) < 0)
        return ETCD_SCAN_OTHER;
    int kvs = member(&sc, 0, "kvs");
    if (kvs < 0)
        return ETCD_SCAN_READ;
    if (sc.tok[kvs].type != JSMN_ARRAY)
        return ETCD_SCAN_OTHER;
    if (sc.tok[kvs].size == 0)
        return ETCD_SCAN_READ;
    if (kvs + 1 >= sc.count || sc.tok[kvs + 1].type != JSMN_OBJECT
        || decode_kv(s, &sc, kvs + 1, d) < 0)
        return ETCD_SCAN_OTHER;
    *found = 1;
    return ETCD_SCAN_READ;
}

etcd_scan_result_t etcd_scan_txn_succeeded(etcd_store_t *s, const char *text, size_t len,
                                           int64_t *revision)
{
    scan_t sc;
    if (!text || scan_parse(&sc, text, len) < 0)
        return ETCD_SCAN_OTHER;
    int succeeded = member(&sc, 0, "succeeded");
    if (succeeded < 0 || sc.tok[succeeded].type != JSMN_PRIMITIVE
        || sc.tok[succeeded].end - sc.tok[succeeded].start != 4
        || memcmp(text + sc.tok[succeeded].start, "true", 4) != 0)
        return ETCD_SCAN_OTHER;
    return header_revision(s, &sc, revision) < 0 ? ETCD_SCAN_OTHER : ETCD_SCAN_READ;
}
