/* runtime/sim: the table of containers, a hash map keyed by id with chains,
 * grown as it fills so lookups stay cheap with thousands of pods. Callers
 * hold sim->lock while other threads may use the table. */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

static uint64_t sim_hash(const char *text)
{
    uint64_t hash = 1469598103934665603ULL;  /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        hash ^= *p;
        hash *= 1099511628211ULL;
    }
    return hash;
}

sim_container_t **sim_slot(sim_runtime_t *sim, const char *id)
{
    sim_container_t **slot = &sim->buckets[sim_hash(id) & (sim->bucket_count - 1)];
    while (*slot && strcmp((*slot)->id, id) != 0)
        slot = &(*slot)->next;
    return slot;
}

/* Doubles the table when it averages more than one container per bucket, so
 * lookups stay O(1) however many pods a benchmark starts. */
int sim_grow(sim_runtime_t *sim)
{
    size_t new_count = sim->bucket_count * 2;
    sim_container_t **fresh = calloc(new_count, sizeof *fresh);
    if (!fresh)
        return -1;
    for (size_t i = 0; i < sim->bucket_count; i++) {
        sim_container_t *c = sim->buckets[i];
        while (c) {
            sim_container_t *next = c->next;
            size_t b = sim_hash(c->id) & (new_count - 1);
            c->next = fresh[b];
            fresh[b] = c;
            c = next;
        }
    }
    free(sim->buckets);
    sim->buckets = fresh;
    sim->bucket_count = new_count;
    return 0;
}

void sim_container_free(sim_container_t *c)
{
    if (!c)
        return;
    free(c->id);
    free(c->pod_namespace);
    free(c->pod_name);
    free(c->pod_uid);
    free(c->container_name);
    free(c->image);
    free(c);
}

sim_container_t *sim_find(sim_runtime_t *sim, const char *id, kl_error_t *err)
{
    if (!id) {
        kl_error_set(err, KL_ERR_INVALID, "container id is missing");
        return NULL;
    }
    sim_container_t *c = *sim_slot(sim, id);
    if (!c)
        kl_error_set(err, KL_ERR_NOT_FOUND, "container %.128s not found in runtime/sim", id);
    return c;
}
