/* runtime/runc: runs each container with runc from an OCI bundle whose root
 * file system is an overlay of its image, unpacked once by umoci from a local
 * image store (cache.c). All state lives in files under state_dir, so
 * containers and their status outlive a kubelet restart. Here: the settings,
 * the ops table, container ids and bundle paths, pull and start. A
 * container's state is read in state.c, exits are heard in events.c, and
 * stop.c stops and removes containers. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runc.h"

#define RUNC_ROOT_DIR "runc-root"  /* under state_dir; container ids start with "kl-" */

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
    rt->events_fd = runc_events_open(rt);
    return rt;
}

static void runc_close(void *runtime)
{
    runc_runtime_t *rt = runtime;
    if (rt && rt->events_fd >= 0)
        close(rt->events_fd);
    free(rt);
}

/* Ids become file names and runc arguments: keep them to a plain alphabet. */
int runc_id_check(const char *id, kl_error_t *err)
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

void runc_bundle_path(const runc_runtime_t *rt, const char *id, const char *file, char *buf, size_t size)
{
    if (file)
        snprintf(buf, size, "%s/%s/%s", rt->state_dir, id, file);
    else
        snprintf(buf, size, "%s/%s", rt->state_dir, id);
}

/* Finds the bundle of an id, or NotFound. */
int runc_bundle_find(const runc_runtime_t *rt, const char *id, char *bundle, size_t size, kl_error_t *err)
{
    if (runc_id_check(id, err) < 0)
        return -1;
    runc_bundle_path(rt, id, NULL, bundle, size);
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
    runc_bundle_path(rt, new_id, NULL, bundle, sizeof bundle);
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
    runc_bundle_path(rt, new_id, "runc.log", runc_log, sizeof runc_log);
    runc_bundle_path(rt, new_id, "container.log", container_log, sizeof container_log);
    runc_bundle_path(rt, new_id, "container.pid", pid_file, sizeof pid_file);
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
