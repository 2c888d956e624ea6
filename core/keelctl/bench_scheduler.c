/* `keelctl bench scheduler`: the same synthetic cluster through each chosen
 * scheduler plugin, in process or as real keelsond processes, side by side. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <czmq.h>

#include "bench_scheduler.h"
#include "bus.h"
#include "loader.h"
#include "objects.h"
#include "quantity.h"
#include "sched_cache.h"

#define MAX_PLUGINS 16
/* Without kubelet.node_count support each simulated node costs a process. */
#define SINGLE_NODE_PROCESSES_MAX 8

static double monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *node_name_of(const json_t *object)
{
    return json_string_value(json_object_get(json_object_get(object, "metadata"), "name"));
}

/* ---- in process --------------------------------------------------------- */

int kl_bench_run_inproc(const kl_bench_profile_t *profile, const kl_bench_cluster_t *cluster,
                        const char *plugin_name, kl_bench_result_t *result, kl_error_t *err)
{
    (void)profile;
    size_t node_count = json_array_size(cluster->nodes);
    size_t pod_count = json_array_size(cluster->pods);
    result->nodes = (int64_t)node_count;
    result->pods = (int64_t)pod_count;
    snprintf(result->mode, sizeof result->mode, "inproc");
    kl_error_t inner;
    kl_plugin_t *plugin = kl_plugin_load(KL_KIND_SCHEDULER, plugin_name, NULL, &inner);
    if (!plugin || kl_plugin_configure(plugin, NULL, NULL, NULL, &inner) < 0
        || kl_plugin_open(plugin, &inner) < 0) {
        snprintf(result->error, sizeof result->error, "%s", inner.text);
        kl_plugin_destroy(&plugin);
        return 0;
    }
    /* Only the operations the plugin's table reaches; the rest stay NULL. */
    kl_scheduler_ops_t ops = {0};
    if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, filter))
        ops.filter = ((const kl_scheduler_ops_t *)plugin->ops)->filter;
    if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, score))
        ops.score = ((const kl_scheduler_ops_t *)plugin->ops)->score;
    if (KL_PLUGIN_HAS(plugin, kl_scheduler_ops_t, select))
        ops.select = ((const kl_scheduler_ops_t *)plugin->ops)->select;
    kl_sched_policy_t policy = {.ops = &ops, .state = plugin->state, .label = plugin->label};

    int rc = -1;
    kl_sched_cache_t *cache = kl_sched_cache_new(0);
    double *latencies = malloc((pod_count ? pod_count : 1) * sizeof *latencies);
    kl_bench_node_usage_t *usage = calloc(node_count ? node_count : 1, sizeof *usage);
    if (!cache || !latencies || !usage) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory setting up the benchmark");
        goto done;
    }
    for (size_t i = 0; i < node_count; i++)
        if (kl_sched_cache_node_upsert(cache, json_array_get(cluster->nodes, i), 0, &inner) < 0) {
            kl_error_set(err, KL_ERR_INVALID, "generated node %zu: %s", i, inner.text);
            goto done;
        }
    /* Warm up on a throwaway cache: the first decisions otherwise pay for
     * lazy symbol binding and cold caches, and the first plugin run would
     * look slower than the ones after it. */
    kl_sched_cache_t *warm = kl_sched_cache_new(0);
    for (size_t i = 0; warm && i < node_count && i < 64; i++)
        kl_sched_cache_node_upsert(warm, json_array_get(cluster->nodes, i), 0, &inner);
    for (size_t i = 0; warm && i < pod_count && i < 64; i++) {
        char key[512], node[256], message[1024];
        if (kl_sched_cache_pod_upsert(warm, json_array_get(cluster->pods, i), 0, &inner) == 0
            && kl_sched_cache_next(warm, 0, key, sizeof key) == 0
            && kl_sched_cache_decide(warm, key, &policy, 0, node, sizeof node, message,
                                     sizeof message) == KL_SCHED_PLACED)
            kl_sched_cache_assume(warm, key, node);
    }
    kl_sched_cache_destroy(&warm);
    /* The scheduler handles one pod at a time: a pod waits until both it has
     * arrived and the decisions before it are done. Decision costs are
     * measured; arrivals follow the profile, so latency = queueing + cost. */
    double busy_ms = 0, clock_ms = 0;
    size_t latency_count = 0;
    for (size_t i = 0; i < pod_count; i++) {
        char key[512], node[256], message[1024];
        double start = monotonic_ms();
        if (kl_sched_cache_pod_upsert(cache, json_array_get(cluster->pods, i), 0, &inner) < 0) {
            kl_error_set(err, KL_ERR_INVALID, "generated pod %zu: %s", i, inner.text);
            goto done;
        }
        if (kl_sched_cache_next(cache, 0, key, sizeof key) < 0)
            continue;
        kl_sched_outcome_t outcome = kl_sched_cache_decide(cache, key, &policy, 0, node,
                                                           sizeof node, message, sizeof message);
        int placed = outcome == KL_SCHED_PLACED && kl_sched_cache_assume(cache, key, node) == 0;
        double cost = monotonic_ms() - start;
        busy_ms += cost;
        double begin = clock_ms > cluster->arrival_ms[i] ? clock_ms : cluster->arrival_ms[i];
        clock_ms = begin + cost;
        if (placed) {
            result->bound++;
            latencies[latency_count++] = clock_ms - cluster->arrival_ms[i];
        } else {
            result->unschedulable++;
        }
    }
    for (size_t i = 0; i < node_count; i++) {
        kl_sched_node_t view;
        if (kl_sched_cache_node_view(cache, node_name_of(json_array_get(cluster->nodes, i)),
                                     &view) < 0)
            continue;
        usage[i] = (kl_bench_node_usage_t){
            .cpu_allocatable_milli = view.cpu_allocatable_milli,
            .memory_allocatable_bytes = view.memory_allocatable_bytes,
            .pods_allocatable = view.pods_allocatable,
            .cpu_requested_milli = view.cpu_requested_milli,
            .memory_requested_bytes = view.memory_requested_bytes,
            .pods_count = view.pods_count};
    }
    result->seconds = busy_ms / 1000.0;
    result->pods_per_second = busy_ms > 0 ? (double)result->bound * 1000.0 / busy_ms : 0;
    kl_bench_result_latencies(result, latencies, latency_count);
    kl_bench_result_placement(result, usage, node_count, cluster->median_cpu_milli,
                              cluster->median_memory_bytes);
    rc = 0;
