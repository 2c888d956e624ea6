/* runtime/runc: runs each container with runc from an OCI bundle whose root
 * file system is an overlay of its image, unpacked once by umoci from a local
 * image store (cache.c). All state lives in files under state_dir, so
 * containers and their status outlive a kubelet restart. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runc.h"

#define RUNC_COMMAND_TIMEOUT_MS 10000
#define RUNC_KILL_WAIT_MS 5000  /* after SIGKILL: the kernel needs a moment to reap */
#define RUNC_POLL_MS 20
#define RUNC_ROOT_DIR "runc-root"  /* under state_dir; container ids start with "kl-" */
#define RUNC_CGROUP_PARENT "keelson"  /* each container's cgroup is keelson/ID in every hierarchy */
#define RUNC_CGROUP_ROOT "/sys/fs/cgroup"
#define RUNC_EVENTS_READS_MAX 64  /* reads per events_read(): the fd stays readable for the rest */

typedef struct runc_runtime {
    const kl_host_t *host;
    const char *image_store;  /* borrowed from the host table */
    const char *state_dir;
    const char *runc;
    const char *umoci;
    const char *skopeo;
    char root[4096];          /* runc --root: keeps our containers apart from others' */
    int overlay;              /* overlay root file systems work here: -1 not asked yet, 0, 1 */
    char events[4096];        /* state_dir/events: the FIFO supervisors report exits to */
    int events_fd;            /* its read end, -1 when there is none */
    char event_line[KL_CONTAINER_ID_MAX];  /* a line whose end has not been read yet */
    size_t event_used;
    int event_overlong;       /* the line in progress is too long to be an id: drop it */
} runc_runtime_t;

static const kl_setting_spec_t runc_settings[] = {
    { "image_store", KL_SETTING_STRING, 0,
      "folder of OCI image layouts, one per image name (default /var/lib/keelson/images)" },
    { "state_dir", KL_SETTING_STRING, 0,
      "folder for container bundles and logs, one keelsond's own (default /run/keelson/runc)" },
    { "runc", KL_SETTING_STRING, 0, "runc program, found on PATH unless a path (default runc)" },
    { "umoci", KL_SETTING_STRING, 0, "umoci program, found on PATH unless a path (default umoci)" },
    { "skopeo", KL_SETTING_STRING, 0,
      "skopeo program that copies images from a registry, found on PATH unless a path (default skopeo)" },
    KL_SETTINGS_END
};

static int mkdir_parents(const char *path, mode_t mode)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(copy, mode) < 0 && errno != EEXIST ? -1 : 0;
}

static int check_dir_setting(const char *name, const char *value, kl_error_t *err)
{
    if (!value || value[0] != '/' || strlen(value) > 1024 || strstr(value, "/../") || strstr(value, "/./"))
        return kl_error_set(err, KL_ERR_INVALID,
                            "runtime/runc setting %s \"%s\" must be an absolute path of at most 1024 characters",
                            name, value ? value : "");
    return 0;
}

static int check_program_setting(const char *name, const char *value, kl_error_t *err)
{
    if (!value || value[0] == '\0' || strlen(value) > 1024)
        return kl_error_set(err, KL_ERR_INVALID, "runtime/runc setting %s must name a program", name);
    return 0;
}

/* Opens the FIFO supervisors write "ID\n" to when their container exits,
 * creating it on first use. It stays when the runtime closes: supervisors of
 * adopted containers outlive the kubelet and a restarted one reopens it.
 * Read and write, so it never reads as end of file while no supervisor has
 * it open. Events are an optimisation over polling status(): on any trouble
 * the runtime goes on without them (-1). */
