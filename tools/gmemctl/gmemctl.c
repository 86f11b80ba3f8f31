/*
 * gmemctl: the operator's tool for gmemfs mounts, over the control socket.
 *   ls, stat, policy get|set, pool, top: human output (sizes in IEC units,
 *   exact bytes with --bytes), or JSON with --json (always exact);
 *   exec --fd N=PATH -- CMD: run CMD with a file's backing fd at number N,
 *   so that e.g. QEMU's mem-path=/dev/fd/N maps hugetlb or any memory.
 * Not for: the wire format (libgmemfs does that).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_discard.h"
#include "cmd_lazy.h"
#include "cmd_metrics.h"
#include "cmd_record.h"
#include "cmd_snap.h"
#include "gmemfs_client.h"
#include "common/json.h"

static bool json;
static const char *sock_path;	/* --socket: paths are then mount-relative */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gmemctl [--json|--bytes] [--socket=PATH] COMMAND [ARGS]\n"
		"  ls [DIR]                       entries of a directory\n"
		"  stat PATH                      what backs a file (or a directory's policy)\n"
		"  policy get PATH                page-size policy\n"
		"  policy set PATH VALUE          4k, 2m-thp, auto, ...\n"
		"  pool [PATH]                    the mount's pool and its providers\n"
		"  snapshot [--parent PARENT] FILE SNAPFILE\n"
		"                                 FILE's memory into SNAPFILE and SNAPFILE.idx\n"
		"  record-ws [--interval MS] [--duration S] FILE\n"
		"                                 record the running guest's working set for\n"
		"                                 FILE's next snapshot (its VMM arms it)\n"
		"  restore [--force] [--lazy [--record-ws] [--no-prefetch]] SNAPFILE FILE\n"
		"                                 fill FILE (made if absent) from a snapshot;\n"
		"                                 --lazy: a shim file, on demand (ask mode);\n"
		"                                 --force: a secret snapshot into ordinary memory\n"
		"  exec --fd N=PATH [--fd N=PATH ...] -- CMD [ARG...]\n"
		"                                 run CMD with PATH's backing fd at number N\n"
		"                                 (open-exec is the same)\n"
		"  serve-uffd [--record-ws] [--no-prefetch] [--mount=DIR] SNAPFILE SOCKET\n"
		"                                 restore Firecracker VMMs lazily from SNAPFILE\n"
		"  sessions [MOUNT]               lazy-restore sessions and their figures\n"
		"  metrics [PATH]                 the daemon's figures, Prometheus text format\n"
		"  top [-d SECS] [-n COUNT] [DIR] the pool and DIR's files, every SECS (2)\n"
		"  discard [--force] MOUNTPOINT|--state-dir=DIR\n"
		"                                 give a stopped mount's memory back for good\n"
		"Sizes print in IEC units (a whole number only when exact: 4 KiB, 11.8 GiB);\n"
		"--bytes prints exact byte counts, --json exact numbers as JSON.\n"
		"PATHs are paths on a gmemfs mount (the control socket is found through\n"
		"the mount root's xattr user.gmemfs.ctl-socket); with --socket they are\n"
		"relative to the mount root.  DIR and PATH default to '.'.\n");
}

static int fail(const char *what, const char *path, int err, struct gmemfs_ctl *c)
{
	const char *why = c ? gmemfs_ctl_reason(c) : "";

	fprintf(stderr, "gmemctl: %s %s: %s%s%s%s\n", what, path, strerror(-err),
		*why ? " (" : "", why, *why ? ")" : "");
	return 1;
}

/* A file type's name ("file", "dir", "symlink", ...) and ls's letter for it. */
static const char *type_name(mode_t mode, char *letter)
{
	static const struct { mode_t type; char letter; const char *name; } types[] = {
		{ S_IFREG, '-', "file" }, { S_IFDIR, 'd', "dir" }, { S_IFLNK, 'l', "symlink" },
		{ S_IFIFO, 'p', "fifo" }, { S_IFSOCK, 's', "socket" },
		{ S_IFCHR, 'c', "chardev" }, { S_IFBLK, 'b', "blockdev" },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if ((mode & S_IFMT) == types[i].type) {
			if (letter)
				*letter = types[i].letter;
			return types[i].name;
		}
	}
	if (letter)
		*letter = '?';
	return "unknown";
}