done:
    free(latencies);
    free(usage);
    kl_sched_cache_destroy(&cache);
    kl_plugin_destroy(&plugin);
    return rc;
}

/* ---- as a cluster ------------------------------------------------------- */

typedef struct cluster_run {
    char work[PATH_MAX];
    char endpoint[64];
    pid_t *pids;
    size_t pid_count;
    size_t pid_alloc;
    int keep_work;
} cluster_run_t;

static int free_loopback_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in address = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t length = sizeof address;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) == 0
        && getsockname(fd, (struct sockaddr *)&address, &length) == 0)
        port = ntohs(address.sin_port);
    close(fd);
    return port;
}

/* The daemon beside this keelctl (build tree or install), else on $PATH. */
static void find_keelsond(const kl_bench_options_t *options, char *path, size_t size)
{
    const char *given = options->keelsond ? options->keelsond : getenv("KEELSON_KEELSOND");
    if (given && *given) {
        snprintf(path, size, "%s", given);
        return;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        static const char *const candidates[] = {"%s/../keelsond", "%s/../../keelsond",
                                                 "%s/../sbin/keelsond", "%s/keelsond"};
        for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
            snprintf(path, size, candidates[i], self);
            if (access(path, X_OK) == 0)
                return;
        }
    }
    snprintf(path, size, "keelsond");
}

static int write_file(const char *path, const char *text, kl_error_t *err)
{
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        if (f)
            fclose(f);
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot write \"%s\": %s", path, strerror(errno));
    }
    return 0;
}

static int spawn_daemon(cluster_run_t *run, const char *keelsond, const char *name,
                        const char *config_text, kl_error_t *err)
{
    char config_path[PATH_MAX + 64], log_path[PATH_MAX + 64];
    snprintf(config_path, sizeof config_path, "%s/%s.conf", run->work, name);
    snprintf(log_path, sizeof log_path, "%s/%s.log", run->work, name);
    if (write_file(config_path, config_text, err) < 0)
        return -1;
    if (run->pid_count == run->pid_alloc) {
        size_t alloc = run->pid_alloc ? run->pid_alloc * 2 : 16;
        pid_t *pids = realloc(run->pids, alloc * sizeof *pids);
        if (!pids)
            return kl_error_set(err, KL_ERR_INTERNAL, "out of memory starting keelsond");
        run->pids = pids;
        run->pid_alloc = alloc;
    }
    pid_t pid = fork();
    if (pid < 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot start keelsond: %s", strerror(errno));
    if (pid == 0) {
        /* Should keelctl die, the daemons it started follow. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execlp(keelsond, keelsond, "-c", config_path, "-l", "warn", (char *)NULL);
        dprintf(STDERR_FILENO, "cannot run %s: %s\n", keelsond, strerror(errno));
        _exit(127);
    }
    run->pids[run->pid_count++] = pid;
    return 0;
}

/* cpu time (user + system) a process has used so far, in ms; -1 if unknown. */
static double process_cpu_ms(pid_t pid)
{
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* Fields after the command, which may hold spaces: state is the 3rd,
     * utime and stime the 14th and 15th. */
    const char *after = strrchr(text, ')');
    unsigned long long utime, stime;
    if (!after || sscanf(after + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                         &utime, &stime) != 2)
        return -1;
    long ticks = sysconf(_SC_CLK_TCK);
    return ticks > 0 ? (double)(utime + stime) * 1000.0 / (double)ticks : -1;
}

/* Peak resident set of a process in MiB (VmHWM); 0 if unknown. */
static double process_peak_mib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    double mib = 0;
    unsigned long long kib;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kib) == 1)
            mib = (double)kib / 1024.0;
    fclose(f);
    return mib;
}