static int events_open(runc_runtime_t *rt)
{
    if (mkfifo(rt->events, 0600) < 0 && errno != EEXIST) {
        if (rt->host->log)
            rt->host->log(rt->host, KL_LOG_WARN, "runtime/runc: cannot create the event FIFO %s: %s; exits are "
                          "seen on the next status poll", rt->events, strerror(errno));
        return -1;
    }
    int fd = open(rt->events, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
        return fd;
    int error = fd < 0 ? errno : 0;
    if (fd >= 0)
        close(fd);
    if (rt->host->log)
        rt->host->log(rt->host, KL_LOG_WARN, "runtime/runc: cannot open the event FIFO %s: %s; exits are seen "
                      "on the next status poll", rt->events,
                      error ? strerror(error) : "something else is there (remove it)");
    return -1;
}

static void *runc_open(const kl_host_t *host, kl_error_t *err)
{
    if (!host || !host->setting_string) {
        kl_error_set(err, KL_ERR_INVALID, "runtime/runc needs a host table with settings");
        return NULL;
    }
    runc_runtime_t *rt = calloc(1, sizeof *rt);
    if (!rt) {
        kl_error_set(err, KL_ERR_INTERNAL, "runtime/runc: out of memory");
        return NULL;
    }
    rt->host = host;
    rt->overlay = -1;
    rt->events_fd = -1;
    rt->image_store = host->setting_string(host, "image_store", "/var/lib/keelson/images");
    rt->state_dir = host->setting_string(host, "state_dir", "/run/keelson/runc");
    rt->runc = host->setting_string(host, "runc", "runc");
    rt->umoci = host->setting_string(host, "umoci", "umoci");
    rt->skopeo = host->setting_string(host, "skopeo", "skopeo");
    if (check_dir_setting("image_store", rt->image_store, err) < 0
        || check_dir_setting("state_dir", rt->state_dir, err) < 0
        || check_program_setting("runc", rt->runc, err) < 0 || check_program_setting("umoci", rt->umoci, err) < 0
        || check_program_setting("skopeo", rt->skopeo, err) < 0) {
        free(rt);
        return NULL;
    }
    snprintf(rt->root, sizeof rt->root, "%s/" RUNC_ROOT_DIR, rt->state_dir);
    if (mkdir_parents(rt->root, 0700) < 0) {
        kl_error_set(err, KL_ERR_UNAVAILABLE, "runtime/runc cannot create state_dir %s: %s", rt->state_dir,
                     strerror(errno));
        free(rt);
        return NULL;
    }
    snprintf(rt->events, sizeof rt->events, "%s/" RUNC_EVENTS_FIFO, rt->state_dir);
    rt->events_fd = events_open(rt);
    return rt;
}

static void runc_close(void *runtime)
{
    runc_runtime_t *rt = runtime;
    if (rt && rt->events_fd >= 0)
        close(rt->events_fd);
    free(rt);
}

static void runtime_log(runc_runtime_t *rt, kl_log_level_t level, const char *text)
{
    if (rt->host->log)
        rt->host->log(rt->host, level, "%s", text);
}

/* Ids become file names and runc arguments: keep them to a plain alphabet. */
static int id_check(const char *id, kl_error_t *err)
{
    if (!id || id[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "container id is empty");
    size_t length = strnlen(id, KL_CONTAINER_ID_MAX);
    if (length >= KL_CONTAINER_ID_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "container id is longer than %d characters",
                            KL_CONTAINER_ID_MAX - 1);
    if (strncmp(id, "kl-", 3) != 0 || strstr(id, ".."))
        return kl_error_set(err, KL_ERR_INVALID, "container id \"%s\" was not made by runtime/runc", id);
    for (const char *p = id; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '-' && *p != '.')
            return kl_error_set(err, KL_ERR_INVALID, "container id \"%.128s\" has a character other than "
                                "a-z, 0-9, '-' or '.'", id);
    return 0;
}

static void bundle_path(const runc_runtime_t *rt, const char *id, const char *file, char *buf, size_t size)
{
    if (file)
        snprintf(buf, size, "%s/%s/%s", rt->state_dir, id, file);
    else
        snprintf(buf, size, "%s/%s", rt->state_dir, id);
}

/* Finds the bundle of an id, or NotFound. */
static int bundle_find(const runc_runtime_t *rt, const char *id, char *bundle, size_t size, kl_error_t *err)
{
    if (id_check(id, err) < 0)
        return -1;
    bundle_path(rt, id, NULL, bundle, size);
    struct stat st;
    if (stat(bundle, &st) < 0 || !S_ISDIR(st.st_mode))
        return kl_error_set(err, KL_ERR_NOT_FOUND, "container %s not found in runtime/runc", id);
    return 0;
}

static int check_label(const char *what, const char *value, kl_error_t *err)
{
    if (!value || value[0] == '\0' || strlen(value) > 253)
        return kl_error_set(err, KL_ERR_INVALID, "container request: %s must be 1 to 253 characters", what);
    return 0;
}

/* kl-<first 8 of the pod uid>-<container name>-<random hex>: unique, readable
 * in `runc list`, and safe as a file name. */
static int id_make(const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX], kl_error_t *err)
{
    const char *name = request->container_name;
    size_t length = strlen(name);
    if (length > 63)
        return kl_error_set(err, KL_ERR_INVALID, "container name \"%.64s...\" is longer than 63 characters", name);
    for (const char *p = name; *p; p++)
        if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '-')
            return kl_error_set(err, KL_ERR_INVALID,
                                "container name \"%s\" must be lower-case letters, digits and '-'", name);
    char uid[9];
    size_t n = 0;
    for (const char *p = request->pod_uid; *p && n < 8; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9'))
            uid[n++] = *p;
        else if (*p >= 'A' && *p <= 'Z')
            uid[n++] = (char)(*p - 'A' + 'a');
    uid[n] = '\0';
    unsigned char random[6];
    if (getrandom(random, sizeof random, 0) != (ssize_t)sizeof random) {
        /* No entropy yet at early boot: time and pid still make ids unique here. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long mix = (unsigned long)ts.tv_nsec ^ ((unsigned long)getpid() << 20) ^ (unsigned long)ts.tv_sec;
        memcpy(random, &mix, sizeof random);
    }
    snprintf(id, KL_CONTAINER_ID_MAX, "kl-%s-%s-%02x%02x%02x%02x%02x%02x", n ? uid : "nouid", name, random[0],
             random[1], random[2], random[3], random[4], random[5]);
    return 0;
}

/* IfNotPresent skips the copy when the layout already has the tag; a
 * reference without a registry resolves to the image store alone. */
static int runc_pull(void *runtime, const char *image, kl_pull_policy_t policy, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    if (policy != KL_PULL_IF_NOT_PRESENT && policy != KL_PULL_ALWAYS && policy != KL_PULL_NEVER)
        return kl_error_set(err, KL_ERR_INVALID, "pull policy %d of image \"%.64s\" is not IfNotPresent, Always "
                            "or Never", (int)policy, image ? image : "");
    runc_image_ref_t ref;
    if (runc_image_ref_parse(image, &ref, err) < 0)
        return -1;
    char layout[4096];
    snprintf(layout, sizeof layout, "%s/%s", rt->image_store, ref.name);
    kl_error_t load_err;
    json_t *config = runc_image_config_load(layout, ref.tag, image, rt->image_store, NULL, 0, &load_err);
    int present = config != NULL;
    json_decref(config);
    if (!present && load_err.code != KL_ERR_NOT_FOUND)
        return kl_error_set(err, load_err.code, "%s", load_err.text);
    if (present && (policy != KL_PULL_ALWAYS || !ref.registry[0]))
        return KL_PULL_PRESENT;
    if (policy == KL_PULL_NEVER || !ref.registry[0])
        return kl_error_set(err, KL_ERR_NOT_FOUND, "%s%s", load_err.text,
                            policy == KL_PULL_NEVER ? " and the pull policy is Never" : "");
    return runc_image_copy(rt->skopeo, image, &ref, rt->image_store, err);
}

/* Whether containers can have an overlay of the image cache as their root
 * file system; asked of the kernel once per runtime instance. */
static int overlay_usable(runc_runtime_t *rt)
{
    if (rt->overlay < 0) {
        char why[1024];
        rt->overlay = runc_overlay_probe(rt->image_store, rt->state_dir, why, sizeof why);
        if (!rt->overlay && rt->host->log)
            rt->host->log(rt->host, KL_LOG_WARN, "runtime/runc: %s; every container gets a full unpack of its "
                          "image instead (slower)", why);
    }
    return rt->overlay;
}

/* Makes the bundle folder and its root file system: an overlay of the
 * cached image when the kernel allows (options to `overlay`, mounted by the
 * supervisor), else a full unpack by umoci (`overlay` empty). Returns the
 * runtime spec to start from (caller owns), or NULL with nothing left. */
static json_t *bundle_prepare(runc_runtime_t *rt, const char *image, const runc_image_ref_t *ref,
                              const char *layout, const char *digest, const char *bundle, char *overlay,
                              size_t overlay_size, kl_error_t *err)
{
    char entry[4096], path[4200], message[1024];
    overlay[0] = '\0';
    /* Paths overlayfs cannot name are known before anything is unpacked
     * for nothing. */
    snprintf(entry, sizeof entry, "%s/" RUNC_CACHE_DIR, rt->image_store);
    if (overlay_usable(rt) && runc_overlay_options(entry, bundle, overlay, overlay_size) == 0) {
        if (runc_cache_ensure(rt->image_store, rt->umoci, layout, ref->tag, digest, image, entry, sizeof entry,
                              err) < 0)
            return NULL;
        if (runc_overlay_options(entry, bundle, overlay, overlay_size) < 0)
            overlay[0] = '\0';  /* an unusual state_dir: unpack in full below */
    }
    json_error_t jerr;
    json_t *spec = NULL;
    if (overlay[0]) {
        static const char *const folders[] = { "rootfs", RUNC_UPPER_DIR, RUNC_WORK_DIR };
        if (mkdir(bundle, 0700) < 0) {
            kl_error_set(err, KL_ERR_INTERNAL, "cannot create bundle %s: %s", bundle, strerror(errno));
            return NULL;
        }
        for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
            snprintf(path, sizeof path, "%s/%s", bundle, folders[i]);
            if (mkdir(path, 0755) < 0) {
                kl_error_set(err, KL_ERR_INTERNAL, "cannot create %s: %s", path, strerror(errno));
                runc_tree_remove(bundle);
                return NULL;
            }
        }
        /* Which cache entry lies under the container: what a collector of
         * unused entries would need to know. */
        snprintf(path, sizeof path, "%s/" RUNC_ROOTFS_IMAGE_FILE, bundle);
        FILE *f = fopen(path, "we");
        const char *name = strrchr(entry, '/') + 1;
        if (!f || fprintf(f, "%s\n", name) < 0 || fclose(f) != 0) {
            if (f)
                fclose(f);
            kl_error_set(err, KL_ERR_INTERNAL, "cannot write %s: %s", path, strerror(errno));
            runc_tree_remove(bundle);
            return NULL;
        }
        snprintf(path, sizeof path, "%s/config.json", entry);
        spec = json_load_file(path, 0, &jerr);
    } else {
        char image_arg[4096 + RUNC_IMAGE_TAG_MAX + 2];
        snprintf(image_arg, sizeof image_arg, "%s:%s", layout, ref->tag);
        char *unpack[] = { (char *)rt->umoci, "unpack", "--image", image_arg, (char *)bundle, NULL };
        if (runc_command_run(unpack, RUNC_UNPACK_TIMEOUT_MS, NULL, message, sizeof message) != 0) {
            kl_error_set(err, KL_ERR_INTERNAL, "cannot unpack image \"%s\" with %s: %s", image, rt->umoci,
                         message[0] ? message : "it failed without a message");
            runc_tree_remove(bundle);
            return NULL;
        }
        snprintf(path, sizeof path, "%s/config.json", bundle);
        spec = json_load_file(path, 0, &jerr);
    }
    if (!json_is_object(spec)) {
        kl_error_set(err, KL_ERR_INTERNAL, "cannot read the runtime spec %s: %s", path,
                     spec ? "not a JSON object" : jerr.text);
        json_decref(spec);
        runc_tree_remove(bundle);
        return NULL;
    }
    return spec;
}

static int runc_start(void *runtime, const kl_container_request_t *request, char id[KL_CONTAINER_ID_MAX],
                      kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    if (!request)
        return kl_error_set(err, KL_ERR_INVALID, "container request is missing");
    if (check_label("pod namespace", request->pod_namespace, err) < 0
        || check_label("pod name", request->pod_name, err) < 0 || check_label("pod uid", request->pod_uid, err) < 0
        || check_label("container name", request->container_name, err) < 0)
        return -1;
    if (!json_is_object(request->container))
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" is not a JSON object", request->container_name);
    const char *image = json_string_value(json_object_get(request->container, "image"));
    if (!image)
        return kl_error_set(err, KL_ERR_INVALID, "container \"%s\" has no image", request->container_name);

    runc_image_ref_t ref;
    if (runc_image_ref_parse(image, &ref, err) < 0)
        return -1;
    char layout[4096], digest[256] = "";
    snprintf(layout, sizeof layout, "%s/%s", rt->image_store, ref.name);
    /* The kubelet has pulled by the pod's policy already; a caller that did
     * not gets IfNotPresent, and only an absent image costs a skopeo run. */
    kl_error_t load_err;
    json_t *image_config = runc_image_config_load(layout, ref.tag, image, rt->image_store, digest, sizeof digest,
                                                  &load_err);
    if (!image_config && load_err.code == KL_ERR_NOT_FOUND && ref.registry[0]) {
        if (runc_image_copy(rt->skopeo, image, &ref, rt->image_store, err) < 0)
            return -1;
        image_config = runc_image_config_load(layout, ref.tag, image, rt->image_store, digest, sizeof digest,
                                              &load_err);
    }
    if (!image_config)
        return kl_error_set(err, load_err.code, "%s", load_err.text);

    char new_id[KL_CONTAINER_ID_MAX], bundle[4096];
    if (id_make(request, new_id, err) < 0) {
        json_decref(image_config);
        return -1;
    }
    bundle_path(rt, new_id, NULL, bundle, sizeof bundle);
    char overlay[4096];
    json_t *spec = bundle_prepare(rt, image, &ref, layout, digest, bundle, overlay, sizeof overlay, err);
    if (!spec) {
        json_decref(image_config);
        return -1;
    }
    char cgroup[KL_CONTAINER_ID_MAX + 16];
    snprintf(cgroup, sizeof cgroup, RUNC_CGROUP_PARENT "/%s", new_id);
    char cgroups_path[sizeof cgroup + 1];
    snprintf(cgroups_path, sizeof cgroups_path, "/%s", cgroup);
    int rc = runc_spec_write(bundle, spec, request, image_config, cgroups_path, err);
    json_decref(spec);
    json_decref(image_config);
    if (rc < 0) {
        runc_tree_remove(bundle);
        return -1;
    }

    /* runc's own errors go to runc.log as JSON, apart from the container's
     * output, so status() can tell "could not start" from "exited 1". */
    char runc_log[4096], container_log[4096], pid_file[4096];
    bundle_path(rt, new_id, "runc.log", runc_log, sizeof runc_log);
    bundle_path(rt, new_id, "container.log", container_log, sizeof container_log);
    bundle_path(rt, new_id, "container.pid", pid_file, sizeof pid_file);
    /* Detached: the supervisor, not runc, reaps the container, so its cgroup
     * outlives it until remove() and the OOM counter can be read. */
    char *run[] = { (char *)rt->runc, "--root", rt->root, "--log", runc_log, "--log-format", "json", "run",
                    "--detach", "--pid-file", pid_file, "--bundle", bundle, new_id, NULL };
    if (runc_supervisor_spawn(bundle, new_id, run, container_log, cgroup, overlay[0] ? overlay : NULL,
                              rt->events_fd >= 0 ? rt->events : NULL, err) < 0) {
        runc_tree_remove(bundle);
        return -1;
    }
    memcpy(id, new_id, strlen(new_id) + 1);
    return 0;
}

/* Reads a small key=value file the supervisor wrote. Returns 1 when the key
 * was found, 0 when the file or key is absent. */
static int state_file_value(const char *path, const char *key, long long *value)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[128];
    size_t length = strlen(key);
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, length) == 0 && line[length] == '=') {
            char *end = NULL;
            errno = 0;
            *value = strtoll(line + length + 1, &end, 10);
            found = errno == 0 && end != line + length + 1 && (*end == '\n' || *end == '\0');
        }
    }
    fclose(f);
    return found;
}

