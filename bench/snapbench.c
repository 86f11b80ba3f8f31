/*
 * gm-snapbench: the snapshot rows of the benchmark (see snapbench.h).
 *
 *   gm-snapbench --mount DIR [--size N] [--rounds N] [--quick] [--dir DIR] [--json FILE]
 *
 * Each round runs every alternative of a row once, in turn, on fresh
 * objects, so a noisy neighbour hurts all of them alike; the table gives
 * the median, min and max over rounds and the ratio to the row's baseline:
 *  - snapshot: gmemfs SNAPSHOT of a full file per provider, against a VMM
 *    writing the same memory to a file with write(2) (both fsync);
 *  - eager restore: gmemfs RESTORE into a new file, against read(2) of the
 *    image into a memfd;
 *  - lazy fault: one read per chunk of anonymous memory whose faults
 *    gmemfsd serves over userfaultfd, against the same reads served by a
 *    bare handler thread in the VMM (the floor of a uffd round trip) and of
 *    a private mapping of the image (Firecracker's File backend);
 *  - working set: a KVM guest of --size checks a quarter of its pages after
 *    a lazy restore without and with the prefetcher, and on the File
 *    backend; into each target (anonymous 4 KiB, anonymous THP, a gmemfs
 *    hugetlb-2m file), each with a cold snapshot (fsync, then
 *    POSIX_FADV_DONTNEED of image and index before every row, checked
 *    with mincore) and a warm one (both read whole before the group).
 *    The lazy fault rows run warm.
 * Without /dev/kvm the rows that need a VM (kvm-gmem, working set) are
 * n/a with that reason and the run does not fail for them (kvm_rows_na).
 *
 * Not for: the backend x scenario matrix (gmembench), asserting speed.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "gmemfs.h"
#include "gmemfs_client.h"
#include "gmemfs_snap.h"
#include "gm-size.h"
#include "gm-test-util.h"
#include "common/clock.h"
#include "common/json.h"
#include "snapbench.h"
#include "vmm.h"

#define GiB		(1024.0 * 1024 * 1024)
#define NPROV		4
#define WS_TIMEOUT_MS	30000

/* A gmemfs file to snapshot, under one page-size policy. */
struct sb_prov {
	const char *name;
	const char *policy;
	char dir[64];			/* on the mount, with the policy */
	char rel[PATH_MAX];		/* the source, relative to the mount root */
	void *mem;			/* the source, mapped */
	int fd;
	struct gm_vmm vm;		/* kvm-gmem: the VM its guest_memfd is made on */
	bool have_vm;
	bool needs_vm;			/* n/a without KVM */
	char na[SB_WHY];
};

enum { S_SNAP_WRITE, S_SNAP0, S_REST_READ = S_SNAP0 + NPROV, S_REST0,
       S_FAULT_UFFD50 = S_REST0 + NPROV, S_FAULT_UFFD99, S_FAULT_BARE50, S_FAULT_BARE99,
       S_FAULT_FILE50, S_FAULT_FILE99, S_WS0 };

/* The working-set rows, in the order each round runs them: per target, a
 * cold group (the snapshot dropped from the page cache before each row)
 * then a warm one (read whole before the group); each group's first row,
 * the lazy restore without prefetch, is its ratios' base.  The File
 * backend maps the image's own pages: 4 KiB only.  The floor is a guest
 * on anonymous memory filled before the clock starts: what touching the
 * pages costs this machine whatever restores them. */
static const struct ws_row {
	enum sb_target target;
	bool cold;
	enum sb_child_mode mode;
} ws_rows[] = {
	{ SB_T_4K, true, SB_WS_LAZY }, { SB_T_4K, true, SB_WS_PREFETCH },
	{ SB_T_4K, true, SB_WS_FILE },
	{ SB_T_4K, false, SB_WS_LAZY }, { SB_T_4K, false, SB_WS_PREFETCH },
	{ SB_T_4K, false, SB_WS_FILE }, { SB_T_4K, false, SB_WS_FLOOR },
	{ SB_T_THP, true, SB_WS_LAZY }, { SB_T_THP, true, SB_WS_PREFETCH },
	{ SB_T_THP, false, SB_WS_LAZY }, { SB_T_THP, false, SB_WS_PREFETCH },
	{ SB_T_HUGETLB, true, SB_WS_LAZY }, { SB_T_HUGETLB, true, SB_WS_PREFETCH },
	{ SB_T_HUGETLB, false, SB_WS_LAZY }, { SB_T_HUGETLB, false, SB_WS_PREFETCH },
};
#define NWS	((int)(sizeof(ws_rows) / sizeof(ws_rows[0])))
/* The recording rows (snapbench_record.c) follow the working-set rows. */
#define S_REC_OFF	(S_WS0 + NWS)
#define S_REC_ON	(S_REC_OFF + 1)
#define S_N	(S_REC_ON + 1)
/* More of the page cache than this left after a drop: the row is not cold. */
#define COLD_MAX_PCT	2.0