static void print_stat_json(const char *name, const struct gmemfs_ctl_stat *st)
{
	printf("{\"name\":");
	gm_json_str(stdout, name);
	printf(",\"type\":\"%s\",\"mode\":\"%04o\",\"uid\":%u,\"gid\":%u,\"id\":%llu,"
	       "\"policy\":", type_name(st->mode, NULL), st->mode & 07777,
	       st->uid, st->gid, (unsigned long long)st->id);
	gm_json_str(stdout, st->policy);
	if (S_ISREG(st->mode))
		printf(",\"provider\":\"%s\",\"size\":%llu,\"populated\":%llu,\"page_size\":%llu,"
		       "\"passthrough\":%s,\"unlinked\":%s,\"secret\":%s",
		       gmemfs_prov_name(st->info.provider), (unsigned long long)st->info.size,
		       (unsigned long long)st->info.populated,
		       (unsigned long long)st->info.page_size,
		       st->info.flags & GMEMFS_INFO_PASSTHROUGH ? "true" : "false",
		       st->info.flags & GMEMFS_INFO_UNLINKED ? "true" : "false",
		       st->info.flags & GMEMFS_INFO_SECRET ? "true" : "false");
	putchar('}');
}

struct ls_state {
	unsigned n;
	const char *sep;	/* JSON: between entries; top keeps a frame on one line */
};

static int ls_entry(void *ctx, const char *name, const struct gmemfs_ctl_stat *st)
{
	struct ls_state *ls = ctx;
	char letter, size[GMCTL_SIZE_LEN], populated[GMCTL_SIZE_LEN];

	type_name(st->mode, &letter);
	if (json) {
		printf("%s", ls->n ? ls->sep : "");
		print_stat_json(name, st);
	} else if (!S_ISREG(st->mode)) {
		printf("%c %04o %5u %5u %14s %14s %-12s %-7s %s%s\n", letter, st->mode & 07777,
		       st->uid, st->gid, "-", "-", "-", S_ISDIR(st->mode) ? st->policy : "-",
		       name, S_ISDIR(st->mode) ? "/" : "");
	} else {
		printf("- %04o %5u %5u %14s %14s %-12s %-7s %s\n", st->mode & 07777,
		       st->uid, st->gid, gmctl_size(size, st->info.size),
		       gmctl_size(populated, st->info.populated),
		       gmemfs_prov_name(st->info.provider), st->policy, name);
	}
	ls->n++;
	return 0;
}

/* DIR's entries, a header line first (JSON: an array, entries apart by sep,
 * no newline at the end). */
static int show_ls(struct gmemfs_ctl *c, const char *path, const char *sep)
{
	struct ls_state ls = { .sep = sep };
	int err;

	if (json)
		printf("[");
	else
		printf("T MODE    UID   GID           SIZE      POPULATED PROVIDER     POLICY  NAME\n");
	err = gmemfs_ctl_list(c, path, ls_entry, &ls);
	if (json)
		printf("]");
	return err;
}

static int cmd_ls(struct gmemfs_ctl *c, const char *path, char **argv)
{
	int err;

	(void)argv;
	err = show_ls(c, path, ",\n ");
	if (json)
		putchar('\n');
	return err ? fail("ls", path, err, c) : 0;
}

