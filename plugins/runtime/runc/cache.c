/* runtime/runc: the image cache. Each image is unpacked once, by manifest
 * digest, into IMAGE_STORE/.unpacked/ALGORITHM-HEX (rootfs/ and umoci's
 * config.json); containers then get an overlay of that rootfs instead of an
 * unpack of their own, which was most of what starting a container cost.
 *
 * It sits beside the layouts rather than in state_dir: it is image data, it
 * survives a reboot as they do, and keelsond processes with their own
 * state_dir may share one image store. So entries are filled atomically
 * (unpacked aside, then renamed into place; a start never sees half an
 * image, and two that race both end with the same files), and never removed
 * while keelson runs: an overlay's lower folder must not change under it,
 * and no process knows another's containers. A tag that moves gets a new
 * entry, since entries are named by digest; the old one stays, as the old
 * blobs stay in the layout. Only unpacks a killed keelsond left half done go. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
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

#define UNPACK_PREFIX ".unpack-"

/* "sha256:abc" -> "sha256-abc": a file name (blob_load checked the alphabet). */
static int entry_name(const char *digest, char *name, size_t size)
{
    const char *colon = digest ? strchr(digest, ':') : NULL;
    if (!colon || colon == digest || !colon[1] || strchr(digest, '/') || strlen(digest) >= size)
        return -1;
    snprintf(name, size, "%.*s-%s", (int)(colon - digest), digest, colon + 1);
    return 0;
}

static int write_line(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    int rc = fprintf(f, "%s\n", text) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

/* Removes unpacks whose keelsond died midway (named after its pid). */
static void cache_leftovers_remove(const char *cache)
{
    DIR *dir = opendir(cache);
    if (!dir)
        return;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (strncmp(entry->d_name, UNPACK_PREFIX, sizeof UNPACK_PREFIX - 1) != 0)
            continue;
        long pid = strtol(entry->d_name + sizeof UNPACK_PREFIX - 1, NULL, 10);
        if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
            char path[4096 + 512];
            snprintf(path, sizeof path, "%s/%.255s", cache, entry->d_name);
            runc_tree_remove(path);
        }
    }
    closedir(dir);
}

/* The manifest umoci unpacked, from its umoci.json: the tag may have moved
 * between our reading index.json and umoci reading it. */
static int unpacked_digest_is(const char *bundle, const char *digest)
{
    char path[4096 + 128];
    snprintf(path, sizeof path, "%s/umoci.json", bundle);
    json_t *doc = json_load_file(path, 0, NULL);
    const json_t *walk = json_object_get(json_object_get(doc, "from_descriptor_path"), "descriptor_walk");
    const char *got = json_string_value(json_object_get(json_array_get(walk, 0), "digest"));
    int same = got && !strcmp(got, digest);
    json_decref(doc);
    return same;
}

