/* runtime/runc: image references and the local image store, a folder of OCI
 * image layouts named after the image (busybox -> IMAGE_STORE/busybox). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "runc.h"

#define RUNC_PULL_TIMEOUT_MS 300000

/* A path component of a reference: lower-case alphanumerics joined by one
 * '.', '_', up to two '_' or any number of '-', as the distribution spec has it.
 * Starting and ending with an alphanumeric also rules out "." and "..". */
static int component_valid(const char *text, size_t length)
{
    if (length == 0 || (!islower((unsigned char)text[0]) && !isdigit((unsigned char)text[0])))
        return 0;
    size_t i = 0;
    while (i < length) {
        unsigned char c = (unsigned char)text[i];
        if (islower(c) || isdigit(c)) {
            i++;
            continue;
        }
        size_t run = 0;
        while (i + run < length && strchr("._-", text[i + run]))
            run++;
        if (run == 0)
            return 0;  /* neither alphanumeric nor separator */
        int dashes = 1, unders = 1;
        for (size_t k = 0; k < run; k++) {
            dashes &= text[i + k] == '-';
            unders &= text[i + k] == '_';
        }
        if (!(dashes || (unders && run <= 2) || (run == 1 && text[i] == '.')))
            return 0;
        i += run;
        if (i >= length)
            return 0;  /* a separator may not end a component */
    }
    return 1;
}

/* host[:port], the host being dot-separated labels of letters, digits and '-'. */
static int registry_valid(const char *text, size_t length)
{
    const char *colon = memchr(text, ':', length);
    size_t host_length = colon ? (size_t)(colon - text) : length;
    size_t label = 0;
    for (size_t i = 0; i < host_length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-') {
            label++;
        } else {
            return 0;
        }
    }
    if (label == 0)
        return 0;
    if (colon) {
        size_t port_length = length - host_length - 1;
        if (port_length == 0 || port_length > 5)
            return 0;
        for (size_t i = 0; i < port_length; i++)
            if (!isdigit((unsigned char)colon[1 + i]))
                return 0;
    }
    return 1;
}

static int tag_valid(const char *text)
{
    size_t length = strlen(text);
    if (length == 0 || length >= RUNC_IMAGE_TAG_MAX)
        return 0;
    if (!isalnum((unsigned char)text[0]) && text[0] != '_')
        return 0;
    for (size_t i = 1; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (!isalnum(c) && c != '_' && c != '.' && c != '-')
            return 0;
    }
    return 1;
}

