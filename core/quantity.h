/* Kubernetes resource quantities: "500m" or "2" CPUs, "128Mi" or "1G" bytes. */
#ifndef KL_CORE_QUANTITY_H
#define KL_CORE_QUANTITY_H

#include <stdint.h>
#include <keelson/error.h>

/* CPU in millicores: "2" -> 2000, "250m" -> 250, "0.5" -> 500. */
int kl_quantity_parse_cpu(const char *text, int64_t *millicores, kl_error_t *err);
/* Memory in bytes: "64Mi", "1Gi", "500M", "1e3", "1024". */
int kl_quantity_parse_memory(const char *text, int64_t *bytes, kl_error_t *err);
/* Formats back into the shortest exact Kubernetes form. */
void kl_quantity_format_cpu(int64_t millicores, char *buf, size_t size);
void kl_quantity_format_memory(int64_t bytes, char *buf, size_t size);

#endif