int runc_cache_ensure(const char *image_store, const char *umoci, const char *layout, const char *tag,
                      const char *digest, const char *reference, char *entry, size_t size, kl_error_t *err)
{
    char name[256], cache[4096], rootfs[4096];
    if (entry_name(digest, name, sizeof name) < 0)
        return kl_error_set(err, KL_ERR_INVALID, "image \"%s\": manifest digest \"%.80s\" is not ALGORITHM:HEX",
                            reference, digest ? digest : "");
    snprintf(cache, sizeof cache, "%s/" RUNC_CACHE_DIR, image_store);
    snprintf(entry, size, "%s/%s", cache, name);
    snprintf(rootfs, sizeof rootfs, "%s/rootfs", entry);
    struct stat st;
    if (stat(rootfs, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;

    if ((mkdir(image_store, 0755) < 0 && errno != EEXIST) || (mkdir(cache, 0700) < 0 && errno != EEXIST))
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot create the image cache %s: %s", cache, strerror(errno));
    unsigned int random = 0;
    if (getrandom(&random, sizeof random, GRND_NONBLOCK) != (ssize_t)sizeof random)
        random = (unsigned int)time(NULL);
    char tmp[4096 + 64], image_arg[4096 + RUNC_IMAGE_TAG_MAX + 2], message[1024];
    snprintf(tmp, sizeof tmp, "%s/" UNPACK_PREFIX "%ld-%08x", cache, (long)getpid(), random);
    snprintf(image_arg, sizeof image_arg, "%s:%s", layout, tag);
    char *unpack[] = { (char *)umoci, "unpack", "--image", image_arg, tmp, NULL };
    int rc = runc_command_run(unpack, RUNC_UNPACK_TIMEOUT_MS, NULL, message, sizeof message);
    if (rc != 0) {
        runc_tree_remove(tmp);
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot unpack image \"%s\" with %s: %s", reference, umoci,
                            message[0] ? message : "it failed without a message");
    }
    if (!unpacked_digest_is(tmp, digest)) {
        runc_tree_remove(tmp);
        return kl_error_set(err, KL_ERR_UNAVAILABLE, "image \"%s\": tag %s moved while it was being unpacked",
                            reference, tag);
    }
    char path[sizeof tmp + 16];
    snprintf(path, sizeof path, "%s/source", tmp);
    /* For people: which layout and tag this digest came from. */
    if (write_line(path, image_arg) < 0) {
        int saved = errno;
        runc_tree_remove(tmp);
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot write %s: %s", path, strerror(saved));
    }
    if (rename(tmp, entry) < 0) {
        int saved = errno;
        runc_tree_remove(tmp);
        /* Filled meanwhile by an earlier start: the same digest, the same files. */
        if (saved != EEXIST && saved != ENOTEMPTY)
            return kl_error_set(err, KL_ERR_INTERNAL, "cannot move the unpacked image \"%s\" to %s: %s", reference,
                                entry, strerror(saved));
    }
    cache_leftovers_remove(cache);
    return 0;
}

int runc_overlay_probe(const char *image_store, const char *state_dir, char *why, size_t size)
{
    char cache[4096], base[4200], lower[4300], upper[4300], work[4300], merged[4300], options[16384];
    snprintf(cache, sizeof cache, "%s/" RUNC_CACHE_DIR, image_store);
    snprintf(lower, sizeof lower, "%s/.probe-%ld", cache, (long)getpid());
    snprintf(base, sizeof base, "%s/.probe-%ld", state_dir, (long)getpid());
    snprintf(upper, sizeof upper, "%s/upper", base);
    snprintf(work, sizeof work, "%s/work", base);
    snprintf(merged, sizeof merged, "%s/merged", base);
    snprintf(options, sizeof options, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    int usable = 0;
    if ((mkdir(image_store, 0755) < 0 && errno != EEXIST) || (mkdir(cache, 0700) < 0 && errno != EEXIST)
        || mkdir(lower, 0700) < 0 || mkdir(base, 0700) < 0 || mkdir(upper, 0700) < 0 || mkdir(work, 0700) < 0
        || mkdir(merged, 0700) < 0) {
        snprintf(why, size, "cannot create %s or %s: %s", lower, base, strerror(errno));
    } else if (mount("overlay", merged, "overlay", 0, options) < 0) {
        snprintf(why, size, "an overlay of %s with its changes in %s cannot be mounted: %s", cache, state_dir,
                 strerror(errno));
    } else {
        usable = 1;
        umount2(merged, MNT_DETACH);
    }
    runc_tree_remove(base);
    runc_tree_remove(lower);
    return usable;
}

/* The kernel splits overlay options at ',' and lowerdir at ':'; a path with
 * either (or an escape) cannot be named in them. */
static int option_path_ok(const char *path)
{
    return !strpbrk(path, ",:\\");
}

int runc_overlay_options(const char *entry, const char *bundle, char *options, size_t size)
{
    char lower[4200], upper[4200], work[4200];
    snprintf(lower, sizeof lower, "%s/rootfs", entry);
    snprintf(upper, sizeof upper, "%s/" RUNC_UPPER_DIR, bundle);
    snprintf(work, sizeof work, "%s/" RUNC_WORK_DIR, bundle);
    if (!option_path_ok(lower) || !option_path_ok(upper) || !option_path_ok(work))
        return -1;
    /* mount(2) takes at most a page of options. */
    int n = snprintf(options, size, "lowerdir=%s,upperdir=%s,workdir=%s", lower, upper, work);
    return n < 0 || (size_t)n >= size || n >= 4000 ? -1 : 0;
}
