/* keelctl logs: prints a container's output, asking the kubelet that runs
 * the pod (kubelet-<node>.logs) through the master's broker. */
#ifndef KL_KEELCTL_LOGS_H
#define KL_KEELCTL_LOGS_H

/* Is this command line `keelctl [FLAGS] logs ...`? */
int kl_logs_command_is(int argc, char **argv);

/* The whole `keelctl logs POD [-c CONTAINER] [-f] [-n NS] [-s SERVER]
 * [--request-timeout MS]` command; `argv` is keelctl's. Returns the exit
 * code: 0, or 1 after printing "error: ..." on stderr. */
int kl_cmd_logs_main(int argc, char **argv);

#endif
