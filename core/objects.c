/* API objects (Pod, Node, Lease...): defaulting, validation with Kubernetes field paths and
 * messages, and the small accessors the rest of the core reads objects with. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "objects.h"
#include "quantity.h"

static const kl_kind_info_t kinds[KL_KIND_COUNT] = {
    {KL_KIND_POD, "Pod", "pods", "PodList", "api.pod", 1, "v1"},
    {KL_KIND_NODE, "Node", "nodes", "NodeList", "api.node", 0, "v1"},
    {KL_KIND_REPLICASET, "ReplicaSet", "replicasets", "ReplicaSetList", "api.replicaset", 1, "apps/v1"},
    {KL_KIND_DEPLOYMENT, "Deployment", "deployments", "DeploymentList", "api.deployment", 1, "apps/v1"},
    {KL_KIND_EVENT, "Event", "events", "EventList", "api.event", 1, "v1"},
    {KL_KIND_LEASE, "Lease", "leases", "LeaseList", "api.lease", 1, "coordination.k8s.io/v1"},
};

const kl_kind_info_t *kl_kind_lookup(const char *kind)
{
    if (!kind)
        return NULL;
    for (int i = 0; i < KL_KIND_COUNT; i++)
        if (strcmp(kinds[i].kind, kind) == 0)
            return &kinds[i];
    return NULL;
}

/* ---- accessors ------------------------------------------------------- */

static const char *string_at(const json_t *object, const char *group, const char *field)
{
    const json_t *g = json_object_get(object, group);
    return json_string_value(json_object_get(g, field));
}

const char *kl_object_kind(const json_t *object)
{
    return json_string_value(json_object_get(object, "kind"));
}

const char *kl_object_name(const json_t *object)
{
    return string_at(object, "metadata", "name");
}

const char *kl_object_namespace(const json_t *object)
{
    return string_at(object, "metadata", "namespace");
}

const char *kl_object_uid(const json_t *object)
{
    return string_at(object, "metadata", "uid");
}

const char *kl_object_resource_version(const json_t *object)
{
    return string_at(object, "metadata", "resourceVersion");
}

const char *kl_object_label(const json_t *object, const char *key)
{
    const json_t *labels = json_object_get(json_object_get(object, "metadata"), "labels");
    return json_string_value(json_object_get(labels, key));
}

const char *kl_pod_node_name(const json_t *pod)
{
    return string_at(pod, "spec", "nodeName");
}

const char *kl_pod_phase(const json_t *pod)
{
    return string_at(pod, "status", "phase");
}

int64_t kl_object_revision(const json_t *object)
{
    const json_t *rv = json_object_get(json_object_get(object, "metadata"), "resourceVersion");
    if (!rv)
        return 0;
    /* Clients sometimes send a number; accept it as Kubernetes tolerates. */
    if (json_is_integer(rv))
        return json_integer_value(rv) >= 0 ? json_integer_value(rv) : -1;
    const char *text = json_string_value(rv);
    if (!text)
        return -1;
    if (!*text)
        return 0;
    int64_t value = 0;
    for (const char *p = text; *p; p++) {
        if (!isdigit((unsigned char)*p) || value > (INT64_MAX - 9) / 10)
            return -1;
        value = value * 10 + (*p - '0');
    }
    return value;
}

int kl_object_set_resource_version(json_t *object, int64_t revision)
{
    json_t *metadata = json_object_get(object, "metadata");
    if (!json_is_object(metadata)) {
        metadata = json_object();
        if (!metadata || json_object_set_new(object, "metadata", metadata) < 0)
            return -1;
    }
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, revision);
    return json_object_set_new(metadata, "resourceVersion", json_string(text));
}

/* ---- names ----------------------------------------------------------- */

static int is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

static int dns1123_label_n(const char *text, size_t len)
{
    if (len == 0 || len > 63 || !is_lower_alnum(text[0]) || !is_lower_alnum(text[len - 1]))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_lower_alnum(text[i]) && text[i] != '-')
            return 0;
    return 1;
}

int kl_name_is_dns1123_label(const char *text)
{
    return text && dns1123_label_n(text, strlen(text));
}

int kl_name_is_dns1123_subdomain(const char *text)
{
    if (!text)
        return 0;
    size_t len = strlen(text);
    if (len == 0 || len > 253)
        return 0;
    const char *start = text;
    for (;;) {
        const char *dot = strchr(start, '.');
        size_t n = dot ? (size_t)(dot - start) : strlen(start);
        if (!dns1123_label_n(start, n))
            return 0;
        if (!dot)
            return 1;
        start = dot + 1;
    }
}

/* ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], the shape of label names and values. */
static int qualified_part_ok(const char *text, size_t len)
{
    if (len == 0 || !is_alnum(text[0]) || !is_alnum(text[len - 1]))
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_alnum(text[i]) && text[i] != '-' && text[i] != '_' && text[i] != '.')
            return 0;
    return 1;
}

int kl_label_key_check(const char *key, char *why, size_t why_size)
{
    if (!key || !*key) {
        snprintf(why, why_size, "name part must be non-empty");
        return -1;
    }
    const char *slash = strchr(key, '/');
    const char *name = key;
    if (slash) {
        size_t prefix_len = (size_t)(slash - key);
        char prefix[254];
        if (prefix_len == 0 || prefix_len > 253) {
            snprintf(why, why_size, "prefix part must be a DNS-1123 subdomain of at most 253 characters");
            return -1;
        }
        memcpy(prefix, key, prefix_len);
        prefix[prefix_len] = '\0';
        if (!kl_name_is_dns1123_subdomain(prefix)) {
            snprintf(why, why_size,
                     "prefix part a lowercase RFC 1123 subdomain must consist of lower case "
                     "alphanumeric characters, '-' or '.', and must start and end with an "
                     "alphanumeric character");
            return -1;
        }
        name = slash + 1;
        if (strchr(name, '/')) {
            snprintf(why, why_size, "a qualified name must have at most one '/'");
            return -1;
        }
    }
    size_t len = strlen(name);
    if (len == 0) {
        snprintf(why, why_size, "name part must be non-empty");
        return -1;
    }
    if (len > 63) {
        snprintf(why, why_size, "name part must be no more than 63 characters");
        return -1;
    }
    if (!qualified_part_ok(name, len)) {
        snprintf(why, why_size,
                 "name part must consist of alphanumeric characters, '-', '_' or '.', and "
                 "must start and end with an alphanumeric character");
        return -1;
    }
    return 0;
}