/* The last error runc logged, if any: the reason a container could not run. */
static int runc_log_error(const char *path, char *message, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    if (fseek(f, -8192, SEEK_END) < 0)
        rewind(f);
    char line[4096];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *entry = json_loads(line, 0, NULL);
        const char *level = json_string_value(json_object_get(entry, "level"));
        const char *msg = json_string_value(json_object_get(entry, "msg"));
        if (level && msg && (!strcmp(level, "error") || !strcmp(level, "fatal"))) {
            snprintf(message, size, "%s", msg);
            found = 1;
        }
        json_decref(entry);
    }
    fclose(f);
    return found;
}

/* `runc state` of an id: "created", "running", "stopped"... or NULL when runc
 * does not know it. Caller owns the result. */
static char *runc_state_of(runc_runtime_t *rt, const char *id, char *message, size_t size)
{
    char *out = NULL;
    char *argv[] = { (char *)rt->runc, "--root", rt->root, "state", (char *)id, NULL };
    int rc = runc_command_run(argv, RUNC_COMMAND_TIMEOUT_MS, &out, message, size);
    char *state = NULL;
    if (rc == 0) {
        json_t *doc = json_loads(out, 0, NULL);
        const char *text = json_string_value(json_object_get(doc, "status"));
        if (text)
            state = strdup(text);
        else
            snprintf(message, size, "runc state %s printed no status", id);
        json_decref(doc);
    }
    free(out);
    return state;
}

