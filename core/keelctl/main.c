/* keelctl: the kubectl-shaped command line client of keelson. Parses flags
 * (anywhere on the line, as kubectl allows) and runs one command. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <czmq.h>

#include "bench_scheduler.h"
#include "commands.h"
#include "logs.h"
#include "workloads.h"
#include "log.h"

static const char help_text[] =
    "keelctl controls a keelson cluster.\n"
    "\n"
    "Usage: keelctl COMMAND [ARGS] [FLAGS]\n"
    "\n"
    "Commands:\n"
    "  apply -f FILE|-              create objects, or update the ones that exist\n"
    "  create -f FILE|-             create objects\n"
    "  get TYPE [NAME...]           list or show pods (pods, pod, po) or nodes (nodes, node, no)\n"
    "  describe TYPE NAME...        show one object in detail\n"
    "  delete TYPE NAME... | -f FILE\n"
    "                               delete objects\n"
    "  logs POD [-c C] [-f]         print a container's output; -f follows it\n"
    "  cordon NODE / uncordon NODE  stop / resume placing new pods on a node\n"
    "  taint nodes NODE key=value:Effect | key:Effect | key[:Effect]-\n"
    "                               add or (with a trailing -) remove node taints\n"
    "  scale deploy/NAME|rs/NAME --replicas=N\n"
    "                               set the number of replicas\n"
    "  rollout status|history|undo deploy/NAME [--timeout=T] [--to-revision=N]\n"
    "                               follow, list or roll back a deployment's rollout\n"
    "  version                      print the client version and check the server\n"
    "  bench scheduler --plugins A,B  compare scheduler plugins (see bench scheduler --help)\n"
    "  help                         print this help\n"
    "\n"
    "Flags:\n"
    "  -s, --server ENDPOINT        master endpoint (else $KEELSON_SERVER, else `server` in\n"
    "                               $KEELSON_CONFIG or ~/.keelson/keelctl.conf, else\n"
    "                               " KL_CLIENT_DEFAULT_SERVER ")\n"
    "      --request-timeout MS     how long to wait for each reply (default 5000)\n"
    "  -n, --namespace NS           namespace of pods (default \"default\")\n"
    "  -A, --all-namespaces         get pods of every namespace\n"
    "  -f, --filename FILE          manifest: YAML (documents split by ---) or JSON; - reads stdin\n"
    "  -o, --output FORMAT          wide, json, yaml or name\n"
    "  -l, --selector SELECTOR      label selector, e.g. app=web,tier!=db\n"
    "      --field-selector S       e.g. spec.nodeName=n1,status.phase=Running\n"
    "  -w, --watch                  after listing, print every change until interrupted\n"
    "      --client                 version: do not contact the server\n"
    "  -h, --help                   print this help\n";

enum { OPT_REQUEST_TIMEOUT = 256, OPT_FIELD_SELECTOR, OPT_CLIENT, OPT_REPLICAS, OPT_TIMEOUT,
       OPT_TO_REVISION, OPT_CASCADE };

static const struct option long_options[] = {
    {"server", required_argument, NULL, 's'},
    {"request-timeout", required_argument, NULL, OPT_REQUEST_TIMEOUT},
    {"namespace", required_argument, NULL, 'n'},
    {"all-namespaces", no_argument, NULL, 'A'},
    {"filename", required_argument, NULL, 'f'},
    {"output", required_argument, NULL, 'o'},
    {"selector", required_argument, NULL, 'l'},
    {"field-selector", required_argument, NULL, OPT_FIELD_SELECTOR},
    {"watch", no_argument, NULL, 'w'},
    {"client", no_argument, NULL, OPT_CLIENT},
    {"replicas", required_argument, NULL, OPT_REPLICAS},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"to-revision", required_argument, NULL, OPT_TO_REVISION},
    {"cascade", required_argument, NULL, OPT_CASCADE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Milliseconds, optionally written with an "ms" or "s" suffix. */
static int parse_timeout(const char *text, int *timeout_ms)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (end == text || value <= 0)
        return -1;
    if (strcmp(end, "s") == 0)
        value *= 1000;
    else if (*end && strcmp(end, "ms") != 0)
        return -1;
    if (value > 3600000)
        return -1;
    *timeout_ms = (int)value;
    return 0;
}

