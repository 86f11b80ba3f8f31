/*
 * gmemctl snapshot [--parent PARENT] FILE SNAPFILE
 * gmemctl restore [--force] [--lazy [--record-ws] [--no-prefetch]] SNAPFILE FILE
 *
 * restore --lazy starts a lazy restore of a shim file in ask mode
 * (docs/lazy-restore.md) and prints its session; the daemon fills the file
 * on demand and in the background, and SESSIONS shows how far it got.
 * --force lets a secret snapshot into a file that is not secret
 * (docs/snapshot.md, "Secret snapshots").
 *
 * A progress bar on stderr when it is a terminal, and always one closing
 * line with the figures (sizes as gmctl_size() prints them, or a JSON
 * object with exact numbers with --json).  restore creates
 * FILE through the mount when it is absent and removes it again if the
 * restore fails, so a failed restore leaves nothing behind.
 *
 * Not for: the requests (libgmemfs, lib/snap.c) or the other subcommands
 * (gmemctl.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_snap.h"
#include "gmemfs_client.h"
#include "common/json.h"

struct snap_cli {
	const char *op;			/* "snapshot", "restore" */
	const char *file, *snapfile;
	bool json, bar;
	struct gmemfs_ctl *c;
	char *rel;			/* file, relative to the mount root */
};

static void progress_bar(uint64_t done, uint64_t total, void *arg)
{
	const struct snap_cli *s = arg;
	char d[GMCTL_SIZE_LEN], t[GMCTL_SIZE_LEN];
	int pct = total ? (int)(done * 100 / total) : 100;

	if (!s->bar)
		return;
	/* Trailing blanks: a shorter figure overwrites a longer one. */
	fprintf(stderr, "\r%s [%-40.*s] %3d%% %s of %s   ", s->op, pct * 40 / 100,
		"########################################", pct, gmctl_size(d, done),
		gmctl_size(t, total));
	if (done >= total)
		fputc('\n', stderr);
}

static int snap_fail(const struct snap_cli *s, const char *what, int err)
{
	const char *why = s->c ? gmemfs_ctl_reason(s->c) : "";

	fprintf(stderr, "gmemctl: %s %s: %s%s%s%s\n", s->op, what, strerror(-err),
		*why ? " (" : "", why, *why ? ")" : "");
	return 1;
}

static void report(const struct snap_cli *s, const char *from, const char *to,
		   const struct gmemfs_snap_stats *st)
{
	double secs = st->ns / 1e9;
	char bytes[GMCTL_SIZE_LEN], rate[GMCTL_SIZE_LEN], size[GMCTL_SIZE_LEN];

	if (s->json) {
		printf("{\"op\":\"%s\",\"from\":", s->op);
		gm_json_str(stdout, from);
		printf(",\"to\":");
		gm_json_str(stdout, to);
		printf(",\"bytes\":%llu,\"pages\":%llu,\"skipped\":%llu,\"extents\":%llu,"
		       "\"ns\":%llu,\"size\":%llu}\n", (unsigned long long)st->bytes, (unsigned long long)st->pages,
		       (unsigned long long)st->skipped, (unsigned long long)st->extents,
		       (unsigned long long)st->ns, (unsigned long long)st->size);
		return;
	}
	printf("%s %s -> %s: %s in %llu pages, %llu extents, %.2f s, %s/s "
	       "(%s of memory, %llu pages skipped)\n", s->op, from, to,
	       gmctl_size(bytes, st->bytes), (unsigned long long)st->pages,
	       (unsigned long long)st->extents, secs,
	       gmctl_size(rate, secs > 0 ? (uint64_t)(st->bytes / secs) : 0),
	       gmctl_size(size, st->size), (unsigned long long)st->skipped);
}

static void snap_cli_done(struct snap_cli *s)
{
	free(s->rel);
	gmemfs_ctl_close(s->c);
}

static int usage_err(const char *use)
{
	fprintf(stderr, "usage: gmemctl %s\n", use);
	return 2;
}

int cmd_snapshot(int argc, char **argv, bool json, const char *sock_path)
{
	static const struct option opts[] = {
		{ "parent", required_argument, NULL, 'p' },
		{ 0 }
	};
	struct snap_cli s = { .op = "snapshot", .json = json, .bar = isatty(2) };
	struct gmemfs_snap_stats st;
	const char *parent = NULL;
	int o, err;

	optind = 0;	/* a fresh getopt scan over the subcommand's words */
	while ((o = getopt_long(argc + 1, argv - 1, "+p:", opts, NULL)) != -1) {
		if (o != 'p')
			return usage_err("snapshot [--parent PARENT] FILE SNAPFILE");
		parent = optarg;
	}
	argc -= optind - 1;
	argv += optind - 1;
	if (argc != 2)
		return usage_err("snapshot [--parent PARENT] FILE SNAPFILE");
	s.file = argv[0];
	s.snapfile = argv[1];
	err = gmctl_connect(sock_path, s.file, &s.c, &s.rel);
	if (err)
		return snap_fail(&s, s.file, err);
	err = gmemfs_ctl_snapshot(s.c, s.rel, s.snapfile, parent, progress_bar, &s, &st);
	if (err)
		err = snap_fail(&s, s.file, err);
	else
		report(&s, s.file, s.snapfile, &st);
	snap_cli_done(&s);
	return err;
}