static const char *const target_names[SB_NTARGETS] = {
	[SB_T_4K] = "4k", [SB_T_THP] = "thp", [SB_T_HUGETLB] = "hugetlb-2m",
};

static struct sb_prov provs[NPROV] = {
	{ .name = "4k", .policy = "4k" },
	{ .name = "thp", .policy = "2m-thp" },
	{ .name = "hugetlb-2m", .policy = "2m" },
	{ .name = "kvm-gmem", .policy = "kvm-gmem", .needs_vm = true },
};
static struct sb_series series[S_N];
static struct gmemfs_ctl *ctl;

static void usage(FILE *f)
{
	fprintf(f, "usage: gm-snapbench --mount DIR [--size N] [--rounds N] [--quick] "
		   "[--lazy-only] [--dir DIR] [--json FILE]\n"
		   "  --size     guest memory per object (default 1G; 128M with --quick)\n"
		   "  --rounds   rounds (default 5; 3 with --quick)\n"
		   "  --dir      where snapshots go (default a new directory under $TMPDIR)\n"
		   "  --lazy-only  only the lazy fault and working-set rows\n");
}

static int parse_opts(struct sb_run *run, int argc, char **argv)
{
	const char *size = NULL, *rounds = NULL, *dir = NULL;
	int quick = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--quick"))
			quick = 1;
		else if (!strcmp(a, "--lazy-only"))
			run->lazy_only = true;
		else if (v && !strcmp(a, "--size"))
			size = argv[++i];
		else if (v && !strcmp(a, "--rounds"))
			rounds = argv[++i];
		else if (v && !strcmp(a, "--mount"))
			run->mount = argv[++i];
		else if (v && !strcmp(a, "--dir"))
			dir = argv[++i];
		else if (v && !strcmp(a, "--json"))
			run->json = argv[++i];
		else
			return -EINVAL;
	}
	run->size = quick ? 128ULL << 20 : 1ULL << 30;
	run->rounds = quick ? 3 : 5;
	size_t sz = run->size;

	if ((size && gm_cli_parse_size(size, &sz)) || !run->mount)
		return -EINVAL;
	run->size = sz;
	if (rounds)
		run->rounds = (unsigned int)atoi(rounds);
	if (run->rounds < 1 || run->rounds > SB_MAX_ROUNDS || !run->size ||
	    run->size % (2ULL << 20) || run->size > GM_VMM_RAM_MAX)
		return -EINVAL;
	if (dir)
		snprintf(run->dir, sizeof(run->dir), "%s", dir);
	return 0;
}

/* A path into buf (PATH_MAX bytes): 0, or -ENAMETOOLONG. */
static int pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pathf(char *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, PATH_MAX, fmt, ap);
	va_end(ap);
	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Mark s not measured, saying why, unless it already is: true if it was
 * marked now. */
static bool vna(struct sb_series *s, const char *fmt, va_list ap)
{
	if (s->na[0])
		return false;
	vsnprintf(s->na, sizeof(s->na), fmt, ap);
	return true;
}

