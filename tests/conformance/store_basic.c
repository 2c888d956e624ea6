/* Conformance groups for the ABI 1.0 operations: revision ordering,
 * compare-and-swap, paging and prefixes, values and keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_conformance.h"

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Is `list` exactly `expected` (full keys), in that order? */
static int list_is(const kl_kv_list_t *list, const char *const *expected, size_t n)
{
    if (list->count != n)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(list->items[i].key, expected[i]) != 0)
            return 0;
    return 1;
}

static void list_diag(const kl_kv_list_t *list)
{
    for (size_t i = 0; i < list->count && i < 20; i++)
        kl_tap_diag("  got key %zu: \"%s\"", i, list->items[i].key);
}

/* A revision that must follow `previous`: by exactly one on a private store. */
static int next_revision_ok(const kl_conformance_t *c, int64_t previous, int64_t got)
{
    return kl_conformance_shared(c) ? got > previous : got == previous + 1;
}

void kl_group_ordering(kl_conformance_t *c)
{
    kl_conformance_begin(c, "ordering");
    const kl_store_ops_t *ops = c->ops;
    kl_error_t err;
    kl_error_clear(&err);
    static const char *const suffixes[] = {"b", "a/b", "\xc3\xa9t\xc3\xa9", "a", "Z", "a b", "~",
                                           "c/x", "\x7f", "\x80", "b0", "a-"};
    enum { N = sizeof suffixes / sizeof *suffixes };
    char keys[N][256];
    const char *sorted[N];
    int64_t revs[N];
    int64_t last = ops->revision(c->store);
    int created = 1, stepped = 1;
    for (size_t i = 0; i < N; i++) {
        kl_conformance_key(c, keys[i], sizeof keys[i], suffixes[i]);
        sorted[i] = keys[i];
        revs[i] = -1;
        if (ops->create(c->store, keys[i], "v", 1, &revs[i], &err) < 0) {
            created = 0;
            kl_tap_diag("  create %s: %s", keys[i], err.text);
        }
        if (!next_revision_ok(c, last, revs[i]))
            stepped = 0;
        last = revs[i];
    }
    kl_tap_ok(created, "%d creates succeed", N);
    kl_tap_ok(stepped, kl_conformance_shared(c) ? "create reports increasing revisions"
                                                : "each create advances the revision by exactly one");
    int revisions_match = 1;
    kl_kv_copy_t kv = {0};
    for (size_t i = 0; i < N; i++) {
        if (kl_conformance_get(c, keys[i], &kv, &err) < 0 || kv.create_revision != revs[i]
            || kv.mod_revision != revs[i] || kv.value_len != 1 || kv.value[0] != 'v')
            revisions_match = 0;
    }
    kl_tap_ok(revisions_match, "get reports create_revision = mod_revision = the create's revision");

    int64_t rev = -1;
    kl_tap_call(ops->update(c->store, keys[0], "w", 1, 0, &rev, &err), &err, "update");
    kl_tap_ok(next_revision_ok(c, last, rev), "update reports the next revision (%lld after %lld)",
              (long long)rev, (long long)last);
    last = rev;
    kl_conformance_get(c, keys[0], &kv, &err);
    kl_tap_ok(kv.create_revision == revs[0] && kv.mod_revision == rev,
              "update keeps create_revision and moves mod_revision");
    kl_tap_call(ops->remove(c->store, keys[1], 0, &rev, &err), &err, "remove");
    kl_tap_ok(next_revision_ok(c, last, rev), "remove reports the next revision (%lld after %lld)",
              (long long)rev, (long long)last);
    last = rev;
    ops->create(c->store, keys[1], "v", 1, &revs[1], &err);
    last = revs[1];

    if (!kl_conformance_shared(c)) {
        ops->create(c->store, keys[2], "v", 1, &rev, &err);
        ops->update(c->store, keys[2], "v", 1, 1, &rev, &err);
        kl_tap_is_int(ops->revision(c->store), last, "failed writes do not advance the revision");
    } else {
        kl_tap_ok(ops->revision(c->store) >= last, "revision() is at least the last write's");
    }

    qsort(sorted, N, sizeof *sorted, compare_strings);
    kl_kv_list_t list = {0};
    int64_t range_rev = -1;
    kl_tap_call(ops->range(c->store, c->prefix, NULL, 0, kl_kv_list_visit, &list, &range_rev, &err),
                &err, "range over the group's prefix");
    if (!kl_tap_ok(list_is(&list, sorted, N), "range returns every key once, in byte order "
                                              "(high bytes after ASCII)"))
        list_diag(&list);
    if (kl_conformance_shared(c))
        kl_tap_ok(range_rev >= last, "range reports a revision at least the last write's");
    else
        kl_tap_is_int(range_rev, last, "range reports the store's revision");
    kl_kv_list_clear(&list);
    kl_kv_copy_clear(&kv);
    kl_conformance_end(c);
}

