/* A cluster run's keelsond processes: a master and simulated workers, started and stopped. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <czmq.h>

#include "bench_internal.h"

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
double kl_bench_process_cpu_ms(pid_t pid)
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
double kl_bench_process_peak_mib(pid_t pid)
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
int kl_bench_daemons_alive(cluster_run_t *run, kl_error_t *err)
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

void kl_bench_stop_daemons(cluster_run_t *run)
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

void kl_bench_remove_work(cluster_run_t *run)
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

int kl_bench_start_cluster(cluster_run_t *run, const kl_bench_profile_t *profile,
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
     * workers look over their pods once a second: new pods start at once
     * anyway, and a faster tick over 30,000 pods per process takes cpu the
     * master needs. The benchmark's containers never end, so they are read
     * back every 10 s, not every second: at 150,000 pods the master then
     * bound 6% more pods per second, cpu a real cluster's nodes would not
     * take from it. The master's control plane runs at a real-time
     * priority (cpu_priority) by default, as on a master machine of its
     * own: here the simulated nodes share its cores, and at 150,000 pods
     * its API thread otherwise waited for a core a fifth of the time it
     * was ready to run. */
    char text[4096 + PATH_MAX], store_settings[PATH_MAX + 64] = "", events_store[128] = "";
    /* The embedded store keeps its file in the run's folder. */
    if (strcmp(profile->store, "sqlite") == 0)
        snprintf(store_settings, sizeof store_settings, " settings = { path = \"%s/store.db\"; };",
                 run->work);
    if (profile->events_store[0])
        snprintf(events_store, sizeof events_store, "events_store = { plugin = \"%s\"; };\n",
                 profile->events_store);
    snprintf(text, sizeof text,
             "node_name = \"bench-master\";\nroles = [ \"master\" ];\ncpu_priority = \"%s\";\n"
             "bus = { listen = [ \"%s\" ]; };\nstore = { plugin = \"%s\";%s };\n%s"
             "scheduler = { plugin = \"%s\"; node_timeout_ms = 600000; };\n",
             options->master_normal ? "normal" : "realtime", run->endpoint, profile->store,
             store_settings, events_store, plugin);
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
                     PRId64 "; heartbeat_ms = 10000; sync_ms = 1000; relist_ms = 10000; labels = [ %s ];%s };\n",
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