static void na(struct sb_series *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void na(struct sb_series *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vna(s, fmt, ap);
	va_end(ap);
}

/* The same for a row whose measurement went wrong (the caller counts the
 * error); a row already n/a for another reason stays so. */
static void fail(struct sb_series *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct sb_series *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	s->failed |= vna(s, fmt, ap);
	va_end(ap);
}

static void add(struct sb_series *s, double v, long long check)
{
	if (s->n < SB_MAX_ROUNDS) {
		s->check[s->n] = check;
		s->v[s->n++] = v;
	}
}

static void name_series(void)
{
	static char names[2 * NPROV][48];
	static const struct { int i; const char *name, *unit; } fixed[] = {
		{ S_SNAP_WRITE, "write(2) of the memory + fsync (a VMM's full snapshot)", "GiB/s" },
		{ S_REST_READ, "read(2) of the image into a memfd", "GiB/s" },
		{ S_FAULT_UFFD50, "gmemfsd over userfaultfd, p50", "us" },
		{ S_FAULT_UFFD99, "gmemfsd over userfaultfd, p99", "us" },
		{ S_FAULT_BARE50, "a bare handler thread in the VMM, same unit, no crc, p50", "us" },
		{ S_FAULT_BARE99, "a bare handler thread in the VMM, same unit, no crc, p99", "us" },
		{ S_FAULT_FILE50, "File backend (private mmap of the image), p50", "us" },
		{ S_FAULT_FILE99, "File backend (private mmap of the image), p99", "us" },
		{ S_REC_OFF, "a booted guest reads its working set, no recording", "ms" },
		{ S_REC_ON, "the same while gmemctl record-ws records it", "ms" },
	};
	static char wsnames[NWS][80];

	for (unsigned int i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
		series[fixed[i].i].name = fixed[i].name;
		series[fixed[i].i].unit = fixed[i].unit;
	}
	for (int p = 0; p < NPROV; p++) {
		snprintf(names[p], sizeof(names[p]), "gmemfs snapshot, %s", provs[p].name);
		snprintf(names[NPROV + p], sizeof(names[0]), "gmemfs restore, %s", provs[p].name);
		series[S_SNAP0 + p] = (struct sb_series){ .name = names[p], .unit = "GiB/s" };
		series[S_REST0 + p] = (struct sb_series){ .name = names[NPROV + p], .unit = "GiB/s" };
	}
	for (int i = 0; i < NWS; i++) {
		const struct ws_row *w = &ws_rows[i];

		snprintf(wsnames[i], sizeof(wsnames[i]), "%s, %s: %s", target_names[w->target],
			 w->cold ? "cold" : "warm",
			 w->mode == SB_WS_LAZY ? "lazy restore, no prefetch" :
			 w->mode == SB_WS_PREFETCH ? "lazy restore, working set prefetched" :
			 w->mode == SB_WS_FILE ? "File backend (private mmap of the image)" :
			 "memory in place before the clock (the floor)");
		series[S_WS0 + i] = (struct sb_series){ .name = wsnames[i], .unit = "ms" };
	}
}

/* The row a working-set row's ratio is to: its group's first. */
static int ws_base(int i)
{
	while (i > 0 && ws_rows[i - 1].target == ws_rows[i].target &&
	       ws_rows[i - 1].cold == ws_rows[i].cold)
		i--;
	return S_WS0 + i;
}

/* The pattern the guest checks: a word per 4 KiB page, the rest zero. */
static void fill(const struct sb_run *run, unsigned char *mem)
{
	for (uint64_t i = 0; i < run->size / GM_VMM_PAGE; i++) {
		uint32_t w = gm_vmm_pattern(run->seed, (uint32_t)i);

		memcpy(mem + i * GM_VMM_PAGE, &w, sizeof(w));
	}
}

/* Make a file (size bytes, or empty) in p's directory; its path on the
 * mount in full, and relative to the root in rel. */
static int make_file(const struct sb_run *run, struct sb_prov *p, const char *name,
		     uint64_t size, char *full, char *rel)
{
	int fd;

	if (pathf(full, "%s/%s/%s", run->mount, p->dir, name) || pathf(rel, "%s/%s", p->dir, name))
		return -ENAMETOOLONG;
	fd = open(full, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (size && ftruncate(fd, (off_t)size) < 0) {
		int err = -errno;

		close(fd);
		unlink(full);
		return err;
	}
	return fd;
}

/* The source's memory: through the mount (shmem), the socket's fd
 * (hugetlb), or a guest_memfd attached on our VM (kvm-gmem). */
static int map_source(const struct sb_run *run, struct sb_prov *p, int fd)
{
	int mfd = fd;

	if (!strcmp(p->policy, "2m")) {
		mfd = gmemfs_ctl_open(ctl, p->rel, NULL);
	} else if (!strcmp(p->policy, "kvm-gmem")) {
		mfd = gm_vmm_open(&p->vm, -1);
		p->have_vm = !mfd;
		if (!mfd)
			mfd = gmemfs_ctl_attach_vm(ctl, p->rel, p->vm.vm_fd, NULL);
	}
	if (mfd != fd)
		close(fd);
	if (mfd < 0)
		return mfd;
	p->fd = mfd;
	p->mem = mmap(NULL, run->size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (p->mem == MAP_FAILED) {
		p->mem = NULL;
		return -errno;
	}
	return 0;
}

static int setup_prov(const struct sb_run *run, struct sb_prov *p)
{
	char full[PATH_MAX];
	int fd, err;

	snprintf(p->dir, sizeof(p->dir), "snapbench-%s", p->name);
	if (pathf(full, "%s/%s", run->mount, p->dir))
		return -ENAMETOOLONG;
	if (mkdir(full, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (setxattr(full, GMEMFS_XATTR_PAGESIZE, p->policy, strlen(p->policy), 0) < 0)
		return -errno;
	fd = make_file(run, p, "source", run->size, full, p->rel);
	if (fd < 0)
		return fd;
	err = map_source(run, p, fd);
	if (err)
		return err;
	fill(run, p->mem);
	return 0;
}

/* Set up every provider not already n/a (kvm_rows_na). */
static void setup_provs(const struct sb_run *run)
{
	for (int i = 0; i < NPROV; i++) {
		struct sb_prov *p = &provs[i];
		int err;

		p->fd = -1;
		err = p->na[0] ? 0 : setup_prov(run, p);
		if (err)
			snprintf(p->na, sizeof(p->na), "%s: %s (%s)", p->policy, strerror(-err),
				 gmemfs_ctl_reason(ctl));
		if (p->na[0]) {
			na(&series[S_SNAP0 + i], "%s", p->na);
			na(&series[S_REST0 + i], "%s", p->na);
		}
	}
}

/* The hugetlb-2m target's guest RAM is a file of that provider's
 * directory: without the provider, its rows are n/a for the same reason. */
static void hugetlb_target(struct sb_run *run)
{
	const struct sb_prov *p = &provs[2];

	run->hugetlb_dir = p->dir;
	for (int i = 0; i < NWS && p->na[0]; i++)
		if (ws_rows[i].target == SB_T_HUGETLB)
			na(&series[S_WS0 + i], "%s", p->na);
}

/* A snapshot's image and index paths in the run's directory, with
 * whatever an earlier sample left there removed. */
static void snap_paths(const struct sb_run *run, const char *name, char *img, char *idx)
{
	if (pathf(img, "%s/%s", run->dir, name) ||
	    pathf(idx, "%s%s", img, GMEMFS_SNAP_IDX_SUFFIX))
		img[0] = idx[0] = '\0';
	unlink(img);
	unlink(idx);
}

/* One snapshot and one eager restore of provider p. */
static void round_prov(struct sb_run *run, int i)
{
	struct sb_prov *p = &provs[i];
	char img[PATH_MAX], idx[PATH_MAX], full[PATH_MAX], rel[PATH_MAX];
	struct gmemfs_snap_stats st;
	double t0;
	int err, fd;

	snap_paths(run, p->name, img, idx);
	t0 = (double)gm_mono_ns();
	err = gmemfs_ctl_snapshot(ctl, p->rel, img, NULL, NULL, NULL, &st);
	if (err) {
		fail(&series[S_SNAP0 + i], "snapshot: %s (%s)", strerror(-err),
		     gmemfs_ctl_reason(ctl));
		run->errors++;
		return;
	}
	add(&series[S_SNAP0 + i], run->size / GiB / (((double)gm_mono_ns() - t0) / 1e9), (long long)st.bytes);
	fd = make_file(run, p, "restored", 0, full, rel);
	if (fd < 0) {
		na(&series[S_REST0 + i], "create: %s", strerror(-fd));
		return;
	}
	close(fd);
	t0 = (double)gm_mono_ns();
	err = gmemfs_ctl_restore(ctl, img, rel, NULL, NULL, &st);
	if (err) {
		fail(&series[S_REST0 + i], "restore: %s (%s)", strerror(-err),
		     gmemfs_ctl_reason(ctl));
		run->errors++;
	} else {
		add(&series[S_REST0 + i], run->size / GiB / (((double)gm_mono_ns() - t0) / 1e9),
		    (long long)st.bytes);
	}
	unlink(full);
	unlink(img);
	unlink(idx);
}

/* What a VMM does without gmemfs: write(2) the memory, read(2) it back. */
static int round_plain(struct sb_run *run)
{
	char img[PATH_MAX], idx[PATH_MAX];
	const unsigned char *mem = provs[0].mem;
	double t0 = (double)gm_mono_ns();
	int fd, mfd, err = 0;
	void *dst;

	snap_paths(run, "plain", img, idx);
	fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	for (uint64_t off = 0; off < run->size && !err;) {
		ssize_t n = pwrite(fd, mem + off, run->size - off, (off_t)off);

		err = n <= 0 ? -EIO : 0;
		off += n > 0 ? (uint64_t)n : 0;
	}
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (!err)
		add(&series[S_SNAP_WRITE], run->size / GiB / (((double)gm_mono_ns() - t0) / 1e9),
		    (long long)run->size);
	mfd = memfd_create("snapbench-read", MFD_CLOEXEC);
	if (!err && (mfd < 0 || ftruncate(mfd, (off_t)run->size) < 0))
		err = -errno;
	dst = err ? MAP_FAILED : mmap(NULL, run->size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	t0 = (double)gm_mono_ns();
	for (uint64_t off = 0; dst != MAP_FAILED && off < run->size && !err;) {
		ssize_t n = pread(fd, (char *)dst + off, run->size - off, (off_t)off);

		err = n <= 0 ? -EIO : 0;
		off += n > 0 ? (uint64_t)n : 0;
	}
	if (!err && dst != MAP_FAILED)
		add(&series[S_REST_READ], run->size / GiB / (((double)gm_mono_ns() - t0) / 1e9),
		    (long long)run->size);
	if (dst != MAP_FAILED)
		munmap(dst, run->size);
	if (mfd >= 0)
		close(mfd);
	close(fd);
	unlink(img);
	return err;
}

static void child_row(struct sb_run *run, enum sb_child_mode mode, enum sb_target target,
		      int s50, int s99)
{
	struct sb_child_result r;
	int err = sb_child_run(run, mode, target, &r);

	if (!err)
		err = r.err;
	if (err) {
		fail(&series[s50], "%s", err == r.err ? r.why : strerror(-err));
		if (s99 >= 0)
			fail(&series[s99], "%s", series[s50].na);
		run->errors++;
		return;
	}
	if (s99 >= 0) {
		add(&series[s50], r.p50_ns / 1e3, (long long)r.faults);
		add(&series[s99], r.p99_ns / 1e3, (long long)r.faults);
	} else {
		add(&series[s50], r.ns / 1e6, (long long)r.checked);
		fprintf(stderr, "gm-snapbench: %s: %.1f ms: restore request and VM %.1f, guest's "
			"vCPU %.1f\n", series[s50].name, r.ns / 1e6, r.setup_ns / 1e6,
			r.guest_ns / 1e6);
		if (r.checked != run->ws_pages) {
			fail(&series[s50], "the guest checked %llu of %llu pages",
			     (unsigned long long)r.checked, (unsigned long long)run->ws_pages);
			run->errors++;
		}
	}
}

/* The 4k source's snapshot stays for the lazy rows; its chunk size is
 * what one fault brings. */
static int lazy_setup(struct sb_run *run)
{
	char idx[PATH_MAX];
	struct gmemfs_snap_header h;
	struct gmemfs_snap_stats st;
	struct sb_child_result r;
	int fd, err;

	snap_paths(run, "lazy-source", run->src_snap, idx);
	err = gmemfs_ctl_snapshot(ctl, provs[0].rel, run->src_snap, NULL, NULL, NULL, &st);
	if (err)
		return err;
	fd = open(idx, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, &h, sizeof(h), 0) != sizeof(h))
		err = -EIO;
	if (fd >= 0)
		close(fd);
	if (err)
		return err;
	run->chunk = h.chunk_size;
	if (run->no_kvm)
		return 0;	/* no guest to record a working set; its rows are n/a */
	err = sb_child_run(run, SB_WS_RECORD, SB_T_4K, &r);
	if (!err && r.err)
		return r.err;
	return err ? err : sb_wait_ws(run, WS_TIMEOUT_MS);
}

/* The one decision on KVM: without /dev/kvm, the kvm-gmem provider (its
 * guest_memfd is made on a VM) and the working-set rows (a guest checks
 * the pages) are n/a with this reason and do not fail the run; everything
 * else, the lazy faults included (userfaultfd needs no KVM), runs as
 * usual.  A /dev/kvm that is there but fails is a failure as any other.
 * (Running those rows in a guest would start here.) */
static void kvm_rows_na(struct sb_run *run)
{
	if (access("/dev/kvm", F_OK) == 0 || errno != ENOENT)
		return;
	run->no_kvm = "/dev/kvm is missing on this machine";
	for (int i = 0; i < NPROV; i++)
		if (provs[i].needs_vm)
			snprintf(provs[i].na, sizeof(provs[i].na), "%s", run->no_kvm);
	for (int s = S_WS0; s < S_N; s++)
		na(&series[s], "%s", run->no_kvm);
}

/* Make the snapshot cold or warm before row s: 0, or -errno with s
 * failed (a cold row whose snapshot stayed cached measures nothing). */
static int set_cache(struct sb_run *run, bool cold, int s)
{
	double pct;
	int err = sb_cache_set(run, cold, &pct);

	if (!err && cold && pct > COLD_MAX_PCT)
		err = -EBUSY;
	if (err) {
		fail(&series[s], "%s the page cache: %s (%.1f%% of the snapshot cached)",
		     cold ? "dropping the snapshot from" : "reading the snapshot into",
		     strerror(-err), pct);
		run->errors++;
	}
	return err;
}

/* The working-set rows of one round, in ws_rows' order. */
static void round_ws(struct sb_run *run)
{
	for (int i = 0; i < NWS; i++) {
		const struct ws_row *w = &ws_rows[i];
		bool group_start = S_WS0 + i == ws_base(i);

		if (series[S_WS0 + i].na[0])
			continue;
		if ((w->cold || group_start) && set_cache(run, w->cold, S_WS0 + i))
			continue;
		child_row(run, w->mode, w->target, S_WS0 + i, -1);
	}
}

/* The recording rows' guest, or NULL with both rows n/a or failed. */
static struct sb_rec *rec_setup(struct sb_run *run)
{
	struct sb_rec *r = NULL;
	char why[SB_WHY];
	bool unsupported;

	if (run->no_kvm || series[S_REC_OFF].na[0])
		return NULL;
	if (!sb_rec_setup(run, &r, why, &unsupported))
		return r;
	if (unsupported) {
		na(&series[S_REC_OFF], "%s", why);
		na(&series[S_REC_ON], "%s", why);
	} else {
		fail(&series[S_REC_OFF], "%s", why);
		fail(&series[S_REC_ON], "%s", why);
		run->errors++;
	}
	return NULL;
}

static void round_rec(struct sb_run *run, struct sb_rec *r, unsigned int round)
{
	double off, on;
	char why[SB_WHY];

	if (!r)
		return;
	if (sb_rec_round(r, round, &off, &on, why)) {
		fail(&series[S_REC_ON], "%s", why);
		run->errors++;
		return;
	}
	add(&series[S_REC_OFF], off, (long long)run->ws_pages);
	add(&series[S_REC_ON], on, (long long)run->ws_pages);
}

static void run_rounds(struct sb_run *run)
{
	int lazy_err = provs[0].na[0] ? -ENODEV : lazy_setup(run);
	struct sb_rec *rec = rec_setup(run);

	if (lazy_err) {
		for (int s = S_FAULT_UFFD50; s < S_N; s++)
			fail(&series[s], "lazy restore setup: %s (%s)", strerror(-lazy_err),
			     gmemfs_ctl_reason(ctl));
		run->errors++;
	}
	for (unsigned int r = 0; r < run->rounds; r++) {
		fprintf(stderr, "gm-snapbench: round %u of %u\n", r + 1, run->rounds);
		if (!run->lazy_only && !provs[0].na[0] && round_plain(run))
			run->errors++;
		for (int i = 0; i < NPROV && !run->lazy_only; i++)
			if (!provs[i].na[0])
				round_prov(run, i);
		if (lazy_err)
			continue;
		if (set_cache(run, false, S_FAULT_UFFD50))
			continue;
		child_row(run, SB_FAULTS_UFFD, SB_T_4K, S_FAULT_UFFD50, S_FAULT_UFFD99);
		child_row(run, SB_FAULTS_INPROC, SB_T_4K, S_FAULT_BARE50, S_FAULT_BARE99);
		child_row(run, SB_FAULTS_FILE, SB_T_4K, S_FAULT_FILE50, S_FAULT_FILE99);
		if (!run->no_kvm)
			round_ws(run);
		round_rec(run, rec, r);
	}
	sb_rec_fini(rec);
}

static double median(const struct sb_series *s, double *min, double *max)
{
	double v[SB_MAX_ROUNDS], med;

	if (!s->n)
		return NAN;
	memcpy(v, s->v, s->n * sizeof(v[0]));
	med = gm_median_sort(v, s->n);
	*min = v[0];
	*max = v[s->n - 1];
	return med;
}

static void print_row(int s, int base)
{
	double lo = 0, hi = 0, b0, b1, m = median(&series[s], &lo, &hi);

	if (series[s].na[0] || !series[s].n) {
		printf("  %-58s n/a: %s\n", series[s].name, series[s].na);
		return;
	}
	printf("  %-58s %9.2f %9.2f %9.2f", series[s].name, m, lo, hi);
	if (base >= 0 && base != s && series[base].n)
		printf("   %6.2fx", m / median(&series[base], &b0, &b1));
	printf("\n");
}

static void print_table(const struct sb_run *run)
{
	printf("\ngm-snapbench: %.0f MiB of guest memory, %u rounds, chunk %llu KiB; "
	       "median / min / max, ratio to the row's first line\n",
	       run->size / 1048576.0, run->rounds, (unsigned long long)(run->chunk >> 10));
	printf("snapshot, GiB/s (higher is better)\n");
	for (int s = S_SNAP_WRITE; s < S_REST_READ; s++)
		print_row(s, S_SNAP_WRITE);
	printf("eager restore, GiB/s (higher is better)\n");
	for (int s = S_REST_READ; s < S_FAULT_UFFD50; s++)
		print_row(s, S_REST_READ);
	printf("lazy fault, us to the first read of each %llu KiB chunk: a uffd fault, or the "
	       "page cache's; gmemfsd's ratio is to the bare handler (lower is better)\n",
	       (unsigned long long)(run->chunk >> 10));
	print_row(S_FAULT_UFFD50, S_FAULT_BARE50);
	print_row(S_FAULT_UFFD99, S_FAULT_BARE99);
	print_row(S_FAULT_BARE50, -1);
	print_row(S_FAULT_BARE99, -1);
	print_row(S_FAULT_FILE50, -1);
	print_row(S_FAULT_FILE99, -1);
	printf("working set: a KVM guest checks %llu MiB of its %.0f MiB, ms from the restore "
	       "request; cold: the snapshot dropped from the page cache before the row, warm: "
	       "read whole before the group; ratio to the group's first line (lower is better)\n",
	       (unsigned long long)(run->ws_pages * GM_VMM_PAGE >> 20), run->size / 1048576.0);
	for (int i = 0; i < NWS; i++)
		print_row(S_WS0 + i, ws_base(i));
	printf("recording a working set without faults (userfaultfd RWP, a scan every 100 ms): "
	       "ms for a booted KVM guest to read the same %llu MiB, the two alternating; "
	       "ratio to the first line (lower is better)\n",
	       (unsigned long long)(run->ws_pages * GM_VMM_PAGE >> 20));
	print_row(S_REC_OFF, -1);
	print_row(S_REC_ON, S_REC_OFF);
}

/* "n/a": cannot be measured here (na says why); "failed": the run counted
 * an error for it (na says which, or no sample came). */
static const char *series_status(const struct sb_series *s)
{
	if (s->na[0])
		return s->failed ? "failed" : "n/a";
	return s->n ? "measured" : "failed";
}

static void json_series(FILE *f, const struct sb_series *s)
{
	double lo = 0, hi = 0, m = median(s, &lo, &hi);

	fprintf(f, "{\"name\": ");
	gm_json_str(f, s->name);
	fprintf(f, ", \"unit\": \"%s\", \"status\": \"%s\", \"na\": ", s->unit,
		series_status(s));
	gm_json_str(f, s->na);
	if (s->n)
		fprintf(f, ", \"median\": %.4f, \"min\": %.4f, \"max\": %.4f", m, lo, hi);
	fprintf(f, ", \"samples\": [");
	for (unsigned int i = 0; i < s->n; i++)
		fprintf(f, "%s%.4f", i ? ", " : "", s->v[i]);
	fprintf(f, "], \"check\": [");
	for (unsigned int i = 0; i < s->n; i++)
		fprintf(f, "%s%lld", i ? ", " : "", s->check[i]);
	fprintf(f, "]}");
}

static int write_json(const struct sb_run *run)
{
	FILE *f = fopen(run->json, "w");
	struct utsname u;

	if (!f)
		return -errno;
	uname(&u);
	fprintf(f, "{\"kernel\": ");
	gm_json_str(f, u.release);
	fprintf(f, ", \"size\": %llu, \"rounds\": %u, \"chunk\": %llu, \"ws_pages\": %llu, "
		   "\"errors\": %d, \"series\": [\n",
		(unsigned long long)run->size, run->rounds, (unsigned long long)run->chunk,
		(unsigned long long)run->ws_pages, run->errors);
	for (int s = 0; s < S_N; s++) {
		json_series(f, &series[s]);
		fprintf(f, "%s\n", s + 1 < S_N ? "," : "");
	}
	fprintf(f, "]}\n");
	return fclose(f) ? -errno : 0;
}

static void cleanup(const struct sb_run *run, bool made_dir)
{
	char path[PATH_MAX + 8];

	for (int i = 0; i < NPROV; i++) {
		struct sb_prov *p = &provs[i];

		if (!p->dir[0])		/* never set up: n/a without KVM */
			continue;
		if (p->mem)
			munmap(p->mem, run->size);
		if (p->fd >= 0)
			close(p->fd);
		if (p->have_vm)
			gm_vmm_close(&p->vm);
		snprintf(path, sizeof(path), "%s/%s", run->mount, p->rel);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s", run->mount, p->dir);
		rmdir(path);
	}
	if (run->src_snap[0]) {
		unlink(run->src_snap);
		snprintf(path, sizeof(path), "%s%s", run->src_snap, GMEMFS_SNAP_IDX_SUFFIX);
		unlink(path);
	}
	if (made_dir)
		rmdir(run->dir);
}

int main(int argc, char **argv)
{
	struct sb_run run = { .seed = 0x5eed5eed };
	bool made_dir = false;
	int err;

	if (parse_opts(&run, argc, argv)) {
		usage(stderr);
		return 2;
	}
	run.ws_first = run.size / GM_VMM_PAGE / 4;
	run.ws_pages = run.size / GM_VMM_PAGE / 4;
	if (!run.dir[0]) {
		snprintf(run.dir, sizeof(run.dir), "%s/gm-snapbench.XXXXXX",
			 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		if (!mkdtemp(run.dir))
			return perror("gm-snapbench: mkdtemp"), 1;
		made_dir = true;
	}
	err = gmemfs_ctl_connect_path(run.mount, &ctl, NULL);
	if (err) {
		fprintf(stderr, "gm-snapbench: %s: %s\n", run.mount, strerror(-err));
		return 1;
	}
	name_series();
	kvm_rows_na(&run);
	setup_provs(&run);
	hugetlb_target(&run);
	for (int s = S_SNAP_WRITE; s < S_FAULT_UFFD50 && run.lazy_only; s++)
		na(&series[s], "not asked for (--lazy-only)");
	run_rounds(&run);
	print_table(&run);
	if (run.json && (err = write_json(&run)))
		fprintf(stderr, "gm-snapbench: %s: %s\n", run.json, strerror(-err)), run.errors++;
	printf("reproduce: gm-snapbench --mount %s --size %llu --rounds %u%s%s%s\n", run.mount,
	       (unsigned long long)run.size, run.rounds, run.lazy_only ? " --lazy-only" : "",
	       run.json ? " --json " : "", run.json ? run.json : "");
	cleanup(&run, made_dir);
	gmemfs_ctl_close(ctl);
	return run.errors ? 1 : 0;
}