/* Did a daemon exit early? Names it in err. */
static int daemons_alive(cluster_run_t *run, kl_error_t *err)
{
    for (size_t i = 0; i < run->pid_count; i++) {
        int status;
        if (run->pids[i] > 0 && waitpid(run->pids[i], &status, WNOHANG) == run->pids[i]) {
            run->pids[i] = 0;
            run->keep_work = 1;
            return kl_error_set(err, KL_ERR_UNAVAILABLE,
                                "keelsond %s exited early (status %d); its log is in %s",
                                i == 0 ? "master" : "worker", WIFEXITED(status)
                                ? WEXITSTATUS(status) : 128 + WTERMSIG(status), run->work);
        }
    }
    return 0;
}

static void stop_daemons(cluster_run_t *run)
{
    /* Workers first, so they do not report a vanished master. */
    for (size_t i = run->pid_count; i-- > 0;)
        if (run->pids[i] > 0)
            kill(run->pids[i], SIGTERM);
    double deadline = monotonic_ms() + 10000;
    for (size_t i = 0; i < run->pid_count; i++) {
        while (run->pids[i] > 0) {
            if (waitpid(run->pids[i], NULL, WNOHANG) == run->pids[i] || errno == ECHILD) {
                run->pids[i] = 0;
                break;
            }
            if (monotonic_ms() > deadline) {
                kill(run->pids[i], SIGKILL);
                waitpid(run->pids[i], NULL, 0);
                run->pids[i] = 0;
                break;
            }
            usleep(20000);
        }
    }
    run->pid_count = 0;
}

static void remove_work(cluster_run_t *run)
{
    if (!run->work[0] || run->keep_work)
        return;
    zdir_t *dir = zdir_new(run->work, NULL);
    if (dir) {
        zdir_remove(dir, true);
        zdir_destroy(&dir);
    }
    rmdir(run->work);
}

static int count_ready_nodes(kl_bus_client_t *client, json_t **list_out, kl_error_t *err)
{
    json_t *payload = json_pack("{s:s}", "kind", "Node");
    json_t *list = kl_bus_request(client, "api.list", payload, 10000, err);
    json_decref(payload);
    if (!list)
        return -1;
    int ready = 0;
    size_t i, j;
    json_t *node, *condition;
    json_array_foreach(json_object_get(list, "items"), i, node)
        json_array_foreach(json_object_get(json_object_get(node, "status"), "conditions"), j,
                           condition) {
            const char *type = json_string_value(json_object_get(condition, "type"));
            const char *status = json_string_value(json_object_get(condition, "status"));
            if (type && status && strcmp(type, "Ready") == 0 && strcmp(status, "True") == 0)
                ready++;
        }
    if (list_out)
        *list_out = list;
    else
        json_decref(list);
    return ready;
}

