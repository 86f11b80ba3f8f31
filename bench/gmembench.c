/*
 * gmembench: every memory backing side by side in one run: in-kernel KVM
 * guest_memfd, raw memfd, raw THP shmem, raw hugetlb and the gmemfs
 * providers through a mount, over the scenarios of scenarios.c.
 *
 * Alternatives are interleaved: for each scenario, each round runs every
 * backend once, starting with a different one each round, so drift on a
 * shared machine spreads over all of them; medians with min and max are
 * reported.  Every sample gets a fresh object, released right after, so
 * only one object's memory is in use at a time.
 *
 * Usage: gmembench [--quick] [--size SIZE] [--rounds N] [--only SCENARIO]
 *                  [--json FILE] [--plot FILE] [--mount DIR]
 * Exit status: 0, 1 if any sample failed (a check or an error), 2 on bad
 * usage, 130 when interrupted (after cleaning up).
 *
 * Not for: starting gmemfsd (bench/run-bench.sh does, for make bench) or
 * asserting speed (the tests check only that the work was done).
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "program.h"
#include "common/clock.h"
#include "gm-size.h"

#define DEFAULT_SIZE	(1ULL << 30)
#define QUICK_SIZE	(128ULL << 20)
#define DEFAULT_ROUNDS	5

static volatile sig_atomic_t bench_stop;

static void on_signal(int sig)
{
	bench_stop = sig;
}

static void usage(FILE *f)
{
	unsigned int i;

	fprintf(f, "usage: gmembench [--quick] [--size SIZE] [--rounds N] [--only SCENARIO]\n"
		   "                 [--json FILE] [--plot FILE] [--mount DIR]\n"
		   "  --quick        size %llu MiB instead of %llu MiB\n"
		   "  --size SIZE    bytes per object, K/M/G suffix, a multiple of 4 KiB\n"
		   "  --rounds N     rounds of interleaved samples (default %d, at most %d)\n"
		   "  --mount DIR    a gmemfs mount for the gmemfs backends\n"
		   "scenarios:", QUICK_SIZE >> 20, DEFAULT_SIZE >> 20, DEFAULT_ROUNDS,
		BENCH_MAX_ROUNDS);
	for (i = 0; i < bench_nscenarios; i++)
		fprintf(f, " %s", bench_scenarios[i].name);
	fprintf(f, "\n");
}

static int scenario_known(const char *name)
{
	unsigned int i;

	for (i = 0; i < bench_nscenarios; i++)
		if (!strcmp(bench_scenarios[i].name, name))
			return 1;
	return 0;
}

static int parse_opts(struct bench *b, int argc, char **argv)
{
	int i, have_size = 0;

	b->rounds = DEFAULT_ROUNDS;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		size_t size;

		if (!strcmp(a, "--quick")) {
			b->quick = 1;
			continue;
		}
		if (!strcmp(a, "--help")) {
			usage(stdout);
			exit(0);
		}
		if (!v) {
			fprintf(stderr, "gmembench: %s: unknown option or missing value\n", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "--size") && gm_cli_parse_size(v, &size) == 0) {
			b->size = size;
			have_size = 1;
		} else if (!strcmp(a, "--rounds") && atoi(v) > 0 && atoi(v) <= BENCH_MAX_ROUNDS) {
			b->rounds = (unsigned int)atoi(v);
		} else if (!strcmp(a, "--only") && scenario_known(v)) {
			b->only = v;
		} else if (!strcmp(a, "--json")) {
			b->json = v;
		} else if (!strcmp(a, "--plot")) {
			b->plot = v;
		} else if (!strcmp(a, "--mount")) {
			b->mount = v;
		} else {
			fprintf(stderr, "gmembench: bad option %s %s\n", a, v);
			return -1;
		}
	}
	if (!have_size)
		b->size = b->quick ? QUICK_SIZE : DEFAULT_SIZE;
	return 0;
}

/* A private copy of the mount table: the THP tmpfs we mount dies with us,
 * however we end.  Without it (not root), tmpfs-thp is skipped. */
