/* The API server's cache of parsed objects: a hit needs the exact revision,
 * the least recently used entry leaves first when it is full, a read counts
 * as a use, and removal and shrinking work. */
#include <stdio.h>
#include <string.h>

#include "apiserver_internal.h"
#include "tap.h"

static json_t *object_named(const char *name)
{
    return json_pack("{s:s, s:{s:s}}", "kind", "Pod", "metadata", "name", name);
}

static int cached(api_cache_t *cache, const char *key, int64_t revision)
{
    json_t *object = kl_api_cache_get(cache, key, revision);
    json_decref(object);
    return object != NULL;
}

int main(void)
{
    api_cache_t *cache = kl_api_cache_new(3);
    ok(cache != NULL, "a cache of three objects");
    const char *keys[] = {"/registry/pods/default/a", "/registry/pods/default/b",
                          "/registry/pods/default/c", "/registry/pods/default/d"};
    for (int i = 0; i < 3; i++) {
        json_t *object = object_named(keys[i]);
        kl_api_cache_put(cache, keys[i], object, i + 1);
        json_decref(object);
    }
    is_int(kl_api_cache_size(cache), 3, "three objects cached");
    ok(cached(cache, keys[0], 1), "a hit at the cached revision");
    ok(!cached(cache, keys[0], 7), "a miss at another revision");

    /* a was just read, so b is now the least recently used. */
    json_t *d = object_named("d");
    kl_api_cache_put(cache, keys[3], d, 4);
    is_int(kl_api_cache_size(cache), 3, "still three after a fourth");
    ok(!cached(cache, keys[1], 2), "the least recently used (b) left");
    ok(cached(cache, keys[0], 1) && cached(cache, keys[2], 3) && cached(cache, keys[3], 4),
       "a, c and d stayed");
    json_t *got = kl_api_cache_get(cache, keys[3], 4);
    ok(got == d, "a hit returns the very object cached");
    json_decref(got);

    json_t *newer = object_named("a2");
    kl_api_cache_put(cache, keys[0], newer, 9);
    ok(!cached(cache, keys[0], 1) && cached(cache, keys[0], 9), "a new revision replaces the old");
    is_int(kl_api_cache_size(cache), 3, "replacing does not grow the cache");

    kl_api_cache_remove(cache, keys[2]);
    ok(!cached(cache, keys[2], 3), "a removed key misses");
    kl_api_cache_remove(cache, "/registry/pods/default/none");
    is_int(kl_api_cache_size(cache), 2, "removing an unknown key changes nothing");

    kl_api_cache_set_capacity(cache, 1);
    is_int(kl_api_cache_size(cache), 1, "shrinking evicts down to the new capacity");
    ok(cached(cache, keys[0], 9), "and keeps the most recently used");
    kl_api_cache_set_capacity(cache, 0);
    kl_api_cache_put(cache, keys[1], d, 5);
    is_int(kl_api_cache_size(cache), 0, "a cache of zero keeps nothing");

    json_decref(d);
    json_decref(newer);
    kl_api_cache_destroy(&cache);
    ok(cache == NULL, "destroy nulls the pointer");
    kl_api_cache_destroy(&cache);
    return done_testing();
}