int runc_image_ref_parse(const char *reference, runc_image_ref_t *ref, kl_error_t *err)
{
    if (!reference || reference[0] == '\0')
        return kl_error_set(err, KL_ERR_INVALID, "container image is empty");
    size_t length = strlen(reference);
    if (length > 512)
        return kl_error_set(err, KL_ERR_INVALID, "image reference \"%.64s...\" is longer than 512 characters",
                            reference);
    /* Checked first so later messages can quote the reference verbatim. */
    for (size_t i = 0; i < length; i++)
        if ((unsigned char)reference[i] < ' ' || (unsigned char)reference[i] >= 0x7f)
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference has a control or non-ASCII character at position %zu", i + 1);
    if (strchr(reference, ' '))
        return kl_error_set(err, KL_ERR_INVALID, "image reference \"%s\" has a space", reference);
    if (strchr(reference, '@'))
        return kl_error_set(err, KL_ERR_INVALID,
                            "image reference \"%s\": digest references are not supported yet, use NAME:TAG",
                            reference);

    /* The tag follows the last ':' after the last '/' (a ':' before it is a port). */
    const char *slash = strrchr(reference, '/');
    const char *colon = strrchr(slash ? slash : reference, ':');
    size_t path_length = colon ? (size_t)(colon - reference) : length;
    const char *tag = colon ? colon + 1 : "latest";
    if (!tag_valid(tag))
        return kl_error_set(err, KL_ERR_INVALID,
                            "image reference \"%s\" has a bad tag \"%s\": a tag is up to 127 letters, digits, "
                            "'_', '.' or '-'",
                            reference, tag);

    /* Walk the path components; the first is a registry when it looks like a
     * host (has '.' or ':', or is localhost), as docker decides it. */
    const char *p = reference, *end = reference + path_length;
    const char *last = NULL;
    size_t last_length = 0;
    int first = 1;
    ref->registry[0] = '\0';
    while (p <= end) {
        const char *next = memchr(p, '/', (size_t)(end - p));
        size_t part = next ? (size_t)(next - p) : (size_t)(end - p);
        int is_registry = first && next
                          && (memchr(p, '.', part) || memchr(p, ':', part)
                              || (part == 9 && strncmp(p, "localhost", 9) == 0));
        if (is_registry ? !registry_valid(p, part) : !component_valid(p, part))
            return kl_error_set(err, KL_ERR_INVALID,
                                "image reference \"%s\" is not NAME[:TAG]: path component \"%.*s\" must be "
                                "lower-case letters and digits separated by '.', '_' or '-'",
                                reference, (int)(part > 64 ? 64 : part), p);
        if (!is_registry) {
            last = p;
            last_length = part;
        } else if (part < sizeof ref->registry) {
            memcpy(ref->registry, p, part);
            ref->registry[part] = '\0';
        }
        first = 0;
        if (!next)
            break;
        p = next + 1;
    }
    if (!last || last_length >= RUNC_IMAGE_NAME_MAX)
        return kl_error_set(err, KL_ERR_INVALID, "image reference \"%s\" has no image name", reference);
    memcpy(ref->name, last, last_length);
    ref->name[last_length] = '\0';
    snprintf(ref->tag, sizeof ref->tag, "%s", tag);
    return 0;
}

/* Loads the blob a descriptor points to, refusing digests that could walk
 * out of the layout. */
static json_t *blob_load(const char *layout, const json_t *descriptor, const char *what, kl_error_t *err)
{
    const char *digest = json_string_value(json_object_get(descriptor, "digest"));
    const char *colon = digest ? strchr(digest, ':') : NULL;
    int sane = colon && colon != digest && colon[1] != '\0';
    for (const char *c = digest; sane && *c; c++)
        sane = isalnum((unsigned char)*c) || *c == ':' || *c == '+' || *c == '-' || *c == '_';
    if (!sane) {
        kl_error_set(err, KL_ERR_INVALID, "image layout %s: the %s descriptor has no valid digest", layout, what);
        return NULL;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/blobs/%.*s/%s", layout, (int)(colon - digest), digest, colon + 1);
    json_error_t jerr;
    json_t *blob = json_load_file(path, 0, &jerr);
    if (!json_is_object(blob)) {
        kl_error_set(err, KL_ERR_INVALID, "image layout %s: %s blob %s is not a JSON object: %s", layout, what,
                     digest, blob ? "wrong type" : jerr.text);
        json_decref(blob);
        return NULL;
    }
    return blob;
}

json_t *runc_image_config_load(const char *layout, const char *tag, const char *reference,
                               const char *image_store, char *manifest_digest, size_t digest_size, kl_error_t *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", layout);
    struct stat st;
    if (stat(path, &st) < 0) {
        kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" not found in image store %s", reference, image_store);
        return NULL;
    }
    json_error_t jerr;
    json_t *index = json_load_file(path, 0, &jerr);
    const json_t *manifests = json_object_get(index, "manifests");
    if (!json_is_array(manifests)) {
        kl_error_set(err, KL_ERR_INVALID, "image layout %s: index.json %s", layout,
                     index ? "has no manifests array" : jerr.text);
        json_decref(index);
        return NULL;
    }
    const json_t *found = NULL;
    size_t i;
    const json_t *item;
    json_array_foreach(manifests, i, item) {
        const char *name = json_string_value(
            json_object_get(json_object_get(item, "annotations"), "org.opencontainers.image.ref.name"));
        if (name && strcmp(name, tag) == 0)
            found = item;
    }
    if (!found) {
        kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" not found in image store %s", reference, image_store);
        json_decref(index);
        return NULL;
    }
    json_t *manifest = blob_load(layout, found, "manifest", err);
    if (manifest && manifest_digest && digest_size > 0)
        snprintf(manifest_digest, digest_size, "%s", json_string_value(json_object_get(found, "digest")));
    json_decref(index);
    if (!manifest)
        return NULL;
    json_t *config = blob_load(layout, json_object_get(manifest, "config"), "config", err);
    json_decref(manifest);
    return config;
}