void kl_group_cas(kl_conformance_t *c)
{
    kl_conformance_begin(c, "cas");
    const kl_store_ops_t *ops = c->ops;
    kl_error_t err;
    kl_error_clear(&err);
    char key[256], missing[256];
    kl_conformance_key(c, key, sizeof key, "k");
    kl_conformance_key(c, missing, sizeof missing, "missing");
    int64_t r1 = -1, r2 = -1, rev = -1;
    kl_kv_copy_t kv = {0};

    kl_tap_call(ops->create(c->store, key, "one", 3, &r1, &err), &err, "create");
    kl_tap_fails_with(ops->create(c->store, key, "two", 3, &rev, &err), &err, KL_ERR_EXISTS,
                      "create of an existing key fails with EXISTS");
    kl_tap_call(ops->update(c->store, key, "two", 3, r1, &r2, &err), &err,
                "update with the current mod_revision succeeds");
    kl_tap_fails_with(ops->update(c->store, key, "three", 5, r1, &rev, &err), &err, KL_ERR_CONFLICT,
                      "update with a stale mod_revision fails with CONFLICT");
    kl_tap_fails_with(ops->update(c->store, key, "three", 5, r2 + 1000, &rev, &err), &err,
                      KL_ERR_CONFLICT, "update with a future mod_revision fails with CONFLICT");
    kl_tap_fails_with(ops->remove(c->store, key, r1, &rev, &err), &err, KL_ERR_CONFLICT,
                      "remove with a stale mod_revision fails with CONFLICT");
    kl_conformance_get(c, key, &kv, &err);
    kl_tap_ok(kv.value_len == 3 && memcmp(kv.value, "two", 3) == 0 && kv.mod_revision == r2,
              "failed writes leave the key as it was");
    kl_tap_fails_with(ops->update(c->store, missing, "x", 1, 0, &rev, &err), &err, KL_ERR_NOT_FOUND,
                      "update of a missing key fails with NOT_FOUND");
    kl_tap_fails_with(ops->update(c->store, missing, "x", 1, r2, &rev, &err), &err,
                      KL_ERR_NOT_FOUND, "CAS update of a missing key fails with NOT_FOUND");
    kl_tap_fails_with(ops->remove(c->store, missing, 0, &rev, &err), &err, KL_ERR_NOT_FOUND,
                      "remove of a missing key fails with NOT_FOUND");
    kl_tap_fails_with(ops->remove(c->store, missing, r2, &rev, &err), &err, KL_ERR_NOT_FOUND,
                      "CAS remove of a missing key fails with NOT_FOUND");
    kl_tap_fails_with(ops->get(c->store, missing, NULL, NULL, &err), &err, KL_ERR_NOT_FOUND,
                      "get of a missing key fails with NOT_FOUND");
    kl_tap_call(ops->update(c->store, key, "four", 4, 0, &rev, &err), &err,
                "update with expected revision 0 is unconditional");
    kl_tap_call(ops->remove(c->store, key, 0, &rev, &err), &err,
                "remove with expected revision 0 is unconditional");
    kl_tap_fails_with(kl_conformance_get(c, key, &kv, &err), &err, KL_ERR_NOT_FOUND,
                      "the removed key is gone");
    int64_t r3 = -1;
    kl_tap_call(ops->create(c->store, key, "again", 5, &r3, &err), &err,
                "a removed key can be created again");
    kl_conformance_get(c, key, &kv, &err);
    kl_tap_ok(kv.create_revision == r3 && r3 > rev, "... with a fresh create_revision");
    kl_tap_fails_with(ops->remove(c->store, key, r2, &rev, &err), &err, KL_ERR_CONFLICT,
                      "a mod_revision from the key's earlier life is stale");

    if (KL_CONFORMANCE_HAS(c, put_with_lease)) {
        kl_tap_fails_with(ops->put_with_lease(c->store, key, "x", 1, -1, 0, &rev, &err), &err,
                          KL_ERR_EXISTS, "put_with_lease(-1) on an existing key fails with EXISTS");
        kl_tap_fails_with(ops->put_with_lease(c->store, key, "x", 1, r2, 0, &rev, &err), &err,
                          KL_ERR_CONFLICT, "put_with_lease with a stale revision fails with CONFLICT");
        kl_tap_call(ops->put_with_lease(c->store, key, "y", 1, r3, 0, &rev, &err), &err,
                    "put_with_lease with the current revision succeeds");
        int64_t r4 = rev;
        kl_tap_call(ops->put_with_lease(c->store, key, "z", 1, 0, 0, &rev, &err), &err,
                    "put_with_lease(0) updates an existing key unconditionally");
        kl_tap_ok(rev > r4, "... at a later revision");
        kl_tap_call(ops->put_with_lease(c->store, missing, "m", 1, -1, 0, &rev, &err), &err,
                    "put_with_lease(-1) creates a missing key");
        kl_conformance_get(c, missing, &kv, &err);
        kl_tap_ok(kv.create_revision == rev && kv.value_len == 1 && kv.value[0] == 'm',
                  "... with its value and revision");
    } else {
        kl_tap_skip("put_with_lease: the plugin lacks it (ABI 1.0)");
    }
    kl_kv_copy_clear(&kv);
    kl_conformance_end(c);
}