static int start_cluster(cluster_run_t *run, const kl_bench_profile_t *profile,
                         const kl_bench_options_t *options, const char *plugin,
                         int64_t node_count, size_t *process_count, kl_error_t *err)
{
    char keelsond[PATH_MAX];
    find_keelsond(options, keelsond, sizeof keelsond);
    int port = free_loopback_port();
    if (port < 0)
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "no free loopback port for the master");
    snprintf(run->endpoint, sizeof run->endpoint, "tcp://127.0.0.1:%d", port);
    /* Heartbeats of thousands of simulated nodes must not swamp the master,
     * and a slow heartbeat must not make a node look gone mid-run. The
     * workers look over their pods once a second, as Kubernetes' kubelet
     * relists containers: new pods start at once anyway, and a faster tick
     * over 30,000 pods per process takes cpu the master needs. */
    char text[4096 + PATH_MAX], store_settings[PATH_MAX + 64] = "";
    /* The embedded store keeps its file in the run's folder. */
    if (strcmp(profile->store, "sqlite") == 0)
        snprintf(store_settings, sizeof store_settings, " settings = { path = \"%s/store.db\"; };",
                 run->work);
    snprintf(text, sizeof text,
             "node_name = \"bench-master\";\nroles = [ \"master\" ];\n"
             "bus = { listen = [ \"%s\" ]; };\nstore = { plugin = \"%s\";%s };\n"
             "scheduler = { plugin = \"%s\"; node_timeout_ms = 600000; };\n",
             run->endpoint, profile->store, store_settings, plugin);
    if (spawn_daemon(run, keelsond, "master", text, err) < 0)
        return -1;

    int64_t counts[KL_BENCH_MAX_SHAPES];
    kl_bench_profile_apportion(profile, node_count, counts);
    int one_per_process = node_count <= SINGLE_NODE_PROCESSES_MAX;
    int64_t per_process = options->nodes_per_process > 0 ? options->nodes_per_process : 1000;
    *process_count = 0;
    for (size_t s = 0; s < profile->shape_count; s++) {
        const kl_bench_node_shape_t *shape = &profile->shapes[s];
        char labels[2048] = "";
        const char *key;
        json_t *value;
        json_object_foreach(shape->labels, key, value) {
            size_t used = strlen(labels);
            snprintf(labels + used, sizeof labels - used, "%s\"%s=%s\"", used ? ", " : "", key,
                     json_string_value(value));
        }
        for (int64_t first = 0; first < counts[s];) {
            int64_t serve = one_per_process ? 1 : counts[s] - first;
            if (serve > per_process)
                serve = per_process;
            char name[96];
            /* One node per process is named as the in-process run names it. */
            if (one_per_process)
                snprintf(name, sizeof name, "%s-%04" PRId64, shape->name, first);
            else
                snprintf(name, sizeof name, "%s-p%zu", shape->name, *process_count);
            snprintf(text, sizeof text,
                     "node_name = \"%s\";\nroles = [ \"worker\" ];\nbus = { master = \"%s\"; };\n"
                     "runtime = { plugin = \"sim\"; settings = { start_delay_ms = 0; }; };\n"
                     "kubelet = { cpu = \"%" PRId64 "m\"; memory = \"%" PRId64 "\"; max_pods = %"
                     PRId64 "; heartbeat_ms = 10000; sync_ms = 1000; labels = [ %s ];%s };\n",
                     name, run->endpoint, shape->cpu_milli, shape->memory_bytes, shape->max_pods,
                     labels, "");
            if (!one_per_process) {
                size_t used = strlen(text) - 4;  /* before " };\n" */
                snprintf(text + used, sizeof text - used, " node_count = %" PRId64 "; };\n",
                         serve);
            }
            if (spawn_daemon(run, keelsond, name, text, err) < 0)
                return -1;
            (*process_count)++;
            first += serve;
        }
    }
    return 0;
}

typedef struct pod_track {
    double sent_ms;
    double bound_ms;     /* 0 until the watch shows spec.nodeName */
    int unschedulable;   /* the scheduler said so (it may still bind later) */
    char *node;
} pod_track_t;

static int pod_index(const json_t *object, size_t pod_count)
{
    const char *name = node_name_of(object);
    unsigned long index;
    char tail;
    if (!name || sscanf(name, "bench-%lu%c", &index, &tail) != 1 || index >= pod_count)
        return -1;
    return (int)index;
}

static void watch_event(pod_track_t *pods, size_t pod_count, const json_t *object, double now,
                        size_t *bound, size_t *unschedulable)
{
    int index = pod_index(object, pod_count);
    if (index < 0)
        return;
    pod_track_t *pod = &pods[index];
    const char *node = json_string_value(json_object_get(json_object_get(object, "spec"),
                                                         "nodeName"));
    if (node && *node) {
        if (pod->bound_ms == 0) {
            pod->bound_ms = now;
            pod->node = strdup(node);
            (*bound)++;
            if (pod->unschedulable)
                (*unschedulable)--;
        }
        return;
    }
    size_t i;
    json_t *condition;
    json_array_foreach(json_object_get(json_object_get(object, "status"), "conditions"), i,
                       condition) {
        const char *type = json_string_value(json_object_get(condition, "type"));
        const char *status = json_string_value(json_object_get(condition, "status"));
        if (type && status && strcmp(type, "PodScheduled") == 0 && strcmp(status, "False") == 0
            && !pod->unschedulable && pod->bound_ms == 0) {
            pod->unschedulable = 1;
            (*unschedulable)++;
        }
    }
}

static int send_watch(kl_bus_client_t *client, const char *resource_version, kl_error_t *err)
{
    json_t *payload = json_pack("{s:s, s:s, s:s, s:i}", "kind", "Pod", "namespace", "bench",
                                "resourceVersion", resource_version, "timeoutMs", 500);
    uint64_t id;
    int rc = kl_bus_send(client, "api.watch", payload, &id, err);
    json_decref(payload);
    return rc;
}

/* Creates every pod (pipelined, paced by the profile's arrival) and follows
 * the watch until each pod is bound or reported unschedulable. */
