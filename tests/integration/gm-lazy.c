/*
 * gm-lazy: the VMMs of t-lazy.sh, restoring a KVM guest's memory lazily
 * from a gmemfs snapshot, one process per VMM:
 *
 *   source MNT FILE MIB SEED
 *	VMM 1: a shmem file of MIB on the mount, its guest writes the pattern
 *	to every page (gm_vmm_touch), then the host writes DATA pages full of
 *	bytes (keeping the guest's word) and punches the HOLE pages.
 *   restore [opts] MNT SNAPFILE MIB SEED
 *	VMM 2, gmemfs's own handshake: anonymous private memory registered
 *	MISSING with a new uffd, gmemfs_ctl_restore_lazy, then the guest
 *	checks every page (gm_vmm_check) and the host the DATA and HOLE pages.
 *	--shm REL: map the new mount file REL (of the snapshot's size) shared
 *	instead, registered MISSING|MINOR, and pass it as PATH.
 *	--record-ws, --no-prefetch: the flags.  --first N: check only the
 *	first N pages.  --wait MS: sleep before the guest runs (the
 *	prefetcher's head start).  --remove: discard pages mid-restore
 *	(MADV_DONTNEED) and read zeros there.  --stall: check a quarter, print
 *	"stalled", wait for SIGUSR1 (the daemon stopped meanwhile), then check
 *	everything.  --expect-corrupt: the guest must
 *	meet a poisoned page (SIGBUS); with --stall, nothing is touched
 *	before the daemon stops, then every page outside the corrupt unit
 *	must read right and the corrupt page still SIGBUS.  --extra N: claim N more pages than
 *	the snapshot has (must be refused).  --path REL: send PATH REL with
 *	anonymous memory (for the refusals of PATH).  --hugetlb REL: a new
 *	hugetlb-2m file REL, its backing fd from the control socket mapped
 *	shared, registered MISSING in 2 MiB pages.
 *	--crash: check a quarter, start host threads faulting the rest
 *	(gm-lazy-crash.c), print "stalled" (the test kills gmemfsd and starts
 *	it again: libgmemfs's guard resumes the session), wait for SIGUSR1,
 *	print the stall the faults saw, check everything.  --crash-unserved:
 *	the same, but no daemon comes back: an access must get SIGBUS (the
 *	guard poisons the faults after GMEMFS_LAZY_GRACE_MS).
 *   fc SOCKET MIB SEED OFFSET_PAGES [stall]
 *	with stall: check 48 pages, print "stalled", wait for SIGUSR1 (the
 *	test kills gmemfsd and starts it again, which takes the uffd back),
 *	then check everything.
 *	VMM 2 the way Firecracker does it: a non-blocking uffd with
 *	EVENT_REMOVE, two regions registered MISSING, one connect and one
 *	sendmsg of the JSON array with the uffd in SCM_RIGHTS; the regions
 *	start OFFSET_PAGES into the snapshot.  Then the guest checks them.
 *   fc-bad KIND SOCKET: a handshake the daemon must refuse: json, two-fds,
 *	no-fd, size (a region beyond the snapshot).  Exits 0 when the daemon
 *	closed the connection.
 *
 * Every VMM prints "ok - "/"FAIL - " lines and, before it exits, its
 * session's figures as "# session faults=N minor=N prefetched=N ...".
 * Exit 0 if all passed.
 *
 * Not for: the daemon's own checks (t-lazy.sh reads its log).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/falloc.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <gmemfs_client.h>

#include "common/chan.h"
#include "common/clock.h"
#include "gm-lazy-crash.h"
#include "gm-test-util.h"
#include "uffd_compat.h"
#include "vmm.h"

#define MiB		(1024ULL * 1024)
#define PG		4096ULL
/* The layout every mode agrees on, in pages of the snapshot. */
#define DATA_FIRST	16
#define DATA_N		16
#define HOLE_FIRST	64
#define HOLE_N		32
/* --remove: a range across unit boundaries, and one never faulted. */
#define RM_FIRST	100
#define RM_N		32
#define FC_ALIGN	(64ULL << 10)