/* Visits in order under a prefix, counting how often each item is seen. */
typedef struct page_check {
    const char *prefix;
    char last[256];
    size_t seen;
    int ordered, prefixed;
    unsigned char *hits;  /* by item number, when keys end in one */
    size_t nhits;
    size_t stop_after;
} page_check_t;

static int page_visit(const kl_store_kv_t *kv, void *arg)
{
    page_check_t *p = arg;
    if (p->seen && strcmp(p->last, kv->key) >= 0)
        p->ordered = 0;
    if (strncmp(kv->key, p->prefix, strlen(p->prefix)) != 0)
        p->prefixed = 0;
    snprintf(p->last, sizeof p->last, "%s", kv->key);
    const char *dash = strrchr(kv->key, '-');
    if (p->hits && dash) {
        size_t n = strtoul(dash + 1, NULL, 10);
        if (n < p->nhits)
            p->hits[n]++;
    }
    p->seen++;
    return p->stop_after && p->seen == p->stop_after;
}

static int each_once(const unsigned char *hits, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hits[i] != 1)
            return 0;
    return 1;
}

/* Pages through `prefix` with `limit`: every item once and in order? */
static void page_through(kl_conformance_t *c, size_t total, size_t limit, int with_range_at,
                         int64_t at)
{
    unsigned char *hits = calloc(total, 1);
    char after[256] = "";
    size_t pages = 0;
    int ok_pages = 1, more_right = 1, failed = 0;
    kl_error_t err;
    kl_error_clear(&err);
    for (size_t guard = 0; guard < total + 2; guard++) {
        page_check_t p = {c->prefix, "", 0, 1, 1, hits, total, 0};
        int more = -1;
        int rc = with_range_at
                     ? c->ops->range_at(c->store, c->prefix, after[0] ? after : NULL, limit, at,
                                        page_visit, &p, NULL, &more, &err)
                     : c->ops->range(c->store, c->prefix, after[0] ? after : NULL, limit,
                                     page_visit, &p, NULL, &err);
        if (rc < 0) {
            failed = 1;
            kl_tap_diag("  page %zu: %s", pages, err.text);
            break;
        }
        if (!p.ordered || !p.prefixed || (limit && p.seen > limit) || (after[0] && p.seen && strcmp(p.last, after) <= 0))
            ok_pages = 0;
        if (p.seen == 0)
            break;
        pages++;
        size_t seen_so_far = (pages - 1) * limit + p.seen;
        if (with_range_at && more != (seen_so_far < total))
            more_right = 0;
        snprintf(after, sizeof after, "%s", p.last);
        if (with_range_at && !more)
            break;
    }
    kl_tap_ok(!failed && ok_pages && each_once(hits, total),
              "%s with limit %zu visits each of %zu keys exactly once, in order (%zu pages)",
              with_range_at ? "range_at" : "range", limit, total, pages);
    if (with_range_at)
        kl_tap_ok(more_right, "range_at sets *more exactly when the limit cut a page short");
    free(hits);
}

