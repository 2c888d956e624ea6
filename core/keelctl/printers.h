/* Output for keelctl: kubectl-shaped tables (pods, nodes), their derived
 * columns (STATUS, READY, AGE...), and json / yaml / name output. */
#ifndef KL_KEELCTL_PRINTERS_H
#define KL_KEELCTL_PRINTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <jansson.h>
#include <keelson/error.h>

typedef enum kl_output_format {
    KL_OUTPUT_TABLE,
    KL_OUTPUT_WIDE,
    KL_OUTPUT_JSON,
    KL_OUTPUT_YAML,
    KL_OUTPUT_NAME
} kl_output_format_t;

/* "wide", "json", "yaml", "name" (NULL or "" is the table). */
int kl_output_format_parse(const char *text, kl_output_format_t *format, kl_error_t *err);

/* kubectl's human durations: 5s, 119s, 3m20s, 15m, 2h30m, 10h, 3d4h, 40d, 2y3d. */
void kl_age_format(int64_t seconds, char *buf, size_t size);
/* RFC 3339 UTC or with offset ("2026-01-02T03:04:05Z", fractions allowed), as
 * kl_time_parse_rfc3339 reads it, in whole seconds. */
int kl_timestamp_parse(const char *text, time_t *when);
/* AGE of an object from metadata.creationTimestamp; "<unknown>" without one. */
void kl_object_age(const json_t *object, time_t now, char *buf, size_t size);

/* Pod STATUS as kubectl derives it: the phase, unless a container is waiting
 * or terminated with a reason (ContainerCreating, Completed, Error,
 * CrashLoopBackOff...), "Init:..." while init containers run, Terminating
 * once deletion started. */
void kl_pod_status_text(const json_t *pod, char *buf, size_t size);
/* READY: "ready/total" containers. */
void kl_pod_ready_text(const json_t *pod, char *buf, size_t size);
/* RESTARTS: the sum of the containers' restart counts. */
int64_t kl_pod_restarts(const json_t *pod);
/* Node STATUS: Ready or NotReady, plus ",SchedulingDisabled" if cordoned. */
void kl_node_status_text(const json_t *node, char *buf, size_t size);
/* ROLES from node-role.kubernetes.io/<role> labels, or "<none>". */
void kl_node_roles_text(const json_t *node, char *buf, size_t size);

/* "pod", "node": the lower-case kind used in "pod/web". */
void kl_kind_singular(const char *kind, char *buf, size_t size);

/* Table header and one row for `kind` ("Pod" or "Node"), as arrays of
 * strings (caller owns). `all_namespaces` adds a NAMESPACE column first.
 * A row uses the object's own kind when it has one. */
json_t *kl_table_header(const char *kind, bool wide, bool all_namespaces);
json_t *kl_table_row(const json_t *object, const char *kind, bool wide, bool all_namespaces,
                     time_t now);

/* Prints rows (arrays of strings) in columns three spaces apart, kubectl's
 * layout. `widths` (may be NULL) holds `columns` column widths that are
 * widened to fit and kept, so rows printed later (get --watch) line up with
 * earlier ones. */
void kl_table_print(FILE *out, const json_t *rows, size_t *widths, size_t columns);

/* Prints objects of one kind in `format`. `single` (one named object) prints
 * json/yaml as the object itself rather than a v1 List. Returns 0 or -1. */
int kl_print_objects(FILE *out, const json_t *items, const char *kind, kl_output_format_t format,
                     bool single, bool all_namespaces, time_t now, kl_error_t *err);

#endif
