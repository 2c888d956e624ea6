/* Store plugins compared through the keelson API: pod creates, reads and
 * status writes per second with p50/p99 latency on memory, sqlite and etcd, watch fan-out
 * latency and peak memory, and the same load sent straight to etcd's JSON
 * gateway as the baseline.
 * usage: store_bench [OBJECTS [IN_FLIGHT [WORKERS [ROUNDS]]]]   (needs /usr/bin/etcd for etcd)
 * WORKERS: API servers on the shared etcd store for the second etcd row
 * (apiserver.workers); default 1, as keelsond runs, at most 64. ROUNDS: that row and
 * etcd direct run this many times, taking turns, and each reports its
 * median round (default 1, at most 9). */
#include <czmq.h>
#include <curl/curl.h>
#include <libconfig.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apiserver.h"
#include "bench_util.h"
#include "bus.h"
#include "loader.h"
#include "log.h"
#include "store_watch.h"

typedef store_bench_result_t result_t;

/* Watch fan-out: this many watchers follow this many creates made one
 * after another, so the latency is the store's and API's, not a queue's. */
#define FANOUT_WATCHERS 10
#define FANOUT_WRITES 200

/* Peak resident memory of a process in MiB (VmHWM; "self" or a pid). */
static double peak_mib(const char *pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen(path, "r");
    double mib = 0;
    unsigned long long kib;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kib) == 1)
            mib = (double)kib / 1024.0;
    if (f)
        fclose(f);
    return mib;
}

/* The etcd server's pid ("" without etcd), for its cpu time. */
static char etcd_pid[32];

/* User and system cpu seconds a process has used ("self" or a pid); -1
 * when it cannot be read. */
static double cpu_seconds(const char *pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    FILE *f = fopen(path, "r");
    char *text = f ? fgets(line, sizeof line, f) : NULL;
    if (f)
        fclose(f);
    /* Fields after the command name, which may hold spaces: state is the
     * 3rd field, utime and stime the 14th and 15th. */
    char *rest = text ? strrchr(text, ')') : NULL;
    unsigned long long utime, stime;
    if (!rest || sscanf(rest + 2, "%*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu", &utime,
                        &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

typedef struct cpu_mark {
    double self, etcd;
} cpu_mark_t;

static cpu_mark_t cpu_mark(void)
{
    return (cpu_mark_t){cpu_seconds("self"), etcd_pid[0] ? cpu_seconds(etcd_pid) : -1};
}

/* Fills r's cpu per request since `before`, over `done` requests. */
static void cpu_note(result_t *r, cpu_mark_t before, int done)
{
    cpu_mark_t after = cpu_mark();
    r->self_cpu_us = done && before.self >= 0 && after.self >= 0
                         ? (after.self - before.self) * 1e6 / done : -1;
    r->etcd_cpu_us = done && before.etcd >= 0 && after.etcd >= 0
                         ? (after.etcd - before.etcd) * 1e6 / done : -1;
}

/* Starts a new peak for this process (Linux: "5" to clear_refs). */
static void peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* API servers on one shared store at most, as apiserver.workers allows. */
#define WORKERS_MAX 64

/* Each run writes its own names, so runs against one etcd never collide. */
static int run_number;

/* What a phase does to each pod: creates it, reads it, or writes its status
 * (a kubelet's most frequent write: read, change, compare-and-swap). */
enum { OP_READ = 0, OP_CREATE = 1, OP_UPDATE = 2 };

static json_t *make_pod(int i)
{
    char name[64];
    snprintf(name, sizeof name, "bench%d-%07d", run_number, i);
    return json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:s, s:s, s:{s:{s:s, s:s}}}]}}",
                     "apiVersion", "v1", "kind", "Pod", "metadata", "name", name, "namespace",
                     "default", "labels", "app", "bench", "spec", "restartPolicy", "Never",
                     "containers", "name", "main", "image", "busybox:1.35", "resources",
                     "requests", "cpu", "100m", "memory", "64Mi");
}

static json_t *make_request(int op, int i)
{
    if (op == OP_CREATE)
        return json_pack("{s:o}", "object", make_pod(i));
    char name[64];
    snprintf(name, sizeof name, "bench%d-%07d", run_number, i);
    if (op == OP_UPDATE)
        return json_pack("{s:{s:s, s:s, s:{s:s, s:s}, s:{s:s}}}", "object", "apiVersion", "v1",
                         "kind", "Pod", "metadata", "name", name, "namespace", "default", "status",
                         "phase", "Running");
    return json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", "default", "name", name);
}