/* The byte at offset i of DATA page p. */
static uint8_t data_byte(uint32_t seed, uint64_t p, uint64_t i)
{
	return (uint8_t)((p * 131 + i * 7 + seed) >> 1);
}

static bool in_hole(uint64_t p)
{
	return p >= HOLE_FIRST && p < HOLE_FIRST + HOLE_N;
}

static int cmd_source(char **argv)
{
	const char *mnt = argv[0];
	uint64_t size = strtoull(argv[2], NULL, 0) * MiB;
	uint32_t seed = strtoul(argv[3], NULL, 0);
	struct gm_vmm vm;
	char path[4096];
	uint8_t *host;
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", mnt, argv[1]);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || ftruncate(fd, size)) {
		gm_test_report(false, "source file created", strerror(errno));
		return 1;
	}
	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (host == MAP_FAILED || gm_vmm_open(&vm, -1)) {
		gm_test_report(false, "source VMM set up", strerror(errno));
		return 1;
	}
	err = gm_vmm_set_ram(&vm, &(struct gm_vmm_ram){ host, size, -1, 0 });
	if (!err)
		err = gm_vmm_touch(&vm, seed, NULL);
	gm_test_report(!err, "VMM 1's guest wrote the pattern to every page of the mount file", vm.err);
	for (uint64_t p = DATA_FIRST; p < DATA_FIRST + DATA_N; p++)
		for (uint64_t i = 4; i < PG; i++)
			host[p * PG + i] = data_byte(seed, p, i);
	gm_vmm_clear_ram(&vm);
	gm_vmm_close(&vm);
	munmap(host, size);
	err = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, HOLE_FIRST * PG,
			HOLE_N * PG);
	gm_test_report(!err, "the host wrote full DATA pages and punched the HOLE pages",
		       err ? strerror(errno) : NULL);
	close(fd);
	return gm_test_failures ? 1 : 0;
}

/* A uffd with features (those the kernel lacks dropped, POISON first). */
static int make_uffd(int flags, uint64_t features)
{
	int fd = syscall(SYS_userfaultfd, flags);
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		api = (struct uffdio_api){ .api = UFFD_API,
					   .features = features & ~(uint64_t)UFFD_FEATURE_POISON };
		if (ioctl(fd, UFFDIO_API, &api)) {
			int err = -errno;

			close(fd);
			return err;
		}
	}
	return fd;
}

static int uffd_register(int uffd, void *addr, uint64_t len, uint64_t mode)
{
	struct uffdio_register r = {
		.range = { .start = (uintptr_t)addr, .len = len }, .mode = mode,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &r) ? -errno : 0;
}

static int print_session(void *ctx, const struct gmemfs_session *s)
{
	uint64_t id = *(uint64_t *)ctx;

	if (s->id == id)
		printf("# session faults=%llu minor=%llu prefetched=%llu bytes=%llu removed=%llu "
		       "corrupt=%llu ws=%llu unit=%llu p50_ns=%llu p99_ns=%llu state=%u\n",
		       (unsigned long long)s->faults, (unsigned long long)s->minor,
		       (unsigned long long)s->prefetched, (unsigned long long)s->bytes,
		       (unsigned long long)s->removed, (unsigned long long)s->corrupt,
		       (unsigned long long)s->ws, (unsigned long long)s->unit,
		       (unsigned long long)s->lat_p50_ns, (unsigned long long)s->lat_p99_ns,
		       s->state);
	return 0;
}

struct restore_opts {
	const char *shm;
	const char *path;		/* PATH sent, the memory anonymous */
	const char *hugetlb;		/* a hugetlb-2m file's backing, MAP_SHARED */
	uint32_t flags;
	uint64_t first, extra;
	unsigned wait_ms;
	bool remove, stall, expect_corrupt, crash, crash_unserved;
};

static void on_sigbus(int sig)
{
	static const char msg[] = "ok - the VMM's access to the corrupt page got SIGBUS\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(gm_test_failures ? 1 : 0);	/* the checks before it count too */
}

/* SIGUSR1 blocked (before "stalled", so one sent right after it waits for
 * sigwait): the set to wait on. */
static sigset_t block_usr1(void)
{
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	return usr1;
}

