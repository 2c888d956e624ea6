/* Parsed watch selectors kept by their text: a client re-arming its watch
 * sends the same selector every time, and a kubelet hosting many nodes sends
 * `spec.nodeName in (...)` naming a thousand of them. */
#include <stdlib.h>
#include <string.h>

#include "apiserver_internal.h"

static int same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;  /* NULL and "" both match all */
}

static void memo_clear(api_selector_memo_t *m)
{
    free(m->label);
    free(m->field);
    kl_selector_destroy(&m->selector);
    memset(m, 0, sizeof *m);
}

kl_selector_t *kl_api_watch_selector(kl_apiserver_t *self, const json_t *payload, kl_error_t *err)
{
    const json_t *label = json_object_get(payload, "labelSelector");
    const json_t *field = json_object_get(payload, "fieldSelector");
    if ((label && !json_is_string(label)) || (field && !json_is_string(field)))
        return kl_api_request_selector(payload, err);  /* words the error */
    const char *label_text = json_string_value(label), *field_text = json_string_value(field);
    api_selector_memo_t *oldest = &self->selectors[0];
    for (size_t i = 0; i < KL_API_SELECTOR_MEMO; i++) {
        api_selector_memo_t *m = &self->selectors[i];
        if (m->selector && same_text(m->label, label_text) && same_text(m->field, field_text)) {
            m->used = ++self->selectors_clock;
            return kl_selector_ref(m->selector);
        }
        if (m->used < oldest->used)
            oldest = m;
    }
    kl_selector_t *selector = kl_api_request_selector(payload, err);
    if (!selector)
        return NULL;
    char *label_copy = strdup(label_text ? label_text : "");
    char *field_copy = strdup(field_text ? field_text : "");
    if (!label_copy || !field_copy) {  /* the watch still works, unshared */
        free(label_copy);
        free(field_copy);
        return selector;
    }
    memo_clear(oldest);
    oldest->label = label_copy;
    oldest->field = field_copy;
    oldest->selector = kl_selector_ref(selector);
    oldest->used = ++self->selectors_clock;
    return selector;
}

void kl_api_watch_selectors_clear(kl_apiserver_t *self)
{
    for (size_t i = 0; i < KL_API_SELECTOR_MEMO; i++)
        memo_clear(&self->selectors[i]);
}