int kl_label_value_check(const char *value, char *why, size_t why_size)
{
    size_t len = value ? strlen(value) : 0;
    if (len == 0)
        return 0;
    if (len > 63) {
        snprintf(why, why_size, "must be no more than 63 characters");
        return -1;
    }
    if (!qualified_part_ok(value, len)) {
        snprintf(why, why_size,
                 "a valid label must be an empty string or consist of alphanumeric characters, "
                 "'-', '_' or '.', and must start and end with an alphanumeric character");
        return -1;
    }
    return 0;
}

/* ---- uid and time ---------------------------------------------------- */

/* One buffer per thread so the API server never contends, refilled by one
 * read() per 256 uids. */
static __thread unsigned char random_pool[4096];
static __thread size_t random_used = sizeof random_pool;

static int random_refill(kl_error_t *err)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_set(err, KL_ERR_INTERNAL, "cannot open /dev/urandom for uids: %s",
                            strerror(errno));
    size_t got = 0;
    while (got < sizeof random_pool) {
        ssize_t n = read(fd, random_pool + got, sizeof random_pool - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = errno;
            close(fd);
            return kl_error_set(err, KL_ERR_INTERNAL, "cannot read /dev/urandom for uids: %s",
                                n < 0 ? strerror(saved) : "unexpected end of file");
        }
        got += (size_t)n;
    }
    close(fd);
    random_used = 0;
    return 0;
}

int kl_uuid_generate(char out[KL_UUID_SIZE], kl_error_t *err)
{
    if (random_used + 16 > sizeof random_pool && random_refill(err) < 0)
        return -1;
    unsigned char b[16];
    memcpy(b, random_pool + random_used, 16);
    random_used += 16;
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);  /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
    return 0;
}

void kl_timestamp_now(char out[KL_TIMESTAMP_SIZE])
{
    /* Formatting is cached per second: creates come in bursts. */
    static __thread time_t cached_second = -1;
    static __thread char cached[KL_TIMESTAMP_SIZE];
    time_t now = time(NULL);
    if (now != cached_second) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%SZ", &tm);
        cached_second = now;
    }
    memcpy(out, cached, KL_TIMESTAMP_SIZE);
}

void kl_micro_time_format(int64_t ms, char out[KL_TIMESTAMP_SIZE])
{
    time_t seconds = (time_t)(ms / 1000);
    int64_t micros = (ms % 1000) * 1000;
    if (micros < 0) {
        seconds--;
        micros += 1000000;
    }
    struct tm tm;
    char whole[24];
    gmtime_r(&seconds, &tm);
    strftime(whole, sizeof whole, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, KL_TIMESTAMP_SIZE, "%.20s.%06" PRId64 "Z", whole, micros);
}

/* Reads exactly `count` digits at *p into *value, advancing *p. */
static int fixed_digits(const char **p, int count, int *value)
{
    int v = 0;
    for (int i = 0; i < count; i++, (*p)++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
    }
    *value = v;
    return 0;
}

int kl_timestamp_is_valid(const char *text)
{
    static const int month_days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, month, day, hour, minute, second;
    const char *p = text;
    if (!p || fixed_digits(&p, 4, &year) < 0 || *p++ != '-' || fixed_digits(&p, 2, &month) < 0
        || *p++ != '-' || fixed_digits(&p, 2, &day) < 0 || (*p != 'T' && *p != 't'))
        return 0;
    p++;
    if (fixed_digits(&p, 2, &hour) < 0 || *p++ != ':' || fixed_digits(&p, 2, &minute) < 0
        || *p++ != ':' || fixed_digits(&p, 2, &second) < 0)
        return 0;
    if (month < 1 || month > 12 || day < 1 || day > month_days[month - 1] || hour > 23
        || minute > 59 || second > 60)
        return 0;
    if (*p == '.') {
        const char *start = ++p;
        while (isdigit((unsigned char)*p))
            p++;
        if (p == start || p - start > 9)
            return 0;
    }
    if (*p == 'Z' || *p == 'z')
        return p[1] == '\0';
    int offset_hours, offset_minutes;
    if (*p != '+' && *p != '-')
        return 0;
    p++;
    if (fixed_digits(&p, 2, &offset_hours) < 0 || *p++ != ':'
        || fixed_digits(&p, 2, &offset_minutes) < 0)
        return 0;
    return *p == '\0' && offset_hours <= 23 && offset_minutes <= 59;
}

/* ---- defaults -------------------------------------------------------- */

static json_t *ensure_object(json_t *parent, const char *field)
{
    json_t *child = json_object_get(parent, field);
    if (child)
        return json_is_object(child) ? child : NULL;
    child = json_object();
    if (json_object_set_new(parent, field, child) < 0)
        return NULL;
    return child;
}

int kl_object_set_defaults(json_t *object, kl_error_t *err)
{
    if (!json_is_object(object))
        return kl_error_set(err, KL_ERR_INVALID, "object must be a JSON object");
    const kl_kind_info_t *info = kl_kind_lookup(kl_object_kind(object));
    if (!info)
        return 0;  /* validation names the problem */
    json_t *metadata = ensure_object(object, "metadata");
    if (!metadata)
        return 0;
    if (info->namespaced) {
        const char *ns = kl_object_namespace(object);
        if (!json_object_get(metadata, "namespace") || (ns && !*ns))
            json_object_set_new(metadata, "namespace", json_string(KL_DEFAULT_NAMESPACE));
    } else {
        const char *ns = kl_object_namespace(object);
        if (ns && !*ns)
            json_object_del(metadata, "namespace");
    }
    if (strcmp(info->kind, "Pod") == 0) {
        json_t *spec = json_object_get(object, "spec");
        if (json_is_object(spec)) {
            if (!json_object_get(spec, "restartPolicy"))
                json_object_set_new(spec, "restartPolicy", json_string("Always"));
            if (!json_object_get(spec, "terminationGracePeriodSeconds"))
                json_object_set_new(spec, "terminationGracePeriodSeconds", json_integer(30));
        }
        json_t *status = ensure_object(object, "status");
        if (status && !json_object_get(status, "phase"))
            json_object_set_new(status, "phase", json_string("Pending"));
    } else if (info->index == KL_KIND_REPLICASET || info->index == KL_KIND_DEPLOYMENT) {
        json_t *spec = json_object_get(object, "spec");
        if (json_is_object(spec) && !json_object_get(spec, "replicas"))
            json_object_set_new(spec, "replicas", json_integer(1));
        if (info->index == KL_KIND_DEPLOYMENT && json_is_object(spec)) {
            if (!json_object_get(spec, "revisionHistoryLimit"))
                json_object_set_new(spec, "revisionHistoryLimit", json_integer(10));
            json_t *strategy = ensure_object(spec, "strategy");
            if (strategy && !json_object_get(strategy, "type"))
                json_object_set_new(strategy, "type", json_string("RollingUpdate"));
            if (strategy && strcmp(json_string_value(json_object_get(strategy, "type")) ?
                                   json_string_value(json_object_get(strategy, "type")) : "",
                                   "RollingUpdate") == 0) {
                json_t *rolling = ensure_object(strategy, "rollingUpdate");
                if (rolling && !json_object_get(rolling, "maxSurge"))
                    json_object_set_new(rolling, "maxSurge", json_string("25%"));
                if (rolling && !json_object_get(rolling, "maxUnavailable"))
                    json_object_set_new(rolling, "maxUnavailable", json_string("25%"));
            }
        }
        ensure_object(object, "status");
    }
    return 0;
}