/* The guest checks [from, to) pages, skipping the holes; host-side checks
 * of DATA and HOLE pages. */
static void guest_check_range(struct gm_vmm *vm, uint32_t seed, uint64_t from, uint64_t to,
			      uint64_t *ns)
{
	uint64_t t = 0, checked, a, b;
	char what[200];
	int err;

	for (a = from; a < to; a = b) {
		if (in_hole(a)) {
			b = HOLE_FIRST + HOLE_N < to ? HOLE_FIRST + HOLE_N : to;
			continue;
		}
		b = a < HOLE_FIRST && to > HOLE_FIRST ? HOLE_FIRST : to;
		err = gm_vmm_check(vm, seed, a, 1, b - a, &t, &checked);
		*ns += t;
		snprintf(what, sizeof(what), "the guest reads the pattern on pages %llu-%llu",
			 (unsigned long long)a, (unsigned long long)b - 1);
		gm_test_report(!err, what, err ? vm->err : NULL);
	}
}

static void host_check(const uint8_t *host, uint32_t seed, uint64_t npages)
{
	bool ok = true;

	for (uint64_t p = DATA_FIRST; p < DATA_FIRST + DATA_N && p < npages; p++)
		for (uint64_t i = 4; i < PG && ok; i++)
			ok = host[p * PG + i] == data_byte(seed, p, i);
	gm_test_report(ok, "the host reads every byte of the DATA pages", NULL);
	ok = true;
	for (uint64_t i = HOLE_FIRST * PG; i < (HOLE_FIRST + HOLE_N) * PG && ok; i++)
		ok = host[i] == 0;
	gm_test_report(ok, "the host reads zeros in the HOLE pages", NULL);
}

/* --remove: discard a range the guest faulted and one nobody did. */
static void remove_check(uint8_t *host, uint64_t npages)
{
	uint64_t late = npages - 40;
	bool ok = true;

	gm_test_report(!madvise(host + RM_FIRST * PG, RM_N * PG, MADV_DONTNEED) &&
		       !madvise(host + late * PG, 20 * PG, MADV_DONTNEED),
		       "MADV_DONTNEED of a faulted range and an untouched one", NULL);
	for (uint64_t i = RM_FIRST * PG; i < (RM_FIRST + RM_N) * PG && ok; i++)
		ok = host[i] == 0;
	gm_test_report(ok, "the discarded faulted pages read zero", NULL);
	ok = true;
	for (uint64_t i = late * PG; i < (late + 20) * PG && ok; i++)
		ok = host[i] == 0;
	gm_test_report(ok, "the discarded untouched pages read zero", NULL);
}

/* The VMM's memory: anonymous, or the --shm file through the mount. */
static uint8_t *restore_map(const char *mnt, const struct restore_opts *o, uint64_t size)
{
	char path[4096];
	void *p;
	int fd;

	if (!o->shm && !o->hugetlb)
		return mmap(NULL, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	snprintf(path, sizeof(path), "%s/%s", mnt, o->shm ? o->shm : o->hugetlb);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0 && o->hugetlb) {
		/* FUSE cannot map hugetlbfs: the backing fd comes from the socket. */
		close(fd);
		fd = setxattr(path, "user.gmemfs.pagesize", "2m", 2, 0) || truncate(path, size) ?
		     -1 : gmemfs_open_backing(path, NULL);
	} else if (fd >= 0 && ftruncate(fd, size)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0)
		return MAP_FAILED;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	return p;
}