static int drive_pods(cluster_run_t *run, const kl_bench_cluster_t *cluster, int timeout_s,
                      pod_track_t *pods, double *first_sent, double *last_bound,
                      kl_error_t *err)
{
    size_t pod_count = json_array_size(cluster->pods);
    int rc = -1;
    kl_bus_client_t *creator = kl_bus_client_new(run->endpoint, err);
    kl_bus_client_t *watcher = creator ? kl_bus_client_new(run->endpoint, err) : NULL;
    zpoller_t *poller = NULL;
    json_t *list = NULL;
    if (!watcher)
        goto done;
    json_t *payload = json_pack("{s:s, s:s}", "kind", "Pod", "namespace", "bench");
    list = kl_bus_request(watcher, "api.list", payload, 10000, err);
    json_decref(payload);
    if (!list)
        goto done;
    char resource_version[32];
    snprintf(resource_version, sizeof resource_version, "%s",
             json_string_value(json_object_get(json_object_get(list, "metadata"),
                                               "resourceVersion")) ?: "0");
    if (send_watch(watcher, resource_version, err) < 0)
        goto done;
    poller = zpoller_new(kl_bus_client_socket(creator), kl_bus_client_socket(watcher), NULL);
    if (!poller) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory polling the bus");
        goto done;
    }
    const size_t window = 256;
    size_t sent = 0, replied = 0, bound = 0, unschedulable = 0, failed = 0;
    char first_failure[256] = "";
    double start = monotonic_ms(), deadline = start + timeout_s * 1000.0;
    *first_sent = start;
    while (bound + unschedulable < pod_count || replied < sent) {
        double now = monotonic_ms();
        if (now > deadline) {
            kl_error_set(err, KL_ERR_TIMEOUT, "after %d s, %zu of %zu pods were bound and %zu "
                         "reported unschedulable", timeout_s, bound, pod_count, unschedulable);
            goto done;
        }
        while (sent < pod_count && sent - replied < window
               && now - start >= cluster->arrival_ms[sent]) {
            json_t *create = json_pack("{s:O}", "object", json_array_get(cluster->pods, sent));
            uint64_t id;
            int sent_rc = kl_bus_send(creator, "api.create", create, &id, err);
            json_decref(create);
            if (sent_rc < 0)
                goto done;
            pods[sent++].sent_ms = monotonic_ms();
        }
        int wait_ms = 100;
        if (sent < pod_count && sent - replied < window) {
            double due = cluster->arrival_ms[sent] - (now - start);
            wait_ms = due < 1 ? 0 : due < 100 ? (int)due : 100;
        }
        zsock_t *which = zpoller_wait(poller, wait_ms);
        if (zpoller_terminated(poller)) {
            kl_error_set(err, KL_ERR_UNAVAILABLE, "interrupted");
            goto done;
        }
        if (which == kl_bus_client_socket(creator)) {
            for (;;) {
                uint64_t id = 0;
                kl_error_t reply_err;
                kl_error_clear(&reply_err);
                json_t *reply = kl_bus_recv(creator, &id, 0, &reply_err);
                if (!reply && id == 0)
                    break;
                replied++;
                if (!reply) {
                    if (!failed++)
                        snprintf(first_failure, sizeof first_failure, "%s", reply_err.text);
                    unschedulable++;  /* never created, so never bound */
                }
                json_decref(reply);
            }
        } else if (which == kl_bus_client_socket(watcher)) {
            uint64_t id = 0;
            json_t *reply = kl_bus_recv(watcher, &id, 0, err);
            if (!reply && id == 0)
                continue;
            if (!reply)
                goto done;  /* an expired watch would hide bindings: give up */
            double received = monotonic_ms();
            size_t i;
            json_t *event;
            json_array_foreach(json_object_get(reply, "events"), i, event) {
                watch_event(pods, pod_count, json_object_get(event, "object"), received, &bound,
                            &unschedulable);
                if (received > *last_bound && bound > 0)
                    *last_bound = received;
            }
            const char *next = json_string_value(json_object_get(reply, "resourceVersion"));
            if (next)
                snprintf(resource_version, sizeof resource_version, "%s", next);
            json_decref(reply);
            if (send_watch(watcher, resource_version, err) < 0)
                goto done;
        } else if (daemons_alive(run, err) < 0) {
            goto done;
        }
    }
    if (failed)
        fprintf(stderr, "warning: %zu pod creations failed, the first with: %s\n", failed,
                first_failure);
    rc = 0;
done:
    zpoller_destroy(&poller);
    json_decref(list);
    kl_bus_client_destroy(&watcher);
    kl_bus_client_destroy(&creator);
    return rc;
}

