/* keelctl bench scheduler: profile parsing and its errors, seeded generation,
 * and in-process runs whose right answers are known. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keelctl/bench_profile.h"
#include "keelctl/bench_scheduler.h"
#include "tap.h"

static char dir[] = "/tmp/keelson-bench-test.XXXXXX";

static const char *write_profile(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* The error must start with "PATH:LINE:" and mention `needle`. */
static void refused(const char *name, const char *text, int line, const char *needle)
{
    kl_error_t err;
    kl_error_clear(&err);
    const char *path = write_profile(name, text);
    kl_bench_profile_t *p = kl_bench_profile_load(path, &err);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s:%d:", path, line);
    ok(!p && strncmp(err.text, prefix, strlen(prefix)) == 0 && strstr(err.text, needle),
       "%s refused at line %d naming \"%s\"", name, line, needle);
    if (p || strncmp(err.text, prefix, strlen(prefix)) != 0 || !strstr(err.text, needle))
        diag("got: %s", err.text);
    kl_bench_profile_destroy(&p);
    unlink(path);
}

/* The profiles shipped under bench/ load, and the cluster-mode target is
 * the run the README reports. */
static void test_shipped_profiles(void)
{
    const char *srcdir = getenv("KEELSON_SRCDIR");
    static const char *const names[] = {"uniform", "mixed", "tight", "cluster-5000",
                                          "cluster-150k", "cluster-150k-events-apart"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/bench/profiles/%s.conf", srcdir ? srcdir : ".", names[i]);
        kl_error_t err;
        kl_bench_profile_t *p = kl_bench_profile_load(path, &err);
        ok(p != NULL, "bench/profiles/%s.conf loads%s%s", names[i], p ? "" : ": ", p ? "" : err.text);
        if (p && strcmp(names[i], "cluster-5000") == 0) {
            is_int(p->nodes, 5000, "cluster-5000 has 5,000 nodes");
            is_int(p->pods, 20000, "and 20,000 pods");
            is_str(p->store, "sqlite", "on the sqlite store");
            is_str(p->events_store, "", "with Events in it too");
        }
        if (p && strcmp(names[i], "cluster-150k-events-apart") == 0)
            ok(strcmp(p->store, "sqlite") == 0 && strcmp(p->events_store, "memory") == 0,
               "cluster-150k-events-apart keeps Events in the memory store beside sqlite");
        if (p && strcmp(names[i], "cluster-150k") == 0) {
            is_int(p->nodes, 5000, "cluster-150k has 5,000 nodes");
            is_int(p->pods, 150000, "and 150,000 pods");
            is_str(p->store, "sqlite", "on the sqlite store");
        }
        kl_bench_profile_destroy(&p);
    }
}

static void test_good_profile(void)
{
    const char *srcdir = getenv("KEELSON_SRCDIR");
    char path[512];
    snprintf(path, sizeof path, "%s/bench/profiles/mixed.conf", srcdir ? srcdir : ".");
    kl_error_t err;
    kl_bench_profile_t *p = kl_bench_profile_load(path, &err);
    ok(p != NULL, "mixed.conf loads");
    if (!p) {
        diag("%s", err.text);
        return;
    }
    is_int(p->shape_count, 4, "four node shapes");
    is_str(p->shapes[3].name, "gpu", "the fourth is gpu");
    is_int(p->shapes[0].cpu_milli, 4000, "small nodes have 4 cpu");
    is_int(p->shapes[0].memory_bytes, 8LL << 30, "and 8Gi");
    is_int(json_array_size(p->shapes[3].taints), 1, "gpu nodes carry one taint");
    is_str(json_string_value(json_object_get(json_array_get(p->shapes[3].taints, 0), "effect")),
           "NoSchedule", "its effect is NoSchedule");
    is_str(json_string_value(json_object_get(p->shapes[3].labels, "keelson.io/accelerator")),
           "gpu", "labels written as key=value keep their prefix");
    is_int(p->choice_count, 4, "four request choices");
    ok(fabs(p->selector_fraction - 0.2) < 1e-9, "node_selector fraction 0.2");
    is_int(json_array_size(p->tolerations), 1, "one toleration");
    is_int(p->arrival, KL_BENCH_ALL_AT_ONCE, "all pods at once");
    kl_bench_profile_destroy(&p);
    ok(p == NULL, "destroy nulls the pointer");
    kl_bench_profile_destroy(&p);
}