static int restore_handshake(const char *mnt, const char *snap, const struct restore_opts *o,
			     uint8_t *host, uint64_t size, uint64_t *id)
{
	uint64_t feat = UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_POISON |
			(o->shm ? UFFD_FEATURE_MINOR_SHMEM | UFFD_FEATURE_MISSING_SHMEM : 0) |
			(o->hugetlb ? UFFD_FEATURE_MISSING_HUGETLBFS : 0);
	struct gmemfs_region reg = {
		(uintptr_t)host, size + o->extra * PG, 0, o->hugetlb ? 2 * MiB : PG,
	};
	struct gmemfs_ctl *c;
	int uffd, err;

	uffd = make_uffd(O_CLOEXEC, feat);
	gm_test_report(uffd >= 0, "a userfaultfd with EVENT_REMOVE, UNMAP and POISON",
		       uffd < 0 ? strerror(-uffd) : NULL);
	if (uffd < 0)
		return uffd;
	err = uffd_register(uffd, host, size, UFFDIO_REGISTER_MODE_MISSING |
			    (o->shm ? UFFDIO_REGISTER_MODE_MINOR : 0));
	gm_test_report(!err, o->shm ? "the mount file's mapping registered MISSING|MINOR" :
		       o->hugetlb ? "the hugetlb file's mapping registered MISSING" :
		       "anonymous memory registered MISSING", err ? strerror(-err) : NULL);
	if (!err)
		err = gmemfs_ctl_connect_path(mnt, &c, NULL);
	if (err)
		return err;
	err = gmemfs_ctl_restore_lazy(c, snap, uffd, &reg, 1, o->path ? o->path : o->shm, o->flags,
				      id);
	if (err)
		printf("# refused: %s (%s)\n", strerror(-err), gmemfs_ctl_reason(c));
	gmemfs_ctl_close(c);
	close(uffd);		/* the daemon holds its own */
	return err;
}

static void session_figures(const char *mnt, uint64_t id)
{
	struct gmemfs_ctl *c;

	if (gmemfs_ctl_connect_path(mnt, &c, NULL))
		return;
	gmemfs_ctl_sessions(c, print_session, &id);
	gmemfs_ctl_close(c);
}

static void restore_run(const char *mnt, const struct restore_opts *o, struct gm_vmm *vm,
			uint8_t *host, uint64_t npages, uint32_t seed, uint64_t id)
{
	uint64_t ns = 0, t0, upto = o->first ? o->first : npages;
	struct timespec w = { .tv_sec = o->wait_ms / 1000, .tv_nsec = o->wait_ms % 1000 * 1000000L };

	if (o->wait_ms)
		nanosleep(&w, NULL);
	t0 = gm_mono_ns();
	if (o->stall) {
		sigset_t usr1;
		int sig;

		usr1 = block_usr1();
		guest_check_range(vm, seed, 0, npages / 4, &ns);
		printf("stalled\n");
		fflush(stdout);
		sigwait(&usr1, &sig);
		t0 = gm_mono_ns();
	}
	guest_check_range(vm, seed, 0, upto, &ns);
	printf("# restore: guest checked %llu pages in %llu us (%llu ns/page in the guest)\n",
	       (unsigned long long)upto, (unsigned long long)(gm_mono_ns() - t0) / 1000,
	       (unsigned long long)(ns / upto));
	if (!o->first)
		host_check(host, seed, npages);
	if (o->remove)
		remove_check(host, npages);
	session_figures(mnt, id);
}

static int session_unit_of(void *ctx, const struct gmemfs_session *s)
{
	uint64_t *id_unit = ctx;

	if (s->id == id_unit[0])
		id_unit[1] = s->unit;
	return 0;
}

/* The session's unit in pages, or 0 if it cannot be had. */
static uint64_t session_unit_pages(const char *mnt, uint64_t id)
{
	uint64_t id_unit[2] = { id, 0 };
	struct gmemfs_ctl *c;

	if (gmemfs_ctl_connect_path(mnt, &c, NULL))
		return 0;
	gmemfs_ctl_sessions(c, session_unit_of, id_unit);
	gmemfs_ctl_close(c);
	return id_unit[1] / PG;
}

/* --stall: the daemon stops before the VMM touches anything, so its last
 * pass meets the corrupt unit unplaced.  It must poison that unit and
 * still place every other one: here each of them reads right. */
static void corrupt_stall(const char *mnt, struct gm_vmm *vm, uint64_t npages,
			  uint32_t seed, uint64_t id)
{
	uint64_t upg = session_unit_pages(mnt, id), lo, hi, ns = 0;
	sigset_t usr1;
	int sig;

	gm_test_report(upg && DATA_FIRST + 1 < npages, "the session's unit is known", NULL);
	lo = DATA_FIRST / (upg ? upg : 1) * upg;
	hi = lo + upg;
	usr1 = block_usr1();
	printf("stalled\n");
	fflush(stdout);
	sigwait(&usr1, &sig);
	guest_check_range(vm, seed, 0, lo, &ns);
	guest_check_range(vm, seed, hi, npages, &ns);
}