static void range_keys(kl_conformance_t *c, const char *prefix, const char *start_after,
                       kl_kv_list_t *list)
{
    kl_error_t err;
    kl_kv_list_clear(list);
    if (c->ops->range(c->store, prefix, start_after, 0, kl_kv_list_visit, list, NULL, &err) < 0)
        kl_tap_diag("  range %s: %s", prefix, err.text);
}

void kl_group_paging(kl_conformance_t *c)
{
    kl_conformance_begin(c, "paging");
    const kl_store_ops_t *ops = c->ops;
    kl_error_t err;
    kl_error_clear(&err);
    const size_t total = 1000;
    char key[256];
    int created = 1;
    for (size_t i = 0; i < total; i++) {
        size_t n = (i * 7) % total;  /* 7 is prime to 1000: a permutation */
        char suffix[32];
        snprintf(suffix, sizeof suffix, "item-%04zu", n);
        if (ops->create(c->store, kl_conformance_key(c, key, sizeof key, suffix), "{}", 2, NULL,
                        &err) < 0) {
            created = 0;
            kl_tap_diag("  create %s: %s", key, err.text);
            break;
        }
    }
    kl_tap_ok(created, "%zu keys created in a scrambled order", total);
    page_through(c, total, 0, 0, 0);
    page_through(c, total, 100, 0, 0);
    page_through(c, total, 7, 0, 0);
    if (KL_CONFORMANCE_HAS(c, range_at)) {
        page_through(c, total, 100, 1, 0);
        page_through(c, total, 1000, 1, 0);
        page_through(c, total, 333, 1, ops->revision(c->store));
    } else {
        kl_tap_skip("range_at paging: the plugin lacks range_at (ABI 1.0)");
    }

    page_check_t stop = {c->prefix, "", 0, 1, 1, NULL, 0, 5};
    ops->range(c->store, c->prefix, NULL, 0, page_visit, &stop, NULL, &err);
    kl_tap_is_int(stop.seen, 5, "a visit returning non-zero stops the range");

    kl_kv_list_t list = {0};
    char first[256], last[256], mid[256];
    kl_conformance_key(c, first, sizeof first, "item-0000");
    kl_conformance_key(c, last, sizeof last, "item-0999");
    kl_conformance_key(c, mid, sizeof mid, "item-0499");
    range_keys(c, c->prefix, "/", &list);
    kl_tap_ok(list.count == total && strcmp(list.items[0].key, first) == 0,
              "start_after before the prefix starts at the prefix's first key");
    range_keys(c, c->prefix, mid, &list);
    kl_tap_ok(list.count == 500 && strcmp(list.items[0].key, mid) > 0,
              "start_after an existing key starts strictly after it");
    range_keys(c, c->prefix, last, &list);
    kl_tap_is_int(list.count, 0, "start_after the last key gives nothing");
    range_keys(c, c->prefix, "\xff", &list);
    kl_tap_is_int(list.count, 0, "start_after beyond the prefix gives nothing");

    /* Prefixes are byte prefixes: "/p/a" covers "/p/ab/x", "/p/a/" does not. */
    static const char *const boundary[] = {"p/a", "p/a/x", "p/a/y", "p/ab/x", "p/b"};
    for (size_t i = 0; i < sizeof boundary / sizeof *boundary; i++)
        ops->create(c->store, kl_conformance_key(c, key, sizeof key, boundary[i]), "", 0, NULL, &err);
    char pa[256], pa_slash[256], e1[256], e2[256], e3[256], e4[256];
    kl_conformance_key(c, pa, sizeof pa, "p/a");
    kl_conformance_key(c, pa_slash, sizeof pa_slash, "p/a/");
    const char *with_slash[] = {kl_conformance_key(c, e1, sizeof e1, "p/a/x"),
                                kl_conformance_key(c, e2, sizeof e2, "p/a/y")};
    range_keys(c, pa_slash, NULL, &list);
    if (!kl_tap_ok(list_is(&list, with_slash, 2), "prefix \"p/a/\" sees p/a/x and p/a/y, not p/ab/x"))
        list_diag(&list);
    const char *without_slash[] = {kl_conformance_key(c, e3, sizeof e3, "p/a"), e1, e2,
                                   kl_conformance_key(c, e4, sizeof e4, "p/ab/x")};
    range_keys(c, pa, NULL, &list);
    if (!kl_tap_ok(list_is(&list, without_slash, 4),
                   "prefix \"p/a\" is a byte prefix: it sees p/a, p/a/x, p/a/y and p/ab/x"))
        list_diag(&list);
    char unused[256];
    range_keys(c, kl_conformance_key(c, unused, sizeof unused, "nothing-here/"), NULL, &list);
    kl_tap_is_int(list.count, 0, "a prefix with no keys gives an empty range");
    kl_kv_list_clear(&list);
    kl_conformance_end(c);
}

