/* The kit's event recorder: Kubernetes-style Events through api.create. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <keelson/kit.h>

void kl_event_record(const kl_host_t *host, const json_t *involved, const char *type,
                     const char *reason, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    const json_t *metadata = json_object_get(involved, "metadata");
    const char *ns = json_string_value(json_object_get(metadata, "namespace"));
    const char *name = json_string_value(json_object_get(metadata, "name"));
    const char *uid = json_string_value(json_object_get(metadata, "uid"));
    const char *kind = json_string_value(json_object_get(involved, "kind"));
    int64_t now = host->realtime_ms(host);
    time_t seconds = (time_t)(now / 1000);
    struct tm tm;
    gmtime_r(&seconds, &tm);
    char stamp[32], event_name[320];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* Kubernetes names events <object>.<hex time>; the nanoseconds keep two
     * events of one object in the same millisecond apart. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(event_name, sizeof event_name, "%.200s.%llx", name ? name : "object",
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
    json_t *event = json_pack(
        "{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s}}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", event_name, "namespace",
        ns && *ns ? ns : "default", "involvedObject", "kind", kind ? kind : "", "name",
        name ? name : "", "namespace", ns ? ns : "", "uid", uid ? uid : "", "reason",
        reason ? reason : "Unknown", "message", message, "type", type ? type : "Normal", "count", 1,
        "firstTimestamp", stamp, "lastTimestamp", stamp, "source", "component",
        host->plugin_name ? host->plugin_name : "keelson");
    if (!event)
        return;
    json_t *payload = json_pack("{s:o}", "object", event);
    kl_error_t err = {0, ""};
    json_t *reply = host->request(host, "api.create", payload, 5000, &err);
    if (!reply)
        host->log(host, KL_LOG_DEBUG, "event %s for %s not recorded: %s", reason, name ? name : "?",
                  err.text);
    json_decref(reply);
    json_decref(payload);
}
