/*
 * gm-snapbench's VMM children (see snapbench.h).  Every lazy restore runs
 * in a process of its own, as a VMM does: gmemfsd ends a session when its
 * VMM exits, and KVM serves a VM's ioctls only in the process that made it.
 * A child maps its guest RAM, hands a userfaultfd over (or maps the image
 * privately, the way Firecracker's File backend does), measures, writes an
 * sb_child_result to its pipe and exits.
 *
 * Not for: the table or the throughput rows (snapbench.c).
 */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "gmemfs_client.h"
#include "gmemfs_ctl.h"
#include "gmemfs_snap.h"
#include "gm-test-util.h"
#include "snapbench.h"
#include "vmm.h"

#define SB_CHILD_TIMEOUT_MS	(300 * 1000)

static int child_fail(struct sb_child_result *res, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int child_fail(struct sb_child_result *res, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->why, sizeof(res->why), fmt, ap);
	va_end(ap);
	res->err = err;
	return err;
}

/* A new hugetlb-2m file of the mount, mapped shared: gmemfs's own guest
 * memory in 2 MiB pages, which the lazy restore places through the same
 * MISSING faults.  Unlinked at once: it goes when the child exits. */
static void *hugetlb_ram(const struct sb_run *run, struct gmemfs_ctl *c)
{
	char path[PATH_MAX], rel[PATH_MAX];
	void *mem = NULL;
	int fd, n;

	snprintf(rel, sizeof(rel), "%s/ws-target.%d", run->hugetlb_dir, (int)getpid());
	n = snprintf(path, sizeof(path), "%s/%s", run->mount, rel);
	if (n < 0 || n >= (int)sizeof(path))
		return errno = ENAMETOOLONG, NULL;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)run->size) == 0) {
		close(fd);
		fd = gmemfs_ctl_open(c, rel, NULL);
	}
	unlink(path);
	if (fd >= 0) {
		mem = mmap(NULL, run->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
	}
	return mem == MAP_FAILED ? NULL : mem;
}

/* Guest RAM of the target's kind: anonymous 4 KiB pages, the same asking
 * for THP (2 MiB aligned), or a gmemfs hugetlb-2m file. */
static void *target_ram(const struct sb_run *run, enum sb_target target, struct gmemfs_ctl *c)
{
	const uint64_t huge = 2ULL << 20;
	uint64_t len = run->size + (target == SB_T_THP ? huge : 0);
	uint8_t *mem;

	if (target == SB_T_HUGETLB)
		return hugetlb_ram(run, c);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	if (target == SB_T_THP) {
		mem = (uint8_t *)(((uintptr_t)mem + huge - 1) & ~(huge - 1));
		if (madvise(mem, run->size, MADV_HUGEPAGE))
			return NULL;
	}
	return mem;
}

/* Guest RAM of the target registered for MISSING faults, handed to
 * gmemfsd with a lazy restore of the snapshot. */
static void *uffd_ram(const struct sb_run *run, enum sb_target target, uint32_t flags,
		      struct sb_child_result *res)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMOVE };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct gmemfs_region region = {
		.size = run->size, .page_size = target == SB_T_HUGETLB ? 2ULL << 20 : 4096,
	};
	struct gmemfs_ctl *c = NULL;
	uint64_t session;
	void *mem;
	int uffd, err;

	err = gmemfs_ctl_connect_path(run->mount, &c, NULL);
	if (err)
		return child_fail(res, err, "connect: %s", strerror(-err)), NULL;
	mem = target_ram(run, target, c);
	if (!mem) {
		child_fail(res, -errno, "guest RAM (%s): %s", target == SB_T_HUGETLB ?
			   "a hugetlb-2m file" : "anonymous", strerror(errno));
		gmemfs_ctl_close(c);
		return NULL;
	}
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) < 0)
		return child_fail(res, -errno, "userfaultfd: %s", strerror(errno)), NULL;
	reg.range.start = (uintptr_t)mem;
	reg.range.len = run->size;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return child_fail(res, -errno, "UFFDIO_REGISTER: %s", strerror(errno)), NULL;
	region.addr = (uintptr_t)mem;
	err = gmemfs_ctl_restore_lazy(c, run->src_snap, uffd, &region, 1, NULL, flags, &session);
	if (err) {
		child_fail(res, err, "restore-lazy: %s (%s)", strerror(-err), gmemfs_ctl_reason(c));
		mem = NULL;
	}
	gmemfs_ctl_close(c);
	close(uffd);
	return mem;
}