int kl_object_prepare_create(json_t *object, kl_error_t *err)
{
    if (kl_object_set_defaults(object, err) < 0)
        return -1;
    json_t *metadata = json_object_get(object, "metadata");
    if (json_is_object(metadata)) {
        char uid[KL_UUID_SIZE];
        char now[KL_TIMESTAMP_SIZE];
        if (kl_uuid_generate(uid, err) < 0)
            return -1;
        kl_timestamp_now(now);
        json_object_set_new(metadata, "uid", json_string(uid));
        json_object_set_new(metadata, "creationTimestamp", json_string(now));
        json_object_del(metadata, "resourceVersion");
    }
    return kl_object_validate(object, err);
}

/* ---- validation ------------------------------------------------------ */

typedef struct check {
    const char *kind;
    const char *name;
    kl_error_t *err;
    const char *prefix;  /* "spec.template." while checking a pod template */
} check_t;

__attribute__((format(printf, 3, 4)))
static int invalid(check_t *c, const char *path, const char *fmt, ...)
{
    char reason[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return kl_error_set(c->err, KL_ERR_INVALID, "%s \"%.100s\" is invalid: %s%s: %s", c->kind,
                        c->name ? c->name : "", c->prefix ? c->prefix : "", path, reason);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    default: return "null";
    }
}

static int expect_type(check_t *c, const char *path, const json_t *v, json_type type,
                       const char *wanted)
{
    if (json_typeof(v) == type || (type == JSON_TRUE && json_is_boolean(v)))
        return 0;
    return invalid(c, path, "Invalid value: %s: must be %s", type_name(v), wanted);
}

/* Optional field that must be a string when present. */
static int optional_string(check_t *c, const json_t *parent, const char *field, const char *path)
{
    const json_t *v = json_object_get(parent, field);
    return v ? expect_type(c, path, v, JSON_STRING, "a string") : 0;
}

/* Paths are formatted only when something is wrong: validation runs on every
 * write and snprintf would dominate its cost. */
#define PATH(buf, ...) (snprintf((buf), sizeof(buf), __VA_ARGS__), (buf))

static int string_map(check_t *c, const json_t *map, const char *path, int labels)
{
    if (expect_type(c, path, map, JSON_OBJECT, "an object of strings") < 0)
        return -1;
    const char *key;
    const json_t *value;
    char sub[400], why[256];
    json_object_foreach((json_t *)map, key, value) {
        if (kl_label_key_check(key, why, sizeof why) < 0)
            return invalid(c, path, "Invalid value: \"%.100s\": %s", key, why);
        if (!json_is_string(value))
            return invalid(c, PATH(sub, "%.200s[%.100s]", path, key),
                           "Invalid value: %s: must be a string", type_name(value));
        if (labels && kl_label_value_check(json_string_value(value), why, sizeof why) < 0)
            return invalid(c, PATH(sub, "%.200s[%.100s]", path, key), "Invalid value: \"%.100s\": %s",
                           json_string_value(value), why);
    }
    return 0;
}

/* ownerReferences: [{apiVersion, kind, name, uid, controller?}]; at most
 * one controller, and never the object itself. Longer cycles are caught by
 * the API server, which can look the owners up. */
static int check_owner_references(check_t *c, const json_t *metadata)
{
    const json_t *refs = json_object_get(metadata, "ownerReferences");
    if (!refs)
        return 0;
    if (expect_type(c, "metadata.ownerReferences", refs, JSON_ARRAY, "an array") < 0)
        return -1;
    const char *own_uid = json_string_value(json_object_get(metadata, "uid"));
    int controllers = 0;
    size_t i;
    const json_t *ref;
    char path[96];
    json_array_foreach(refs, i, ref) {
        snprintf(path, sizeof path, "metadata.ownerReferences[%zu]", i);
        if (expect_type(c, path, ref, JSON_OBJECT, "an object") < 0)
            return -1;
        static const char *const required[] = {"apiVersion", "kind", "name", "uid"};
        for (size_t k = 0; k < 4; k++) {
            const json_t *v = json_object_get(ref, required[k]);
            snprintf(path, sizeof path, "metadata.ownerReferences[%zu].%s", i, required[k]);
            if (!v || (json_is_string(v) && !*json_string_value(v)))
                return invalid(c, path, "Required value");
            if (expect_type(c, path, v, JSON_STRING, "a string") < 0)
                return -1;
        }
        const json_t *controller = json_object_get(ref, "controller");
        snprintf(path, sizeof path, "metadata.ownerReferences[%zu].controller", i);
        if (controller && expect_type(c, path, controller, JSON_TRUE, "a boolean") < 0)
            return -1;
        controllers += json_is_true(controller);
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (own_uid && strcmp(uid, own_uid) == 0) {
            snprintf(path, sizeof path, "metadata.ownerReferences[%zu].uid", i);
            return invalid(c, path, "Invalid value: \"%.60s\": an object cannot own itself", uid);
        }
    }
    if (controllers > 1)
        return invalid(c, "metadata.ownerReferences", "Invalid value: only one reference can have controller set to true");
    return 0;
}