static int supervisor_alive(const char *bundle)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/supervisor.pid", bundle);
    long long pid = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;  /* not written yet: the supervisor is just starting */
    int got = fscanf(f, "%lld", &pid);
    fclose(f);
    if (got != 1 || pid <= 1)
        return 0;
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int runc_status(void *runtime, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096], path[4096];
    if (bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    memset(status, 0, sizeof *status);
    long long value;
    bundle_path(rt, id, "started_at", path, sizeof path);
    if (state_file_value(path, "started_at_ms", &value))
        status->started_at_ms = value;

    bundle_path(rt, id, "exit_code", path, sizeof path);
    long long code;
    if (state_file_value(path, "exit_code", &code)) {
        status->state = KL_CONTAINER_EXITED;
        status->exit_code = (int)code;
        if (state_file_value(path, "finished_at_ms", &value))
            status->finished_at_ms = value;
        /* The supervisor read the kernel's OOM-kill counter of the
         * container's cgroup before anything removed it. */
        long long oom = 0;
        char message[sizeof status->message];
        char exit_path[4096];
        snprintf(exit_path, sizeof exit_path, "%s", path);
        bundle_path(rt, id, "runc.log", path, sizeof path);
        if (state_file_value(exit_path, "oom_killed", &oom) && oom > 0) {
            status->oom_killed = 1;
            snprintf(status->reason, sizeof status->reason, "OOMKilled");
            snprintf(status->message, sizeof status->message,
                     "the kernel killed a process of the container for exceeding its memory limit");
        } else if (code != 0 && runc_log_error(path, message, sizeof message)) {
            snprintf(status->reason, sizeof status->reason, "ContainerCannotRun");
            snprintf(status->message, sizeof status->message, "%s", message);
        } else {
            snprintf(status->reason, sizeof status->reason, "%s", code == 0 ? "Completed" : "Error");
        }
        return 0;
    }

    /* While its supervisor lives, the files it keeps tell the state without
     * a `runc state` process per poll: runc writes container.pid once the
     * container's process runs. */
    int supervised = supervisor_alive(bundle);
    bundle_path(rt, id, "container.pid", path, sizeof path);
    if (supervised != 0) {
        status->state = access(path, F_OK) == 0 ? KL_CONTAINER_RUNNING : KL_CONTAINER_CREATED;
        return 0;
    }
    char message[512];
    char *state = runc_state_of(rt, id, message, sizeof message);
    if (state && (!strcmp(state, "running") || !strcmp(state, "paused") || !strcmp(state, "stopped"))) {
        /* "stopped" without an exit_code: the supervisor is writing it now. */
        status->state = KL_CONTAINER_RUNNING;
    } else if (state && !strcmp(state, "created")) {
        status->state = KL_CONTAINER_CREATED;
    } else if (supervisor_alive(bundle) != 0) {
        status->state = KL_CONTAINER_CREATED;  /* runc has not registered it yet */
    } else {
        status->state = KL_CONTAINER_UNKNOWN;
        snprintf(status->reason, sizeof status->reason, "Unknown");
        snprintf(status->message, sizeof status->message,
                 "the supervisor of container %s ended without recording an exit status%s%.180s", id,
                 state || message[0] ? ": " : "", state ? state : message);
    }
    free(state);
    return 0;
}