static int cmd_stat(struct gmemfs_ctl *c, const char *path, char **argv)
{
	char size[GMCTL_SIZE_LEN], populated[GMCTL_SIZE_LEN], page[GMCTL_SIZE_LEN];
	struct gmemfs_ctl_stat st;
	int err;

	(void)argv;
	err = gmemfs_ctl_info(c, path, &st);
	if (err)
		return fail("stat", path, err, c);
	if (json) {
		print_stat_json(path, &st);
		putchar('\n');
		return 0;
	}
	printf("path:       %s\ntype:       %s\nmode:       %04o\nowner:      %u:%u\n"
	       "id:         %llu\npolicy:     %s\n", *path ? path : ".",
	       S_ISDIR(st.mode) ? "directory" : type_name(st.mode, NULL), st.mode & 07777,
	       st.uid, st.gid, (unsigned long long)st.id, st.policy);
	if (S_ISREG(st.mode))
		printf("provider:   %s\nsize:       %s\npopulated:  %s\npage size:  %s\n"
		       "passthrough: %s\nsecret:     %s\n", gmemfs_prov_name(st.info.provider),
		       gmctl_size(size, st.info.size), gmctl_size(populated, st.info.populated),
		       gmctl_size(page, st.info.page_size),
		       st.info.flags & GMEMFS_INFO_PASSTHROUGH ? "yes" : "no",
		       st.info.flags & GMEMFS_INFO_SECRET ? "yes" : "no");
	return 0;
}

static int cmd_policy_get(struct gmemfs_ctl *c, const char *path, char **argv)
{
	char pol[32];
	int err;

	(void)argv;
	err = gmemfs_ctl_policy_get(c, path, pol, sizeof(pol));
	if (err)
		return fail("policy get", path, err, c);
	if (json) {
		printf("{\"policy\":");
		gm_json_str(stdout, pol);
		printf("}\n");
	} else {
		printf("%s\n", pol);
	}
	return 0;
}

static int cmd_policy_set(struct gmemfs_ctl *c, const char *path, char **argv)
{
	int err = gmemfs_ctl_policy_set(c, path, argv[0]);

	return err ? fail("policy set", path, err, c) : 0;
}

/* The pool: budget, use, free and one line per provider (JSON: one object,
 * no newline, so that top can embed it). */
static void show_pool(const struct gmemfs_ctl_pool *p)
{
	char b[GMCTL_SIZE_LEN], u[GMCTL_SIZE_LEN], f[GMCTL_SIZE_LEN], l[GMCTL_SIZE_LEN];

	if (json)
		printf("{\"budget\":%llu,\"used\":%llu,\"free\":%llu,\"providers\":[",
		       (unsigned long long)p->budget, (unsigned long long)p->used,
		       (unsigned long long)p->free);
	else
		printf("budget %s used %s free %s\nPROVIDER     PAGE SIZE           USED"
		       "          LIMIT\n", gmctl_size(b, p->budget), gmctl_size(u, p->used),
		       gmctl_size(f, p->free));
	for (unsigned i = 0; i < p->nprov; i++) {
		if (json) {
			printf("%s{\"name\":", i ? "," : "");
			gm_json_str(stdout, p->prov[i].name);
			printf(",\"page_size\":%llu,\"used\":%llu,\"limit\":%llu}",
			       (unsigned long long)p->prov[i].page_size,
			       (unsigned long long)p->prov[i].used,
			       (unsigned long long)p->prov[i].limit);
		} else {
			printf("%-12s %9s %14s %14s\n", p->prov[i].name,
			       gmctl_size(b, p->prov[i].page_size), gmctl_size(u, p->prov[i].used),
			       gmctl_size(l, p->prov[i].limit));
		}
	}
	if (json)
		printf("],\"secret_size\":%llu,\"secret_free\":%llu}",
		       (unsigned long long)p->secret_size, (unsigned long long)p->secret_free);
	else if (p->secret_size)
		printf("secret carve-out %s free %s (in shim's use)\n",
		       gmctl_size(b, p->secret_size), gmctl_size(f, p->secret_free));
}

static int cmd_pool(struct gmemfs_ctl *c, const char *path, char **argv)
{
	struct gmemfs_ctl_pool p;
	int err;

	(void)argv;
	err = gmemfs_ctl_pool(c, &p);
	if (err)
		return fail("pool", path, err, c);
	show_pool(&p);
	if (json)
		putchar('\n');
	return 0;
}

