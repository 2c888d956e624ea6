/* The kubelet-<node>.logs service: container logs read through the runtime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet_internal.h"

/* JSON strings must be UTF-8: bytes that are not become '?', and a
 * sequence cut by the end of the chunk is left for the next read. Returns
 * how many input bytes were consumed. */
static size_t utf8_clean(char *text, size_t length, int at_end)
{
    size_t i = 0;
    while (i < length) {
        unsigned char byte = (unsigned char)text[i];
        size_t need = byte < 0x80 ? 1 : (byte & 0xE0) == 0xC0 ? 2 : (byte & 0xF0) == 0xE0 ? 3
                      : (byte & 0xF8) == 0xF0 ? 4 : 0;
        if (need == 0 || byte == 0) {
            text[i++] = '?';
            continue;
        }
        if (i + need > length) {
            if (!at_end)
                return i;  /* complete it next time */
            for (; i < length; i++)
                text[i] = '?';
            return length;
        }
        size_t k = 1;
        while (k < need && ((unsigned char)text[i + k] & 0xC0) == 0x80)
            k++;
        if (k < need) {
            text[i++] = '?';
            continue;
        }
        i += need;
    }
    return length;
}

static json_t *serve_logs(kubelet_t *self, const json_t *payload, kl_error_t *err)
{
    const char *namespace_name = json_string_value(json_object_get(payload, "namespace"));
    const char *pod_name = json_string_value(json_object_get(payload, "pod"));
    const char *container_name = json_string_value(json_object_get(payload, "container"));
    json_t *offset_json = json_object_get(payload, "offset");
    json_t *limit_json = json_object_get(payload, "limitBytes");
    if (!pod_name || !*pod_name) {
        kl_error_set(err, KL_ERR_INVALID, "logs: \"pod\" must be a non-empty string");
        return NULL;
    }
    if ((offset_json && (!json_is_integer(offset_json) || json_integer_value(offset_json) < 0))
        || (limit_json && (!json_is_integer(limit_json) || json_integer_value(limit_json) <= 0))) {
        kl_error_set(err, KL_ERR_INVALID, "logs: \"offset\" must be an integer >= 0 and "
                     "\"limitBytes\" an integer > 0");
        return NULL;
    }
    if (!self->has_logs) {
        kl_error_set(err, KL_ERR_UNAVAILABLE, "runtime %s keeps no container logs",
                     self->plugin->label ? self->plugin->label : "(unnamed)");
        return NULL;
    }
    char key[512];
    snprintf(key, sizeof key, "%s/%s", namespace_name && *namespace_name ? namespace_name
                                                                         : "default", pod_name);
    kpod_t *pod = zhashx_lookup(self->pods, key);
    if (!pod || (!pod->valid && !pod->leftovers)) {
        kl_error_set(err, KL_ERR_NOT_FOUND, "pod \"%s\" is not running on %s", key,
                     self->node_name);
        return NULL;
    }
    if (!pod->valid) {
        /* Finished before this kubelet started: its one adopted container. */
        const char *id = zlistx_first(pod->leftovers);
        if (!id || (container_name && *container_name && pod->leftovers
                    && zlistx_size(pod->leftovers) > 1)) {
            kl_error_set(err, KL_ERR_NOT_FOUND, "pod \"%s\": its containers are gone", key);
            return NULL;
        }
        container_name = NULL;
    }
    kl_container_track_t *c = NULL;
    if (pod->valid) {
        if (!container_name || !*container_name) {
            if (pod->track.count != 1) {
                char names[256] = "";
                size_t used = 0;
                for (size_t i = 0; i < pod->track.count && used < sizeof names; i++)
                    used += (size_t)snprintf(names + used, sizeof names - used, "%s%s",
                                             i ? " " : "", pod->track.containers[i].name);
                kl_error_set(err, KL_ERR_INVALID, "a container name must be specified for pod "
                             "%s, choose one of: [%s]", pod->name, names);
                return NULL;
            }
            c = &pod->track.containers[0];
        }
        for (size_t i = 0; !c && i < pod->track.count; i++)
            if (strcmp(pod->track.containers[i].name, container_name) == 0)
                c = &pod->track.containers[i];
        if (!c) {
            kl_error_set(err, KL_ERR_NOT_FOUND, "container \"%s\" is not in pod \"%s\"",
                         container_name, pod->name);
            return NULL;
        }
    }
    const char *id = !c ? zlistx_first(pod->leftovers)
                     : c->id[0] ? c->id
                     : c->phase == KL_CONTAINER_TERMINATED ? c->exit.id
                     : c->has_last ? c->last.id : "";
    if (!id || !id[0]) {
        kl_error_set(err, KL_ERR_INVALID, "container \"%s\" in pod \"%s\" is waiting to start: "
                     "%s", c->name, pod->name, c->reason[0] ? c->reason : "ContainerCreating");
        return NULL;
    }
    int64_t offset = offset_json ? json_integer_value(offset_json) : 0;
    size_t limit = limit_json ? (size_t)json_integer_value(limit_json) : LOGS_DEFAULT_BYTES;
    if (limit > LOGS_MAX_BYTES)
        limit = LOGS_MAX_BYTES;
    char *buffer = malloc(limit + 1);
    if (!buffer) {
        kl_error_set(err, KL_ERR_INTERNAL, "out of memory reading logs of pod %s", key);
        return NULL;
    }
    size_t length = 0;
    if (self->runtime->logs(self->runtime_state, id, offset, buffer, limit, &length, err) < 0) {
        free(buffer);
        if (err->code == KL_OK)
            kl_error_set(err, KL_ERR_INTERNAL, "the runtime failed to read logs without "
                         "saying why");
        return NULL;
    }
    if (length > limit)
        length = limit;
    size_t used = utf8_clean(buffer, length, length < limit);
    json_t *reply = json_pack("{s:s%, s:I, s:s}", "text", buffer, used, "offset",
                              (json_int_t)(offset + (int64_t)used), "containerID", id);
    free(buffer);
    if (!reply)
        kl_error_set(err, KL_ERR_INTERNAL, "cannot encode the logs of pod %s", key);
    return reply;
}

json_t *kl_kubelet_serve_request(const char *method, const json_t *payload, void *arg,
                             kl_error_t *err)
{
    kubelet_t *self = arg;
    if (strcmp(method, "logs") == 0)
        return serve_logs(self, payload, err);
    kl_error_set(err, KL_ERR_INVALID, "%s has no method \"%s\" (it serves: logs)",
                 self->service_name, method);
    return NULL;
}