static const char *const api_methods[] = {"api.get", "api.create", "api.update_status"};

/* `count` requests of `op` with `window` in flight. */
static result_t run_api(const char *endpoint, int op, int count, int window)
{
    result_t r = {0};
    kl_error_t err;
    kl_bus_client_t *c = kl_bus_client_new(endpoint, &err);
    int64_t *sent_at = calloc((size_t)count, sizeof *sent_at);
    int64_t *lat = calloc((size_t)count, sizeof *lat);
    if (!c || !sent_at || !lat) {
        r.failed = count;
        goto out;
    }
    uint64_t first_id = 0;
    int sent = 0, done = 0;
    int64_t t0 = bench_now_ns();
    cpu_mark_t cpu = cpu_mark();
    while (done < count) {
        while (sent < count && sent - done < window) {
            json_t *req = make_request(op, sent);
            uint64_t id;
            kl_bus_send(c, api_methods[op], req, &id, &err);
            if (sent == 0)
                first_id = id;
            sent_at[sent++] = bench_now_ns();
            json_decref(req);
        }
        uint64_t id = 0;
        json_t *reply = kl_bus_recv(c, &id, 30000, &err);
        if (!reply) {
            if (err.code == KL_ERR_TIMEOUT) {
                fprintf(stderr, "store_bench: %s\n", err.text);
                r.failed += count - done;
                break;
            }
            if (r.failed++ < 3)
                fprintf(stderr, "store_bench: request failed: %s\n", err.text);
        }
        if (id >= first_id && id < first_id + (uint64_t)count)
            lat[done] = bench_now_ns() - sent_at[id - first_id];
        json_decref(reply);
        done++;
    }
    r.rate = done / ((bench_now_ns() - t0) / 1e9);
    cpu_note(&r, cpu, done);
    r.p50_ns = bench_percentile(lat, (size_t)done, 50);
    r.p99_ns = bench_percentile(lat, (size_t)done, 99);
out:
    free(sent_at);
    free(lat);
    kl_bus_client_destroy(&c);
    return r;
}

/* Starts an API server on `plugin` with `settings_text`, runs creates,
 * reads and status writes. Returns 0, or -1 when the plugin cannot be
 * loaded (reported). */