static void test_refusals(void)
{
    refused("unknown.conf", "nodes = 4;\n\nspeed = 3;\n", 3, "unknown setting \"speed\"");
    refused("type.conf", "nodes = \"four\";\n", 1, "\"nodes\" must be an integer");
    refused("shape-key.conf", "node_shapes = (\n  { name = \"a\";\n    colour = \"red\"; }\n);\n",
            3, "unknown setting \"colour\" in a node shape");
    refused("cpu.conf", "node_shapes = (\n  { name = \"a\"; cpu = \"lots\"; }\n);\n", 2,
            "\"cpu\"");
    refused("taint.conf", "node_shapes = ( { name = \"a\";\n taints = [ \"x=y:Sometimes\" ]; } );\n",
            2, "taint \"x=y:Sometimes\"");
    refused("both.conf", "node_shapes = ( { name = \"a\"; count = 2; weight = 1; } );\n", 1,
            "both count and weight");
    refused("arrival.conf", "node_shapes = ( { name = \"a\"; } );\nworkload = {\n"
            "  arrival = \"sometimes\";\n};\n", 3, "arrival \"sometimes\"");
    refused("rate.conf", "node_shapes = ( { name = \"a\"; } );\nworkload = { arrival = \"rate\";\n"
            "  rate = \"fast\"; };\n", 3, "\"rate\" must be a number");
    refused("fraction.conf", "node_shapes = ( { name = \"a\"; } );\nworkload = {\n"
            "  node_selector = { fraction = 1.5; labels = { a = \"b\"; }; };\n};\n", 3,
            "between 0 and 1");
    refused("syntax.conf", "nodes = 4;\npods = = 3;\n", 2, "syntax error");
    refused("store.conf", "nodes = 4;\nevents_store = \"mem\\\"ory\";\n", 2,
            "\"events_store\" \"mem\"ory\" is not a plugin name");
    refused("name.conf", "node_shapes = ( { name = \"Big_Nodes\"; } );\n", 1,
            "must use only a-z");
    refused("range.conf", "node_shapes = ( { name = \"a\"; } );\nworkload = {\n"
            "  cpu = { min = \"2\"; max = \"1\"; };\n};\n", 3, "min is above max");
    kl_error_t err;
    ok(!kl_bench_profile_load("/nonexistent/profile.conf", &err)
       && strstr(err.text, "/nonexistent/profile.conf"), "a missing file is named");
}

