/*
 * gmemctl metrics [PATH]: the METRICS answer of the daemon serving PATH
 * (default '.'), printed as is: the Prometheus text format, for a
 * node_exporter textfile collector or a scrape through a pipe.  --json
 * does not apply: the format is Prometheus's own.
 * Not for: rendering the figures (the daemon's fuse/metrics.c does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd_metrics.h"
#include "gmemfs_client.h"

int cmd_metrics(int argc, char **argv, const char *sock_path)
{
	const char *path = argc > 1 ? argv[1] : ".";
	struct gmemfs_ctl *c;
	size_t len;
	char *text;
	int err;

	if (argc > 2) {
		fprintf(stderr, "usage: gmemctl [--socket=PATH] metrics [PATH]\n");
		return 2;
	}
	err = sock_path ? gmemfs_ctl_connect(sock_path, &c) :
	      gmemfs_ctl_connect_path(path, &c, NULL);
	if (err) {
		fprintf(stderr, "gmemctl: connect to the daemon of %s: %s\n",
			sock_path ? sock_path : path, strerror(-err));
		return 1;
	}
	err = gmemfs_ctl_metrics(c, &text, &len);
	if (err) {
		const char *why = gmemfs_ctl_reason(c);

		fprintf(stderr, "gmemctl: metrics: %s%s%s%s\n", strerror(-err),
			*why ? " (" : "", why, *why ? ")" : "");
		gmemfs_ctl_close(c);
		return 1;
	}
	gmemfs_ctl_close(c);
	err = fwrite(text, 1, len, stdout) != len || fflush(stdout);
	free(text);
	if (err) {
		perror("gmemctl: metrics: writing");
		return 1;
	}
	return 0;
}
