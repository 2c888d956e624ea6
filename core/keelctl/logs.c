/* keelctl logs: finds the pod's node with api.get, the kubelet service
 * that node names (annotation keelson.io/kubelet-service, else
 * kubelet-<node>), and prints what kubelet-*.logs returns; -f keeps asking
 * from the returned offset until the pod has finished or SIGINT. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <czmq.h>

#include "bus.h"
#include "client_config.h"
#include "kubelet_service.h"
#include "log.h"
#include "logs.h"

#define LOGS_POLL_MS 500
#define LOGS_CHUNK_BYTES (256 * 1024)

static const char usage_line[] =
    "Usage: keelctl logs POD [-c CONTAINER] [-f] [-n NAMESPACE] [-s SERVER]\n";

static volatile sig_atomic_t stop_requested;

static void on_interrupt(int signal_number)
{
    (void)signal_number;
    stop_requested = 1;
}

static const struct option logs_options[] = {
    {"server", required_argument, NULL, 's'},
    {"namespace", required_argument, NULL, 'n'},
    {"container", required_argument, NULL, 'c'},
    {"follow", no_argument, NULL, 'f'},
    {"request-timeout", required_argument, NULL, 't'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

int kl_logs_command_is(int argc, char **argv)
{
    /* The first word that is neither a flag nor a flag's value. */
    static const char *const with_value[] = {"-s", "--server", "-n", "--namespace", "-f",
                                             "--filename", "-o", "--output", "-l", "--selector",
                                             "--field-selector", "--request-timeout", "-c",
                                             "--container", NULL};
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] != '-')
            return strcmp(argv[i], "logs") == 0;
        for (int k = 0; with_value[k]; k++)
            if (strcmp(argv[i], with_value[k]) == 0) {
                i++;
                break;
            }
    }
    return 0;
}

static int usage_error(const char *message, const char *detail)
{
    fprintf(stderr, "error: %s%s\n%s", message, detail ? detail : "", usage_line);
    return 1;
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    return 1;
}

/* The service that serves logs for `node_name`: what its Node says, else
 * the rule kubelets follow for a node of their own. */
static void service_of(kl_bus_client_t *client, const char *node_name, int timeout_ms,
                       char *service, size_t size)
{
    json_t *payload = json_pack("{s:s, s:s}", "kind", "Node", "name", node_name);
    kl_error_t err;
    json_t *node = kl_bus_request(client, "api.get", payload, timeout_ms, &err);
    json_decref(payload);
    const char *named = json_string_value(json_object_get(
        json_object_get(json_object_get(node, "metadata"), "annotations"),
        "keelson.io/kubelet-service"));
    if (named && *named && !strchr(named, '.'))
        snprintf(service, size, "%s", named);
    else
        kl_kubelet_service_name(node_name, service, size);
    json_decref(node);
}

static int pod_finished(const json_t *pod)
{
    const char *phase = json_string_value(json_object_get(json_object_get(pod, "status"),
                                                          "phase"));
    return phase && (strcmp(phase, "Succeeded") == 0 || strcmp(phase, "Failed") == 0);
}

typedef struct logs_request {
    kl_bus_client_t *client;
    const char *server;
    const char *namespace_name;
    const char *pod;
    const char *container;
    int timeout_ms;
    char method[300];
    char node[256];
} logs_request_t;

/* One logs call from *offset; prints the text and moves the offset.
 * Returns the bytes printed, or -1 after printing the error. */
static long logs_once(logs_request_t *req, json_int_t *offset)
{
    json_t *payload = json_pack("{s:s, s:s, s:I, s:i}", "namespace", req->namespace_name, "pod",
                                req->pod, "offset", *offset, "limitBytes", LOGS_CHUNK_BYTES);
    if (req->container)
        json_object_set_new(payload, "container", json_string(req->container));
    kl_error_t err;
    json_t *reply = kl_bus_request(req->client, req->method, payload, req->timeout_ms, &err);
    json_decref(payload);
    if (!reply) {
        if (err.code == KL_ERR_UNAVAILABLE || err.code == KL_ERR_TIMEOUT)
            fail("cannot reach the kubelet of node %s (%.*s) through %s: %s", req->node,
                 (int)(strchr(req->method, '.') - req->method), req->method, req->server,
                 err.text);
        else
            fail("%s", err.text);
        return -1;
    }
    const char *text = json_string_value(json_object_get(reply, "text"));
    json_t *next = json_object_get(reply, "offset");
    if (!text || !json_is_integer(next) || json_integer_value(next) < *offset) {
        json_decref(reply);
        fail("the kubelet of node %s sent a malformed logs reply", req->node);
        return -1;
    }
    size_t length = json_string_length(json_object_get(reply, "text"));
    fwrite(text, 1, length, stdout);
    fflush(stdout);
    *offset = json_integer_value(next);
    json_decref(reply);
    return (long)length;
}