static int has_exited(runc_runtime_t *rt, const char *id)
{
    char path[4096];
    long long code;
    bundle_path(rt, id, "exit_code", path, sizeof path);
    return state_file_value(path, "exit_code", &code);
}

static int runc_signal(runc_runtime_t *rt, const char *id, const char *signal_name)
{
    char message[512];
    char *argv[] = { (char *)rt->runc, "--root", rt->root, "kill", (char *)id, (char *)signal_name, NULL };
    return runc_command_run(argv, RUNC_COMMAND_TIMEOUT_MS, NULL, message, sizeof message) == 0 ? 0 : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* Sends `signal_name` (again every 200 ms until runc takes it: a container
 * still being created cannot be signalled yet) and waits up to wait_ms. */
static int signal_and_wait(runc_runtime_t *rt, const char *id, const char *bundle, const char *signal_name,
                           int wait_ms)
{
    int64_t start = runc_monotonic_ms();
    int64_t last_try = -1000;
    int delivered = 0;
    for (;;) {
        if (has_exited(rt, id))
            return 1;
        int64_t now = runc_monotonic_ms();
        if (!delivered && now - last_try >= 200) {
            delivered = runc_signal(rt, id, signal_name) == 0;
            last_try = now;
            if (!delivered && supervisor_alive(bundle) == 0)
                return has_exited(rt, id) ? 1 : -1;
        }
        if (now - start >= wait_ms)
            return 0;
        sleep_ms(RUNC_POLL_MS);
    }
}

static int runc_stop(void *runtime, const char *id, int grace_ms, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096];
    if (bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    if (grace_ms < 0)
        grace_ms = 0;
    int done = grace_ms > 0 ? signal_and_wait(rt, id, bundle, "TERM", grace_ms) : 0;
    if (done == 0)
        done = signal_and_wait(rt, id, bundle, "KILL", RUNC_KILL_WAIT_MS);
    if (done > 0)
        return 0;
    if (done < 0)
        return kl_error_set(err, KL_ERR_UNAVAILABLE,
                            "container %s cannot be stopped: its supervisor is gone and runc does not know it", id);
    return kl_error_set(err, KL_ERR_TIMEOUT, "container %s did not exit within %d ms of SIGKILL", id,
                        RUNC_KILL_WAIT_MS);
}

/* runc delete removes the container's cgroups; what a failed start or a
 * killed supervisor left behind goes here. An empty cgroup is a folder
 * rmdir() removes; one still holding a process stays (and is logged by runc). */
static void cgroup_remove(const char *id)
{
    DIR *dir = opendir(RUNC_CGROUP_ROOT);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, RUNC_CGROUP_ROOT "/%.255s/" RUNC_CGROUP_PARENT "/%s", entry->d_name, id);
        rmdir(path);
    }
    closedir(dir);
    char path[4096];  /* cgroup v2: one hierarchy at the root */
    snprintf(path, sizeof path, RUNC_CGROUP_ROOT "/" RUNC_CGROUP_PARENT "/%s", id);
    rmdir(path);
}

