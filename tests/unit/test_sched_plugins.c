/* Scheduler plugin tests: each plugin is loaded from its .so through the
 * loader and asked about hand-made nodes whose right answer is known. Needs
 * KEELSON_PLUGIN_PATH (make check sets it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libconfig.h>

#include "loader.h"
#include "log.h"
#include "tap.h"

#define GI (1024LL * 1024 * 1024)

static kl_plugin_t *open_plugin(const char *name, const char *settings_text)
{
    kl_error_t err;
    kl_plugin_t *plugin = kl_plugin_load(KL_KIND_SCHEDULER, name, NULL, &err);
    ok(plugin != NULL, "scheduler/%s loads (%s)", name, plugin ? plugin->path : err.text);
    if (!plugin)
        return NULL;
    config_t config;
    config_init(&config);
    const config_setting_t *settings = NULL;
    if (settings_text && config_read_string(&config, settings_text) == CONFIG_TRUE)
        settings = config_lookup(&config, "settings");
    /* The host reads the settings until open() returns. */
    int rc = kl_plugin_configure(plugin, settings, NULL, NULL, &err);
    rc = rc < 0 ? rc : kl_plugin_open(plugin, &err);
    config_destroy(&config);
    if (rc < 0) {
        ok(0, "scheduler/%s opens: %s", name, err.text);
        kl_plugin_destroy(&plugin);
        return NULL;
    }
    return plugin;
}

static kl_sched_node_t node_of(const char *name, int64_t cpu, int64_t memory_gi,
                               int64_t cpu_used, int64_t memory_used_gi)
{
    kl_sched_node_t node = {
        .name = name, .cpu_allocatable_milli = cpu, .memory_allocatable_bytes = memory_gi * GI,
        .pods_allocatable = 110, .cpu_requested_milli = cpu_used,
        .memory_requested_bytes = memory_used_gi * GI,
    };
    return node;
}

/* Index of the highest score, ties to the first: what the core does. */
static size_t best_of(const kl_scheduler_ops_t *ops, void *state, const kl_sched_pod_t *pod,
                      const kl_sched_node_t *nodes, size_t count, int64_t *scores)
{
    size_t best = 0;
    for (size_t i = 0; i < count; i++) {
        scores[i] = ops->score(state, pod, &nodes[i]);
        if (scores[i] > scores[best])
            best = i;
    }
    return best;
}

static void test_scoring(void)
{
    /* 1 cpu and 1Gi on nodes of 4 cpu and 8Gi. */
    kl_sched_pod_t pod = {.namespace_name = "default", .name = "p", .cpu_request_milli = 1000,
                          .memory_request_bytes = GI};
    kl_sched_node_t nodes[] = {
        node_of("half", 4000, 8, 2000, 4),
        node_of("empty", 4000, 8, 0, 0),
        node_of("nearly-full", 4000, 8, 3000, 6),
        node_of("cpu-heavy", 4000, 8, 2000, 0),
    };
    int64_t scores[4];

    kl_plugin_t *spread = open_plugin("spread", NULL);
    if (spread) {
        const kl_scheduler_ops_t *ops = spread->ops;
        ok(ops->score && !ops->select, "spread scores");
        size_t best = best_of(ops, spread->state, &pod, nodes, 4, scores);
        is_str(nodes[best].name, "empty", "spread picks the emptiest node");
        /* LeastAllocated: ((4-1)/4*100 + (8-1)/8*100) / 2 = (75 + 87) / 2 */
        is_int(scores[1], 81, "spread's score of the empty node is the mean free share");
        is_int(scores[2], 6, "the nearly full node: (0 + 12) / 2");
        kl_sched_node_t zero = node_of("no-memory", 4000, 0, 0, 0);
        is_int(ops->score(spread->state, &pod, &zero), 37, "a resource the node lacks scores 0");
    }
    kl_plugin_destroy(&spread);

    kl_plugin_t *binpack = open_plugin("binpack", NULL);
    if (binpack) {
        const kl_scheduler_ops_t *ops = binpack->ops;
        size_t best = best_of(ops, binpack->state, &pod, nodes, 4, scores);
        is_str(nodes[best].name, "nearly-full", "binpack picks the fullest node that fits");
        /* MostAllocated: (4/4*100 + 7/8*100) / 2 */
        is_int(scores[2], 93, "binpack's score of the nearly full node is the mean used share");
        is_int(scores[1], 18, "the empty node: (25 + 12) / 2");
    }
    kl_plugin_destroy(&binpack);

    kl_plugin_t *balanced = open_plugin("balanced", NULL);
    if (balanced) {
        const kl_scheduler_ops_t *ops = balanced->ops;
        /* A pod asking 1 cpu and 4Gi leaves cpu-heavy at 75% cpu and 50%
         * memory, memory-heavy at 25% cpu and 100% memory. */
        kl_sched_pod_t memory_pod = pod;
        memory_pod.memory_request_bytes = 4 * GI;
        kl_sched_node_t choice[] = {
            node_of("memory-heavy", 4000, 8, 0, 4),
            node_of("cpu-heavy", 4000, 8, 2000, 0),
        };
        size_t best = best_of(ops, balanced->state, &memory_pod, choice, 2, scores);
        is_str(choice[best].name, "cpu-heavy", "balanced picks the node the pod evens out");
        is_int(scores[1], 75, "cpu 75%% and memory 50%% after placing: 100 - 25");
        is_int(scores[0], 25, "cpu 25%% and memory 100%%: 100 - 75");
        kl_sched_node_t even = node_of("even", 4000, 8, 1000, 3);
        is_int(ops->score(balanced->state, &pod, &even), 100, "cpu and memory both at 50%%: 100");
        is_int(ops->score(balanced->state, &pod, &nodes[3]), 37,
               "cpu 75%% and memory 12.5%%: 100 - 62.5, rounded down");
    }
    kl_plugin_destroy(&balanced);
}

