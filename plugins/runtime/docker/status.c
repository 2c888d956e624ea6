/* runtime/docker: what dockerd's State says of a container (status, exit
 * code, OOM kill, times), in keelson's terms and Kubernetes' reasons. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "docker.h"

/* dockerd's RFC 3339 times ("2024-01-02T03:04:05.123456789Z"); its zero
 * time, year 1, means never. */
static int64_t time_ms(const char *text)
{
    if (!text)
        return 0;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int consumed = 0;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
               &tm.tm_sec, &consumed) != 6 || tm.tm_year < 1970)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const char *p = text + consumed;
    int64_t millis = 0, scale = 100;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++, scale /= 10)
            millis += (*p - '0') * scale;
    int64_t offset_s = 0;
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1])) {
        int hours = 0, minutes = 0;
        if (sscanf(p + 1, "%2d:%2d", &hours, &minutes) == 2)
            offset_s = (hours * 3600 + minutes * 60) * (*p == '+' ? 1 : -1);
    }
    time_t seconds = timegm(&tm);
    if (seconds == (time_t)-1)
        return 0;
    return ((int64_t)seconds - offset_s) * 1000 + millis;
}

int status_from_state(const json_t *state, const char *id, kl_container_status_t *status, kl_error_t *err)
{
    memset(status, 0, sizeof *status);
    const char *text = json_string_value(json_object_get(state, "Status"));
    const json_t *exit_code = json_object_get(state, "ExitCode");
    if (!json_is_object(state) || !text || !json_is_integer(exit_code))
        return kl_error_set(err, KL_ERR_INTERNAL, "dockerd's description of container %.80s has no State.Status "
                            "and State.ExitCode", id);
    const char *error = json_string_value(json_object_get(state, "Error"));
    status->started_at_ms = time_ms(json_string_value(json_object_get(state, "StartedAt")));
    status->finished_at_ms = time_ms(json_string_value(json_object_get(state, "FinishedAt")));
    /* dockerd stamps StartedAt and FinishedAt from different events; for a
     * container that exits at once they can come out a millisecond reversed. */
    if (status->finished_at_ms && status->finished_at_ms < status->started_at_ms)
        status->finished_at_ms = status->started_at_ms;
    status->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
    long long code = json_integer_value(exit_code);
    if (code < 0 || code > 255)
        code = 255;
    if (!strcmp(text, "running") || !strcmp(text, "paused") || !strcmp(text, "restarting")) {
        status->state = KL_CONTAINER_RUNNING;
    } else if (!strcmp(text, "exited") || !strcmp(text, "dead") || !strcmp(text, "removing")
               || (!strcmp(text, "created") && error && error[0])) {
        status->state = KL_CONTAINER_EXITED;
        status->exit_code = (int)code;
        if (error && error[0] && status->started_at_ms == 0) {
            status->exit_code = code ? (int)code : 128;
            snprintf(status->reason, sizeof status->reason, "ContainerCannotRun");
        } else if (status->oom_killed) {
            snprintf(status->reason, sizeof status->reason, "OOMKilled");
        } else {
            snprintf(status->reason, sizeof status->reason, "%s", code == 0 ? "Completed" : "Error");
        }
        if (error && error[0])
            snprintf(status->message, sizeof status->message, "%s", error);
    } else if (!strcmp(text, "created")) {
        status->state = KL_CONTAINER_CREATED;
    } else {
        status->state = KL_CONTAINER_UNKNOWN;
        snprintf(status->reason, sizeof status->reason, "Unknown");
        snprintf(status->message, sizeof status->message, "dockerd reports container state \"%.64s\"", text);
    }
    return 0;
}