static int bench_plugin(const char *plugin, const char *settings_text, int workers, int count,
                        int window, result_t *writes, result_t *reads, result_t *updates,
                        result_t *watches, double *peak)
{
    peak_reset();
    kl_error_t err = {0, ""};
    config_t cfg;
    config_init(&cfg);
    char text[1024];
    snprintf(text, sizeof text, "settings = { %s };", settings_text);
    if (!config_read_string(&cfg, text)) {
        fprintf(stderr, "store_bench: settings of %s: %s\n", plugin, config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    /* A name of its own for every run: ZeroMQ releases an inproc name some
     * time after its socket closes, so the next round, binding the same name
     * at once, could be refused and lose its round. */
    char endpoint[96];
    snprintf(endpoint, sizeof endpoint, "inproc://bench-store-%s-%d-%d", plugin, workers, run_number);
    kl_broker_t *broker = kl_broker_new((const char *[]){endpoint, NULL}, NULL, &err);
    kl_plugin_t *stores[WORKERS_MAX] = {NULL};
    zactor_t *apis[WORKERS_MAX] = {NULL};
    kl_apiserver_config_t configs[WORKERS_MAX];
    int rc = 0;
    if (workers < 1 || workers > WORKERS_MAX)
        workers = 1;
    for (int i = 0; i < workers && rc == 0; i++) {
        stores[i] = broker ? kl_plugin_load(KL_KIND_STORE, plugin, NULL, &err) : NULL;
        if (!stores[i] || kl_plugin_configure(stores[i], config_lookup(&cfg, "settings"), NULL, NULL, &err) < 0) {
            fprintf(stderr, "store_bench: skipping the %s store: %s\n", plugin, err.text);
            rc = -1;
            break;
        }
        /* Several API servers on one shared store, as apiserver.workers runs them. */
        configs[i] = (kl_apiserver_config_t){.bus_endpoint = endpoint, .store = stores[i],
                                             .history = 100000, .replicas = workers};
        apis[i] = zactor_new(kl_apiserver_actor, &configs[i]);
        if (configs[i].failed) {
            fprintf(stderr, "store_bench: skipping the %s store: %s\n", plugin, configs[i].error.text);
            rc = -1;
        }
    }
    run_number++;
    if (rc == 0) {
        *writes = run_api(endpoint, OP_CREATE, count, window);
        *reads = run_api(endpoint, OP_READ, count, window);
        *updates = run_api(endpoint, OP_UPDATE, count, window);
        char prefix[32];
        snprintf(prefix, sizeof prefix, "fan%d", run_number);
        *watches = store_bench_watch_api(endpoint, FANOUT_WATCHERS, FANOUT_WRITES, prefix);
        *peak = peak_mib("self");
    }
    for (int i = workers - 1; i >= 0; i--) {
        zactor_destroy(&apis[i]);
        kl_plugin_destroy(&stores[i]);
    }
    kl_broker_destroy(&broker);
    config_destroy(&cfg);
    return rc;
}

/* ---- baseline: the same load straight into etcd's gateway --------------- */

typedef struct slot {
    CURL *curl;
    char *body;
    int index;
    int64_t started;
    char *answer;  /* etcd's response body, read like the API's replies */
    size_t answer_len, answer_cap;
} slot_t;

static size_t collect_answer(char *data, size_t size, size_t count, void *arg)
{
    slot_t *s = arg;
    size_t n = size * count;
    if (s->answer_len + n + 1 > s->answer_cap) {
        size_t cap = (s->answer_len + n + 1) * 2;
        char *grown = realloc(s->answer, cap);
        if (!grown)
            return 0;
        s->answer = grown;
        s->answer_cap = cap;
    }
    memcpy(s->answer + s->answer_len, data, n);
    s->answer_len += n;
    return n;
}

/* Each direct create's revision, which its status write compares against,
 * as the etcd store compares a write against the revision it read. */
static int64_t *created_revision;

/* The client's side of the work, as the API rows' load generator has it:
 * the answer parsed and checked, and a read's pod decoded and parsed. */
static int direct_answer_ok(zarmour_t *armour, int op, const slot_t *s)
{
    json_t *answer = json_loadb(s->answer, s->answer_len, 0, NULL);
    int good = 0;
    if (op != OP_READ) {
        good = json_is_true(json_object_get(answer, "succeeded"));
        const char *revision = json_string_value(
            json_object_get(json_object_get(answer, "header"), "revision"));
        if (good && op == OP_CREATE && revision)
            created_revision[s->index] = strtoll(revision, NULL, 10);
    } else {
        const char *value = json_string_value(
            json_object_get(json_array_get(json_object_get(answer, "kvs"), 0), "value"));
        /* zarmour ends the decoded bytes with a NUL of its own. */
        zchunk_t *bytes = value ? zarmour_decode(armour, value) : NULL;
        json_t *pod = bytes ? json_loads((const char *)zchunk_data(bytes), 0, NULL) : NULL;
        good = json_string_value(json_object_get(json_object_get(pod, "metadata"), "name")) != NULL;
        json_decref(pod);
        zchunk_destroy(&bytes);
    }
    json_decref(answer);
    return good;
}

/* The request the etcd store would send: a guarded create, a get, or a
 * status write guarded by the create's revision. */
static char *direct_body(int op, int i)
{
    char key[128];
    snprintf(key, sizeof key, "/direct%d/registry/pods/default/bench-%07d", run_number, i);
    char *k = bench_b64(key, strlen(key));
    json_t *body;
    if (op != OP_READ) {
        json_t *pod = make_pod(i);
        if (op == OP_UPDATE)
            json_object_set_new(pod, "status", json_pack("{s:s}", "phase", "Running"));
        char *text = json_dumps(pod, JSON_COMPACT);
        char *v = bench_b64(text, strlen(text));
        char revision[24];
        snprintf(revision, sizeof revision, "%" PRId64, op == OP_UPDATE ? created_revision[i] : 0);
        body = json_pack("{s:[{s:s, s:s, s:s, s:s}], s:[{s:{s:s, s:s}}], s:[{s:{s:s}}]}", "compare",
                         "target", op == OP_UPDATE ? "MOD" : "CREATE", "key", k, "result", "EQUAL",
                         op == OP_UPDATE ? "mod_revision" : "create_revision", revision,
                         "success", "request_put", "key", k, "value", v, "failure", "request_range",
                         "key", k);
        free(v);
        free(text);
        json_decref(pod);
    } else {
        body = json_pack("{s:s}", "key", k);
    }
    char *out = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    free(k);
    return out;
}

static void slot_start(CURLM *multi, slot_t *s, const char *base, int op, int index)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, op != OP_READ ? "/v3/kv/txn" : "/v3/kv/range");
    free(s->body);
    s->body = direct_body(op, index);
    s->index = index;
    s->answer_len = 0;
    curl_easy_setopt(s->curl, CURLOPT_URL, url);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, s->body);
    s->started = bench_now_ns();
    curl_multi_add_handle(multi, s->curl);
}

