/* Scheduler benchmark workload generation: the seeded, machine-independent
 * Nodes and Pods a checked profile describes. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_profile.h"

/* splitmix64: tiny, seedable and the same on every machine. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double random_unit(uint64_t *state)
{
    return (double)(next_random(state) >> 11) / 9007199254740992.0;
}

static int64_t random_between(uint64_t *state, int64_t low, int64_t high)
{
    if (high <= low)
        return low;
    return low + (int64_t)(next_random(state) % (uint64_t)(high - low + 1));
}

void kl_bench_profile_apportion(const kl_bench_profile_t *profile, int64_t node_count,
                                int64_t *counts)
{
    double total = 0;
    for (size_t i = 0; i < profile->shape_count; i++)
        total += profile->shapes[i].weight;
    int64_t given = 0;
    double remainder[KL_BENCH_MAX_SHAPES];
    for (size_t i = 0; i < profile->shape_count; i++) {
        double exact = (double)node_count * profile->shapes[i].weight / total;
        counts[i] = (int64_t)floor(exact);
        remainder[i] = exact - (double)counts[i];
        given += counts[i];
    }
    /* Largest remainder first; ties go to the earlier shape. */
    while (given < node_count) {
        size_t best = 0;
        for (size_t i = 1; i < profile->shape_count; i++)
            if (remainder[i] > remainder[best])
                best = i;
        counts[best]++;
        remainder[best] = -1;
        given++;
    }
}

static json_t *node_object(const kl_bench_node_shape_t *shape, int64_t index)
{
    char name[96], cpu[32], memory[32], pods[32];
    snprintf(name, sizeof name, "%s-%04" PRId64, shape->name, index);
    snprintf(cpu, sizeof cpu, "%" PRId64 "m", shape->cpu_milli);
    snprintf(memory, sizeof memory, "%" PRId64, shape->memory_bytes);
    snprintf(pods, sizeof pods, "%" PRId64, shape->max_pods);
    json_t *node = json_pack("{s:s, s:s, s:{s:s, s:O, s:s}, s:{}, s:{s:{s:s, s:s, s:s}, "
                             "s:{s:s, s:s, s:s}, s:[{s:s, s:s}]}}",
                             "apiVersion", "v1", "kind", "Node",
                             "metadata", "name", name, "labels", shape->labels,
                             "resourceVersion", "1", "spec",
                             "status", "capacity", "cpu", cpu, "memory", memory, "pods", pods,
                             "allocatable", "cpu", cpu, "memory", memory, "pods", pods,
                             "conditions", "type", "Ready", "status", "True");
    if (node && json_array_size(shape->taints) > 0)
        json_object_set(json_object_get(node, "spec"), "taints", shape->taints);
    return node;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

kl_bench_cluster_t *kl_bench_cluster_generate(const kl_bench_profile_t *profile,
                                              int64_t node_count, int64_t pod_count,
                                              uint64_t seed, kl_error_t *err)
{
    if (node_count <= 0 || pod_count <= 0 || profile->shape_count == 0) {
        kl_error_set(err, KL_ERR_INVALID, "a benchmark needs at least one node and one pod");
        return NULL;
    }
    kl_bench_cluster_t *c = calloc(1, sizeof *c);
    int64_t *cpu_sorted = malloc((size_t)pod_count * sizeof *cpu_sorted);
    int64_t *memory_sorted = malloc((size_t)pod_count * sizeof *memory_sorted);
    if (!c || !cpu_sorted || !memory_sorted || !(c->nodes = json_array())
        || !(c->pods = json_array())
        || !(c->arrival_ms = calloc((size_t)pod_count, sizeof *c->arrival_ms))
        || !(c->node_shape = calloc((size_t)node_count, sizeof *c->node_shape)))
        goto oom;
    int64_t counts[KL_BENCH_MAX_SHAPES];
    kl_bench_profile_apportion(profile, node_count, counts);
    size_t at = 0;
    for (size_t s = 0; s < profile->shape_count; s++)
        for (int64_t i = 0; i < counts[s]; i++) {
            json_t *node = node_object(&profile->shapes[s], i);
            if (!node || json_array_append_new(c->nodes, node) < 0)
                goto oom;
            c->node_shape[at++] = s;
        }

    uint64_t state = seed;
    double total_weight = 0;
    for (size_t i = 0; i < profile->choice_count; i++)
        total_weight += profile->choices[i].weight;
    for (int64_t i = 0; i < pod_count; i++) {
        int64_t cpu, memory;
        if (profile->choice_count > 0 && total_weight > 0) {
            double pick = random_unit(&state) * total_weight;
            size_t k = 0;
            while (k + 1 < profile->choice_count && pick >= profile->choices[k].weight) {
                pick -= profile->choices[k].weight;
                k++;
            }
            cpu = profile->choices[k].cpu_milli;
            memory = profile->choices[k].memory_bytes;
        } else {
            cpu = random_between(&state, profile->cpu_min_milli, profile->cpu_max_milli);
            memory = random_between(&state, profile->memory_min_bytes, profile->memory_max_bytes);
        }
        /* Always draw both so one fraction's value does not shift the other's stream. */
        double selector_draw = random_unit(&state), toleration_draw = random_unit(&state);
        cpu_sorted[i] = cpu;
        memory_sorted[i] = memory;
        char name[64], cpu_text[32], memory_text[32];
        snprintf(name, sizeof name, "bench-%06" PRId64, i);
        snprintf(cpu_text, sizeof cpu_text, "%" PRId64 "m", cpu);
        snprintf(memory_text, sizeof memory_text, "%" PRId64, memory);
        json_t *pod = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:[{s:s, s:s, "
                                "s:{s:{s:s, s:s}}}]}, s:{s:s}}",
                                "apiVersion", "v1", "kind", "Pod",
                                "metadata", "name", name, "namespace", "bench",
                                "labels", "app", "bench",
                                "spec", "containers", "name", "c", "image", "sim",
                                "resources", "requests", "cpu", cpu_text, "memory", memory_text,
                                "status", "phase", "Pending");
        if (!pod)
            goto oom;
        json_t *spec = json_object_get(pod, "spec");
        if (selector_draw < profile->selector_fraction)
            json_object_set(spec, "nodeSelector", profile->selector_labels);
        if (toleration_draw < profile->toleration_fraction)
            json_object_set(spec, "tolerations", profile->tolerations);
        if (json_array_append_new(c->pods, pod) < 0)
            goto oom;
        c->arrival_ms[i] = profile->arrival == KL_BENCH_RATE ? (double)i * 1000.0 / profile->rate
                                                             : 0;
    }
    qsort(cpu_sorted, (size_t)pod_count, sizeof *cpu_sorted, compare_int64);
    qsort(memory_sorted, (size_t)pod_count, sizeof *memory_sorted, compare_int64);
    c->median_cpu_milli = cpu_sorted[pod_count / 2];
    c->median_memory_bytes = memory_sorted[pod_count / 2];
    free(cpu_sorted);
    free(memory_sorted);
    return c;
oom:
    free(cpu_sorted);
    free(memory_sorted);
    kl_bench_cluster_destroy(&c);
    kl_error_set(err, KL_ERR_INTERNAL, "out of memory generating %" PRId64 " nodes and %" PRId64
                 " pods", node_count, pod_count);
    return NULL;
}

void kl_bench_cluster_destroy(kl_bench_cluster_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    kl_bench_cluster_t *c = *self_p;
    json_decref(c->nodes);
    json_decref(c->pods);
    free(c->arrival_ms);
    free(c->node_shape);
    free(c);
    *self_p = NULL;
}