static int measure_cluster(cluster_run_t *run, const kl_bench_cluster_t *cluster,
                           const pod_track_t *pods, kl_bench_result_t *result, kl_error_t *err)
{
    size_t pod_count = json_array_size(cluster->pods);
    kl_bus_client_t *client = kl_bus_client_new(run->endpoint, err);
    json_t *list = NULL;
    kl_bench_node_usage_t *usage = NULL;
    zhashx_t *by_name = zhashx_new();
    int rc = -1;
    if (!client || !by_name || count_ready_nodes(client, &list, err) < 0)
        goto done;
    json_t *items = json_object_get(list, "items");
    size_t node_count = json_array_size(items);
    usage = calloc(node_count ? node_count : 1, sizeof *usage);
    if (!usage)
        goto done;
    size_t i;
    json_t *node;
    json_array_foreach(items, i, node) {
        json_t *allocatable = json_object_get(json_object_get(node, "status"), "allocatable");
        kl_error_t inner;
        const char *cpu = json_string_value(json_object_get(allocatable, "cpu"));
        const char *memory = json_string_value(json_object_get(allocatable, "memory"));
        const char *max_pods = json_string_value(json_object_get(allocatable, "pods"));
        if (cpu)
            kl_quantity_parse_cpu(cpu, &usage[i].cpu_allocatable_milli, &inner);
        if (memory)
            kl_quantity_parse_memory(memory, &usage[i].memory_allocatable_bytes, &inner);
        usage[i].pods_allocatable = max_pods ? strtoll(max_pods, NULL, 10)
                                             : json_integer_value(json_object_get(allocatable,
                                                                                  "pods"));
        zhashx_insert(by_name, node_name_of(node), &usage[i]);
    }
    for (size_t p = 0; p < pod_count; p++) {
        if (!pods[p].node)
            continue;
        kl_bench_node_usage_t *n = zhashx_lookup(by_name, pods[p].node);
        int64_t cpu, memory;
        kl_error_t inner;
        if (!n || kl_pod_requests(json_array_get(cluster->pods, p), &cpu, &memory, &inner) < 0)
            continue;
        n->cpu_requested_milli += cpu;
        n->memory_requested_bytes += memory;
        n->pods_count++;
    }
    kl_bench_result_placement(result, usage, node_count, cluster->median_cpu_milli,
                              cluster->median_memory_bytes);
    rc = 0;
done:
    free(usage);
    zhashx_destroy(&by_name);
    json_decref(list);
    kl_bus_client_destroy(&client);
    return rc;
}

int kl_bench_run_cluster(const kl_bench_profile_t *profile, const kl_bench_cluster_t *cluster,
                         const kl_bench_options_t *options, const char *plugin,
                         kl_bench_result_t *result, kl_error_t *err)
{
    size_t node_count = json_array_size(cluster->nodes);
    size_t pod_count = json_array_size(cluster->pods);
    result->nodes = (int64_t)node_count;
    result->pods = (int64_t)pod_count;
    snprintf(result->mode, sizeof result->mode, "cluster");
    cluster_run_t run = {0};
    const char *tmp = getenv("TMPDIR");
    snprintf(run.work, sizeof run.work, "%s/keelson-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(run.work)) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot make a work folder \"%s\": %s", run.work,
                     strerror(errno));
        return -1;
    }
    pod_track_t *pods = calloc(pod_count, sizeof *pods);
    double *latencies = malloc(pod_count * sizeof *latencies);
    kl_bus_client_t *client = NULL;
    int rc = -1;
    size_t processes = 0;
    if (!pods || !latencies) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory for %zu pods", pod_count);
        goto done;
    }
    if (start_cluster(&run, profile, options, plugin, (int64_t)node_count, &processes, err) < 0)
        goto done;
    if (!(client = kl_bus_client_new(run.endpoint, err)))
        goto done;
    /* Registration is waited for by polling; bindings are measured from the watch. */
    double deadline = monotonic_ms() + 30000 + (double)node_count * 5;
    int ready = 0, stalled_polls = 0, last_ready = -1;
    kl_error_t inner;
    while ((size_t)ready < node_count) {
        if (daemons_alive(&run, err) < 0)
            goto done;
        if (monotonic_ms() > deadline) {
            run.keep_work = 1;
            if ((size_t)ready == processes && processes < node_count)
                kl_error_set(err, KL_ERR_UNAVAILABLE, "each worker keelsond registered one node, "
                             "not kubelet.node_count of them: this keelsond cannot simulate many "
                             "nodes per process; use --nodes %d or fewer",
                             SINGLE_NODE_PROCESSES_MAX);
            else
                kl_error_set(err, KL_ERR_TIMEOUT, "only %d of %zu nodes became Ready; logs are "
                             "in %s", ready, node_count, run.work);
            goto done;
        }
        usleep(200000);
        ready = count_ready_nodes(client, NULL, &inner);
        if (ready < 0)
            ready = 0;
        /* A steady count equal to the process count means node_count is ignored. */
        stalled_polls = ready == last_ready ? stalled_polls + 1 : 0;
        last_ready = ready;
        if (stalled_polls > 50 && (size_t)ready == processes && processes < node_count)
            deadline = 0;
    }
    double first_sent = 0, last_bound = 0;
    double master_cpu_before = process_cpu_ms(run.pids[0]);
    if (drive_pods(&run, cluster, options->timeout_s, pods, &first_sent, &last_bound, err) < 0)
        goto done;
    double master_cpu_after = process_cpu_ms(run.pids[0]);
    size_t latency_count = 0;
    for (size_t i = 0; i < pod_count; i++)
        if (pods[i].bound_ms > 0)
            latencies[latency_count++] = pods[i].bound_ms - pods[i].sent_ms;
    result->bound = (int64_t)latency_count;
    result->unschedulable = (int64_t)(pod_count - latency_count);
    result->seconds = last_bound > first_sent ? (last_bound - first_sent) / 1000.0 : 0;
    result->pods_per_second = result->seconds > 0 ? (double)result->bound / result->seconds : 0;
    kl_bench_result_latencies(result, latencies, latency_count);
    if (latency_count && master_cpu_before >= 0 && master_cpu_after >= master_cpu_before)
        result->master_cpu_ms_per_pod = (master_cpu_after - master_cpu_before) / (double)latency_count;
    if (measure_cluster(&run, cluster, pods, result, err) < 0)
        goto done;
    result->master_peak_mib = process_peak_mib(run.pids[0]);
    rc = 0;