/* skopeo reports failures as text: map them onto the runtime ABI's codes. */
static int copy_error_code(const char *message)
{
    static const char *const unavailable[] = { "connection refused", "no such host", "dial tcp", "i/o timeout",
                                               "network is unreachable", "pinging container registry",
                                               "did not finish", NULL };
    static const char *const not_found[] = { "manifest unknown", "name unknown", "not found", "unauthorized", NULL };
    for (size_t i = 0; unavailable[i]; i++)
        if (strstr(message, unavailable[i]))
            return KL_ERR_UNAVAILABLE;
    for (size_t i = 0; not_found[i]; i++)
        if (strstr(message, not_found[i]))
            return KL_ERR_NOT_FOUND;
    if (strstr(message, "invalid reference") || strstr(message, "Invalid source name"))
        return KL_ERR_INVALID;
    return KL_ERR_UNAVAILABLE;
}

/* skopeo logs `time=... level=fatal msg="..."`: the msg is the sentence. */
static void skopeo_message(const char *raw, char *out, size_t size)
{
    const char *msg = strstr(raw, "msg=\"");
    if (!msg) {
        snprintf(out, size, "%.1000s", raw[0] ? raw : "it failed without a message");
        return;
    }
    msg += 5;
    size_t n = 0;
    for (const char *p = msg; *p && *p != '\n' && n + 1 < size; p++) {
        if (*p == '\\' && p[1]) {
            p++;
        } else if (*p == '"') {
            break;
        }
        out[n++] = *p;
    }
    out[n] = '\0';
}

int runc_image_copy(const char *skopeo, const char *reference, const runc_image_ref_t *ref,
                    const char *image_store, kl_error_t *err)
{
    if (!ref->registry[0])
        return kl_error_set(err, KL_ERR_NOT_FOUND, "image \"%s\" names no registry to pull from", reference);
    char layout[4096], source[1024], destination[4096 + RUNC_IMAGE_TAG_MAX + 8];
    snprintf(layout, sizeof layout, "%s/%s", image_store, ref->name);
    struct stat st;
    int existed = stat(layout, &st) == 0;
    if (mkdir(image_store, 0755) < 0 && errno != EEXIST)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot create image store %s: %s", image_store, strerror(errno));
    /* The reference was checked by runc_image_ref_parse: no spaces, no options. */
    snprintf(source, sizeof source, "docker://%s%s", reference, strchr(strrchr(reference, '/') ? strrchr(reference, '/') : reference, ':') ? "" : ":latest");
    snprintf(destination, sizeof destination, "oci:%s:%s", layout, ref->tag);
    char *argv[] = { (char *)skopeo, "copy", "--quiet", "--src-tls-verify=false", source, destination, NULL };
    char raw[2048], message[1024];
    int rc = runc_command_run(argv, RUNC_PULL_TIMEOUT_MS, NULL, raw, sizeof raw);
    if (rc == 0)
        return 0;
    /* A failed copy leaves an empty layout behind that would hide the next one. */
    if (!existed)
        runc_tree_remove(layout);
    skopeo_message(raw, message, sizeof message);
    return kl_error_set(err, copy_error_code(message), "cannot pull image \"%s\": %s", reference, message);
}