static int check_metadata(check_t *c, const json_t *object, const kl_kind_info_t *info)
{
    const json_t *metadata = json_object_get(object, "metadata");
    if (!metadata)
        return invalid(c, "metadata.name", "Required value");
    if (expect_type(c, "metadata", metadata, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *name = json_object_get(metadata, "name");
    if (!name || (json_is_string(name) && !*json_string_value(name)))
        return invalid(c, "metadata.name", "Required value");
    if (expect_type(c, "metadata.name", name, JSON_STRING, "a string") < 0)
        return -1;
    if (!kl_name_is_dns1123_subdomain(json_string_value(name)))
        return invalid(c, "metadata.name",
                       "Invalid value: \"%.100s\": a lowercase RFC 1123 subdomain must consist of "
                       "lower case alphanumeric characters, '-' or '.', must start and end with "
                       "an alphanumeric character and be at most 253 characters",
                       json_string_value(name));
    const json_t *ns = json_object_get(metadata, "namespace");
    if (info->namespaced) {
        if (!ns || (json_is_string(ns) && !*json_string_value(ns)))
            return invalid(c, "metadata.namespace", "Required value");
        if (expect_type(c, "metadata.namespace", ns, JSON_STRING, "a string") < 0)
            return -1;
        if (!kl_name_is_dns1123_label(json_string_value(ns)))
            return invalid(c, "metadata.namespace",
                           "Invalid value: \"%.100s\": a lowercase RFC 1123 label must consist of "
                           "lower case alphanumeric characters or '-', must start and end with an "
                           "alphanumeric character and be at most 63 characters",
                           json_string_value(ns));
    } else if (ns && !(json_is_string(ns) && !*json_string_value(ns))) {
        return invalid(c, "metadata.namespace", "Forbidden: not allowed on this type");
    }
    if (optional_string(c, metadata, "uid", "metadata.uid") < 0
        || optional_string(c, metadata, "creationTimestamp", "metadata.creationTimestamp") < 0)
        return -1;
    const json_t *rv = json_object_get(metadata, "resourceVersion");
    if (rv && kl_object_revision(object) < 0)
        return invalid(c, "metadata.resourceVersion",
                       "Invalid value: must be a decimal revision such as \"42\"");
    const json_t *labels = json_object_get(metadata, "labels");
    if (labels && string_map(c, labels, "metadata.labels", 1) < 0)
        return -1;
    const json_t *annotations = json_object_get(metadata, "annotations");
    if (annotations && string_map(c, annotations, "metadata.annotations", 0) < 0)
        return -1;
    return check_owner_references(c, metadata);
}

/* Quantities are strings in Kubernetes, but YAML turns "cpu: 1" into a
 * number, so plain numbers are accepted too. */
static const char *quantity_text(const json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, size, "%.15g", json_real_value(v));
        return buf;
    }
    return NULL;
}

static int parse_quantity(const json_t *v, int cpu, int64_t *out, kl_error_t *err)
{
    char buf[64];
    const char *text = quantity_text(v, buf, sizeof buf);
    if (!text)
        return kl_error_set(err, KL_ERR_INVALID, "quantity must be a string such as \"%s\"",
                            cpu ? "500m" : "64Mi");
    return cpu ? kl_quantity_parse_cpu(text, out, err) : kl_quantity_parse_memory(text, out, err);
}

/* Checks one resource list (requests or limits); cpu/memory/pods parsed into
 * out[0..2] (-1 when absent). */
static int resource_list(check_t *c, const json_t *list, const char *path, int64_t out[3])
{
    out[0] = out[1] = out[2] = -1;
    if (expect_type(c, path, list, JSON_OBJECT, "an object of quantities") < 0)
        return -1;
    const char *key;
    const json_t *value;
    char sub[400];
    json_object_foreach((json_t *)list, key, value) {
        int slot = strcmp(key, "cpu") == 0 ? 0 : strcmp(key, "memory") == 0 ? 1
                 : strcmp(key, "pods") == 0 ? 2 : -1;
        kl_error_t qerr;
        int64_t parsed;
        char buf[64];
        const char *text = quantity_text(value, buf, sizeof buf);
        if (!text)
            return invalid(c, PATH(sub, "%.200s.%.100s", path, key),
                           "Invalid value: %s: must be a quantity string", type_name(value));
        if (slot < 0)
            continue;  /* extended resources pass through unchecked */
        if (parse_quantity(value, slot == 0, &parsed, &qerr) < 0)
            return invalid(c, PATH(sub, "%.200s.%.100s", path, key), "Invalid value: \"%.64s\": %s",
                           text, qerr.text);
        out[slot] = parsed;
    }
    return 0;
}

static int check_string_array(check_t *c, const json_t *array, const char *path)
{
    if (expect_type(c, path, array, JSON_ARRAY, "an array of strings") < 0)
        return -1;
    size_t i;
    const json_t *item;
    char sub[400];
    json_array_foreach(array, i, item) {
        if (!json_is_string(item))
            return invalid(c, PATH(sub, "%.200s[%zu]", path, i),
                           "Invalid value: %s: must be a string", type_name(item));
    }
    return 0;
}

static int empty_string(const json_t *v)
{
    return json_is_string(v) && json_string_length(v) == 0;
}