done:
    kl_bus_client_destroy(&client);
    stop_daemons(&run);
    if (rc < 0 && run.keep_work)
        fprintf(stderr, "keelsond logs kept in %s\n", run.work);
    remove_work(&run);
    for (size_t i = 0; pods && i < pod_count; i++)
        free(pods[i].node);
    free(pods);
    free(latencies);
    free(run.pids);
    return rc;
}

/* ---- the command -------------------------------------------------------- */

static const char bench_usage[] =
    "Usage: keelctl bench scheduler --plugins NAME[,NAME...] [--nodes N] [--pods M]\n"
    "         [--profile FILE] [--mode inproc|cluster] [--format table|csv|json]\n"
    "         [--svg FILE] [--seed S] [--timeout SECONDS] [--keelsond PATH]\n"
    "         [--nodes-per-process K]\n"
    "\n"
    "Runs each scheduler plugin over the same synthetic cluster and workload and\n"
    "prints them side by side: throughput, latency from creation to binding,\n"
    "pods left unschedulable, nodes used, utilisation and fragmentation.\n"
    "  --mode inproc    the scheduling core and the plugin alone, no bus (default)\n"
    "  --mode cluster   a real master and simulated workers on loopback\n"
    "A plugin is a name found on the plugin path or a path to a .so.\n";

static int bench_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bench_fail(const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nSee 'keelctl bench scheduler --help'.\n", stderr);
    return 1;
}

