/* Kubernetes-shaped API objects (Pod, Node, Lease...) as jansson values: kind table,
 * accessors, defaulting and validation with Kubernetes-style field paths. */
#ifndef KL_CORE_OBJECTS_H
#define KL_CORE_OBJECTS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "json_encode.h"
#include <keelson/error.h>

#define KL_API_VERSION "v1"
#define KL_UUID_SIZE 37       /* 36 characters and the NUL */
#define KL_TIMESTAMP_SIZE 32  /* "2006-01-02T15:04:05Z" and room to spare */

/* What the API server needs to know about a kind. Static, never freed. */
typedef struct kl_kind_info {
    int index;              /* 0..KL_KIND_COUNT-1, for per-kind tables */
    const char *kind;       /* "Pod" */
    const char *resource;   /* "pods": store keys and error messages */
    const char *list_kind;  /* "PodList" */
    const char *topic;      /* "api.pod": where changes are published */
    int namespaced;
    const char *api_version;  /* "v1", "apps/v1" */
} kl_kind_info_t;

enum {
    KL_KIND_POD, KL_KIND_NODE, KL_KIND_REPLICASET, KL_KIND_DEPLOYMENT, KL_KIND_EVENT,
    KL_KIND_LEASE
};
#define KL_KIND_COUNT 6
#define KL_KINDS_SERVED "Pod, Node, ReplicaSet, Deployment, Event and Lease"
/* Where kubelets keep their nodes' Leases, as in Kubernetes. */
#define KL_NODE_LEASE_NAMESPACE "kube-node-lease"
#define KL_DEFAULT_NAMESPACE "default"

/* NULL when `kind` (may be NULL) is not served. Borrowed, static. */
const kl_kind_info_t *kl_kind_lookup(const char *kind);

/* Accessors: every returned string is borrowed from the object and NULL when
 * the field is absent or not a string. */
const char *kl_object_kind(const json_t *object);
const char *kl_object_name(const json_t *object);
const char *kl_object_namespace(const json_t *object);
const char *kl_object_uid(const json_t *object);
const char *kl_object_resource_version(const json_t *object);
const char *kl_object_label(const json_t *object, const char *key);
const char *kl_pod_node_name(const json_t *pod);
const char *kl_pod_phase(const json_t *pod);

/* metadata.resourceVersion as a number: 0 when absent or empty, -1 when it
 * is not a decimal revision. */
int64_t kl_object_revision(const json_t *object);
/* The same for a resourceVersion's text. */
int64_t kl_revision_parse(const char *text);

/* Sets metadata.resourceVersion to the decimal `revision` (creating
 * metadata if needed). Returns 0 or -1 (out of memory, not an object). */
int kl_object_set_resource_version(json_t *object, int64_t revision);

/* Checks a whole object. -1 with KL_ERR_INVALID and a message such as
 * `Pod "web" is invalid: spec.containers[0].image: Required value`. */
int kl_object_validate(const json_t *object, kl_error_t *err);

/* Fills the defaults a create or update applies: namespace "default" for
 * namespaced kinds, restartPolicy Always, terminationGracePeriodSeconds 30,
 * status.phase Pending for pods. Leaves wrongly typed fields alone for
 * validation to report. Returns 0, or -1 when `object` is not an object. */
int kl_object_set_defaults(json_t *object, kl_error_t *err);

/* Defaults, then uid and creationTimestamp (always overwritten: a client may
 * not choose them), then validation. `object` is modified in place. */
int kl_object_prepare_create(json_t *object, kl_error_t *err);

/* Random RFC 4122 version 4 UUID. Reads /dev/urandom in bulk per thread.
 * Returns 0 or -1 with KL_ERR_INTERNAL. */
int kl_uuid_generate(char out[KL_UUID_SIZE], kl_error_t *err);

/* RFC 3339 UTC, second precision, of the current wall clock time. */
void kl_timestamp_now(char out[KL_TIMESTAMP_SIZE]);

/* Kubernetes' MicroTime of `ms` since the epoch: RFC 3339 UTC with six
 * fraction digits ("2026-11-29T04:38:00.123000Z"), as Lease renewTime. */
void kl_micro_time_format(int64_t ms, char out[KL_TIMESTAMP_SIZE]);

/* Is `text` RFC 3339 ("2026-11-29T04:38:00Z", optional fraction, "Z" or a
 * numeric offset) with fields in range? 1 or 0. */
int kl_timestamp_is_valid(const char *text);

/* RFC 3339 ("2024-05-01T10:00:00Z", fractions and offsets allowed) to
 * milliseconds since the epoch. Laxer than kl_timestamp_is_valid (any day up
 * to 31, any number of fraction digits): it reads what others wrote. */
int kl_time_parse_rfc3339(const char *text, int64_t *ms, kl_error_t *err);

/* Sum of the containers' cpu and memory requests (init containers and
 * overhead are not counted); a container with a limit but no request counts
 * its limit. 0 on success, -1 naming the field when spec.containers or a
 * quantity is malformed (validated objects always succeed). Either output
 * and `err` may be NULL. */
int kl_pod_requests(const json_t *pod, int64_t *cpu_milli, int64_t *memory_bytes,
                    kl_error_t *err);


/* A copy of `object` that may be modified in its top level and in its
 * metadata, spec and status objects (one level deep each); deeper values are
 * shared by reference with `object`, which must not be modified afterwards.
 * Caller owns the result; NULL when out of memory. */
json_t *kl_object_copy_for_write(const json_t *object);

/* Kubernetes name rules, shared with selectors. */
int kl_name_is_dns1123_label(const char *text);      /* <=63, [a-z0-9-], alnum ends */
int kl_name_is_dns1123_subdomain(const char *text);  /* <=253, labels joined by '.' */
/* Label key (qualified name, optional DNS subdomain prefix and '/') and label
 * value rules. Return 0 when valid; otherwise -1 with the reason, in
 * Kubernetes words, written to `why`. */
int kl_label_key_check(const char *key, char *why, size_t why_size);
int kl_label_value_check(const char *value, char *why, size_t why_size);

#endif