static result_t run_direct(const char *base, int op, int count, int window)
{
    result_t r = {0};
    if (op == OP_CREATE) {
        free(created_revision);
        created_revision = calloc((size_t)count, sizeof *created_revision);
    }
    if (!created_revision)
        return r;
    CURLM *multi = curl_multi_init();
    slot_t *slots = calloc((size_t)window, sizeof *slots);
    int64_t *lat = calloc((size_t)count, sizeof *lat);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    zarmour_t *armour = zarmour_new();
    int next = 0, done = 0;
    int64_t t0 = bench_now_ns();
    cpu_mark_t cpu = cpu_mark();
    for (int i = 0; i < window && next < count; i++) {
        slots[i].curl = curl_easy_init();
        curl_easy_setopt(slots[i].curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(slots[i].curl, CURLOPT_WRITEFUNCTION, collect_answer);
        curl_easy_setopt(slots[i].curl, CURLOPT_WRITEDATA, &slots[i]);
        curl_easy_setopt(slots[i].curl, CURLOPT_PRIVATE, &slots[i]);
        curl_easy_setopt(slots[i].curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(slots[i].curl, CURLOPT_TIMEOUT_MS, 10000L);
        slot_start(multi, &slots[i], base, op, next++);
    }
    while (done < count) {
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            slot_t *s;
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long status = 0;
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result != CURLE_OK || status != 200 || !direct_answer_ok(armour, op, s))
                r.failed++;
            lat[done++] = bench_now_ns() - s->started;
            curl_multi_remove_handle(multi, m->easy_handle);
            if (next < count)
                slot_start(multi, s, base, op, next++);
        }
        if (done < count)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    r.rate = done / ((bench_now_ns() - t0) / 1e9);
    cpu_note(&r, cpu, done);
    r.p50_ns = bench_percentile(lat, (size_t)done, 50);
    r.p99_ns = bench_percentile(lat, (size_t)done, 99);
    for (int i = 0; i < window; i++) {
        if (slots[i].curl)
            curl_easy_cleanup(slots[i].curl);
        free(slots[i].body);
        free(slots[i].answer);
    }
    zarmour_destroy(&armour);
    free(slots);
    free(lat);
    curl_slist_free_all(headers);
    curl_multi_cleanup(multi);
    return r;
}

#define ROUNDS_MAX 9

static int by_rate(const void *a, const void *b)
{
    double x = ((const result_t *)a)->rate, y = ((const result_t *)b)->rate;
    return (x > y) - (x < y);
}

/* The round of median rate among those that ran (a skipped round has rate
 * 0 and says why on stderr); all zero when none ran. */
static result_t median_round(const result_t *rounds, int count)
{
    result_t ran[ROUNDS_MAX];
    int ran_count = 0;
    for (int i = 0; i < count; i++)
        if (rounds[i].rate > 0)
            ran[ran_count++] = rounds[i];
    if (ran_count == 0)
        return (result_t){0};
    qsort(ran, (size_t)ran_count, sizeof *ran, by_rate);
    return ran[ran_count / 2];
}

static void print_row(const char *name, const char *op, const result_t *r)
{
    if (!r->rate) {
        printf("%-26s %-6s %12s\n", name, op, "skipped");
        return;
    }
    char self[16] = "-", etcd[16] = "-";
    if (r->self_cpu_us > 0)
        snprintf(self, sizeof self, "%.0f", r->self_cpu_us);
    if (r->etcd_cpu_us > 0)
        snprintf(etcd, sizeof etcd, "%.0f", r->etcd_cpu_us);
    printf("%-26s %-6s %10.0f/s %10.0f %10.0f %8d %9s %9s\n", name, op, r->rate, r->p50_ns / 1000.0,
           r->p99_ns / 1000.0, r->failed, self, etcd);
}

int main(int argc, char **argv)
{
    zsys_handler_set(NULL);
    kl_log_set_level(KL_LOG_ERROR);
    int count = argc > 1 ? atoi(argv[1]) : 2000;
    int window = argc > 2 ? atoi(argv[2]) : 32;
    int workers = argc > 3 ? atoi(argv[3]) : 1;
    int rounds = argc > 4 ? atoi(argv[4]) : 1;
    if (count < 1 || window < 1 || workers < 1 || workers > WORKERS_MAX || rounds < 1
        || rounds > ROUNDS_MAX) {
        fprintf(stderr, "usage: store_bench [OBJECTS [IN_FLIGHT [WORKERS (1-%d) [ROUNDS (1-%d)]]]]\n",
                WORKERS_MAX, ROUNDS_MAX);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char work[] = "/tmp/keelson-store-bench.XXXXXX";
    if (!mkdtemp(work)) {
        perror("store_bench: mkdtemp");
        return 1;
    }
    const char *srcdir = getenv("KEELSON_SRCDIR") ? getenv("KEELSON_SRCDIR") : "..";
    char cmd[1024], etcd[64], settings[256], etcd_dir[64];
    /* Ports below the kernel's ephemeral range (32768 on) are never the
     * source port of an outgoing connection; another test may still hold the
     * one picked (tests run in parallel), so each attempt picks another port
     * and folder. */
    int have_etcd = 0;
    for (int attempt = 0; attempt < 5 && !have_etcd && access("/usr/bin/etcd", X_OK) == 0; attempt++) {
        int port = 10000 + (int)((getpid() + attempt * 3337) % 11000) * 2;
        snprintf(etcd, sizeof etcd, "http://127.0.0.1:%d", port);
        snprintf(etcd_dir, sizeof etcd_dir, "%s/etcd-%d", work, attempt);
        snprintf(cmd, sizeof cmd, "sh '%s/scripts/etcd-cluster.sh' start '%s' 1 %d >/dev/null", srcdir,
                 etcd_dir, port);
        have_etcd = system(cmd) == 0;
    }
    if (!have_etcd)
        fprintf(stderr, "store_bench: no etcd could be started: skipping etcd\n");

    result_t w[5] = {{0}}, r[5] = {{0}}, u[5] = {{0}}, fan[5] = {{0}};
    double round_writes[ROUNDS_MAX] = {0}, round_reads[ROUNDS_MAX] = {0};
    double round_updates[ROUNDS_MAX] = {0};
    double peak[5] = {0};
    char workers_name[64];
    snprintf(workers_name, sizeof workers_name, "keelson API x%d, etcd", workers);
    const char *names[5] = {"keelson API, memory", "keelson API, sqlite", "keelson API, etcd",
                            workers_name, "etcd gateway direct"};
    bench_plugin("memory", "", 1, count, window, &w[0], &r[0], &u[0], &fan[0], &peak[0]);
    snprintf(settings, sizeof settings, "path = \"%s/bench.db\";", work);
    bench_plugin("sqlite", settings, 1, count, window, &w[1], &r[1], &u[1], &fan[1], &peak[1]);
    if (have_etcd) {
        /* etcd's own process: the member's pid file sits in the work folder. */
        char pid_path[96];
        snprintf(pid_path, sizeof pid_path, "%s/member0.pid", etcd_dir);
        FILE *pf = fopen(pid_path, "r");
        if (pf && fgets(etcd_pid, sizeof etcd_pid, pf))
            etcd_pid[strcspn(etcd_pid, "\n")] = '\0';
        if (pf)
            fclose(pf);
        snprintf(settings, sizeof settings, "endpoints = [ \"%s\" ];", etcd);
        bench_plugin("etcd", settings, 1, count, window, &w[2], &r[2], &u[2], &fan[2], &peak[2]);
        /* The comparison the target is about alternates round by round: this
         * machine's speed drifts, so phases run minutes apart would compare
         * different machines. */
        result_t kw[ROUNDS_MAX] = {0}, kr[ROUNDS_MAX] = {0}, ku[ROUNDS_MAX] = {0};
        result_t kf[ROUNDS_MAX] = {0};
        result_t dw[ROUNDS_MAX] = {0}, dr[ROUNDS_MAX] = {0}, du[ROUNDS_MAX] = {0};
        for (int round = 0; round < rounds; round++) {
            double round_peak = 0;
            bench_plugin("etcd", settings, workers, count, window, &kw[round], &kr[round],
                         &ku[round], &kf[round], &round_peak);
            if (round_peak > peak[3])
                peak[3] = round_peak;
            run_number++;  /* the direct writes' own names */
            dw[round] = run_direct(etcd, OP_CREATE, count, window);
            dr[round] = run_direct(etcd, OP_READ, count, window);
            du[round] = run_direct(etcd, OP_UPDATE, count, window);
            if (dw[round].rate > 0 && dr[round].rate > 0 && du[round].rate > 0) {
                round_writes[round] = kw[round].rate / dw[round].rate;
                round_reads[round] = kr[round].rate / dr[round].rate;
                round_updates[round] = ku[round].rate / du[round].rate;
            }
        }
        w[3] = median_round(kw, rounds);
        r[3] = median_round(kr, rounds);
        u[3] = median_round(ku, rounds);
        fan[3] = median_round(kf, rounds);
        w[4] = median_round(dw, rounds);
        r[4] = median_round(dr, rounds);
        u[4] = median_round(du, rounds);
        fan[4] = store_bench_watch_etcd(etcd, FANOUT_WATCHERS, FANOUT_WRITES, "fan");
        peak[4] = etcd_pid[0] ? peak_mib(etcd_pid) : 0;
    }

    printf("pod objects through each store, %d objects, %d requests in flight", count, window);
    if (rounds > 1)
        printf("; keelson x%d and etcd direct: the median of %d alternating rounds", workers, rounds);
    printf("\n");
    printf("%-26s %-6s %12s %10s %10s %8s %9s %9s\n", "path", "op", "rate", "p50 us", "p99 us",
           "failed", "cpu us", "etcd us");
    for (int i = 0; i < 5; i++) {
        print_row(names[i], "write", &w[i]);
        print_row(names[i], "read", &r[i]);
        print_row(names[i], "update", &u[i]);
        print_row(names[i], "watch", &fan[i]);
    }
    printf("watch: %d watchers following %d creates made one after another; rate is deliveries/s, "
           "latency from each create's send to each delivery\n", FANOUT_WATCHERS, FANOUT_WRITES);
    printf("cpu us: cpu per request of this process (load generator, and for keelson rows the API "
           "server and store plugin); etcd us: the etcd server's\n");
    printf("peak memory: keelson rows, this process (API server, store plugin, load generator); "
           "etcd, the etcd server\n");
    for (int i = 0; i < 5; i++)
        if (peak[i] > 0)
            printf("  %-26s %8.0f MiB\n", names[i], peak[i]);
    if (w[2].rate && w[4].rate && r[4].rate && u[4].rate)
        printf("keelson-on-etcd / etcd direct: writes %.2f, reads %.2f, updates %.2f (one API server); "
               "writes %.2f, reads %.2f, updates %.2f (apiserver.workers = %d)\n",
               w[2].rate / w[4].rate, r[2].rate / r[4].rate, u[2].rate / u[4].rate,
               w[3].rate / w[4].rate, r[3].rate / r[4].rate, u[3].rate / u[4].rate, workers);
    if (w[2].rate && w[4].rate && rounds > 1) {
        printf("  each round, x%d / direct:", workers);
        for (int i = 0; i < rounds; i++) {
            const char *end = i + 1 < rounds ? ";" : "\n";
            if (round_writes[i] > 0)
                printf(" writes %.2f reads %.2f updates %.2f%s", round_writes[i], round_reads[i],
                       round_updates[i], end);
            else
                printf(" failed (see above)%s", end);
        }
    }

    if (have_etcd) {
        snprintf(cmd, sizeof cmd, "sh '%s/scripts/etcd-cluster.sh' stop '%s' >/dev/null 2>&1", srcdir,
                 etcd_dir);
        if (system(cmd) != 0)
            fprintf(stderr, "store_bench: stopping etcd in %s failed\n", etcd_dir);
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    if (system(cmd) != 0)
        fprintf(stderr, "store_bench: cleaning up %s failed\n", work);
    curl_global_cleanup();
    free(created_revision);
    int failed = 0;
    for (int i = 0; i < 5; i++)
        failed += w[i].failed + r[i].failed + u[i].failed + fan[i].failed;
    return failed != 0;
}