int kl_cmd_logs_main(int argc, char **argv)
{
    const char *flag_server = NULL, *namespace_name = "default", *container = NULL;
    int follow = 0, timeout_ms = 5000;
    int opt;
    opterr = 0;
    optind = 1;
    while ((opt = getopt_long(argc, argv, ":s:n:c:fh", logs_options, NULL)) != -1) {
        switch (opt) {
        case 's': flag_server = optarg; break;
        case 'n': namespace_name = optarg; break;
        case 'c': container = optarg; break;
        case 'f': follow = 1; break;
        case 't': {
            char *end;
            long value = strtol(optarg, &end, 10);
            if (end == optarg || *end || value <= 0 || value > 3600000)
                return usage_error("--request-timeout must be milliseconds between 1 and "
                                   "3600000, not ", optarg);
            timeout_ms = (int)value;
            break;
        }
        case 'h': fputs(usage_line, stdout); return 0;
        case ':': return usage_error("flag needs a value: ", argv[optind - 1]);
        default: return usage_error("unknown flag for logs: ", argv[optind - 1]);
        }
    }
    const char *pod_name = NULL;
    for (int i = optind; i < argc; i++) {
        if (strcmp(argv[i], "logs") == 0 && !pod_name && i == optind)
            continue;
        if (pod_name)
            return usage_error("logs takes one pod name; extra argument: ", argv[i]);
        pod_name = argv[i];
    }
    if (!pod_name)
        return usage_error("logs needs a pod name", NULL);
    kl_client_config_t config;
    kl_error_t err;
    if (kl_client_config_resolve(&config, flag_server, &err) < 0)
        return fail("%s", err.text);
    logs_request_t req = {.server = config.server, .namespace_name = namespace_name,
                          .pod = pod_name, .container = container, .timeout_ms = timeout_ms};
    req.client = kl_bus_client_new(config.server, &err);
    if (!req.client)
        return fail("cannot reach keelson at %s: %s", config.server, err.text);
    int rc = 1;
    json_t *payload = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", namespace_name,
                                "name", pod_name);
    json_t *pod = kl_bus_request(req.client, "api.get", payload, timeout_ms, &err);
    json_decref(payload);
    const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"),
                                                         "nodeName"));
    if (!pod) {
        if (err.code == KL_ERR_NOT_FOUND)
            fail("pod \"%s\" not found in namespace \"%s\"", pod_name, namespace_name);
        else
            fail("cannot reach keelson at %s: %s", config.server, err.text);
        goto done;
    }
    if (!node || !*node) {
        fail("pod \"%s\" is not scheduled to a node yet", pod_name);
        goto done;
    }
    snprintf(req.node, sizeof req.node, "%s", node);
    char service[280];
    service_of(req.client, node, timeout_ms, service, sizeof service);
    snprintf(req.method, sizeof req.method, "%s.logs", service);
    json_int_t offset = 0;
    if (follow) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = on_interrupt;
        sigaction(SIGINT, &action, NULL);
        sigaction(SIGTERM, &action, NULL);
    }
    long got = logs_once(&req, &offset);
    if (got < 0)
        goto done;
    while (follow && !stop_requested) {
        if (got == 0) {
            /* Caught up: stop once the pod has finished and all is read. */
            json_decref(pod);
            payload = json_pack("{s:s, s:s, s:s}", "kind", "Pod", "namespace", namespace_name,
                                "name", pod_name);
            pod = kl_bus_request(req.client, "api.get", payload, timeout_ms, &err);
            json_decref(payload);
            if (!pod || pod_finished(pod)) {
                got = logs_once(&req, &offset);
                if (got <= 0)
                    break;
                continue;
            }
            usleep(LOGS_POLL_MS * 1000);
            if (stop_requested)
                break;
        }
        got = logs_once(&req, &offset);
        if (got < 0)
            goto done;
    }
    rc = 0;
done:
    json_decref(pod);
    kl_bus_client_destroy(&req.client);
    return rc;
}
