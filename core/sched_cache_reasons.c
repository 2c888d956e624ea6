/* Why a pod fits nowhere: the reasons filters give, counted per node and
 * written as Kubernetes' "0/N nodes are available: ..." message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_cache_internal.h"

/* Adds one to `text`'s count; reasons past the table's end are folded into
 * the last slot rather than lost. */
void kl_sched_reason_add(reason_count_t *reasons, size_t *count, size_t max, const char *text)
{
    for (size_t i = 0; i < *count; i++) {
        if (strcmp(reasons[i].text, text) == 0) {
            reasons[i].count++;
            return;
        }
    }
    if (*count == max) {
        reasons[max - 1].count++;
        return;
    }
    snprintf(reasons[*count].text, sizeof reasons[*count].text, "%s", text);
    reasons[*count].count = 1;
    (*count)++;
}

static int reason_compare(const void *a, const void *b)
{
    const reason_count_t *x = a, *y = b;
    if (x->count != y->count)
        return y->count - x->count;
    return strcmp(x->text, y->text);
}

void kl_sched_format_reasons(reason_count_t *reasons, size_t count, size_t node_count,
                             char *message, size_t size)
{
    qsort(reasons, count, sizeof *reasons, reason_compare);
    size_t used = (size_t)snprintf(message, size, "0/%zu nodes are available", node_count);
    if (node_count == 0 && used < size)
        used += (size_t)snprintf(message + used, size - used, ": no nodes are registered");
    for (size_t i = 0; i < count && used < size; i++)
        used += (size_t)snprintf(message + used, size - used, "%s%d %s", i ? ", " : ": ",
                                 reasons[i].count, reasons[i].text);
    if (used < size)
        snprintf(message + used, size - used, ".");
}