static void test_generation(void)
{
    const char *path = write_profile("gen.conf",
        "node_shapes = ( { name = \"a\"; weight = 3; cpu = \"4\"; },\n"
        "                { name = \"b\"; weight = 1; cpu = \"16\"; labels = { zone = \"b\"; };\n"
        "                  taints = [ \"only=b:NoSchedule\" ]; } );\n"
        "workload = { cpu = { min = \"100m\"; max = \"2\"; }; memory = { min = \"1Mi\"; max = \"1Gi\"; };\n"
        "  node_selector = { fraction = 0.5; labels = { zone = \"b\"; }; };\n"
        "  tolerations = { fraction = 0.25; taints = [ \"only=b:NoSchedule\" ]; };\n"
        "  arrival = \"rate\"; rate = 100; };\n");
    kl_error_t err;
    kl_bench_profile_t *p = kl_bench_profile_load(path, &err);
    ok(p != NULL, "generation profile loads");
    if (!p) {
        diag("%s", err.text);
        return;
    }
    int64_t counts[KL_BENCH_MAX_SHAPES];
    kl_bench_profile_apportion(p, 10, counts);
    ok(counts[0] == 8 && counts[1] == 2, "10 nodes at weights 3:1 are 8 and 2 (largest remainder)");
    kl_bench_cluster_t *one = kl_bench_cluster_generate(p, 10, 400, 7, &err);
    kl_bench_cluster_t *two = kl_bench_cluster_generate(p, 10, 400, 7, &err);
    kl_bench_cluster_t *other = kl_bench_cluster_generate(p, 10, 400, 8, &err);
    ok(one && two && other, "three clusters generated");
    if (one && two && other) {
        ok(json_equal(one->pods, two->pods) && json_equal(one->nodes, two->nodes),
           "the same seed gives the same nodes and pods");
        ok(!json_equal(one->pods, other->pods), "another seed gives other pods");
        is_int(json_array_size(one->nodes), 10, "10 nodes");
        is_str(json_string_value(json_object_get(json_object_get(json_array_get(one->nodes, 8),
                                                                 "metadata"), "name")),
               "b-0000", "the first node of shape b is b-0000");
        ok(json_array_size(json_object_get(json_object_get(json_array_get(one->nodes, 9), "spec"),
                                           "taints")) == 1, "shape b nodes carry the taint");
        size_t selected = 0, tolerating = 0, in_range = 0, i;
        json_t *pod;
        json_array_foreach(one->pods, i, pod) {
            json_t *spec = json_object_get(pod, "spec");
            selected += json_object_get(spec, "nodeSelector") != NULL;
            tolerating += json_object_get(spec, "tolerations") != NULL;
            const char *cpu = json_string_value(json_object_get(json_object_get(json_object_get(
                json_array_get(json_object_get(spec, "containers"), 0), "resources"), "requests"),
                "cpu"));
            long milli = cpu ? strtol(cpu, NULL, 10) : -1;
            in_range += milli >= 100 && milli <= 2000;
        }
        ok(selected > 150 && selected < 250, "about half the pods select zone b (%zu of 400)",
           selected);
        ok(tolerating > 60 && tolerating < 140, "about a quarter tolerate (%zu of 400)", tolerating);
        is_int(in_range, 400, "every cpu request lies within the range");
        ok(fabs(one->arrival_ms[100] - 1000.0) < 1e-6, "at 100 pods/s pod 100 arrives at 1 s");
    }
    kl_bench_cluster_destroy(&one);
    kl_bench_cluster_destroy(&two);
    kl_bench_cluster_destroy(&other);
    kl_bench_profile_destroy(&p);
    unlink(path);
}

static void run_known(const char *plugin, int64_t pods, int64_t bound, int64_t unschedulable,
                      int64_t nodes_used, double cpu_mean, double cpu_stddev)
{
    const char *path = write_profile("known.conf",
        "node_shapes = ( { name = \"n\"; count = 4; cpu = \"5\"; memory = \"10Gi\"; } );\n"
        "workload = { requests = ( { cpu = \"1\"; memory = \"1Gi\"; } ); };\n");
    kl_error_t err;
    kl_bench_profile_t *p = kl_bench_profile_load(path, &err);
    kl_bench_cluster_t *c = p ? kl_bench_cluster_generate(p, 4, pods, 1, &err) : NULL;
    kl_bench_result_t r;
    memset(&r, 0, sizeof r);
    int rc = c ? kl_bench_run_inproc(p, c, plugin, &r, &err) : -1;
    if (rc == 0 && r.error[0] && strstr(r.error, "not found")) {
        diag("skipping %s: %s", plugin, r.error);
    } else {
        ok(rc == 0 && !r.error[0], "%s: %lld pods of 1 cpu on 4 nodes of 5 cpu run", plugin,
           (long long)pods);
        if (r.error[0])
            diag("%s", r.error);
        is_int(r.bound, bound, "%s: %lld bound", plugin, (long long)bound);
        is_int(r.unschedulable, unschedulable, "%s: %lld unschedulable", plugin,
               (long long)unschedulable);
        is_int(r.nodes_used, nodes_used, "%s: %lld nodes used", plugin, (long long)nodes_used);
        ok(fabs(r.cpu_utilisation_mean - cpu_mean) < 1e-9, "%s: cpu utilisation %.3f (got %.3f)",
           plugin, cpu_mean, r.cpu_utilisation_mean);
        ok(fabs(r.memory_utilisation_mean - cpu_mean / 2) < 1e-9,
           "%s: memory utilisation %.3f (got %.3f)", plugin, cpu_mean / 2,
           r.memory_utilisation_mean);
        ok(fabs(r.cpu_utilisation_stddev - cpu_stddev) < 1e-9,
           "%s: cpu spread %.3f (got %.3f)", plugin, cpu_stddev, r.cpu_utilisation_stddev);
        ok(r.pods_per_second > 0 && r.latency_p50_ms <= r.latency_p99_ms
           && r.latency_p99_ms <= r.latency_max_ms, "%s: throughput and ordered latencies", plugin);
    }
    kl_bench_cluster_destroy(&c);
    kl_bench_profile_destroy(&p);
    unlink(path);
}