static int fcntl_clear_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl & ~FD_CLOEXEC);
}

/* "N=PATH": the backing fd of PATH moved to number N, inheritable.  The
 * connection is closed first: its socket may hold number N. */
static int exec_fd(const char *spec)
{
	struct gmemfs_ctl *c;
	char *end, *rel;
	long n;
	int fd, err;

	n = strtol(spec, &end, 10);
	if (end == spec || *end != '=' || n < 0 || n > 1023 || !end[1]) {
		fprintf(stderr, "gmemctl: --fd %s: want N=PATH\n", spec);
		return 1;
	}
	err = gmctl_connect(sock_path, end + 1, &c, &rel);
	if (err)
		return fail("exec: connect for", end + 1, err, NULL);
	fd = gmemfs_ctl_open(c, rel, NULL);
	err = fd < 0 ? fail("exec: open", end + 1, fd, c) : 0;
	free(rel);
	gmemfs_ctl_close(c);
	if (err)
		return err;
	if (fd == n)
		return fcntl_clear_cloexec(fd) ? fail("exec: fcntl for", end + 1, -errno, NULL) : 0;
	/* dup2 leaves FD_CLOEXEC off on the copy. */
	err = dup2(fd, n) < 0 ? fail("exec: dup2 for", end + 1, -errno, NULL) : 0;
	close(fd);
	return err;
}

static int cmd_exec(int argc, char **argv)
{
	int i;

	for (i = 0; i < argc && strcmp(argv[i], "--"); i++) {
		if (strcmp(argv[i], "--fd") || i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		if (exec_fd(argv[++i]))
			return 1;
	}
	if (i + 1 >= argc) {
		usage(stderr);
		return 2;
	}
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "gmemctl: exec %s: %s\n", argv[i + 1], strerror(errno));
	return 127;
}

/* One frame of top: a title, the pool, then DIR's entries (JSON: one line
 * without a title).  path is DIR as the user named it, rel as requests do. */
static int top_frame(struct gmemfs_ctl *c, const char *path, const char *rel, bool clear)
{
	struct gmemfs_ctl_pool p;
	int err;

	err = gmemfs_ctl_pool(c, &p);
	if (err)
		return fail("top: pool of", path, err, c);
	if (clear)
		printf("\033[H\033[2J");
	if (!json)
		printf("gmemctl top %s, %s", *path ? path : "/", ctime(&(time_t){ time(NULL) }));
	fputs(json ? "{\"pool\":" : "", stdout);
	show_pool(&p);
	fputs(json ? ",\"entries\":" : "\n", stdout);
	err = show_ls(c, rel, ",");
	if (err)
		return fail("top: ls", path, err, c);
	fputs(json ? "}\n" : "\n", stdout);
	return fflush(stdout) ? 1 : 0;
}

#define TOP_USE "usage: gmemctl [--json|--bytes] top [-d SECS] [-n COUNT] [DIR]\n"

/* top [-d SECS] [-n COUNT] [DIR]: a frame every SECS until COUNT frames
 * (0: until killed).  On a terminal each frame replaces the last. */
static int cmd_top(int argc, char **argv)
{
	struct timespec pause = { 2, 0 };
	unsigned long count = 0, n;
	struct gmemfs_ctl *c;
	const char *path;
	char *rel, *end;
	double secs;
	int o, err;

	optind = 1;
	while ((o = getopt(argc, argv, "+d:n:")) != -1) {
		if (o == 'd' && (secs = strtod(optarg, &end)) > 0 && !*end && secs < 1e6) {
			pause.tv_sec = (time_t)secs;
			pause.tv_nsec = (long)((secs - (double)pause.tv_sec) * 1e9);
		} else if (o == 'n' && (count = strtoul(optarg, &end, 10)) > 0 && !*end) {
			continue;
		} else {
			fprintf(stderr, TOP_USE);
			return 2;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, TOP_USE);
		return 2;
	}
	path = optind < argc ? argv[optind] : sock_path ? "" : ".";
	err = gmctl_connect(sock_path, path, &c, &rel);
	if (err)
		return fail(sock_path ? "connect to" : "find the gmemfs mount of",
			    sock_path ? sock_path : path, err, NULL);
	for (n = 1, err = 0; !err; n++) {
		err = top_frame(c, path, rel, !json && isatty(1));
		if (err || n == count)
			break;
		nanosleep(&pause, NULL);
	}
	free(rel);
	gmemfs_ctl_close(c);
	return err;
}

