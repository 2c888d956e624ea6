/* Kubernetes resource quantities: "500m" or "2" CPUs, "128Mi" or "1G" bytes. */
#ifndef KL_CORE_QUANTITY_H
#define KL_CORE_QUANTITY_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <keelson/error.h>

/* CPU in millicores: "2" -> 2000, "250m" -> 250, "0.5" -> 500. */
int kl_quantity_parse_cpu(const char *text, int64_t *millicores, kl_error_t *err);
/* Memory in bytes: "64Mi", "1Gi", "500M", "1e3", "1024". */
int kl_quantity_parse_memory(const char *text, int64_t *bytes, kl_error_t *err);
/* Formats back into the shortest exact Kubernetes form. */
void kl_quantity_format_cpu(int64_t millicores, char *buf, size_t size);
void kl_quantity_format_memory(int64_t bytes, char *buf, size_t size);

/* A quantity field of an object as text: a string, or a number formatted into
 * `buf` (YAML turns "cpu: 1" into a number). NULL when it is neither. */
const char *kl_quantity_json_text(const json_t *value, char *buf, size_t size);
/* A cpu (`cpu` non-zero: millicores) or memory (bytes) quantity field as a
 * number. Errors start with "`where`: " when `where` is not NULL. */
int kl_quantity_from_json(const json_t *value, int cpu, int64_t *out, const char *where,
                          kl_error_t *err);

#endif
