/* runtime/podman: keelson's own parent cgroup per container (cgroup v1
 * memory), which keeps the evidence of an OOM kill after podman removes the
 * container's cgroup. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "podman.h"

static void cgroup_dir(const char *controller, const char *name, const char *leaf, char *buf, size_t size)
{
    snprintf(buf, size, CGROUP_ROOT "/%s/" CGROUP_PARENT "/%s%s%s", controller, name, leaf ? "/" : "",
             leaf ? leaf : "");
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "we");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

/* Removes the per-container parent cgroup from every hierarchy. The
 * container's and conmon's cgroups under it go first: rmdir needs it empty. */
void cgroup_parent_remove(const char *name)
{
    DIR *dir = opendir(CGROUP_ROOT);
    if (!dir)
        return;
    struct dirent *entry;
    char path[4096];
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        char parent[4096];
        cgroup_dir(entry->d_name, name, NULL, parent, sizeof parent);
        DIR *inner = opendir(parent);
        if (!inner)
            continue;
        struct dirent *child;
        while ((child = readdir(inner)))
            if (child->d_type == DT_DIR && child->d_name[0] != '.') {
                snprintf(path, sizeof path, "%.3000s/%.255s", parent, child->d_name);
                rmdir(path);
            }
        closedir(inner);
        rmdir(parent);
        /* The shared folder goes with the last container; busy, it stays. */
        snprintf(path, sizeof path, CGROUP_ROOT "/%.255s/" CGROUP_PARENT, entry->d_name);
        rmdir(path);
    }
    closedir(dir);
}

/* Makes the memory-limited parent cgroup of a container (cgroup v1 only). */
int cgroup_parent_make(const char *name, int64_t bytes, kl_error_t *err)
{
    char path[4096], value[32];
    cgroup_dir("memory", name, NULL, path, sizeof path);
    if (mkdir_parents(path, 0755) < 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot create memory cgroup %s: %s", path, strerror(errno));
    snprintf(value, sizeof value, "%lld", (long long)bytes);
    cgroup_dir("memory", name, "memory.limit_in_bytes", path, sizeof path);
    if (write_text(path, value) < 0) {
        int saved = errno;
        cgroup_parent_remove(name);
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot set the memory limit %s in %s: %s", value, path,
                            strerror(saved));
    }
    /* Without swap accounting the file is absent and swap is not limited. */
    cgroup_dir("memory", name, "memory.memsw.limit_in_bytes", path, sizeof path);
    if (access(path, F_OK) == 0)
        (void)write_text(path, value);
    return 0;
}

int64_t cgroup_value(const char *name, const char *file)
{
    char path[4096];
    cgroup_dir("memory", name, file, path, sizeof path);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long long value = -1;
    if (fscanf(f, "%lld", &value) != 1)
        value = -1;
    fclose(f);
    return value;
}
