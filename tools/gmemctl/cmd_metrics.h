/*
 * gmemctl metrics (cmd_metrics.c): the daemon's figures in the Prometheus
 * text format, as MOUNT/.gmemfs/metrics shows them.
 * Not for: other commands (gmemctl.c).
 */
#ifndef GMEMCTL_CMD_METRICS_H
#define GMEMCTL_CMD_METRICS_H

/* argv[0] is the command's name; sock_path is --socket, or NULL. */
int cmd_metrics(int argc, char **argv, const char *sock_path);

#endif
