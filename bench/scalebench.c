/*
 * gm-scalebench: the cost of each metadata operation as a directory grows,
 * on a gmemfs mount and, interleaved with it, on a tmpfs of its own.  For
 * each population (default 100, 1000, 10000, 100000 files) it fills one
 * directory of each to that many sparse files, then times batches of each
 * operation (scale_ops.c); for each operation and round, both file systems
 * run one batch, the first one alternating with the round.  Medians with
 * min and max, the ratio gmemfs/tmpfs, and each operation's growth from
 * the smallest population to the largest are reported.  Given the daemon's
 * PID and a command that starts it again, it ends with a kill -9 and a
 * restart at the largest population (scale_restart.c).
 *
 * It is a program of its own rather than a gmembench scenario: gmembench's
 * samples each take a fresh object of one backend, while these take a
 * population that is built once per size and kept across operations.
 * `make bench BENCH_ARGS="--scale ..."` runs it (bench/run-bench.sh).
 *
 * The tmpfs is mounted in a private mount namespace, so it never leaks;
 * the restart runs back in the caller's namespace, where the daemon's
 * mount is.  Every file it made is removed at the end, interrupted or not.
 *
 * Usage: see usage().  Exit status: 0; 1 if an operation or population
 * failed, or the restart did; 2 on bad usage; 130 when interrupted.
 * Not for: starting gmemfsd (run-bench.sh does) or asserting speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gm-size.h"
#include "scalebench.h"
#include "program.h"

#define DEFAULT_ROUNDS		5
#define DEFAULT_BATCH		100
#define DEFAULT_SIZE		(1ULL << 20)
#define DEFAULT_RESTART_S	300
#define READDIR_ENTRIES		2000	/* readdir passes of a batch read about this many */
#define SETTLE_S		10	/* bound on the wait for an idle daemon */
#define SETTLE_BATCH_S		2	/* the same, before each op's batches (--isolate) */
#define SETTLE_WINDOW_MS	200
#define SETTLE_IDLE		0.05	/* idle: at most this share of a core in a window */

volatile sig_atomic_t scale_stop;

static void on_signal(int sig)
{
	scale_stop = sig;
}

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f, "usage: gm-scalebench --mount DIR [--files N,N,...] [--rounds N] [--batch N]\n"
		   "                     [--size SIZE] [--only OP] [--isolate on|off] [--json FILE]\n"
		   "                     [--daemon-pid PID --restart-cmd CMD [--restart-timeout S]]\n"
		   "  --files        populations, ascending (default 100,1000,10000,100000)\n"
		   "  --rounds N     interleaved batches per operation (default %d, at most %d)\n"
		   "  --batch N      operations per batch (default %d; at most the population\n"
		   "                 for operations on existing files)\n"
		   "  --size SIZE    every file's size, sparse (default 1M; 0: empty files)\n"
		   "  --isolate      on (default): before each op's batches, wait (at most %d s)\n"
		   "                 for the daemon to go idle, so what one op leaves it doing\n"
		   "                 is not the next one's; off: every op right after the last\n"
		   "  --daemon-pid   gmemfsd's PID: its RSS per file, and with --restart-cmd,\n"
		   "                 kill -9 and restart at the largest population\n"
		   "  --restart-cmd  sh -c command that execs gmemfsd -f again on the same\n"
		   "                 state dir and mountpoint\n"
		   "operations:", DEFAULT_ROUNDS, SC_MAX_ROUNDS, DEFAULT_BATCH, SETTLE_BATCH_S);
	for (i = 0; i < scale_nops; i++)
		fprintf(f, " %s", scale_ops[i].name);
	fprintf(f, "\n");
}

static int parse_files(struct scale *s, const char *v)
{
	char *copy = strdup(v), *tok, *save = NULL, *end;
	int err = 0;

	s->npops = 0;
	for (tok = strtok_r(copy, ",", &save); tok && !err; tok = strtok_r(NULL, ",", &save)) {
		unsigned long n = strtoul(tok, &end, 10);

		if (*end || n == 0 || n > 10000000 || s->npops == SC_MAX_POPS ||
		    (s->npops && n <= s->pops[s->npops - 1]))
			err = -1;
		else
			s->pops[s->npops++] = (unsigned int)n;
	}
	free(copy);
	return err || !s->npops ? -1 : 0;
}

static int op_known(const char *name)
{
	unsigned int i;

	for (i = 0; i < scale_nops; i++)
		if (!strcmp(scale_ops[i].name, name))
			return 1;
	return 0;
}