int main(int argc, char **argv)
{
    kl_cli_t cli;
    kl_cli_init(&cli);
    /* Keep SIGINT's default (exit) instead of czmq's flag-setting handler:
     * a request should stop on Ctrl-C, not wait out its timeout. */
    zsys_handler_set(NULL);
    kl_log_set_level(KL_LOG_WARN);
    if (kl_logs_command_is(argc, argv))
        return kl_cmd_logs_main(argc, argv);
    /* bench has flags of its own and needs no server. */
    if (argc > 1 && strcmp(argv[1], "bench") == 0)
        return kl_cmd_bench(argc - 1, argv + 1);

    const char *server = NULL, *output = NULL;
    kl_workload_flags_t workload_flags;
    kl_workload_flags_init(&workload_flags);
    char *number_end;
    bool help = false;
    int opt;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":s:n:Af:o:l:wh", long_options, NULL)) != -1) {
        switch (opt) {
        case 's': server = optarg; break;
        case 'n': cli.namespace_name = optarg; break;
        case 'A': cli.all_namespaces = true; break;
        case 'f': cli.filename = optarg; break;
        case 'o': output = optarg; break;
        case 'l': cli.label_selector = optarg; break;
        case 'w': cli.watch = true; break;
        case 'h': help = true; break;
        case OPT_FIELD_SELECTOR: cli.field_selector = optarg; break;
        case OPT_CLIENT: cli.client_only = true; break;
        case OPT_REPLICAS:
            workload_flags.replicas = strtoll(optarg, &number_end, 10);
            if (number_end == optarg || *number_end || workload_flags.replicas < 0
                || workload_flags.replicas > 1000000)
                return kl_cli_usage_error(&cli, "--replicas \"%s\" is not a number between 0 and 1000000",
                                          optarg);
            break;
        case OPT_TIMEOUT:
            if (parse_timeout(optarg, &workload_flags.timeout_ms) < 0)
                return kl_cli_usage_error(&cli, "--timeout \"%s\" is not a duration such as 90s or "
                                                "5000ms (at most one hour)", optarg);
            break;
        case OPT_TO_REVISION:
            workload_flags.to_revision = strtoll(optarg, &number_end, 10);
            if (number_end == optarg || *number_end || workload_flags.to_revision < 0)
                return kl_cli_usage_error(&cli, "--to-revision \"%s\" is not a revision number", optarg);
            break;
        case OPT_CASCADE: workload_flags.cascade = optarg; break;
        case OPT_REQUEST_TIMEOUT:
            if (parse_timeout(optarg, &cli.timeout_ms) < 0)
                return kl_cli_usage_error(&cli,
                                          "--request-timeout \"%s\" is not a number of "
                                          "milliseconds between 1 and 3600000",
                                          optarg);
            break;
        case ':':
            return kl_cli_usage_error(&cli, "flag %s needs a value", argv[optind - 1]);
        case '?':
        default:
            if (optopt && optopt < 256)
                return kl_cli_usage_error(&cli, "unknown flag -%c", optopt);
            return kl_cli_usage_error(&cli, "unknown flag %s", argv[optind - 1]);
        }
    }
    const char *command = optind < argc ? argv[optind] : NULL;
    int rest_count = optind < argc ? argc - optind - 1 : 0;
    char **rest = argv + optind + (optind < argc ? 1 : 0);
    if (help || !command || strcmp(command, "help") == 0) {
        fputs(help_text, stdout);
        return 0;
    }
    kl_error_t err;
    if (kl_output_format_parse(output, &cli.format, &err) < 0)
        return kl_cli_usage_error(&cli, "%s", err.text);
    if (kl_client_config_resolve(&cli.config, server, &err) < 0) {
        fprintf(stderr, "error: %s\n", err.text);
        return 1;
    }

    int rc;
    if (strcmp(command, "apply") == 0)
        rc = kl_cmd_apply(&cli, rest_count, rest, false);
    else if (strcmp(command, "create") == 0)
        rc = kl_cmd_apply(&cli, rest_count, rest, true);
    else if (strcmp(command, "get") == 0)
        rc = kl_cmd_get(&cli, rest_count, rest);
    else if (strcmp(command, "delete") == 0)
        rc = kl_cmd_delete_cascade(&cli, rest_count, rest, workload_flags.cascade);
    else if (strcmp(command, "scale") == 0)
        rc = kl_cmd_scale(&cli, &workload_flags, rest_count, rest);
    else if (strcmp(command, "rollout") == 0)
        rc = kl_cmd_rollout(&cli, &workload_flags, rest_count, rest);
    else if (strcmp(command, "describe") == 0)
        rc = kl_cmd_describe(&cli, rest_count, rest);
    else if (strcmp(command, "cordon") == 0 || strcmp(command, "uncordon") == 0)
        rc = kl_cmd_cordon(&cli, rest_count, rest, strcmp(command, "cordon") == 0);
    else if (strcmp(command, "taint") == 0)
        rc = kl_cmd_taint(&cli, rest_count, rest);
    else if (strcmp(command, "version") == 0)
        rc = kl_cmd_version(&cli, rest_count, rest);
    else
        rc = kl_cli_usage_error(&cli, "unknown command \"%s\"", command);
    kl_cli_fini(&cli);
    return rc;
}