static int check_container(check_t *c, const json_t *container, size_t index)
{
    char sub[400];
    if (!json_is_object(container))
        return expect_type(c, PATH(sub, "spec.containers[%zu]", index), container, JSON_OBJECT,
                           "an object");
    const json_t *name = json_object_get(container, "name");
    if (!name || empty_string(name))
        return invalid(c, PATH(sub, "spec.containers[%zu].name", index), "Required value");
    if (!json_is_string(name))
        return expect_type(c, PATH(sub, "spec.containers[%zu].name", index), name, JSON_STRING,
                           "a string");
    if (!kl_name_is_dns1123_label(json_string_value(name)))
        return invalid(c, PATH(sub, "spec.containers[%zu].name", index),
                       "Invalid value: \"%.100s\": a lowercase RFC 1123 label must consist of "
                       "lower case alphanumeric characters or '-', must start and end with an "
                       "alphanumeric character and be at most 63 characters",
                       json_string_value(name));
    const json_t *image = json_object_get(container, "image");
    if (!image || empty_string(image))
        return invalid(c, PATH(sub, "spec.containers[%zu].image", index), "Required value");
    if (!json_is_string(image))
        return expect_type(c, PATH(sub, "spec.containers[%zu].image", index), image, JSON_STRING,
                           "a string");
    static const char *const arrays[] = {"command", "args"};
    for (int i = 0; i < 2; i++) {
        const json_t *v = json_object_get(container, arrays[i]);
        if (v && check_string_array(c, v, PATH(sub, "spec.containers[%zu].%s", index, arrays[i])) < 0)
            return -1;
    }
    const json_t *dir = json_object_get(container, "workingDir");
    if (dir && !json_is_string(dir))
        return expect_type(c, PATH(sub, "spec.containers[%zu].workingDir", index), dir,
                           JSON_STRING, "a string");
    const json_t *env = json_object_get(container, "env");
    if (env) {
        if (!json_is_array(env))
            return expect_type(c, PATH(sub, "spec.containers[%zu].env", index), env, JSON_ARRAY,
                               "an array of {name, value}");
        size_t i;
        const json_t *var;
        json_array_foreach(env, i, var) {
            if (!json_is_object(var))
                return expect_type(c, PATH(sub, "spec.containers[%zu].env[%zu]", index, i), var,
                                   JSON_OBJECT, "an object with name and value");
            const json_t *var_name = json_object_get(var, "name");
            if (!var_name || empty_string(var_name))
                return invalid(c, PATH(sub, "spec.containers[%zu].env[%zu].name", index, i),
                               "Required value");
            if (!json_is_string(var_name))
                return expect_type(c, PATH(sub, "spec.containers[%zu].env[%zu].name", index, i),
                                   var_name, JSON_STRING, "a string");
            if (strchr(json_string_value(var_name), '='))
                return invalid(c, PATH(sub, "spec.containers[%zu].env[%zu].name", index, i),
                               "Invalid value: \"%.100s\": must not contain '='",
                               json_string_value(var_name));
            const json_t *var_value = json_object_get(var, "value");
            if (var_value && !json_is_string(var_value))
                return expect_type(c, PATH(sub, "spec.containers[%zu].env[%zu].value", index, i),
                                   var_value, JSON_STRING, "a string");
        }
    }
    const json_t *resources = json_object_get(container, "resources");
    if (resources) {
        if (!json_is_object(resources))
            return expect_type(c, PATH(sub, "spec.containers[%zu].resources", index), resources,
                               JSON_OBJECT, "an object");
        int64_t requests[3] = {-1, -1, -1}, limits[3] = {-1, -1, -1};
        const json_t *r = json_object_get(resources, "requests");
        if (r && resource_list(c, r, PATH(sub, "spec.containers[%zu].resources.requests", index),
                               requests) < 0)
            return -1;
        const json_t *l = json_object_get(resources, "limits");
        if (l && resource_list(c, l, PATH(sub, "spec.containers[%zu].resources.limits", index),
                               limits) < 0)
            return -1;
        static const char *const names[] = {"cpu", "memory"};
        for (int i = 0; i < 2; i++) {
            if (requests[i] >= 0 && limits[i] >= 0 && requests[i] > limits[i]) {
                char request_buf[64], limit_buf[64];
                return invalid(c, PATH(sub, "spec.containers[%zu].resources.requests", index),
                               "Invalid value: \"%s\": must be less than or equal to %s limit of %s",
                               quantity_text(json_object_get(r, names[i]), request_buf,
                                             sizeof request_buf),
                               names[i],
                               quantity_text(json_object_get(l, names[i]), limit_buf,
                                             sizeof limit_buf));
            }
        }
    }
    return 0;
}

