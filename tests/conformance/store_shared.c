/* Conformance groups for writers that race, flush() and restarts: no lost
 * update under compare-and-swap, and durable data surviving a reopen. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_conformance.h"

#define RACE_KEYS 3
#define RACE_ATTEMPTS 200

typedef struct counter {
    long value;
    int64_t mod_revision;
    int found;
} counter_t;

static int read_counter_visit(const kl_store_kv_t *kv, void *arg)
{
    counter_t *ct = arg;
    char text[32];
    size_t len = kv->value_len < sizeof text - 1 ? kv->value_len : sizeof text - 1;
    memcpy(text, kv->value, len);
    text[len] = '\0';
    ct->value = strtol(text, NULL, 10);
    ct->mod_revision = kv->mod_revision;
    ct->found = 1;
    return 0;
}

static int read_counter(const kl_store_ops_t *ops, void *store, const char *key, counter_t *ct,
                        kl_error_t *err)
{
    memset(ct, 0, sizeof *ct);
    return ops->get(store, key, read_counter_visit, ct, err);
}

/* Compare-and-swap of counter+1; 1 on success, 0 on conflict, -1 on error. */
static int increment(const kl_store_ops_t *ops, void *store, const char *key, const counter_t *ct,
                     kl_error_t *err)
{
    char text[32];
    int len = snprintf(text, sizeof text, "%ld", ct->value + 1);
    kl_error_clear(err);
    if (ops->update(store, key, text, (size_t)len, ct->mod_revision, NULL, err) == 0)
        return 1;
    return err->code == KL_ERR_CONFLICT ? 0 : -1;
}

typedef struct racer {
    kl_plugin_t *plugin;     /* loaded by the main thread, opened on its own */
    char keys[RACE_KEYS][256];
    long successes[RACE_KEYS];
    int conflicts, errors;
    kl_error_t err;
} racer_t;

static void *racer_run(void *arg)
{
    racer_t *r = arg;
    if (kl_plugin_open(r->plugin, &r->err) < 0) {
        r->errors++;
        return NULL;
    }
    const kl_store_ops_t *ops = r->plugin->ops;
    void *store = r->plugin->state;
    for (int i = 0; i < RACE_ATTEMPTS; i++) {
        int k = i % RACE_KEYS;
        counter_t ct;
        kl_error_t err;
        if (read_counter(ops, store, r->keys[k], &ct, &err) < 0) {
            r->err = err;
            r->errors++;
            continue;
        }
        int rc = increment(ops, store, r->keys[k], &ct, &err);
        if (rc == 1)
            r->successes[k]++;
        else if (rc == 0)
            r->conflicts++;
        else {
            r->err = err;
            r->errors++;
        }
    }
    kl_plugin_close(r->plugin);
    return NULL;
}

/* Two threads, each with its own instance of a shared store. */
static void race_threads(kl_conformance_t *c, char keys[RACE_KEYS][256])
{
    racer_t racers[2];
    pthread_t threads[2];
    int started[2] = {0, 0};
    memset(racers, 0, sizeof racers);
    for (int t = 0; t < 2; t++) {
        memcpy(racers[t].keys, keys, sizeof racers[t].keys);
        racers[t].plugin = kl_plugin_load(KL_KIND_STORE, c->plugin_path, NULL, &racers[t].err);
        if (!racers[t].plugin
            || kl_plugin_configure(racers[t].plugin, c->settings, NULL, NULL, &racers[t].err) < 0) {
            kl_tap_ok(0, "writer %d: a second instance loads: %s", t, racers[t].err.text);
            continue;
        }
        started[t] = pthread_create(&threads[t], NULL, racer_run, &racers[t]) == 0;
    }
    for (int t = 0; t < 2; t++)
        if (started[t])
            pthread_join(threads[t], NULL);
    long total = 0, final_total = 0;
    int counters_right = 1, errors = 0, conflicts = 0;
    for (int k = 0; k < RACE_KEYS; k++) {
        long expected = racers[0].successes[k] + racers[1].successes[k];
        total += expected;
        counter_t ct;
        kl_error_t err;
        read_counter(c->ops, c->store, keys[k], &ct, &err);
        final_total += ct.value;
        if (ct.value != expected)
            counters_right = 0;
    }
    for (int t = 0; t < 2; t++) {
        errors += racers[t].errors;
        conflicts += racers[t].conflicts;
        if (racers[t].errors)
            kl_tap_diag("  writer %d: %d errors, the last: %s", t, racers[t].errors,
                        racers[t].err.text);
        kl_plugin_destroy(&racers[t].plugin);
    }
    kl_tap_ok(started[0] && started[1] && errors == 0,
              "two writers with their own instances make %d attempts each without errors",
              RACE_ATTEMPTS);
    kl_tap_ok(counters_right, "no lost update: the counters add up to the %ld successful CAS "
                              "updates (read %ld; %d conflicts)",
              total, final_total, conflicts);
}

