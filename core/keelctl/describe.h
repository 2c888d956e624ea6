/* `keelctl describe`: pods and nodes written out for people, as kubectl
 * describe lays them out. */
#ifndef KL_KEELCTL_DESCRIBE_H
#define KL_KEELCTL_DESCRIBE_H

#include <stdio.h>
#include <jansson.h>

/* Both borrow their arguments. */
void kl_describe_pod(FILE *out, const json_t *pod);
/* `pods` (may be NULL) are the pods bound to the node, listed at the end. */
void kl_describe_node(FILE *out, const json_t *node, const json_t *pods);

#endif