static void test_known_answers(void)
{
    /* Everything fits exactly: every policy fills all four nodes. */
    run_known("firstfit", 20, 20, 0, 4, 1.0, 0.0);
    run_known("binpack", 20, 20, 0, 4, 1.0, 0.0);
    run_known("spread", 20, 20, 0, 4, 1.0, 0.0);
    /* Four pods too many. */
    run_known("firstfit", 24, 20, 4, 4, 1.0, 0.0);
    /* Half full: firstfit fills two nodes (100%, 100%, 0, 0); spread
     * levels them (50% each, 2.5 pods: 3,3,2,2 -> 60,60,40,40). */
    run_known("firstfit", 10, 10, 0, 2, 0.5, 0.5);
    run_known("spread", 10, 10, 0, 4, 0.5, 0.1);

    kl_bench_result_t r;
    memset(&r, 0, sizeof r);
    kl_error_t err;
    kl_bench_profile_t *p = kl_bench_profile_default();
    kl_bench_cluster_t *c = kl_bench_cluster_generate(p, 2, 2, 1, &err);
    is_int(kl_bench_run_inproc(p, c, "no-such-policy", &r, &err), 0,
           "a plugin that cannot load does not stop the benchmark");
    ok(strstr(r.error, "scheduler/no-such-policy") != NULL, "its error names it: %s", r.error);
    kl_bench_cluster_destroy(&c);
    kl_bench_profile_destroy(&p);
}

static void test_measures(void)
{
    kl_bench_result_t r;
    memset(&r, 0, sizeof r);
    /* Median pod 1 cpu: node 0 has 0.5 free (stranded), node 1 has 2 free. */
    kl_bench_node_usage_t nodes[2] = {
        {4000, 4LL << 30, 10, 3500, 1LL << 30, 3},
        {4000, 4LL << 30, 10, 2000, 2LL << 30, 2},
    };
    kl_bench_result_placement(&r, nodes, 2, 1000, 1LL << 20);
    ok(fabs(r.fragmentation - 500.0 / 2500.0) < 1e-9, "fragmentation counts the stranded 0.5 cpu "
       "of 2.5 free (got %.3f)", r.fragmentation);
    ok(fabs(r.cpu_utilisation_mean - (0.875 + 0.5) / 2) < 1e-9, "mean cpu utilisation");
    is_int(r.nodes_used, 2, "two nodes used");
    double latencies[] = {5, 1, 4, 2, 3};
    kl_bench_result_latencies(&r, latencies, 5);
    ok(r.latency_p50_ms == 3 && r.latency_p99_ms == 5 && r.latency_max_ms == 5,
       "p50 3, p99 5, max 5 of 1..5");
}

int main(void)
{
    if (!mkdtemp(dir)) {
        printf("1..0 # SKIP cannot make a temporary folder\n");
        return 0;
    }
    test_good_profile();
    test_shipped_profiles();
    test_refusals();
    test_generation();
    test_known_answers();
    test_measures();
    rmdir(dir);
    return done_testing();
}