static void on_sigbus_unserved(int sig)
{
	static const char msg[] = "ok - an access to memory nobody restored got SIGBUS\n";

	(void)sig;
	if (write(1, msg, sizeof(msg) - 1) < 0)
		_exit(3);
	_exit(gm_test_failures ? 1 : 0);
}

/* --crash, --crash-unserved: see the top of the file. */
static int crash_run(const char *mnt, const struct restore_opts *o, struct gm_vmm *vm,
		     uint8_t *host, uint64_t npages, uint32_t seed, uint64_t id)
{
	struct timespec limit = { .tv_sec = 60 };
	uint64_t ns = 0, upg = session_unit_pages(mnt, id);
	sigset_t usr1;
	int sig;

	usr1 = block_usr1();
	guest_check_range(vm, seed, 0, npages / 4, &ns);
	if (o->crash_unserved)
		signal(SIGBUS, on_sigbus_unserved);
	gm_test_report(upg && !gm_crash_touch_start(host, npages / 4, npages, upg, 5000),
		       "host threads fault the rest of the memory, a unit at a time", NULL);
	printf("stalled\n");
	fflush(stdout);
	if (o->crash_unserved) {
		sigtimedwait(&usr1, NULL, &limit);
		gm_test_report(false, "an access to memory nobody restored got SIGBUS",
			       "no SIGBUS within 60 s");
		return 1;
	}
	sigwait(&usr1, &sig);
	gm_crash_touch_stop();
	guest_check_range(vm, seed, 0, npages, &ns);
	host_check(host, seed, npages);
	session_figures(mnt, id);
	return gm_test_failures ? 1 : 0;
}

/* The first DATA page is corrupt in the snapshot: the guest must not read
 * it (KVM stops it: on this kernel an exit the VMM cannot serve, or SIGBUS),
 * and the VMM's own access must get SIGBUS. */
static int corrupt_run(const char *mnt, const struct restore_opts *o, struct gm_vmm *vm,
		       volatile uint8_t *host, uint64_t npages, uint32_t seed, uint64_t id)
{
	int err;

	if (o->stall)
		corrupt_stall(mnt, vm, npages, seed, id);
	signal(SIGBUS, on_sigbus);
	err = gm_vmm_check(vm, seed, DATA_FIRST, 1, 1, NULL, NULL);
	gm_test_report(err != 0, "the guest does not get the corrupt page's bytes", vm->err);
	printf("# the host reads the corrupt page: %u\n", host[DATA_FIRST * PG + 100]);
	gm_test_report(false, "the VMM's access to the corrupt page got SIGBUS", "it read the page");
	return 1;
}