/* FILE through the mount when it is absent: 1 if made here, 0 if it was
 * there, or -errno. */
static int restore_target(const struct snap_cli *s, const char *sock_path)
{
	int fd;

	if (sock_path)
		return 0;	/* mount-relative: the file must exist */
	fd = open(s->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	return errno == EEXIST ? 0 : -errno;
}

#define RESTORE_USE "restore [--force] [--lazy [--record-ws] [--no-prefetch]] SNAPFILE FILE"

/* restore's options: *lazy, and GMEMFS_CTL_F_* in *flags; -2 on a usage
 * error.  argc/argv are left at the operands. */
static int restore_opts(int *argc, char ***argv, bool *lazy, uint32_t *flags)
{
	static const struct option opts[] = {
		{ "lazy", no_argument, NULL, 'l' },
		{ "record-ws", no_argument, NULL, 'r' },
		{ "no-prefetch", no_argument, NULL, 'n' },
		{ "force", no_argument, NULL, 'f' },
		{ 0 }
	};
	int o;

	*lazy = false;
	*flags = 0;
	optind = 0;
	while ((o = getopt_long(*argc + 1, *argv - 1, "+", opts, NULL)) != -1) {
		if (o == 'l')
			*lazy = true;
		else if (o == 'r')
			*flags |= GMEMFS_CTL_F_RECORD_WS;
		else if (o == 'n')
			*flags |= GMEMFS_CTL_F_NO_PREFETCH;
		else if (o == 'f')
			*flags |= GMEMFS_CTL_F_FORCE;
		else
			return -2;
	}
	*argc -= optind - 1;
	*argv += optind - 1;
	if (*argc != 2 || (*flags & ~GMEMFS_CTL_F_FORCE && !*lazy))
		return -2;
	return 0;
}

static void report_lazy(const struct snap_cli *s, uint64_t session)
{
	if (s->json) {
		printf("{\"op\":\"restore\",\"lazy\":true,\"from\":");
		gm_json_str(stdout, s->snapfile);
		printf(",\"to\":");
		gm_json_str(stdout, s->file);
		printf(",\"session\":%llu}\n", (unsigned long long)session);
		return;
	}
	printf("restore %s -> %s: lazy session %llu (ask mode); gmemctl sessions shows it\n",
	       s->snapfile, s->file, (unsigned long long)session);
}

/* The request itself: eager with figures, or lazy. */
static int restore_call(struct snap_cli *s, bool lazy, uint32_t flags,
			struct gmemfs_snap_stats *st, uint64_t *session)
{
	if (!lazy)
		return gmemfs_ctl_restore_flags(s->c, s->snapfile, s->rel, flags, progress_bar, s,
						st);
	return gmemfs_ctl_restore_lazy(s->c, s->snapfile, -1, NULL, 0, s->rel, flags, session);
}

int cmd_restore(int argc, char **argv, bool json, const char *sock_path)
{
	struct snap_cli s = { .op = "restore", .json = json, .bar = isatty(2) };
	struct gmemfs_snap_stats st;
	uint64_t session = 0;
	uint32_t flags;
	bool lazy;
	int made, err;

	if (restore_opts(&argc, &argv, &lazy, &flags))
		return usage_err(RESTORE_USE);
	s.snapfile = argv[0];
	s.file = argv[1];
	made = restore_target(&s, sock_path);
	if (made < 0)
		return snap_fail(&s, s.file, made);
	err = gmctl_connect(sock_path, s.file, &s.c, &s.rel);
	if (!err)
		err = restore_call(&s, lazy, flags, &st, &session);
	if (err) {
		snap_fail(&s, s.file, err);
		if (made == 1 && unlink(s.file))
			fprintf(stderr, "gmemctl: restore: removing %s again: %s\n", s.file,
				strerror(errno));
		err = 1;
	} else if (lazy) {
		report_lazy(&s, session);
	} else {
		report(&s, s.snapfile, s.file, &st);
	}
	snap_cli_done(&s);
	return err;
}