static int parse_count(const char *flag, const char *text, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end || v < 1 || v > max) {
        bench_fail("%s \"%s\" must be a whole number from 1 to %lld", flag, text, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

enum { OPT_NODES = 256, OPT_PODS, OPT_PROFILE, OPT_PLUGINS, OPT_MODE, OPT_FORMAT, OPT_SVG,
       OPT_SEED, OPT_TIMEOUT, OPT_KEELSOND, OPT_PER_PROCESS };

int kl_cmd_bench(int argc, char **args)
{
    static const struct option options_table[] = {
        {"nodes", required_argument, NULL, OPT_NODES},
        {"pods", required_argument, NULL, OPT_PODS},
        {"profile", required_argument, NULL, OPT_PROFILE},
        {"plugins", required_argument, NULL, OPT_PLUGINS},
        {"mode", required_argument, NULL, OPT_MODE},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"svg", required_argument, NULL, OPT_SVG},
        {"seed", required_argument, NULL, OPT_SEED},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"keelsond", required_argument, NULL, OPT_KEELSOND},
        {"nodes-per-process", required_argument, NULL, OPT_PER_PROCESS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    kl_bench_options_t options = {.seed = 1, .timeout_s = 0};
    const char *profile_path = NULL, *plugins_text = "firstfit", *svg_path = NULL;
    const char *format_text = NULL;
    int64_t value;
    int opt;
    optind = 0;  /* glibc: restart scanning on a fresh argument vector */
    opterr = 0;
    while ((opt = getopt_long(argc, args, ":h", options_table, NULL)) != -1) {
        switch (opt) {
        case OPT_NODES:
            if (parse_count("--nodes", optarg, 1000000, &options.nodes) < 0)
                return 1;
            break;
        case OPT_PODS:
            if (parse_count("--pods", optarg, 10000000, &options.pods) < 0)
                return 1;
            break;
        case OPT_PROFILE: profile_path = optarg; break;
        case OPT_PLUGINS: plugins_text = optarg; break;
        case OPT_MODE:
            if (strcmp(optarg, "inproc") != 0 && strcmp(optarg, "cluster") != 0)
                return bench_fail("--mode \"%s\" must be inproc or cluster", optarg);
            options.cluster = strcmp(optarg, "cluster") == 0;
            break;
        case OPT_FORMAT: format_text = optarg; break;
        case OPT_SVG: svg_path = optarg; break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return bench_fail("--seed \"%s\" must be a whole number", optarg);
            options.seed = seed;
            break;
        }
        case OPT_TIMEOUT:
            if (parse_count("--timeout", optarg, 86400, &value) < 0)
                return 1;
            options.timeout_s = (int)value;
            break;
        case OPT_KEELSOND: options.keelsond = optarg; break;
        case OPT_PER_PROCESS:
            if (parse_count("--nodes-per-process", optarg, 100000, &options.nodes_per_process) < 0)
                return 1;
            break;
        case 'h': fputs(bench_usage, stdout); return 0;
        case ':': return bench_fail("flag %s needs a value", args[optind - 1]);
        default: return bench_fail("unknown flag %s", args[optind - 1]);
        }
    }
    /* Flags may come before or after the benchmark's name (getopt permutes). */
    if (optind >= argc)
        return bench_fail("say what to benchmark: keelctl bench scheduler ...");
    if (strcmp(args[optind], "scheduler") != 0)
        return bench_fail("unknown benchmark \"%s\" (known: scheduler)", args[optind]);
    if (optind + 1 < argc)
        return bench_fail("unexpected argument \"%s\"", args[optind + 1]);
    kl_bench_format_t format;
    if (kl_bench_format_parse(format_text, &format) < 0)
        return bench_fail("--format \"%s\" must be table, csv or json", format_text);

    char *plugin_list = strdup(plugins_text);
    const char *plugins[MAX_PLUGINS];
    size_t plugin_count = 0;
    for (char *save = NULL, *item = strtok_r(plugin_list, ",", &save); item;
         item = strtok_r(NULL, ",", &save)) {
        if (plugin_count == MAX_PLUGINS) {
            free(plugin_list);
            return bench_fail("--plugins names more than %d plugins", MAX_PLUGINS);
        }
        plugins[plugin_count++] = item;
    }
    if (plugin_count == 0) {
        free(plugin_list);
        return bench_fail("--plugins \"%s\" names no plugin", plugins_text);
    }

    int exit_code = 1;
    kl_error_t err;
    kl_bench_cluster_t *cluster = NULL;
    kl_bench_result_t *results = calloc(plugin_count, sizeof *results);
    kl_bench_profile_t *profile = profile_path ? kl_bench_profile_load(profile_path, &err)
                                               : kl_bench_profile_default();
    if (!profile) {
        fprintf(stderr, "error: %s\n", profile_path ? err.text : "out of memory");
        goto done;
    }
    int64_t node_count = options.nodes ? options.nodes : profile->nodes;
    int64_t pod_count = options.pods ? options.pods : profile->pods;
    if (options.timeout_s == 0)
        options.timeout_s = 60 + (int)(pod_count / 100);
    if (!results || !(cluster = kl_bench_cluster_generate(profile, node_count, pod_count,
                                                          options.seed, &err))) {
        fprintf(stderr, "error: %s\n", results ? err.text : "out of memory");
        goto done;
    }
    char title[512];
    const char *profile_name = profile_path ? strrchr(profile_path, '/') : NULL;
    snprintf(title, sizeof title, "keelson scheduler benchmark: %s, %" PRId64 " nodes, %" PRId64
             " pods, profile %s, seed %" PRIu64, options.cluster ? "cluster" : "inproc",
             node_count, pod_count,
             profile_name ? profile_name + 1 : profile_path ? profile_path : "built-in",
             options.seed);
    int failures = 0;
    for (size_t i = 0; i < plugin_count; i++) {
        snprintf(results[i].plugin, sizeof results[i].plugin, "%s", plugins[i]);
        kl_error_clear(&err);
        int rc = options.cluster
                     ? kl_bench_run_cluster(profile, cluster, &options, plugins[i], &results[i], &err)
                     : kl_bench_run_inproc(profile, cluster, plugins[i], &results[i], &err);
        if (rc < 0)
            snprintf(results[i].error, sizeof results[i].error, "%s", err.text);
        if (results[i].error[0]) {
            fprintf(stderr, "error: %s: %s\n", plugins[i], results[i].error);
            failures++;
        }
    }
    kl_bench_report_print(stdout, format, results, plugin_count, title);
    if (svg_path) {
        FILE *svg = fopen(svg_path, "w");
        if (!svg) {
            fprintf(stderr, "error: cannot write --svg \"%s\": %s\n", svg_path, strerror(errno));
            goto done;
        }
        kl_bench_report_svg(svg, results, plugin_count, title);
        if (fclose(svg) != 0) {
            fprintf(stderr, "error: cannot write --svg \"%s\": %s\n", svg_path, strerror(errno));
            goto done;
        }
    }
    exit_code = failures ? 1 : 0;
done:
    kl_bench_cluster_destroy(&cluster);
    kl_bench_profile_destroy(&profile);
    free(results);
    free(plugin_list);
    return exit_code;
}