static int cmd_restore(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "shm", required_argument, NULL, 's' }, { "record-ws", no_argument, NULL, 'r' },
		{ "no-prefetch", no_argument, NULL, 'n' }, { "first", required_argument, NULL, 'f' },
		{ "wait", required_argument, NULL, 'w' }, { "remove", no_argument, NULL, 'R' },
		{ "stall", no_argument, NULL, 'S' }, { "expect-corrupt", no_argument, NULL, 'c' },
		{ "extra", required_argument, NULL, 'x' }, { "path", required_argument, NULL, 'p' },
		{ "hugetlb", required_argument, NULL, 'H' }, { "crash", no_argument, NULL, 'K' },
		{ "crash-unserved", no_argument, NULL, 'U' }, { 0 }
	};
	struct restore_opts o = { 0 };
	struct gm_vmm vm;
	uint64_t size, id;
	uint8_t *host;
	int opt, err;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (opt) {
		case 's': o.shm = optarg; break;
		case 'r': o.flags |= GMEMFS_CTL_F_RECORD_WS; break;
		case 'n': o.flags |= GMEMFS_CTL_F_NO_PREFETCH; break;
		case 'f': o.first = strtoull(optarg, NULL, 0); break;
		case 'w': o.wait_ms = strtoul(optarg, NULL, 0); break;
		case 'R': o.remove = true; break;
		case 'S': o.stall = true; break;
		case 'c': o.expect_corrupt = true; break;
		case 'x': o.extra = strtoull(optarg, NULL, 0); break;
		case 'p': o.path = optarg; break;
		case 'H': o.hugetlb = optarg; break;
		case 'K': o.crash = true; break;
		case 'U': o.crash = o.crash_unserved = true; break;
		default: return 2;
		}
	}
	if (argc - optind != 4)
		return 2;
	argv += optind;
	size = strtoull(argv[2], NULL, 0) * MiB;
	host = restore_map(argv[0], &o, size);
	if (host == MAP_FAILED || gm_vmm_open(&vm, -1) ||
	    gm_vmm_set_ram(&vm, &(struct gm_vmm_ram){ host, size, -1, 0 })) {
		gm_test_report(false, "VMM 2 set up", strerror(errno));
		return 1;
	}
	err = restore_handshake(argv[0], argv[1], &o, host, size, &id);
	if (o.extra) {
		gm_test_report(err == -ERANGE, "a region beyond the snapshot is refused (ERANGE)", NULL);
		return gm_test_failures ? 1 : 0;
	}
	gm_test_report(!err, "RESTORE_LAZY accepted the uffd", err ? strerror(-err) : NULL);
	if (err)
		return 1;
	if (o.expect_corrupt)
		return corrupt_run(argv[0], &o, &vm, host, size / PG,
				   strtoul(argv[3], NULL, 0), id);
	if (o.crash)
		return crash_run(argv[0], &o, &vm, host, size / PG, strtoul(argv[3], NULL, 0), id);
	restore_run(argv[0], &o, &vm, host, size / PG, strtoul(argv[3], NULL, 0), id);
	gm_vmm_clear_ram(&vm);
	gm_vmm_close(&vm);
	munmap(host, size);
	return gm_test_failures ? 1 : 0;
}

/* Connect to the handler's socket, as Firecracker does. */
static int fc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	return fd;
}

/* One sendmsg: the text, and nfds fds in SCM_RIGHTS (Firecracker's
 * handshake is one datagram-like write, as gmemfs's own messages are). */
static int fc_send(int sock, const char *text, const int *fds, unsigned nfds)
{
	return gm_chan_send(sock, text, strlen(text), fds, nfds);
}

/* serde_json's compact form of Vec<GuestRegionUffdMapping>. */
static void fc_json(char *buf, size_t len, const uint64_t *addr, const uint64_t *size,
		    const uint64_t *off, unsigned n)
{
	size_t at = snprintf(buf, len, "[");

	for (unsigned i = 0; i < n; i++)
		at += snprintf(buf + at, len - at, "%s{\"base_host_virt_addr\":%llu,\"size\":%llu,"
			       "\"offset\":%llu,\"page_size\":4096,\"page_size_kib\":4096}",
			       i ? "," : "", (unsigned long long)addr[i],
			       (unsigned long long)size[i], (unsigned long long)off[i]);
	snprintf(buf + at, len - at, "]");
}

/* 48 pages checked (before DATA's end, no hole), then "stalled" and wait
 * for SIGUSR1: the daemon dies and comes back meanwhile. */
static void fc_stall(struct gm_vmm *vm, uint32_t seed, uint64_t first)
{
	uint64_t ns = 0;
	sigset_t usr1;
	int sig, err;

	usr1 = block_usr1();
	err = gm_vmm_check_at(vm, seed, 0, first, 1, 48, &ns, NULL);
	gm_test_report(!err, "the guest reads the pattern on its first 48 pages", err ? vm->err : NULL);
	printf("stalled\n");
	fflush(stdout);
	sigwait(&usr1, &sig);
}

