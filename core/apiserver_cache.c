/* The API server's cache of parsed objects: it is the store's only writer,
 * so a read skips parsing while the store still holds the cached revision.
 * Bounded, least recently used first out: a parsed object takes about ten
 * times its text's memory, so caching every object of a 150,000-pod
 * cluster would take gigabytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apiserver_internal.h"

typedef struct cache_entry cache_entry_t;
struct cache_entry {
    cache_entry_t *newer, *older;
    char *key;
    json_t *object;
    int64_t mod_revision;
};

struct api_cache {
    zhashx_t *by_key;             /* key -> cache_entry_t (owned) */
    cache_entry_t *newest, *oldest;
    size_t capacity;
};

static void unlink_entry(api_cache_t *cache, cache_entry_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        cache->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        cache->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void link_newest(api_cache_t *cache, cache_entry_t *e)
{
    e->older = cache->newest;
    e->newer = NULL;
    if (cache->newest)
        cache->newest->newer = e;
    cache->newest = e;
    if (!cache->oldest)
        cache->oldest = e;
}

static void entry_destroy(void **item)
{
    cache_entry_t *e = *item;
    if (e) {
        json_decref(e->object);
        free(e->key);
        free(e);
        *item = NULL;
    }
}

static void trim(api_cache_t *cache)
{
    while (zhashx_size(cache->by_key) > cache->capacity && cache->oldest) {
        cache_entry_t *oldest = cache->oldest;
        unlink_entry(cache, oldest);
        char evicted[KEY_MAX];
        snprintf(evicted, sizeof evicted, "%s", oldest->key);
        zhashx_delete(cache->by_key, evicted);
    }
}

api_cache_t *kl_api_cache_new(size_t capacity)
{
    api_cache_t *cache = calloc(1, sizeof *cache);
    if (!cache)
        return NULL;
    cache->by_key = zhashx_new();
    if (!cache->by_key) {
        free(cache);
        return NULL;
    }
    zhashx_set_destructor(cache->by_key, entry_destroy);
    cache->capacity = capacity;
    return cache;
}

void kl_api_cache_destroy(api_cache_t **cache_p)
{
    if (!cache_p || !*cache_p)
        return;
    zhashx_destroy(&(*cache_p)->by_key);
    free(*cache_p);
    *cache_p = NULL;
}

json_t *kl_api_cache_latest(api_cache_t *cache, const char *key, int64_t *mod_revision)
{
    cache_entry_t *e = zhashx_lookup(cache->by_key, key);
    if (!e)
        return NULL;
    unlink_entry(cache, e);
    link_newest(cache, e);
    *mod_revision = e->mod_revision;
    return json_incref(e->object);
}

json_t *kl_api_cache_get(api_cache_t *cache, const char *key, int64_t mod_revision)
{
    int64_t cached_revision;
    json_t *object = kl_api_cache_latest(cache, key, &cached_revision);
    if (object && cached_revision != mod_revision) {
        json_decref(object);
        return NULL;
    }
    return object;
}

void kl_api_cache_remove(api_cache_t *cache, const char *key)
{
    cache_entry_t *e = zhashx_lookup(cache->by_key, key);
    if (!e)
        return;
    unlink_entry(cache, e);
    zhashx_delete(cache->by_key, key);
}

void kl_api_cache_clear(api_cache_t *cache)
{
    zhashx_purge(cache->by_key);
    cache->newest = cache->oldest = NULL;
}

void kl_api_cache_put(api_cache_t *cache, const char *key, json_t *object, int64_t mod_revision)
{
    if (cache->capacity == 0)
        return;
    cache_entry_t *e = zhashx_lookup(cache->by_key, key);
    if (e) {
        json_decref(e->object);
        e->object = json_incref(object);
        e->mod_revision = mod_revision;
        unlink_entry(cache, e);
        link_newest(cache, e);
        return;
    }
    e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return;  /* the cache is only an optimisation */
    }
    e->object = json_incref(object);
    e->mod_revision = mod_revision;
    if (zhashx_insert(cache->by_key, key, e) != 0) {
        json_decref(e->object);
        free(e->key);
        free(e);
        return;
    }
    link_newest(cache, e);
    trim(cache);
}

void kl_api_cache_set_capacity(api_cache_t *cache, size_t capacity)
{
    cache->capacity = capacity;
    trim(cache);
}

size_t kl_api_cache_size(const api_cache_t *cache)
{
    return zhashx_size(cache->by_key);
}