struct cmd {
	const char *name;
	int nargs;		/* after the path */
	int (*fn)(struct gmemfs_ctl *c, const char *path, char **argv);
};

static const struct cmd cmds[] = {
	{ "ls", 0, cmd_ls },
	{ "stat", 0, cmd_stat },
	{ "policy get", 0, cmd_policy_get },
	{ "policy set", 1, cmd_policy_set },
	{ "pool", 0, cmd_pool },
};

/* The command argv names, and how many words its name took. */
static const struct cmd *find_cmd(int argc, char **argv, int *words)
{
	char name[32];

	for (unsigned i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		*words = strchr(cmds[i].name, ' ') ? 2 : 1;
		if (argc < *words)
			continue;
		snprintf(name, sizeof(name), *words == 2 ? "%s %s" : "%s", argv[0],
			 *words == 2 ? argv[1] : "");
		if (!strcmp(name, cmds[i].name))
			return &cmds[i];
	}
	return NULL;
}

static int run(const struct cmd *cmd, int argc, char **argv)
{
	const char *path = argc > 0 ? argv[0] : sock_path ? "" : ".";
	struct gmemfs_ctl *c;
	char *rel;
	int err;

	if (argc > 1 + cmd->nargs || (cmd->nargs && argc != 1 + cmd->nargs)) {
		usage(stderr);
		return 2;
	}
	err = gmctl_connect(sock_path, path, &c, &rel);
	if (err)
		return fail(sock_path ? "connect to" : "find the gmemfs mount of",
			    sock_path ? sock_path : path, err, NULL);
	err = cmd->fn(c, rel, argv + 1);
	free(rel);
	gmemfs_ctl_close(c);
	return err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "bytes", no_argument, NULL, 'b' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const struct cmd *cmd;
	int o, words;

	while ((o = getopt_long(argc, argv, "+jbs:h", opts, NULL)) != -1) {
		switch (o) {
		case 'j': json = true; break;
		case 'b': gmctl_exact_bytes = true; break;
		case 's': sock_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0 && (!strcmp(argv[0], "exec") || !strcmp(argv[0], "open-exec")))
		return cmd_exec(argc - 1, argv + 1);
	if (argc > 0 && !strcmp(argv[0], "serve-uffd"))
		return cmd_serve_uffd(argc, argv, sock_path);
	if (argc > 0 && !strcmp(argv[0], "top"))
		return cmd_top(argc, argv);
	if (argc > 0 && !strcmp(argv[0], "sessions"))
		return cmd_sessions(argc, argv, sock_path, json);
	if (argc > 0 && !strcmp(argv[0], "discard"))
		return cmd_discard(argc, argv);
	if (argc > 0 && !strcmp(argv[0], "metrics"))
		return cmd_metrics(argc, argv, sock_path);
	if (argc > 0 && !strcmp(argv[0], "record-ws"))
		return cmd_record_ws(argc, argv, sock_path, json);
	if (argc > 0 && !strcmp(argv[0], "snapshot"))
		return cmd_snapshot(argc - 1, argv + 1, json, sock_path);
	if (argc > 0 && !strcmp(argv[0], "restore"))
		return cmd_restore(argc - 1, argv + 1, json, sock_path);
	cmd = argc > 0 ? find_cmd(argc, argv, &words) : NULL;
	if (!cmd) {
		usage(stderr);
		return 2;
	}
	return run(cmd, argc - words, argv + words);
}