/* "" (any effect, allowed on tolerations only) or a Kubernetes taint effect. */
static int check_taint_effect(check_t *c, const json_t *effect, const char *path)
{
    if (expect_type(c, path, effect, JSON_STRING, "a string") < 0)
        return -1;
    const char *e = json_string_value(effect);
    if (*e && strcmp(e, "NoSchedule") && strcmp(e, "PreferNoSchedule") && strcmp(e, "NoExecute"))
        return invalid(c, path, "Unsupported value: \"%.100s\": supported values: "
                       "\"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"", e);
    return 0;
}

/* Kubernetes' toleration rules: Equal (the default) compares a label value,
 * Exists takes no value, and an empty key means every key, with Exists. */
static int check_toleration(check_t *c, const json_t *toleration, size_t i)
{
    char path[64], why[256];
    if (expect_type(c, PATH(path, "spec.tolerations[%zu]", i), toleration, JSON_OBJECT,
                    "an object") < 0)
        return -1;
    const json_t *key = json_object_get(toleration, "key");
    const json_t *operator = json_object_get(toleration, "operator");
    const json_t *value = json_object_get(toleration, "value");
    const json_t *effect = json_object_get(toleration, "effect");
    const json_t *seconds = json_object_get(toleration, "tolerationSeconds");
    if (key && expect_type(c, PATH(path, "spec.tolerations[%zu].key", i), key, JSON_STRING,
                           "a string") < 0)
        return -1;
    if (value && expect_type(c, PATH(path, "spec.tolerations[%zu].value", i), value, JSON_STRING,
                             "a string") < 0)
        return -1;
    if (operator && expect_type(c, PATH(path, "spec.tolerations[%zu].operator", i), operator,
                                JSON_STRING, "a string") < 0)
        return -1;
    const char *k = key ? json_string_value(key) : "";
    const char *op = operator ? json_string_value(operator) : "";
    const char *v = value ? json_string_value(value) : "";
    if (*k && kl_label_key_check(k, why, sizeof why) < 0)
        return invalid(c, PATH(path, "spec.tolerations[%zu].key", i), "Invalid value: \"%.100s\": %s",
                       k, why);
    if (!*op || strcmp(op, "Equal") == 0) {
        if (!*k)
            return invalid(c, PATH(path, "spec.tolerations[%zu].operator", i),
                           "Invalid value: \"%.20s\": operator must be Exists when `key` is empty, "
                           "which means \"match all values and all keys\"", op);
        if (kl_label_value_check(v, why, sizeof why) < 0)
            return invalid(c, PATH(path, "spec.tolerations[%zu].value", i),
                           "Invalid value: \"%.100s\": %s", v, why);
    } else if (strcmp(op, "Exists") == 0) {
        if (*v)
            return invalid(c, PATH(path, "spec.tolerations[%zu].value", i),
                           "Invalid value: \"%.100s\": value must be empty when `operator` is "
                           "'Exists'", v);
    } else {
        return invalid(c, PATH(path, "spec.tolerations[%zu].operator", i),
                       "Unsupported value: \"%.100s\": supported values: \"Equal\", \"Exists\"",
                       op);
    }
    if (effect && check_taint_effect(c, effect, PATH(path, "spec.tolerations[%zu].effect", i)) < 0)
        return -1;
    if (seconds) {
        if (!json_is_integer(seconds))
            return invalid(c, PATH(path, "spec.tolerations[%zu].tolerationSeconds", i),
                           "Invalid value: %s: must be an integer", type_name(seconds));
        if (!effect || strcmp(json_string_value(effect), "NoExecute") != 0)
            return invalid(c, PATH(path, "spec.tolerations[%zu].effect", i),
                           "Invalid value: \"%.20s\": effect must be 'NoExecute' when "
                           "`tolerationSeconds` is set", effect ? json_string_value(effect) : "");
    }
    return 0;
}

static int check_pod(check_t *c, const json_t *pod)
{
    const json_t *spec = json_object_get(pod, "spec");
    if (!spec)
        return invalid(c, "spec.containers", "Required value");
    if (expect_type(c, "spec", spec, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *containers = json_object_get(spec, "containers");
    if (!containers || (json_is_array(containers) && json_array_size(containers) == 0))
        return invalid(c, "spec.containers", "Required value");
    if (expect_type(c, "spec.containers", containers, JSON_ARRAY, "an array") < 0)
        return -1;
    size_t i;
    const json_t *container;
    char path[64];
    json_array_foreach(containers, i, container) {
        if (check_container(c, container, i) < 0)
            return -1;
        const char *name = json_string_value(json_object_get(container, "name"));
        for (size_t j = 0; j < i; j++) {
            const char *other = json_string_value(json_object_get(json_array_get(containers, j), "name"));
            if (strcmp(name, other) == 0) {
                snprintf(path, sizeof path, "spec.containers[%zu].name", i);
                return invalid(c, path, "Duplicate value: \"%.100s\"", name);
            }
        }
    }
    const json_t *policy = json_object_get(spec, "restartPolicy");
    if (policy) {
        const char *p = json_string_value(policy);
        if (!p || (strcmp(p, "Always") && strcmp(p, "OnFailure") && strcmp(p, "Never")))
            return invalid(c, "spec.restartPolicy",
                           "Unsupported value: \"%.100s\": supported values: \"Always\", "
                           "\"OnFailure\", \"Never\"", p ? p : type_name(policy));
    }
    const json_t *node = json_object_get(spec, "nodeName");
    if (node) {
        if (expect_type(c, "spec.nodeName", node, JSON_STRING, "a string") < 0)
            return -1;
        const char *n = json_string_value(node);
        if (*n && !kl_name_is_dns1123_subdomain(n))
            return invalid(c, "spec.nodeName",
                           "Invalid value: \"%.100s\": must be a lowercase RFC 1123 subdomain", n);
    }
    const json_t *selector = json_object_get(spec, "nodeSelector");
    if (selector && string_map(c, selector, "spec.nodeSelector", 1) < 0)
        return -1;
    const json_t *tolerations = json_object_get(spec, "tolerations");
    if (tolerations) {
        if (expect_type(c, "spec.tolerations", tolerations, JSON_ARRAY, "an array") < 0)
            return -1;
        const json_t *toleration;
        json_array_foreach(tolerations, i, toleration)
            if (check_toleration(c, toleration, i) < 0)
                return -1;
    }
    const json_t *grace = json_object_get(spec, "terminationGracePeriodSeconds");
    if (grace) {
        if (!json_is_integer(grace))
            return invalid(c, "spec.terminationGracePeriodSeconds",
                           "Invalid value: %s: must be an integer", type_name(grace));
        if (json_integer_value(grace) < 0)
            return invalid(c, "spec.terminationGracePeriodSeconds",
                           "Invalid value: %" JSON_INTEGER_FORMAT
                           ": must be greater than or equal to 0", json_integer_value(grace));
    }
    const json_t *status = json_object_get(pod, "status");
    if (status) {
        if (expect_type(c, "status", status, JSON_OBJECT, "an object") < 0)
            return -1;
        const json_t *phase = json_object_get(status, "phase");
        if (phase) {
            const char *p = json_string_value(phase);
            static const char *const phases[] = {"Pending", "Running", "Succeeded", "Failed",
                                                 "Unknown"};
            int known = 0;
            for (int k = 0; p && k < 5; k++)
                known |= strcmp(p, phases[k]) == 0;
            if (!known)
                return invalid(c, "status.phase",
                               "Unsupported value: \"%.100s\": supported values: \"Pending\", "
                               "\"Running\", \"Succeeded\", \"Failed\", \"Unknown\"",
                               p ? p : type_name(phase));
        }
    }
    return 0;
}

static int check_node(check_t *c, const json_t *node)
{
    const json_t *spec = json_object_get(node, "spec");
    if (spec) {
        if (expect_type(c, "spec", spec, JSON_OBJECT, "an object") < 0)
            return -1;
        const json_t *unsched = json_object_get(spec, "unschedulable");
        if (unsched && expect_type(c, "spec.unschedulable", unsched, JSON_TRUE, "a boolean") < 0)
            return -1;
        const json_t *taints = json_object_get(spec, "taints");
        if (taints) {
            if (expect_type(c, "spec.taints", taints, JSON_ARRAY, "an array") < 0)
                return -1;
            size_t i;
            const json_t *taint;
            char path[64], why[256];
            json_array_foreach(taints, i, taint) {
                snprintf(path, sizeof path, "spec.taints[%zu]", i);
                if (expect_type(c, path, taint, JSON_OBJECT, "an object") < 0)
                    return -1;
                const char *key = json_string_value(json_object_get(taint, "key"));
                snprintf(path, sizeof path, "spec.taints[%zu].key", i);
                if (!key || !*key)
                    return invalid(c, path, "Required value");
                if (kl_label_key_check(key, why, sizeof why) < 0)
                    return invalid(c, path, "Invalid value: \"%.100s\": %s", key, why);
                snprintf(path, sizeof path, "spec.taints[%zu].value", i);
                if (optional_string(c, taint, "value", path) < 0)
                    return -1;
                const char *effect = json_string_value(json_object_get(taint, "effect"));
                snprintf(path, sizeof path, "spec.taints[%zu].effect", i);
                if (!effect || !*effect)
                    return invalid(c, path, "Required value");
                if (strcmp(effect, "NoSchedule") && strcmp(effect, "PreferNoSchedule")
                    && strcmp(effect, "NoExecute"))
                    return invalid(c, path,
                                   "Unsupported value: \"%.100s\": supported values: "
                                   "\"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\"", effect);
            }
        }
    }
    const json_t *status = json_object_get(node, "status");
    if (status) {
        if (expect_type(c, "status", status, JSON_OBJECT, "an object") < 0)
            return -1;
        static const char *const lists[] = {"capacity", "allocatable"};
        for (int i = 0; i < 2; i++) {
            const json_t *list = json_object_get(status, lists[i]);
            char path[64];
            int64_t parsed[3];
            snprintf(path, sizeof path, "status.%s", lists[i]);
            if (list && resource_list(c, list, path, parsed) < 0)
                return -1;
        }
    }
    return 0;
}

/* An int or a percentage string ("25%"), as maxSurge/maxUnavailable take. */
static int int_or_percent(check_t *c, const json_t *v, const char *path)
{
    if (json_is_integer(v))
        return json_integer_value(v) < 0 ? invalid(c, path, "Invalid value: %" JSON_INTEGER_FORMAT
                                                   ": must be greater than or equal to 0",
                                                   json_integer_value(v)) : 0;
    const char *text = json_string_value(v);
    if (text) {
        char *end;
        long n = strtol(text, &end, 10);
        if (end != text && n >= 0 && n <= 100 && strcmp(end, "%") == 0)
            return 0;
    }
    return invalid(c, path, "Invalid value: must be a non-negative integer or a percentage such as \"25%%\"");
}

/* ReplicaSet and Deployment share replicas, selector and template. */
static int check_replicaset(check_t *c, const json_t *object, int deployment)
{
    const json_t *spec = json_object_get(object, "spec");
    if (!spec)
        return invalid(c, "spec.selector", "Required value");
    if (expect_type(c, "spec", spec, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *replicas = json_object_get(spec, "replicas");
    if (replicas) {
        if (expect_type(c, "spec.replicas", replicas, JSON_INTEGER, "an integer") < 0)
            return -1;
        if (json_integer_value(replicas) < 0)
            return invalid(c, "spec.replicas", "Invalid value: %" JSON_INTEGER_FORMAT
                           ": must be greater than or equal to 0", json_integer_value(replicas));
    }
    const json_t *selector = json_object_get(spec, "selector");
    if (!selector)
        return invalid(c, "spec.selector", "Required value");
    if (expect_type(c, "spec.selector", selector, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *match = json_object_get(selector, "matchLabels");
    if (!match || json_is_null(match) || (json_is_object(match) && json_object_size(match) == 0))
        return invalid(c, "spec.selector.matchLabels", "Required value: empty selector is invalid");
    if (string_map(c, match, "spec.selector.matchLabels", 1) < 0)
        return -1;
    const json_t *template = json_object_get(spec, "template");
    if (!template)
        return invalid(c, "spec.template", "Required value");
    if (expect_type(c, "spec.template", template, JSON_OBJECT, "an object") < 0)
        return -1;
    const json_t *labels = json_object_get(json_object_get(template, "metadata"), "labels");
    if (labels && string_map(c, labels, "spec.template.metadata.labels", 1) < 0)
        return -1;
    const char *key;
    const json_t *value;
    json_object_foreach((json_t *)match, key, value) {
        const char *have = json_string_value(json_object_get(labels, key));
        if (!have || strcmp(have, json_string_value(value)) != 0)
            return invalid(c, "spec.template.metadata.labels",
                           "Invalid value: `selector` does not match template `labels` (%.100s=%.100s)",
                           key, json_string_value(value));
    }
    /* The template's spec is a pod spec: check it as one, with paths under
     * spec.template. */
    json_t *pod = json_pack("{s:O?}", "spec", json_object_get(template, "spec"));
    check_t inner = *c;
    inner.prefix = "spec.template.";
    int rc = check_pod(&inner, pod);
    json_decref(pod);
    if (rc < 0)
        return -1;
    if (!deployment)
        return 0;
    const json_t *strategy = json_object_get(spec, "strategy");
    if (strategy) {
        if (expect_type(c, "spec.strategy", strategy, JSON_OBJECT, "an object") < 0)
            return -1;
        const char *type = json_string_value(json_object_get(strategy, "type"));
        if (type && strcmp(type, "RollingUpdate") != 0 && strcmp(type, "Recreate") != 0)
            return invalid(c, "spec.strategy.type", "Unsupported value: \"%.60s\": supported values: "
                           "\"Recreate\", \"RollingUpdate\"", type);
        const json_t *rolling = json_object_get(strategy, "rollingUpdate");
        if (rolling) {
            const json_t *surge = json_object_get(rolling, "maxSurge");
            const json_t *unavailable = json_object_get(rolling, "maxUnavailable");
            if ((surge && int_or_percent(c, surge, "spec.strategy.rollingUpdate.maxSurge") < 0)
                || (unavailable && int_or_percent(c, unavailable,
                                                  "spec.strategy.rollingUpdate.maxUnavailable") < 0))
                return -1;
            int zero_surge = surge && ((json_is_integer(surge) && json_integer_value(surge) == 0)
                                       || (json_is_string(surge) && strcmp(json_string_value(surge), "0%") == 0));
            int zero_unavailable = unavailable && ((json_is_integer(unavailable) && json_integer_value(unavailable) == 0)
                                       || (json_is_string(unavailable) && strcmp(json_string_value(unavailable), "0%") == 0));
            if (zero_surge && zero_unavailable)
                return invalid(c, "spec.strategy.rollingUpdate.maxUnavailable",
                               "Invalid value: may not be 0 when maxSurge is 0");
        }
    }
    const json_t *history = json_object_get(spec, "revisionHistoryLimit");
    if (history && (!json_is_integer(history) || json_integer_value(history) < 0))
        return invalid(c, "spec.revisionHistoryLimit", "Invalid value: must be a non-negative integer");
    return 0;
}

static int check_event(check_t *c, const json_t *object)
{
    const json_t *involved = json_object_get(object, "involvedObject");
    if (!involved)
        return invalid(c, "involvedObject", "Required value");
    if (expect_type(c, "involvedObject", involved, JSON_OBJECT, "an object") < 0)
        return -1;
    static const char *const strings[] = {"reason", "message", "type"};
    for (size_t i = 0; i < 3; i++)
        if (optional_string(c, object, strings[i], strings[i]) < 0)
            return -1;
    return 0;
}

/* coordination.k8s.io/v1 Lease: who holds it, for how long, last renewed
 * when. Every spec field is optional, as in Kubernetes; present ones must
 * be well formed. */
static int check_lease(check_t *c, const json_t *object)
{
    const json_t *spec = json_object_get(object, "spec");
    if (!spec)
        return 0;
    if (expect_type(c, "spec", spec, JSON_OBJECT, "an object") < 0)
        return -1;
    if (optional_string(c, spec, "holderIdentity", "spec.holderIdentity") < 0)
        return -1;
    const json_t *duration = json_object_get(spec, "leaseDurationSeconds");
    if (duration) {
        if (expect_type(c, "spec.leaseDurationSeconds", duration, JSON_INTEGER, "an integer") < 0)
            return -1;
        if (json_integer_value(duration) <= 0)
            return invalid(c, "spec.leaseDurationSeconds", "Invalid value: %" JSON_INTEGER_FORMAT
                           ": must be greater than 0", json_integer_value(duration));
    }
    static const char *const times[] = {"renewTime", "acquireTime"};
    char path[64];
    for (size_t i = 0; i < 2; i++) {
        const json_t *when = json_object_get(spec, times[i]);
        if (!when)
            continue;
        snprintf(path, sizeof path, "spec.%s", times[i]);
        if (expect_type(c, path, when, JSON_STRING, "a string") < 0)
            return -1;
        if (!kl_timestamp_is_valid(json_string_value(when)))
            return invalid(c, path, "Invalid value: \"%.64s\": must be an RFC 3339 time such as "
                           "\"2006-01-02T15:04:05.000000Z\"", json_string_value(when));
    }
    const json_t *transitions = json_object_get(spec, "leaseTransitions");
    if (transitions) {
        if (expect_type(c, "spec.leaseTransitions", transitions, JSON_INTEGER, "an integer") < 0)
            return -1;
        if (json_integer_value(transitions) < 0)
            return invalid(c, "spec.leaseTransitions", "Invalid value: %" JSON_INTEGER_FORMAT
                           ": must be greater than or equal to 0", json_integer_value(transitions));
    }
    return 0;
}

int kl_object_validate(const json_t *object, kl_error_t *err)
{
    if (!json_is_object(object))
        return kl_error_set(err, KL_ERR_INVALID, "object must be a JSON object, not %s",
                            object ? type_name(object) : "nothing");
    const json_t *kind_value = json_object_get(object, "kind");
    const char *kind = json_string_value(kind_value);
    if (!kind_value || (kind && !*kind))
        return kl_error_set(err, KL_ERR_INVALID,
                            "object has no kind: keelson serves " KL_KINDS_SERVED);
    if (!kind)
        return kl_error_set(err, KL_ERR_INVALID, "object kind must be a string, not %s",
                            type_name(kind_value));
    const kl_kind_info_t *info = kl_kind_lookup(kind);
    if (!info)
        return kl_error_set(err, KL_ERR_INVALID, "unknown kind \"%.100s\": keelson serves " KL_KINDS_SERVED,
                            kind);
    check_t c = {info->kind, NULL, err, NULL};
    const json_t *metadata = json_object_get(object, "metadata");
    c.name = json_string_value(json_object_get(metadata, "name"));
    const json_t *api = json_object_get(object, "apiVersion");
    if (!api || (json_is_string(api) && !*json_string_value(api)))
        return invalid(&c, "apiVersion", "Required value");
    if (!json_is_string(api) || strcmp(json_string_value(api), info->api_version) != 0)
        return invalid(&c, "apiVersion", "Unsupported value: \"%.100s\": supported values: \"%s\"",
                       json_is_string(api) ? json_string_value(api) : type_name(api),
                       info->api_version);
    if (check_metadata(&c, object, info) < 0)
        return -1;
    switch (info->index) {
    case KL_KIND_POD: return check_pod(&c, object);
    case KL_KIND_NODE: return check_node(&c, object);
    case KL_KIND_REPLICASET: return check_replicaset(&c, object, 0);
    case KL_KIND_DEPLOYMENT: return check_replicaset(&c, object, 1);
    case KL_KIND_LEASE: return check_lease(&c, object);
    default: return check_event(&c, object);
    }
}

/* ---- resource requests ----------------------------------------------- */

int kl_pod_requests(const json_t *pod, int64_t *cpu_milli, int64_t *memory_bytes)
{
    int64_t cpu = 0, memory = 0;
    const json_t *containers = json_object_get(json_object_get(pod, "spec"), "containers");
    size_t i;
    const json_t *container;
    static const char *const names[] = {"cpu", "memory"};
    json_array_foreach(containers, i, container) {
        const json_t *resources = json_object_get(container, "resources");
        const json_t *requests = json_object_get(resources, "requests");
        const json_t *limits = json_object_get(resources, "limits");
        for (int k = 0; k < 2; k++) {
            const json_t *q = json_object_get(requests, names[k]);
            if (!q)
                q = json_object_get(limits, names[k]);
            if (!q)
                continue;
            int64_t value;
            if (parse_quantity(q, k == 0, &value, NULL) < 0)
                return -1;
            if (k == 0)
                cpu += value;
            else
                memory += value;
        }
    }
    if (cpu_milli)
        *cpu_milli = cpu;
    if (memory_bytes)
        *memory_bytes = memory;
    return 0;
}

/* ---- fast copy and encoding ------------------------------------------ */

json_t *kl_object_copy_for_write(const json_t *object)
{
    json_t *copy = json_copy((json_t *)object);
    if (!json_is_object(copy))
        return copy;
    static const char *const fields[] = {"metadata", "spec", "status"};
    for (int i = 0; i < 3; i++) {
        json_t *child = json_object_get(copy, fields[i]);
        if (json_is_object(child) && json_object_set_new(copy, fields[i], json_copy(child)) < 0) {
            json_decref(copy);
            return NULL;
        }
    }
    return copy;
}