/* Writes `len` bytes under `suffix`, reads them back by get and range. */
static void round_trip(kl_conformance_t *c, const char *what, const char *suffix,
                       const char *value, size_t len)
{
    char key[256];
    kl_conformance_key(c, key, sizeof key, suffix);
    kl_error_t err;
    kl_error_clear(&err);
    int64_t rev = -1;
    int rc = c->ops->create(c->store, key, value, len, &rev, &err);
    if (rc < 0 && err.code == KL_ERR_TOO_LARGE) {
        kl_tap_skip("%s: the store refuses it as too large: %s", what, err.text);
        return;
    }
    if (!kl_tap_call(rc, &err, "%s: create", what))
        return;
    kl_kv_copy_t kv = {0};
    kl_conformance_get(c, key, &kv, &err);
    kl_tap_ok(kv.value && kv.value_len == len && (len == 0 || memcmp(kv.value, value, len) == 0),
              "%s: get returns the %zu bytes exactly", what, len);
    kl_kv_list_t list = {0};
    c->ops->range(c->store, key, NULL, 0, kl_kv_list_visit, &list, NULL, &err);
    kl_tap_ok(list.count >= 1 && list.items[0].value_len == len
                  && (len == 0 || memcmp(list.items[0].value, value, len) == 0),
              "%s: range returns the bytes exactly", what);
    kl_kv_list_clear(&list);
    kl_kv_copy_clear(&kv);
}