/* The floor of a uffd round trip on this machine: a handler thread in the
 * VMM itself copying the same unit from a mapping of the image, with no
 * checksum, no snapshot format and no other process. */
struct bare_handler {
	int uffd;
	const unsigned char *img;	/* the image, mapped */
	uintptr_t base;			/* the guest memory */
	uint64_t unit;
};

static void *bare_handler_main(void *arg)
{
	const struct bare_handler *h = arg;
	struct pollfd p = { .fd = h->uffd, .events = POLLIN };
	struct uffd_msg m;

	while (poll(&p, 1, -1) >= 0) {
		struct uffdio_copy c = { .len = h->unit };

		if (read(h->uffd, &m, sizeof(m)) != sizeof(m) || m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		c.dst = m.arg.pagefault.address & ~(h->unit - 1);
		c.src = (uintptr_t)h->img + (c.dst - h->base);
		ioctl(h->uffd, UFFDIO_COPY, &c);
	}
	return NULL;
}

static void *bare_ram(const struct sb_run *run, struct sb_child_result *res)
{
	static struct bare_handler h;
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	void *mem = mmap(NULL, run->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	int fd = open(run->src_snap, O_RDONLY | O_CLOEXEC);
	pthread_t t;

	if (mem == MAP_FAILED || fd < 0)
		return child_fail(res, -errno, "mmap or open: %s", strerror(errno)), NULL;
	h.img = mmap(NULL, run->size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	h.uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	h.base = (uintptr_t)mem;
	h.unit = run->chunk;
	reg.range.start = (uintptr_t)mem;
	reg.range.len = run->size;
	if (h.img == MAP_FAILED || h.uffd < 0 || ioctl(h.uffd, UFFDIO_API, &api) < 0 ||
	    ioctl(h.uffd, UFFDIO_REGISTER, &reg) < 0)
		return child_fail(res, -errno, "bare handler: %s", strerror(errno)), NULL;
	if (pthread_create(&t, NULL, bare_handler_main, &h))
		return child_fail(res, -EAGAIN, "bare handler: no thread"), NULL;
	return mem;
}

/* The image mapped privately: Firecracker's File memory backend. */
static void *file_ram(const struct sb_run *run, struct sb_child_result *res)
{
	int fd = open(run->src_snap, O_RDONLY | O_CLOEXEC);
	void *mem;

	if (fd < 0)
		return child_fail(res, -errno, "%s: %s", run->src_snap, strerror(errno)), NULL;
	mem = mmap(NULL, run->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	if (mem == MAP_FAILED)
		return child_fail(res, -errno, "mmap %s: %s", run->src_snap, strerror(errno)), NULL;
	return mem;
}

/* Read the first word of every chunk, timing each read: each is one fault
 * (the rest of a chunk arrives with it). */
static int time_faults(const struct sb_run *run, const unsigned char *mem,
		       struct sb_child_result *res)
{
	uint64_t n = run->size / run->chunk, pages_per_chunk = run->chunk / GM_VMM_PAGE;
	double *lat = calloc(n, sizeof(*lat));

	if (!lat)
		return child_fail(res, -ENOMEM, "no memory for %llu samples", (unsigned long long)n);
	for (uint64_t i = 0; i < n; i++) {
		double t0 = (double)gm_mono_ns();
		uint32_t w = *(const volatile uint32_t *)(mem + i * run->chunk);

		lat[i] = (double)gm_mono_ns() - t0;
		if (w != gm_vmm_pattern(run->seed, (uint32_t)(i * pages_per_chunk))) {
			free(lat);
			return child_fail(res, -EIO, "chunk %llu holds %#x, not the pattern",
					  (unsigned long long)i, w);
		}
		res->checked++;
	}
	qsort(lat, n, sizeof(*lat), gm_cmp_double);
	res->faults = n;
	res->p50_ns = lat[n / 2];
	res->p99_ns = lat[n * 99 / 100];
	free(lat);
	return 0;
}

/* A KVM guest checks the working set, as a restored VM would touch it. */
static int guest_ws(const struct sb_run *run, void *mem, double t0, struct sb_child_result *res)
{
	struct gm_vmm vm;
	uint64_t ns, checked = 0;
	int err;

	err = gm_vmm_open(&vm, -1);
	if (err)
		return child_fail(res, err, "gm_vmm_open: %s", vm.err);
	err = gm_vmm_set_ram(&vm, &(struct gm_vmm_ram){ mem, run->size, -1, 0 });
	res->setup_ns = (double)gm_mono_ns() - t0;
	if (!err)
		err = gm_vmm_check(&vm, run->seed, run->ws_first, 1, run->ws_pages, &ns, &checked);
	res->ns = (double)gm_mono_ns() - t0;
	res->guest_ns = (double)ns;
	res->checked = checked;
	if (err)
		child_fail(res, err, "guest: %s", vm.err);
	gm_vmm_close(&vm);
	return err;
}

/* The floor: anonymous memory holding the image's bytes before the
 * clock starts, so the guest's run is all there is (this machine's own
 * cost of a guest touching memory: EPT faults, nested here). */
static void *floor_ram(const struct sb_run *run, struct sb_child_result *res)
{
	void *mem = mmap(NULL, run->size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	int fd = open(run->src_snap, O_RDONLY | O_CLOEXEC);
	int err = mem == MAP_FAILED || fd < 0 ? -errno : 0;

	for (uint64_t off = 0; !err && off < run->size;) {
		ssize_t n = pread(fd, (char *)mem + off, run->size - off, (off_t)off);

		err = n < 0 ? -errno : n == 0 ? -EIO : 0;
		off += n > 0 ? (uint64_t)n : 0;
	}
	if (fd >= 0)
		close(fd);
	if (err)
		return child_fail(res, err, "the floor's memory: %s", strerror(-err)), NULL;
	return mem;
}

static void child_main(const struct sb_run *run, enum sb_child_mode mode,
		       enum sb_target target, struct sb_child_result *res)
{
	static const uint32_t flags[] = {
		[SB_FAULTS_UFFD] = GMEMFS_CTL_F_NO_PREFETCH,
		[SB_WS_RECORD] = GMEMFS_CTL_F_RECORD_WS | GMEMFS_CTL_F_NO_PREFETCH,
		[SB_WS_LAZY] = GMEMFS_CTL_F_NO_PREFETCH,
		[SB_WS_PREFETCH] = 0,
	};
	bool file = mode == SB_FAULTS_FILE || mode == SB_WS_FILE;
	void *floor = mode == SB_WS_FLOOR ? floor_ram(run, res) : NULL;
	double t0 = (double)gm_mono_ns();
	void *mem = mode == SB_FAULTS_INPROC ? bare_ram(run, res) : floor ? floor :
		    file ? file_ram(run, res) : uffd_ram(run, target, flags[mode], res);

	if (!mem)
		return;
	if (mode == SB_FAULTS_UFFD || mode == SB_FAULTS_FILE || mode == SB_FAULTS_INPROC)
		time_faults(run, mem, res);
	else
		guest_ws(run, mem, t0, res);
}

static int wait_child(pid_t pid, int rfd, struct sb_child_result *res)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	ssize_t n = 0;
	int status;

	if (poll(&p, 1, SB_CHILD_TIMEOUT_MS) == 1)
		n = read(rfd, res, sizeof(*res));
	if (n != (ssize_t)sizeof(*res))
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (n != (ssize_t)sizeof(*res))
		return n < 0 ? -errno : -ETIMEDOUT;
	return 0;
}

int sb_child_run(const struct sb_run *run, enum sb_child_mode mode, enum sb_target target,
		 struct sb_child_result *res)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		struct sb_child_result r = { 0 };

		close(p[0]);
		child_main(run, mode, target, &r);
		_exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	memset(res, 0, sizeof(*res));
	int err = wait_child(pid, p[0], res);

	close(p[0]);
	return err;
}

int sb_wait_ws(const struct sb_run *run, unsigned int timeout_ms)
{
	char idx[PATH_MAX + 8];
	struct gmemfs_snap_header h;

	snprintf(idx, sizeof(idx), "%s%s", run->src_snap, GMEMFS_SNAP_IDX_SUFFIX);
	for (unsigned int waited = 0; waited <= timeout_ms; waited += 10) {
		int fd = open(idx, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd < 0 ? -1 : pread(fd, &h, sizeof(h), 0);

		if (fd >= 0)
			close(fd);
		if (n == (ssize_t)sizeof(h) && h.nr_ws > 0)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* Pages of fd's file in the page cache now, and its pages in *total. */
static int cached_pages(int fd, uint64_t *cached, uint64_t *total)
{
	struct stat st;
	unsigned char *vec;
	void *map;
	uint64_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	n = ((uint64_t)st.st_size + GM_VMM_PAGE - 1) / GM_VMM_PAGE;
	*total += n;
	if (!n)
		return 0;
	/* A shared read-only mapping faults nothing in until touched. */
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	vec = malloc(n);
	if (map == MAP_FAILED || !vec || mincore(map, (size_t)st.st_size, vec) < 0) {
		int err = map == MAP_FAILED || vec ? -errno : -ENOMEM;

		if (map != MAP_FAILED)
			munmap(map, (size_t)st.st_size);
		free(vec);
		return err;
	}
	for (uint64_t i = 0; i < n; i++)
		*cached += vec[i] & 1;
	munmap(map, (size_t)st.st_size);
	free(vec);
	return 0;
}

/* Read fd whole, so the page cache holds it. */
static int read_whole(int fd, void *buf, size_t len)
{
	off_t off = 0;
	ssize_t n;

	while ((n = pread(fd, buf, len, off)) > 0)
		off += n;
	return n < 0 ? -errno : 0;
}

/* Cold: write back what is dirty (DONTNEED drops only clean pages), then
 * drop it; warm: read it all. */
static int cache_one(int fd, bool cold, void *buf, size_t len)
{
	if (!cold)
		return read_whole(fd, buf, len);
	if (fsync(fd) < 0)
		return -errno;
	return -posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

int sb_cache_set(const struct sb_run *run, bool cold, double *pct)
{
	const size_t len = 8 << 20;
	char idx[PATH_MAX + 8];
	const char *paths[] = { run->src_snap, idx };
	uint64_t cached = 0, total = 0;
	void *buf = malloc(len);
	int err = buf ? 0 : -ENOMEM;

	snprintf(idx, sizeof(idx), "%s%s", run->src_snap, GMEMFS_SNAP_IDX_SUFFIX);
	for (unsigned i = 0; i < 2 && !err; i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);

		err = fd < 0 ? -errno : cache_one(fd, cold, buf, len);
		if (!err)
			err = cached_pages(fd, &cached, &total);
		if (fd >= 0)
			close(fd);
	}
	free(buf);
	*pct = total ? 100.0 * (double)cached / (double)total : 0;
	return err;
}