/* One option with its value v; 0, or -1 if it is bad. */
static int parse_opt(struct scale *s, const char *a, const char *v)
{
	size_t size;
	long n = atol(v);

	if (!strcmp(a, "--files"))
		return parse_files(s, v);
	if (!strcmp(a, "--isolate") && (!strcmp(v, "on") || !strcmp(v, "off"))) {
		s->isolate = !strcmp(v, "on");
		return 0;
	}
	if (!strcmp(a, "--rounds") && n > 0 && n <= SC_MAX_ROUNDS)
		s->rounds = (unsigned int)n;
	else if (!strcmp(a, "--batch") && n > 0 && n <= 100000)
		s->batch = (unsigned int)n;
	else if (!strcmp(a, "--size") && !strcmp(v, "0"))
		s->size = 0;
	else if (!strcmp(a, "--size") && gm_cli_parse_size(v, &size) == 0)
		s->size = size;
	else if (!strcmp(a, "--only") && op_known(v))
		s->only = v;
	else if (!strcmp(a, "--mount"))
		s->mount = v;
	else if (!strcmp(a, "--json"))
		s->json = v;
	else if (!strcmp(a, "--daemon-pid") && n > 0)
		s->daemon_pid = (pid_t)n;
	else if (!strcmp(a, "--restart-cmd"))
		s->restart_cmd = v;
	else if (!strcmp(a, "--restart-timeout") && n > 0)
		s->restart_timeout = (unsigned int)n;
	else
		return -1;
	return 0;
}

static int parse_opts(struct scale *s, int argc, char **argv)
{
	int i;

	s->rounds = DEFAULT_ROUNDS;
	s->batch = DEFAULT_BATCH;
	s->size = DEFAULT_SIZE;
	s->restart_timeout = DEFAULT_RESTART_S;
	s->isolate = 1;
	parse_files(s, "100,1000,10000,100000");
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!v || parse_opt(s, a, v) < 0) {
			fprintf(stderr, "gm-scalebench: bad option %s %s\n", a, v ? v : "");
			return -1;
		}
		i++;
	}
	if (!s->mount) {
		fprintf(stderr, "gm-scalebench: --mount DIR is required\n");
		return -1;
	}
	if (s->restart_cmd && !s->daemon_pid) {
		fprintf(stderr, "gm-scalebench: --restart-cmd needs --daemon-pid\n");
		return -1;
	}
	return 0;
}

/* A private copy of the mount table for our tmpfs; the caller's stays
 * open for the restart, which must mount where the caller sees it. */