void kl_group_values(kl_conformance_t *c)
{
    kl_conformance_begin(c, "values");
    char all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (char)i;
    round_trip(c, "all 256 byte values", "bytes", all, sizeof all);
    static const char nuls[] = {'\0', 'a', '\0', '\0', 'b', '\0'};
    round_trip(c, "embedded and trailing NULs", "nuls", nuls, sizeof nuls);
    round_trip(c, "an empty value", "empty", "", 0);
    static const char text[] = "{\"kind\":\"Pod\",\"quote\":\"\\\"\",\"utf8\":\"\xc3\xa9\"}";
    round_trip(c, "JSON text", "json", text, sizeof text - 1);
    const size_t sizes[] = {1u << 20, 8u << 20};
    for (size_t s = 0; s < 2; s++) {
        size_t len = sizes[s];
        char *big = malloc(len);
        if (!big) {
            kl_tap_ok(0, "allocating %zu bytes for a large value", len);
            continue;
        }
        uint64_t x = 0x2545F4914F6CDD1DULL + len;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            big[i] = (char)(x >> 24);
        }
        char what[64], suffix[32];
        snprintf(what, sizeof what, "a %zu MiB binary value", len >> 20);
        snprintf(suffix, sizeof suffix, "large-%zu", len >> 20);
        round_trip(c, what, suffix, big, len);
        free(big);
    }
    kl_conformance_end(c);
}

void kl_group_keys(kl_conformance_t *c)
{
    kl_conformance_begin(c, "keys");
    static char long_key[1025];
    for (size_t i = 0; i < sizeof long_key - 1; i++)
        long_key[i] = (i % 16 == 15) ? '/' : (char)('a' + i % 26);
    long_key[sizeof long_key - 1] = '\0';
    static const char *const suffixes[] = {
        "with spaces  and  more",
        "\xc3\xbcn\xc3\xaf""c\xc3\xb6""d\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "high\xff\xfe\x80\x81",
        "//slashes///everywhere//",
        "url?chars#and%20+&=",
        "quote\"back\\slash'tick`",
        "tab\tnewline\ncr\r",
        long_key,
    };
    enum { N = sizeof suffixes / sizeof *suffixes };
    static char keys[N][1400];
    const char *sorted[N];
    kl_error_t err;
    kl_error_clear(&err);
    kl_kv_copy_t kv = {0};
    for (size_t i = 0; i < N; i++) {
        kl_conformance_key(c, keys[i], sizeof keys[i], suffixes[i]);
        sorted[i] = keys[i];
        int64_t rev = -1;
        char value[32];
        int len = snprintf(value, sizeof value, "value-%zu", i);
        int rc = c->ops->create(c->store, keys[i], value, (size_t)len, &rev, &err);
        kl_tap_call(rc, &err, "key %zu (%zu bytes): create", i, strlen(keys[i]));
        kl_conformance_get(c, keys[i], &kv, &err);
        kl_tap_ok(kv.key && strcmp(kv.key, keys[i]) == 0 && kv.value_len == (size_t)len
                      && memcmp(kv.value, value, (size_t)len) == 0,
                  "key %zu: get returns the same key and value", i);
    }
    qsort(sorted, N, sizeof *sorted, compare_strings);
    kl_kv_list_t list = {0};
    range_keys(c, c->prefix, NULL, &list);
    if (!kl_tap_ok(list_is(&list, sorted, N), "range returns every unusual key intact, in byte order"))
        list_diag(&list);
    int removed = 1;
    for (size_t i = 0; i < N; i++)
        if (c->ops->remove(c->store, keys[i], 0, NULL, &err) < 0)
            removed = 0;
    kl_tap_ok(removed, "every unusual key can be removed by name");
    range_keys(c, c->prefix, NULL, &list);
    kl_tap_is_int(list.count, 0, "... and none is left");
    kl_kv_list_clear(&list);
    kl_kv_copy_clear(&kv);
    kl_conformance_end(c);
}