/* Two logical writers on one instance, interleaved so that one often writes
 * from a stale read: a stale CAS must conflict and a fresh one succeed. */
static void race_interleaved(kl_conformance_t *c, char keys[RACE_KEYS][256])
{
    typedef struct writer {
        int has_read;
        int key;
        counter_t seen;
        int64_t read_at;     /* writes made before the read */
    } writer_t;
    writer_t writers[2];
    memset(writers, 0, sizeof writers);
    long successes[RACE_KEYS] = {0};
    int64_t writes_to[RACE_KEYS] = {0};
    int64_t writes_when_read[2] = {0, 0};
    int conflicts = 0, wrong = 0, errors = 0;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    kl_error_t err;
    for (int step = 0; step < RACE_ATTEMPTS * 4; step++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        writer_t *w = &writers[x & 1];
        int id = (int)(x & 1);
        if (!w->has_read) {
            w->key = (int)((x >> 8) % RACE_KEYS);
            if (read_counter(c->ops, c->store, keys[w->key], &w->seen, &err) < 0) {
                errors++;
                continue;
            }
            w->has_read = 1;
            writes_when_read[id] = writes_to[w->key];
            continue;
        }
        int stale = writes_to[w->key] != writes_when_read[id];
        int rc = increment(c->ops, c->store, keys[w->key], &w->seen, &err);
        if (rc == 1) {
            successes[w->key]++;
            writes_to[w->key]++;
        } else if (rc == 0) {
            conflicts++;
        } else {
            errors++;
        }
        if ((rc == 1) == stale)
            wrong++;
        w->has_read = 0;
    }
    long total = 0;
    int counters_right = 1;
    for (int k = 0; k < RACE_KEYS; k++) {
        counter_t ct;
        read_counter(c->ops, c->store, keys[k], &ct, &err);
        total += successes[k];
        if (ct.value != successes[k])
            counters_right = 0;
    }
    kl_tap_is_int(errors, 0, "two interleaved writers on one instance: no errors");
    kl_tap_ok(wrong == 0 && conflicts > 0,
              "every CAS from a stale read conflicts and every fresh one succeeds (%d conflicts)",
              conflicts);
    kl_tap_ok(counters_right, "no lost update: the counters add up to the %ld successful updates",
              total);
}

void kl_group_concurrency(kl_conformance_t *c)
{
    kl_conformance_begin(c, "concurrency");
    char keys[RACE_KEYS][256];
    kl_error_t err;
    kl_error_clear(&err);
    int created = 1;
    for (int k = 0; k < RACE_KEYS; k++) {
        char suffix[32];
        snprintf(suffix, sizeof suffix, "counter-%d", k);
        kl_conformance_key(c, keys[k], sizeof keys[k], suffix);
        if (c->ops->create(c->store, keys[k], "0", 1, NULL, &err) < 0)
            created = 0;
    }
    if (kl_tap_call(created ? 0 : -1, &err, "%d counters created", RACE_KEYS)) {
        if (kl_conformance_shared(c))
            race_threads(c, keys);
        else
            race_interleaved(c, keys);
    }
    kl_conformance_end(c);
}