static int private_tmpfs(struct scale *s)
{
	if (!getcwd(s->cwd, sizeof(s->cwd)))
		s->cwd[0] = '\0';
	s->orig_ns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (s->orig_ns < 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		fprintf(stderr, "gm-scalebench: no private mount namespace for the tmpfs "
			"(needs root): %s\n", strerror(errno));
		return -1;
	}
	snprintf(s->tmpdir, sizeof(s->tmpdir), "%s/gm-scalebench.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(s->tmpdir)) {
		fprintf(stderr, "gm-scalebench: mkdtemp %s: %s\n", s->tmpdir, strerror(errno));
		s->tmpdir[0] = '\0';
		return -1;
	}
	snprintf(s->tmpfs_mnt, sizeof(s->tmpfs_mnt), "%.4000s/tmpfs", s->tmpdir);
	if (mkdir(s->tmpfs_mnt, 0700) < 0 ||
	    mount("tmpfs", s->tmpfs_mnt, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700") < 0) {
		fprintf(stderr, "gm-scalebench: mount tmpfs on %s: %s\n", s->tmpfs_mnt,
			strerror(errno));
		return -1;
	}
	s->tmpfs_mounted = 1;
	return 0;
}

static int setup(struct scale *s)
{
	struct scale_fs *g = &s->fs[SC_GMEMFS], *t = &s->fs[SC_TMPFS];
	time_t now = time(NULL);
	struct tm tm;

	s->started = scale_now_us() / 1e6;
	strftime(s->started_utc, sizeof(s->started_utc), "%Y-%m-%dT%H:%M:%SZ",
		 gmtime_r(&now, &tm));
	g->name = "gmemfs";
	t->name = "tmpfs";
	s->restart.rss_empty_kb = scale_rss_kb(s->daemon_pid);
	if (private_tmpfs(s))
		return -1;
	snprintf(g->dir, sizeof(g->dir), "%.4000s/scale.XXXXXX", s->mount);
	if (!mkdtemp(g->dir)) {
		fprintf(stderr, "gm-scalebench: mkdtemp %s: %s\n", g->dir, strerror(errno));
		return -1;
	}
	g->dir_made = 1;
	snprintf(t->dir, sizeof(t->dir), "%.4000s/scale", s->tmpfs_mnt);
	if (mkdir(t->dir, 0700) < 0) {
		fprintf(stderr, "gm-scalebench: mkdir %s: %s\n", t->dir, strerror(errno));
		return -1;
	}
	t->dir_made = 1;
	return 0;
}

/* Unmount our tmpfs and go back to the caller's mount namespace. */
static void leave_private_ns(struct scale *s)
{
	struct scale_fs *t = &s->fs[SC_TMPFS];

	if (s->tmpfs_mounted && umount2(s->tmpfs_mnt, MNT_DETACH) < 0)
		fprintf(stderr, "gm-scalebench: umount %s: %s\n", s->tmpfs_mnt, strerror(errno));
	s->tmpfs_mounted = 0;
	t->dir_made = 0;
	t->nfiles = 0;
	if (s->tmpfs_mnt[0])
		rmdir(s->tmpfs_mnt);
	s->tmpfs_mnt[0] = '\0';
	/* setns() moves the working directory to the namespace's root: back to
	 * the caller's, by name, for a restart command with relative paths. */
	if (s->orig_ns >= 0 && setns(s->orig_ns, CLONE_NEWNS) < 0)
		fprintf(stderr, "gm-scalebench: back to the caller's mount namespace: %s\n",
			strerror(errno));
	else if (s->orig_ns >= 0 && s->cwd[0] && chdir(s->cwd) < 0)
		fprintf(stderr, "gm-scalebench: chdir %s: %s\n", s->cwd, strerror(errno));
	if (s->orig_ns >= 0)
		close(s->orig_ns);
	s->orig_ns = -1;
}

static void cleanup(struct scale *s)
{
	struct scale_fs *g = &s->fs[SC_GMEMFS];
	int err;

	if (g->dir_made) {
		err = scale_unpopulate(s, g);
		if (err || rmdir(g->dir) < 0)
			fprintf(stderr, "gm-scalebench: %s left in place: %s\n", g->dir,
				strerror(err ? -err : errno));
	}
	scale_restart_stop(s);
	leave_private_ns(s);
	if (s->tmpdir[0] && rmdir(s->tmpdir) < 0)
		fprintf(stderr, "gm-scalebench: rmdir %s: %s\n", s->tmpdir, strerror(errno));
}

/* Populate both file systems to pop->files, the first one alternating. */
static int populate(struct scale *s, unsigned int p)
{
	struct scale_pop *pop = &s->pop[p];
	unsigned int k;
	int err = 0;

	for (k = 0; k < SC_NFS && !err; k++) {
		unsigned int f = (k + p) % SC_NFS;

		err = scale_populate_to(s, &s->fs[f], pop->files, &pop->populate[f]);
		if (err)
			fprintf(stderr, "gm-scalebench: populating %s to %u files failed: %s\n",
				s->fs[f].name, pop->files, pop->populate[f].err);
	}
	pop->rss_kb = scale_rss_kb(s->daemon_pid);
	if (!err)
		fprintf(stderr, "gm-scalebench: %u files: populated in %.2f s (gmemfs), "
			"%.2f s (tmpfs)\n", pop->files, pop->populate[SC_GMEMFS].secs, pop->populate[SC_TMPFS].secs);
	return err;
}

static unsigned int batch_of(const struct scale *s, unsigned int op, unsigned int n)
{
	const char *name = scale_ops[op].name;
	unsigned int passes = READDIR_ENTRIES / n;

	if (!strcmp(name, "readdir"))
		return passes ? passes : 1;
	if (!strcmp(name, "create") || !strcmp(name, "unlink"))
		return s->batch;
	return s->batch < n ? s->batch : n;
}

/* One batch of op on file system f into its cell. */
static void take_batch(struct scale *s, unsigned int p, unsigned int op, unsigned int f,
		       unsigned int r)
{
	struct scale_cell *c = &s->pop[p].cell[op][f];
	struct scale_job job = { .fs = &s->fs[f], .round = r,
				 .batch = batch_of(s, op, s->pop[p].files) };
	int err = scale_ops[op].run(s, &job);

	if (err == -EOPNOTSUPP) {
		snprintf(c->na, sizeof(c->na), "%s", job.err);
		return;
	}
	c->s[c->n++] = job.sample;
	if (err) {
		snprintf(c->err, sizeof(c->err), "%s", job.err);
		fprintf(stderr, "gm-scalebench: %s on %s at %u files failed (round %u): %s\n",
			scale_ops[op].name, s->fs[f].name, s->pop[p].files, r + 1, job.err);
		s->errors++;
	}
}

/* Seconds until the daemon went idle (at most SETTLE_IDLE of a core over a
 * window), at most bound_s; -1 if it did not, or its CPU time is unknown. */
static double settle(const struct scale *s, unsigned int bound_s)
{
	double t0 = scale_now_us(), a = scale_cpu_secs(s->daemon_pid), b;
	struct timespec win = { .tv_nsec = SETTLE_WINDOW_MS * 1000000L };

	while (a >= 0 && !scale_stop && scale_now_us() - t0 < bound_s * 1e6) {
		nanosleep(&win, NULL);
		b = scale_cpu_secs(s->daemon_pid);
		if (b >= 0 && b - a <= SETTLE_IDLE * SETTLE_WINDOW_MS / 1e3)
			return (scale_now_us() - t0) / 1e6;
		a = b;
	}
	return -1;
}

/* After populating: what the daemon does in the background after many
 * creates is the population's cost, shown as the settle time, not any
 * one operation's. */
static void settle_population(struct scale *s, unsigned int p)
{
	s->pop[p].settle_secs = settle(s, SETTLE_S);
	if (s->pop[p].settle_secs < 0 && s->daemon_pid)
		fprintf(stderr, "gm-scalebench: %u files: the daemon was still busy after %d s; "
			"measuring anyway\n", s->pop[p].files, SETTLE_S);
}

static void measure(struct scale *s, unsigned int p)
{
	double t0 = scale_now_us(), cpu0 = scale_cpu_secs(s->daemon_pid), cpu1;
	unsigned int op, r, k;

	/* Rounds outermost: a slow spell of the machine (or of the daemon's
	 * background work) lands on one round of every op, not on every
	 * round of one op, and the medians drop it. */
	for (r = 0; r < s->rounds && !scale_stop; r++)
		for (op = 0; op < scale_nops && !scale_stop; op++) {
			if (s->only && strcmp(s->only, scale_ops[op].name))
				continue;
			/* --isolate: the work one batch leaves the daemon
			 * (a rebalance after creates) is not the next one's */
			if (s->isolate)
				settle(s, SETTLE_BATCH_S);
			for (k = 0; k < SC_NFS && !scale_stop; k++) {
				unsigned int f = (k + r) % SC_NFS;
				struct scale_cell *c = &s->pop[p].cell[op][f];

				/* after a failure, that cell's op is not retried */
				if (!c->na[0] && !c->err[0])
					take_batch(s, p, op, f, r);
			}
		}
	cpu1 = scale_cpu_secs(s->daemon_pid);
	s->pop[p].measure_secs = (scale_now_us() - t0) / 1e6;
	s->pop[p].daemon_cpu_secs = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	fprintf(stderr, "gm-scalebench: %u files: measured (%.0f s so far)\n", s->pop[p].files,
		scale_now_us() / 1e6 - s->started);
}

static void run(struct scale *s)
{
	unsigned int p, q;

	for (p = 0; p < s->npops; p++)
		s->pop[p].files = s->pops[p];
	for (p = 0; p < s->npops && !scale_stop; p++) {
		if (populate(s, p)) {
			snprintf(s->pop[p].skipped, sizeof(s->pop[p].skipped),
				 "its population failed");
			s->errors++;
			for (q = p + 1; q < s->npops; q++)
				snprintf(s->pop[q].skipped, sizeof(s->pop[q].skipped),
					 "not run: the population of %u files failed", s->pops[p]);
			break;
		}
		s->pop[p].ran = 1;
		settle_population(s, p);
		measure(s, p);
	}
}

/* Back to the largest population measured, for the restart: a failed
 * population leaves some files of its own. */
static void trim_to_measured(struct scale *s)
{
	struct scale_fs *g = &s->fs[SC_GMEMFS];
	char path[PATH_MAX + 16];
	unsigned int want = 0, p;

	for (p = 0; p < s->npops; p++)
		if (s->pop[p].ran)
			want = s->pop[p].files;
	while (g->nfiles > want) {
		scale_name(path, sizeof(path), g, 'f', g->nfiles - 1);
		if (unlink(path) < 0)
			break;
		g->nfiles--;
	}
}

static void restart(struct scale *s)
{
	if (!s->restart_cmd || scale_stop)
		return;
	trim_to_measured(s);
	leave_private_ns(s);
	scale_restart_run(s);
	if (s->restart.err[0]) {
		fprintf(stderr, "gm-scalebench: restart: %s\n", s->restart.err);
		s->errors++;
	}
}

int main(int argc, char **argv)
{
	static struct scale s = { .orig_ns = -1 };
	int rc = 0;

	s.argc = argc;
	s.argv = argv;
	if (parse_opts(&s, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("gm-scalebench: ");
	scale_print_command(&s, stdout);
	printf("\n");
	bench_catch_stop_signals(on_signal);
	if (setup(&s) == 0) {
		run(&s);
		restart(&s);
	} else {
		s.errors++;
	}
	s.finished = scale_now_us() / 1e6;
	cleanup(&s);
	if (scale_stop) {
		fprintf(stderr, "gm-scalebench: interrupted by signal %d; cleaned up\n",
			(int)scale_stop);
		return 130;
	}
	scale_report_table(&s);
	if (s.json && scale_report_json(&s, s.json) < 0)
		rc = 1;
	if (s.errors) {
		fprintf(stderr, "gm-scalebench: %d failure(s); see above\n", s.errors);
		rc = 1;
	}
	return rc;
}