static void private_mounts(struct bench *b)
{
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		snprintf(b->ns_reason, sizeof(b->ns_reason),
			 "no private mount namespace for its tmpfs: %s", strerror(errno));
		return;
	}
	b->private_ns = 1;
}

/* The one decision on KVM: without /dev/kvm, the rows that need it (the
 * guest_memfd backends, the vCPU scenarios) are n/a with this reason and
 * do not fail the run.  A /dev/kvm that is there but gives no VM is
 * reported as before.  (Running those rows in a guest would start here.) */
static void open_vm(struct bench *b)
{
	if (access("/dev/kvm", F_OK) < 0 && errno == ENOENT) {
		snprintf(b->no_kvm, sizeof(b->no_kvm), "/dev/kvm is missing on this machine");
		snprintf(b->vm_reason, sizeof(b->vm_reason), "%s", b->no_kvm);
		return;
	}
	if (gm_vmm_open(&b->vm, -1) == 0)
		b->have_vm = 1;
	else
		snprintf(b->vm_reason, sizeof(b->vm_reason), "no KVM VM: %.200s", b->vm.err);
}

/* Without KVM, every row of a guest_memfd backend (skipped for it) and
 * the vCPU scenarios' rows of the backends that run are n/a before the
 * run, so the table and the JSON list them with the reason. */
static void kvm_rows_na(struct bench *b)
{
	unsigned int sc, bk;

	if (!b->no_kvm[0])
		return;
	for (sc = 0; sc < bench_nscenarios; sc++)
		for (bk = 0; bk < bench_nbackends; bk++)
			if ((bench_backends[bk].flags & BK_GUEST_MEMFD) ||
			    (bench_scenarios[sc].vcpu && b->st[bk].available))
				snprintf(b->cell[sc][bk].na, sizeof(b->cell[sc][bk].na), "%s",
					 b->no_kvm);
}

static int setup(struct bench *b)
{
	time_t now = time(NULL);
	struct tm tm;

	b->started = gm_mono_ns() / 1e9;
	strftime(b->started_utc, sizeof(b->started_utc), "%Y-%m-%dT%H:%M:%SZ",
		 gmtime_r(&now, &tm));
	private_mounts(b);
	snprintf(b->tmpdir, sizeof(b->tmpdir), "%s/gmembench.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(b->tmpdir)) {
		perror(b->tmpdir);
		return -1;
	}
	b->ceiling_buf = mmap(NULL, b->size, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (b->ceiling_buf == MAP_FAILED) {
		b->ceiling_buf = NULL;
		perror("gmembench: memset buffer");
		return -1;
	}
	open_vm(b);
	bench_backends_setup(b);
	kvm_rows_na(b);
	b->daemon_rw_before[0] = bench_daemon_requests(b, "read");
	b->daemon_rw_before[1] = bench_daemon_requests(b, "write");
	return 0;
}

static void cleanup(struct bench *b)
{
	bench_backends_teardown(b);
	if (b->have_vm)
		gm_vmm_close(&b->vm);
	b->have_vm = 0;
	if (b->ceiling_buf)
		munmap(b->ceiling_buf, b->size);
	b->ceiling_buf = NULL;
	if (b->tmpdir[0] && rmdir(b->tmpdir) < 0)
		fprintf(stderr, "gmembench: rmdir %s: %s\n", b->tmpdir, strerror(errno));
}

/* On a terminal, one line rewritten in place; otherwise a plain line per
 * scenario round, so logs stay readable. */
static void progress(const struct bench *b, unsigned int done, unsigned int total,
		     unsigned int sc, unsigned int r, unsigned int bk, int round_start)
{
	double el = gm_mono_ns() / 1e9 - b->started;

	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K[%3u%%] %5.0fs  %-15s round %u/%u  %s", done * 100 / total,
			el, bench_scenarios[sc].name, r + 1, b->rounds, bench_backends[bk].name);
	else if (round_start)
		fprintf(stderr, "gmembench: [%3u%%] %.0fs %s round %u/%u\n", done * 100 / total,
			el, bench_scenarios[sc].name, r + 1, b->rounds);
}

