/*
 * gmemctl serve-uffd and sessions (docs/lazy-restore.md):
 *   serve-uffd [--record-ws] [--no-prefetch] [--mount=DIR] SNAPFILE SOCKET
 *     has the daemon listen at SOCKET for Firecracker VMMs and restore each
 *     lazily from SNAPFILE, until this command gets SIGINT or SIGTERM;
 *   sessions [--json] [MOUNT]: the lazy-restore sessions and their figures
 *     (BYTES and PREFETCHED as gmctl_size() prints them).
 * The daemon is found through --socket, --mount=DIR or (sessions) MOUNT.
 * Not for: the wire format (libgmemfs), other commands (gmemctl.c).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_lazy.h"
#include "gmemfs_client.h"

static int lazy_connect(const char *sock_path, const char *mount, struct gmemfs_ctl **c)
{
	int err = sock_path ? gmemfs_ctl_connect(sock_path, c) :
		  gmemfs_ctl_connect_path(mount, c, NULL);

	if (err)
		fprintf(stderr, "gmemctl: connect to the daemon of %s: %s\n",
			sock_path ? sock_path : mount, strerror(-err));
	return err;
}

static int lazy_fail(const char *what, int err, struct gmemfs_ctl *c)
{
	const char *why = gmemfs_ctl_reason(c);

	fprintf(stderr, "gmemctl: %s: %s%s%s%s\n", what, strerror(-err), *why ? " (" : "", why,
		*why ? ")" : "");
	gmemfs_ctl_close(c);
	return 1;
}

int cmd_serve_uffd(int argc, char **argv, const char *sock_path)
{
	static const struct option opts[] = {
		{ "record-ws", no_argument, NULL, 'r' },
		{ "no-prefetch", no_argument, NULL, 'n' },
		{ "mount", required_argument, NULL, 'm' },
		{ 0 }
	};
	const char *mount = NULL;
	struct gmemfs_ctl *c;
	uint32_t flags = 0;
	sigset_t stop;
	int o, sig, err;

	optind = 1;
	while ((o = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (o == 'r')
			flags |= GMEMFS_CTL_F_RECORD_WS;
		else if (o == 'n')
			flags |= GMEMFS_CTL_F_NO_PREFETCH;
		else if (o == 'm')
			mount = optarg;
		else
			return 2;
	}
	if (argc - optind != 2 || (!sock_path && !mount)) {
		fprintf(stderr, "usage: gmemctl [--socket=PATH] serve-uffd [--record-ws] "
			"[--no-prefetch] [--mount=DIR] SNAPFILE SOCKET\n");
		return 2;
	}
	if (lazy_connect(sock_path, mount, &c))
		return 1;
	/* Blocked before listening: a signal sent once we say so is not lost. */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	err = gmemfs_ctl_uffd_listen(c, argv[optind], argv[optind + 1], flags);
	if (err)
		return lazy_fail("serve-uffd", err, c);
	printf("listening on %s for Firecracker VMMs, serving %s\n", argv[optind + 1],
	       argv[optind]);
	fflush(stdout);
	sigwait(&stop, &sig);
	gmemfs_ctl_close(c);
	return 0;
}

static const char *lazy_state(uint32_t state)
{
	return state == GMEMFS_SESS_SERVING ? "serving" :
	       state == GMEMFS_SESS_COMPLETE ? "complete" : "?";
}

static int print_session(void *ctx, const struct gmemfs_session *s)
{
	char bytes[GMCTL_SIZE_LEN], prefetched[GMCTL_SIZE_LEN];
	bool json = *(bool *)ctx;
	static unsigned n;

	if (json)
		printf("%s{\"session\":%llu,\"pid\":%u,\"uid\":%u,\"state\":\"%s\",\"faults\":%llu,"
		       "\"minor\":%llu,\"bytes\":%llu,\"prefetched\":%llu,\"corrupt\":%llu,"
		       "\"removed\":%llu,\"ws\":%llu,\"lat_p50_ns\":%llu,\"lat_p99_ns\":%llu,"
		       "\"unit\":%llu}", n++ ? "," : "", (unsigned long long)s->id, s->pid, s->uid,
		       lazy_state(s->state), (unsigned long long)s->faults,
		       (unsigned long long)s->minor, (unsigned long long)s->bytes,
		       (unsigned long long)s->prefetched, (unsigned long long)s->corrupt,
		       (unsigned long long)s->removed, (unsigned long long)s->ws,
		       (unsigned long long)s->lat_p50_ns, (unsigned long long)s->lat_p99_ns,
		       (unsigned long long)s->unit);
	else
		printf("%-8llu %-8u %-9s %10llu %10llu %12s %12s %8llu %10llu %10llu\n",
		       (unsigned long long)s->id, s->pid, lazy_state(s->state),
		       (unsigned long long)s->faults, (unsigned long long)s->minor,
		       gmctl_size(bytes, s->bytes), gmctl_size(prefetched, s->prefetched),
		       (unsigned long long)s->corrupt, (unsigned long long)s->lat_p50_ns,
		       (unsigned long long)s->lat_p99_ns);
	return 0;
}

int cmd_sessions(int argc, char **argv, const char *sock_path, bool json)
{
	struct gmemfs_ctl *c;
	int err;

	if (argc > 2) {
		fprintf(stderr, "usage: gmemctl [--json] [--socket=PATH] sessions [MOUNT]\n");
		return 2;
	}
	if (lazy_connect(sock_path, argc > 1 ? argv[1] : ".", &c))
		return 1;
	if (json)
		putchar('[');
	else
		printf("%-8s %-8s %-9s %10s %10s %12s %12s %8s %10s %10s\n", "SESSION", "PID",
		       "STATE", "FAULTS", "MINOR", "BYTES", "PREFETCHED", "CORRUPT", "P50_NS",
		       "P99_NS");
	err = gmemfs_ctl_sessions(c, print_session, &json);
	if (json)
		printf("]\n");
	if (err)
		return lazy_fail("sessions", err, c);
	gmemfs_ctl_close(c);
	return 0;
}