void kl_group_flush(kl_conformance_t *c)
{
    if (!KL_CONFORMANCE_HAS(c, flush)) {
        kl_tap_skip("flush: the plugin has none (every write is done on return)");
        return;
    }
    kl_conformance_begin(c, "flush");
    kl_error_t err;
    kl_error_clear(&err);
    char key[256];
    kl_conformance_key(c, key, sizeof key, "flushed");
    int64_t rev = -1;
    kl_tap_call(c->ops->create(c->store, key, "f", 1, &rev, &err), &err, "create");
    kl_tap_call(c->ops->flush(c->store, &err), &err, "flush succeeds");
    kl_tap_call(c->ops->flush(c->store, &err), &err, "flush with nothing pending succeeds");
    kl_kv_copy_t kv = {0};
    kl_tap_call(kl_conformance_get(c, key, &kv, &err), &err, "the flushed key is visible");
    kl_tap_ok(kv.mod_revision == rev && kv.value_len == 1 && kv.value[0] == 'f',
              "... with its value and revision");
    kl_kv_copy_clear(&kv);
    kl_conformance_end(c);
}

void kl_group_persistence(kl_conformance_t *c)
{
    if (!(c->features & KL_STORE_DURABLE)) {
        kl_tap_skip("restart persistence: the store is not durable");
        return;
    }
    kl_conformance_begin(c, "persistence");
    kl_error_t err;
    kl_error_clear(&err);
    char key[256];
    int wrote = 1;
    for (int i = 0; i < 20 && wrote; i++) {
        char suffix[32], value[32];
        snprintf(suffix, sizeof suffix, "key-%02d", i);
        int len = snprintf(value, sizeof value, "value-%d", i);
        kl_conformance_key(c, key, sizeof key, suffix);
        wrote = c->ops->create(c->store, key, value, (size_t)len, NULL, &err) == 0;
        if (wrote && i % 3 == 0)
            wrote = c->ops->update(c->store, key, "updated", 7, 0, NULL, &err) == 0;
        if (wrote && i % 5 == 0)
            wrote = c->ops->remove(c->store, key, 0, NULL, &err) == 0;
    }
    kl_tap_call(wrote ? 0 : -1, &err, "20 keys written, updated and removed");
    if (KL_CONFORMANCE_HAS(c, flush))
        kl_tap_call(c->ops->flush(c->store, &err), &err, "flush");
    kl_kv_list_t before = {0}, after = {0};
    c->ops->range(c->store, c->prefix, NULL, 0, kl_kv_list_visit, &before, NULL, &err);
    int64_t revision = c->ops->revision(c->store);

    kl_plugin_destroy(&c->plugin);
    c->ops = NULL;
    c->store = NULL;
    c->plugin = kl_conformance_open(c, &err);
    if (!kl_tap_ok(c->plugin != NULL, "the plugin loads and opens again")) {
        kl_tap_diag("%s", err.text);
        kl_kv_list_clear(&before);
        return;
    }
    c->ops = c->plugin->ops;
    c->store = c->plugin->state;
    c->ops->range(c->store, c->prefix, NULL, 0, kl_kv_list_visit, &after, NULL, &err);
    int same = before.count == after.count && before.count == 16;
    for (size_t i = 0; same && i < before.count; i++) {
        const kl_kv_copy_t *a = &before.items[i], *b = &after.items[i];
        same = strcmp(a->key, b->key) == 0 && a->value_len == b->value_len
               && memcmp(a->value, b->value, a->value_len) == 0
               && a->create_revision == b->create_revision && a->mod_revision == b->mod_revision;
    }
    kl_tap_ok(same, "after reopening: the same %zu keys, values and revisions (%zu before)",
              after.count, before.count);
    if (kl_conformance_shared(c))
        kl_tap_ok(c->ops->revision(c->store) >= revision, "the store's revision did not go back");
    else
        kl_tap_is_int(c->ops->revision(c->store), revision, "the store's revision is the same");
    int64_t rev = -1;
    kl_conformance_key(c, key, sizeof key, "after-restart");
    kl_tap_call(c->ops->create(c->store, key, "n", 1, &rev, &err), &err, "a write after reopening");
    kl_tap_ok(rev > revision, "... gets a higher revision (%lld > %lld)", (long long)rev,
              (long long)revision);
    kl_kv_list_clear(&before);
    kl_kv_list_clear(&after);
    kl_conformance_end(c);
}