static unsigned int count_steps(const struct bench *b)
{
	unsigned int sc, bk, n = 0;

	for (sc = 0; sc < bench_nscenarios; sc++)
		for (bk = 0; bk < bench_nbackends; bk++)
			n += (!b->only || !strcmp(b->only, bench_scenarios[sc].name)) &&
			     b->st[bk].available && !b->cell[sc][bk].na[0];
	return n * b->rounds;
}

/* One sample of scenario sc on backend bk into its cell. */
static void take_sample(struct bench *b, unsigned int sc, unsigned int bk)
{
	struct bench_cell *c = &b->cell[sc][bk];
	struct bench_job job = { .bk = &bench_backends[bk], .st = &b->st[bk],
				 .sample.huge = -1 };
	int err = bench_scenarios[sc].measure(b, &job);

	if (err == -EOPNOTSUPP) {
		snprintf(c->na, sizeof(c->na), "%s", job.why);
		return;
	}
	c->s[c->n++] = job.sample;
	if (err) {
		fprintf(stderr, "gmembench: %s on %s failed (round %u)\n",
			bench_scenarios[sc].name, bench_backends[bk].name, c->n);
		c->failed = 1;
		b->errors++;
	}
}

static void run_scenario(struct bench *b, unsigned int sc, unsigned int *done,
			 unsigned int total)
{
	unsigned int r, k;
	int first;

	for (r = 0; r < b->rounds && !bench_stop; r++) {
		first = 1;
		if (bench_scenarios[sc].throughput)
			bench_measure_ceiling(b, &b->ceiling[b->nceiling++]);
		for (k = 0; k < bench_nbackends && !bench_stop; k++) {
			unsigned int bk = (k + r) % bench_nbackends;

			if (!b->st[bk].available || b->cell[sc][bk].na[0])
				continue;
			progress(b, (*done)++, total, sc, r, bk, first);
			first = 0;
			take_sample(b, sc, bk);
		}
	}
}

static void run(struct bench *b)
{
	unsigned int sc, done = 0, total = count_steps(b);

	for (sc = 0; sc < bench_nscenarios && !bench_stop; sc++)
		if (!b->only || !strcmp(b->only, bench_scenarios[sc].name))
			run_scenario(b, sc, &done, total ? total : 1);
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "\r\033[K");
}

int main(int argc, char **argv)
{
	static struct bench b;
	int rc = 0;

	b.argc = argc;
	b.argv = argv;
	if (parse_opts(&b, argc, argv) < 0) {
		usage(stderr);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("gmembench: ");
	bench_print_command(&b, stdout);
	printf("\n");
	bench_catch_stop_signals(on_signal);
	if (setup(&b) == 0)
		run(&b);
	else
		b.errors++;
	b.daemon_rw_after[0] = bench_daemon_requests(&b, "read");
	b.daemon_rw_after[1] = bench_daemon_requests(&b, "write");
	b.finished = gm_mono_ns() / 1e9;
	cleanup(&b);
	if (bench_stop) {
		fprintf(stderr, "gmembench: interrupted by signal %d; cleaned up\n", (int)bench_stop);
		return 130;
	}
	bench_report_table(&b);
	if (b.json && bench_report_json(&b, b.json) < 0)
		rc = 1;
	if (b.plot && bench_report_plot(&b, b.plot) < 0)
		rc = 1;
	if (b.errors) {
		fprintf(stderr, "gmembench: %d sample(s) failed; see above\n", b.errors);
		rc = 1;
	}
	return rc;
}