static int draw(const kl_scheduler_ops_t *ops, void *state, const kl_sched_node_t *const *nodes,
                size_t count)
{
    kl_sched_pod_t pod = {.namespace_name = "default", .name = "p"};
    kl_error_t err;
    return ops->select(state, &pod, nodes, count, &err);
}

static void test_random(void)
{
    kl_sched_node_t nodes[5];
    const kl_sched_node_t *offered[5];
    char names[5][8];
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], sizeof names[i], "n%d", i);
        nodes[i] = node_of(names[i], 4000, 8, 0, 0);
        offered[i] = &nodes[i];
    }
    kl_plugin_t *first = open_plugin("random", "settings = { seed = 42; };");
    kl_plugin_t *second = open_plugin("random", "settings = { seed = 42; };");
    kl_plugin_t *other = open_plugin("random", "settings = { seed = 7; };");
    if (first && second && other) {
        const kl_scheduler_ops_t *ops = first->ops;
        ok(ops->select != NULL, "random selects");
        int counts[5] = {0}, same = 1, differs = 0, in_range = 1;
        for (int i = 0; i < 5000; i++) {
            int a = draw(ops, first->state, offered, 5);
            int b = draw(ops, second->state, offered, 5);
            int c = draw(ops, other->state, offered, 5);
            in_range &= a >= 0 && a < 5;
            if (a >= 0 && a < 5)
                counts[a]++;
            same &= a == b;
            differs |= a != c;
        }
        ok(in_range, "every choice is a feasible node");
        int even = 1;
        for (int i = 0; i < 5; i++)
            even &= counts[i] > 850 && counts[i] < 1150;  /* 1000 expected, sd ~28 */
        ok(even, "5000 draws cover every node about evenly: %d %d %d %d %d", counts[0], counts[1],
           counts[2], counts[3], counts[4]);
        ok(same, "the same seed gives the same sequence");
        ok(differs, "another seed gives another sequence");
        is_int(draw(ops, first->state, offered, 1), 0, "one feasible node is always chosen");
        kl_error_t err;
        kl_error_clear(&err);
        kl_sched_pod_t pod = {.name = "p"};
        ok(ops->select(first->state, &pod, offered, 0, &err) == -1 && err.text[0],
           "no feasible node gives -1 with a reason: %s", err.text);
    }
    kl_plugin_destroy(&first);
    kl_plugin_destroy(&second);
    kl_plugin_destroy(&other);

    kl_plugin_t *unseeded = open_plugin("random", NULL);
    if (unseeded) {
        int seen = 0;
        for (int i = 0; i < 200; i++)
            seen |= 1 << draw(unseeded->ops, unseeded->state, offered, 5);
        is_int(seen, 31, "without a seed every node is still reached");
    }
    kl_plugin_destroy(&unseeded);

    kl_error_t err;
    kl_plugin_t *bad = kl_plugin_load(KL_KIND_SCHEDULER, "random", NULL, &err);
    if (bad) {
        config_t config;
        config_init(&config);
        config_read_string(&config, "settings = { seed = \"forty-two\"; };");
        ok(kl_plugin_configure(bad, config_lookup(&config, "settings"), NULL, NULL, &err) < 0
           && strstr(err.text, "seed"), "a seed that is not a number is refused: %s", err.text);
        config_destroy(&config);
    }
    kl_plugin_destroy(&bad);
}

int main(void)
{
    kl_log_set_level(KL_LOG_ERROR);
    if (!getenv("KEELSON_PLUGIN_PATH")) {
        printf("1..0 # SKIP KEELSON_PLUGIN_PATH is not set\n");
        return 0;
    }
    test_scoring();
    test_random();
    return done_testing();
}