static int cmd_fc(char **argv, bool stall)
{
	uint64_t size = strtoull(argv[1], NULL, 0) * MiB;
	uint32_t seed = strtoul(argv[2], NULL, 0);
	uint64_t off = strtoull(argv[3], NULL, 0) * PG, len = size - off;
	/* Firecracker's regions start at offsets of whole units (64 KiB). */
	uint64_t half = len / 2 & ~(FC_ALIGN - 1);
	uint64_t addr[2], sz[2] = { half, len - half }, offs[2] = { off, off + half }, ns = 0;
	struct gm_vmm vm;
	char json[1024];
	uint8_t *host;
	int uffd, sock, err;

	host = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	uffd = make_uffd(O_CLOEXEC | O_NONBLOCK, UFFD_FEATURE_EVENT_REMOVE);
	if (host == MAP_FAILED || uffd < 0 || gm_vmm_open(&vm, -1) ||
	    gm_vmm_set_ram(&vm, &(struct gm_vmm_ram){ host, len, -1, 0 })) {
		gm_test_report(false, "Firecracker-like VMM set up", strerror(errno));
		return 1;
	}
	addr[0] = (uintptr_t)host;
	addr[1] = (uintptr_t)host + half;
	err = uffd_register(uffd, host, half, UFFDIO_REGISTER_MODE_MISSING);
	if (!err)
		err = uffd_register(uffd, host + half, len - half, UFFDIO_REGISTER_MODE_MISSING);
	fc_json(json, sizeof(json), addr, sz, offs, 2);
	sock = err ? err : fc_connect(argv[0]);
	err = sock < 0 ? sock : fc_send(sock, json, &uffd, 1);
	gm_test_report(!err, "two regions registered, the JSON and the uffd sent in one sendmsg",
		       err ? strerror(-err) : json);
	if (err)
		return 1;
	close(sock);
	if (stall)
		fc_stall(&vm, seed, off / PG);
	/* The guest's page i is the snapshot's page off/PG + i; holes skipped. */
	for (uint64_t p = off / PG, end = size / PG, b; p < end; p = b) {
		if (in_hole(p)) {
			b = HOLE_FIRST + HOLE_N;
			continue;
		}
		b = p < HOLE_FIRST ? HOLE_FIRST : end;
		err = gm_vmm_check_at(&vm, seed, p - off / PG, p, 1, b - p, &ns, NULL);
		gm_test_report(!err, "the guest reads the pattern across both regions", err ? vm.err : NULL);
	}
	gm_vmm_clear_ram(&vm);
	gm_vmm_close(&vm);
	close(uffd);
	return gm_test_failures ? 1 : 0;
}

/* The daemon must close the connection without taking anything. */
static int cmd_fc_bad(char **argv)
{
	uint8_t *host = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t addr = (uintptr_t)host, size = 16 * PG, off = 0;
	int uffd = make_uffd(O_CLOEXEC | O_NONBLOCK, 0), fds[2], sock, err;
	struct pollfd p;
	char json[1024];

	fds[0] = fds[1] = uffd;
	if (uffd < 0 || uffd_register(uffd, host, size, UFFDIO_REGISTER_MODE_MISSING))
		return 1;
	if (!strcmp(argv[0], "size"))
		size = 1ULL << 40;
	fc_json(json, sizeof(json), &addr, &size, &off, 1);
	if (!strcmp(argv[0], "json"))
		snprintf(json, sizeof(json), "[{\"base_host_virt_addr\":%llu,\"size\":65536,"
			 "\"offset\":0,\"page_size\":4096}]", (unsigned long long)addr);
	sock = fc_connect(argv[1]);
	if (sock < 0)
		return 1;
	err = fc_send(sock, json, fds, !strcmp(argv[0], "no-fd") ? 0 :
		      !strcmp(argv[0], "two-fds") ? 2 : 1);
	p = (struct pollfd){ .fd = sock, .events = POLLIN };
	gm_test_report(!err && poll(&p, 1, 10000) == 1 && read(sock, json, 1) == 0,
		       "the daemon closed the connection", argv[0]);
	return gm_test_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 6 && !strcmp(argv[1], "source"))
		return cmd_source(argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "restore"))
		return cmd_restore(argc - 1, argv + 1);
	if ((argc == 6 || (argc == 7 && !strcmp(argv[6], "stall"))) && !strcmp(argv[1], "fc"))
		return cmd_fc(argv + 2, argc == 7);
	if (argc == 4 && !strcmp(argv[1], "fc-bad"))
		return cmd_fc_bad(argv + 2);
	fprintf(stderr, "usage: see the top of gm-lazy.c\n");
	return 2;
}