static int runc_remove(void *runtime, const char *id, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096];
    if (bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    kl_error_t stop_err;
    if (!has_exited(rt, id) && runc_stop(rt, id, 0, &stop_err) < 0)
        runtime_log(rt, KL_LOG_WARN, stop_err.text);  /* delete --force below kills what is left */

    char message[512];
    char *argv[] = { (char *)rt->runc, "--root", rt->root, "delete", "--force", (char *)id, NULL };
    int rc = runc_command_run(argv, RUNC_COMMAND_TIMEOUT_MS, NULL, message, sizeof message);
    if (rc != 0 && !strstr(message, "does not exist") && !strstr(message, "not found"))
        return kl_error_set(err, KL_ERR_INTERNAL, "runc delete %s failed: %s", id,
                            message[0] ? message : "no message");
    cgroup_remove(id);
    /* The supervisor mounts the overlay in a namespace that ends with the
     * container; a rootfs mounted here (by hand, or by an older keelson)
     * would keep the bundle from going. */
    char rootfs[4200];
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", bundle);
    if (umount2(rootfs, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        runtime_log(rt, KL_LOG_WARN, "cannot unmount a container's root file system");
    if (runc_tree_remove(bundle) < 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot remove the bundle %s of container %s: %s", bundle, id,
                            strerror(errno));
    return 0;
}

static int runc_kill(void *runtime, const char *id, int signal_number, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096], name[16], message[512];
    if (bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    if (signal_number <= 0 || signal_number > 64)
        return kl_error_set(err, KL_ERR_INVALID, "signal %d sent to container %s is not between 1 and 64",
                            signal_number, id);
    if (has_exited(rt, id))
        return 0;  /* nothing left to signal */
    snprintf(name, sizeof name, "%d", signal_number);
    char *argv[] = { (char *)rt->runc, "--root", rt->root, "kill", (char *)id, name, NULL };
    if (runc_command_run(argv, RUNC_COMMAND_TIMEOUT_MS, NULL, message, sizeof message) == 0 || has_exited(rt, id))
        return 0;
    return kl_error_set(err, KL_ERR_UNAVAILABLE, "runc kill %s %d failed: %s", id, signal_number,
                        message[0] ? message : "no message");
}

static int runc_logs(void *runtime, const char *id, int64_t offset, char *buffer, size_t size, size_t *length,
                     kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    char bundle[4096], path[4096];
    if (bundle_find(rt, id, bundle, sizeof bundle, err) < 0)
        return -1;
    if (offset < 0 || !length || (!buffer && size > 0))
        return kl_error_set(err, KL_ERR_INVALID, "logs of container %s: offset %lld or buffer is invalid", id,
                            (long long)offset);
    *length = 0;
    bundle_path(rt, id, "container.log", path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : kl_error_set(err, KL_ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
    size_t done = 0;
    while (done < size) {
        ssize_t got = pread(fd, buffer + done, size - done, (off_t)offset + (off_t)done);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int saved = errno;
            close(fd);
            return kl_error_set(err, KL_ERR_INTERNAL, "cannot read %s: %s", path, strerror(saved));
        }
        if (got == 0)
            break;
        done += (size_t)got;
    }
    close(fd);
    *length = done;
    return 0;
}

typedef struct bundle_info {
    char namespace_[256], name[256], uid[256], container[256], image[600];
} bundle_info_t;

static void annotation_copy(const json_t *annotations, const char *key, char *out, size_t size)
{
    const char *value = json_string_value(json_object_get(annotations, key));
    snprintf(out, size, "%s", value ? value : "");
}

static int runc_list(void *runtime, kl_container_visit_fn visit, void *arg, kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    if (!visit)
        return kl_error_set(err, KL_ERR_INVALID, "list needs a visit function");
    DIR *dir = opendir(rt->state_dir);
    if (!dir)
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "cannot read state_dir %s: %s", rt->state_dir, strerror(errno));
    struct dirent *entry;
    int stop = 0;
    while (!stop && (entry = readdir(dir))) {
        if (id_check(entry->d_name, NULL) < 0)
            continue;
        char path[4096];
        bundle_path(rt, entry->d_name, "config.json", path, sizeof path);
        json_t *spec = json_load_file(path, 0, NULL);
        const json_t *annotations = json_object_get(spec, "annotations");
        if (!json_object_get(annotations, "io.keelson.pod.uid")) {
            json_decref(spec);
            continue;  /* still being unpacked, or not ours */
        }
        bundle_info_t b;
        annotation_copy(annotations, "io.keelson.pod.namespace", b.namespace_, sizeof b.namespace_);
        annotation_copy(annotations, "io.keelson.pod.name", b.name, sizeof b.name);
        annotation_copy(annotations, "io.keelson.pod.uid", b.uid, sizeof b.uid);
        annotation_copy(annotations, "io.keelson.container.name", b.container, sizeof b.container);
        annotation_copy(annotations, "io.keelson.image", b.image, sizeof b.image);
        json_decref(spec);
        kl_container_info_t info = {
            .id = entry->d_name, .pod_namespace = b.namespace_, .pod_name = b.name, .pod_uid = b.uid,
            .container_name = b.container, .image = b.image,
        };
        kl_error_t status_err;
        if (runc_status(rt, entry->d_name, &info.status, &status_err) < 0)
            continue;  /* removed meanwhile */
        stop = visit(&info, arg) != 0;
    }
    closedir(dir);
    return 0;
}

static int runc_events_fd(void *runtime)
{
    return ((runc_runtime_t *)runtime)->events_fd;
}

/* One complete line from the FIFO: an id for changed(), or noise to skip. */
static void event_line_done(runc_runtime_t *rt, void (*changed)(const char *id, void *arg), void *arg)
{
    char id[KL_CONTAINER_ID_MAX];
    memcpy(id, rt->event_line, rt->event_used);
    id[rt->event_used] = '\0';
    int overlong = rt->event_overlong;
    rt->event_used = 0;
    rt->event_overlong = 0;
    if (!overlong && id[0] && id_check(id, NULL) == 0) {
        changed(id, arg);  /* a copy: changed() may call back into the runtime */
    } else if ((overlong || id[0]) && rt->host->log) {
        /* Only supervisors should write here; anything else is ignored. */
        rt->host->log(rt->host, KL_LOG_DEBUG, "runtime/runc: ignoring a line in %s that is no container id: "
                      "\"%.64s%s\"", rt->events, id, overlong ? "..." : "");
    }
}

static int runc_events_read(void *runtime, void (*changed)(const char *id, void *arg), void *arg,
                            kl_error_t *err)
{
    runc_runtime_t *rt = runtime;
    if (!changed)
        return kl_error_set(err, KL_ERR_INVALID, "events_read needs a changed function");
    if (rt->events_fd < 0)
        return 0;
    char chunk[4096];
    /* Bounded, so a flood cannot hold the kubelet's thread: poll() reports
     * the fd readable again for what is left. */
    for (int reads = 0; reads < RUNC_EVENTS_READS_MAX; reads++) {
        ssize_t got = read(rt->events_fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (got < 0)
            return kl_error_set(err, KL_ERR_INTERNAL, "cannot read the event FIFO %s: %s", rt->events,
                                strerror(errno));
        if (got == 0)
            return 0;  /* no writer at all; cannot happen while we hold one */
        for (ssize_t i = 0; i < got; i++) {
            if (chunk[i] == '\n')
                event_line_done(rt, changed, arg);
            else if (rt->event_used + 1 < sizeof rt->event_line)
                rt->event_line[rt->event_used++] = chunk[i];
            else
                rt->event_overlong = 1;
        }
    }
    return 0;
}

static const kl_runtime_ops_t runc_ops = {
    .open = runc_open,
    .close = runc_close,
    .start = runc_start,
    .status = runc_status,
    .stop = runc_stop,
    .remove = runc_remove,
    .pull = runc_pull,
    .list = runc_list,
    .logs = runc_logs,
    .kill = runc_kill,
    .events_fd = runc_events_fd,
    .events_read = runc_events_read,
};

KL_RUNTIME_PLUGIN("runc", "0.1.0", "OCI containers run by runc from local image layouts unpacked by umoci",
                  runc_settings, runc_ops);
