/*
 * gmembench's backends: where a sample's memory comes from.  Each entry of
 * bench_backends[] is a name, what it is, what it sits on (gmemfs ones) and
 * three functions: setup (is it available here; mount or reserve what it
 * needs), create (a fresh object of the run's size) and teardown.
 *
 * Global state changed here is given back: hugetlb pages are added to
 * /proc/sys/vm/nr_hugepages and the same number subtracted at teardown (so
 * other users' concurrent changes survive); the THP tmpfs is a private
 * mount in gmembench's own mount namespace, so no sysfs knob is touched.
 *
 * Not for: measuring (scenarios.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "bench.h"
#include "gmemfs.h"

#define HUGE_2M		(2ULL << 20)
#define NR_HUGEPAGES	"/proc/sys/vm/nr_hugepages"
#ifndef MFD_HUGE_2MB		/* linux/memfd.h; glibc 2.36's sys/mman.h lacks it */
#define MFD_HUGE_2MB	(21U << 26)
#endif

static int reason(struct bench_backend_state *st, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Mark a backend skipped, saying why; returns err. */
static int reason(struct bench_backend_state *st, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
	return err;
}

static int obj_fail(const struct bench_obj *obj, const char *what, int err)
{
	fprintf(stderr, "gmembench: %s %s: %s\n", what, obj->path[0] ? obj->path : "(memfd)",
		strerror(-err));
	return err;
}

void bench_obj_release(struct bench_obj *obj)
{
	if (obj->fd >= 0)
		close(obj->fd);
	if (obj->path[0])
		unlink(obj->path);
	obj->fd = -1;
	obj->path[0] = '\0';
}

/* A memfd of the run's size with extra memfd_create flags. */
static int create_memfd(struct bench *b, struct bench_obj *obj, unsigned int flags)
{
	int err;

	obj->path[0] = '\0';
	obj->fd = memfd_create("gmembench", MFD_CLOEXEC | flags);
	if (obj->fd < 0)
		return obj_fail(obj, "memfd_create", -errno);
	if (ftruncate(obj->fd, (off_t)b->size) < 0) {
		err = obj_fail(obj, "ftruncate", -errno);
		bench_obj_release(obj);
		return err;
	}
	return 0;
}

/* A new file in st->dir, sized. */
static int create_in_dir(struct bench *b, struct bench_backend_state *st,
			 struct bench_obj *obj)
{
	int err;

	if (snprintf(obj->path, sizeof(obj->path), "%s/obj-%u", st->dir,
		     st->serial++) >= (int)sizeof(obj->path)) {
		obj->path[0] = '\0';
		return obj_fail(obj, st->dir, -ENAMETOOLONG);
	}
	obj->fd = open(obj->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (obj->fd < 0) {
		err = obj_fail(obj, "open", -errno);
		obj->path[0] = '\0';
		return err;
	}
	if (ftruncate(obj->fd, (off_t)b->size) < 0) {
		err = obj_fail(obj, "ftruncate", -errno);
		bench_obj_release(obj);
		return err;
	}
	return 0;
}

/* --- in-kernel KVM guest_memfd ------------------------------------------ */

#define GMEM_FLAGS	(GM_VMM_GMEM_MMAP | GM_VMM_GMEM_INIT_SHARED)

static int gmem_setup(struct bench *b, struct bench_backend_state *st)
{
	if (!b->have_vm)
		return reason(st, -ENODEV, "%s", b->vm_reason);
	if ((gm_vmm_gmem_flags(&b->vm) & GMEM_FLAGS) != GMEM_FLAGS)
		return reason(st, -EOPNOTSUPP, "KVM guest_memfd flags %#llx lack MMAP|INIT_SHARED",
			      (unsigned long long)gm_vmm_gmem_flags(&b->vm));
	st->page_size = 4096;
	return 0;
}

static int gmem_create(struct bench *b, struct bench_backend_state *st, struct bench_obj *obj)
{
	(void)st;
	obj->path[0] = '\0';
	obj->fd = gm_vmm_create_gmem(&b->vm, b->size, GMEM_FLAGS);
	if (obj->fd < 0) {
		fprintf(stderr, "gmembench: %s\n", b->vm.err);
		return obj->fd;
	}
	return 0;
}

/* --- raw memfd, 4K pages ------------------------------------------------- */

/* memfd is shmem on the kernel's internal mount, whose huge pages follow
 * the global shmem_enabled knob: only "never" and "deny" keep it 4K for
 * fallocate and write() as well as for faults. */
static int memfd4k_setup(struct bench *b, struct bench_backend_state *st)
{
	char knob[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");

	(void)b;
	if (f) {
		if (!fgets(knob, sizeof(knob), f))
			knob[0] = '\0';
		fclose(f);
	}
	if (knob[0] && !strstr(knob, "[never]") && !strstr(knob, "[deny]"))
		return reason(st, -EOPNOTSUPP, "shmem_enabled is not never/deny, so memfd "
			      "would not be 4K: %.60s", knob);
	st->page_size = 4096;
	return 0;
}

static int memfd4k_create(struct bench *b, struct bench_backend_state *st, struct bench_obj *obj)
{
	(void)st;
	return create_memfd(b, obj, 0);
}

/* --- tmpfs with THP: a private mount, huge=within_size ------------------ */

/* A memfd cannot ask for THP without the global shmem_enabled knob, which
 * other users of the machine share; a tmpfs of our own mounted
 * huge=within_size is the very backing gmemfs's shmem-thp sits on. */
static int tmpfs_thp_setup(struct bench *b, struct bench_backend_state *st)
{
	if (!b->private_ns)
		return reason(st, -EPERM, "%s", b->ns_reason);
	if (snprintf(st->dir, sizeof(st->dir), "%s/tmpfs-thp", b->tmpdir) >= (int)sizeof(st->dir))
		return reason(st, -ENAMETOOLONG, "%s: path too long", b->tmpdir);
	if (mkdir(st->dir, 0700) < 0 && errno != EEXIST)
		return reason(st, -errno, "mkdir %s: %s", st->dir, strerror(errno));
	if (mount("gmembench", st->dir, "tmpfs", MS_NOSUID | MS_NODEV,
		  "huge=within_size,mode=0700") < 0)
		return reason(st, -errno, "mount tmpfs huge=within_size on %s: %s", st->dir,
			      strerror(errno));
	st->mounted = 1;
	st->page_size = HUGE_2M;
	return 0;
}

static void dir_teardown(struct bench *b, struct bench_backend_state *st)
{
	(void)b;
	if (st->mounted && umount2(st->dir, MNT_DETACH) < 0)
		fprintf(stderr, "gmembench: umount %s: %s\n", st->dir, strerror(errno));
	st->mounted = 0;
	if (st->dir[0])
		rmdir(st->dir);
}

/* --- raw hugetlb, 2M pages ---------------------------------------------- */

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int err = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%ld\n", v) < 0)
		err = -EIO;
	if (fclose(f) && !err)
		err = -errno;
	return err;
}

/* Add n to nr_hugepages as it is now (others may change it meanwhile, so
 * never write back an absolute value saved earlier).  Returns how many
 * pages the kernel actually added. */
static long hugepages_add(long n)
{
	long cur = read_long(NR_HUGEPAGES), now;

	if (cur < 0 || write_long(NR_HUGEPAGES, cur + n) < 0)
		return 0;
	now = read_long(NR_HUGEPAGES);
	return now > cur ? now - cur : 0;
}

static void hugepages_give_back(long n)
{
	long cur = read_long(NR_HUGEPAGES);

	if (n > 0 && (cur < n || write_long(NR_HUGEPAGES, cur - n) < 0))
		fprintf(stderr, "gmembench: could not give %ld pages back to %s (now %ld)\n",
			n, NR_HUGEPAGES, cur);
}

static int hugetlb_setup(struct bench *b, struct bench_backend_state *st)
{
	long need = (long)(b->size / HUGE_2M), got = hugepages_add(need);

	if (got < need) {
		hugepages_give_back(got);
		return reason(st, -ENOMEM, "could reserve only %ld of %ld 2 MiB pages in %s",
			      got, need, NR_HUGEPAGES);
	}
	st->hugepages_added = got;
	st->page_size = HUGE_2M;
	return 0;
}

static int hugetlb_create(struct bench *b, struct bench_backend_state *st, struct bench_obj *obj)
{
	(void)st;
	return create_memfd(b, obj, MFD_HUGETLB | MFD_HUGE_2MB);
}

static void hugetlb_teardown(struct bench *b, struct bench_backend_state *st)
{
	(void)b;
	hugepages_give_back(st->hugepages_added);
	st->hugepages_added = 0;
}

/* --- gmemfs files through the mount ------------------------------------ */

static int gmemfs_setup(struct bench *b, struct bench_backend_state *st, const char *pagesize)
{
	struct gmemfs_info info = { 0 };
	char probe[PATH_MAX + 16];
	int fd, err;

	if (!b->mount)
		return reason(st, -ENOENT, "no gmemfs mount (give --mount DIR, or use make bench)");
	if (snprintf(st->dir, sizeof(st->dir), "%s/gmembench-%d-%s", b->mount, (int)getpid(),
		     pagesize) >= (int)sizeof(st->dir))
		return reason(st, -ENAMETOOLONG, "%s: path too long", b->mount);
	if (mkdir(st->dir, 0700) < 0)
		return reason(st, -errno, "mkdir %s: %s", st->dir, strerror(errno));
	if (setxattr(st->dir, GMEMFS_XATTR_PAGESIZE, pagesize, strlen(pagesize), 0) < 0) {
		err = reason(st, -errno, "setxattr %s=%s on %s: %s (not a gmemfs mount?)",
			     GMEMFS_XATTR_PAGESIZE, pagesize, st->dir, strerror(errno));
		rmdir(st->dir);
		return err;
	}
	/* What the daemon really gives a file here: page size, passthrough. */
	snprintf(probe, sizeof(probe), "%s/probe", st->dir);
	fd = open(probe, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ioctl(fd, GMEMFS_IOC_INFO, &info) < 0) {
		err = reason(st, -errno, "GMEMFS_IOC_INFO on %s: %s", probe, strerror(errno));
	} else {
		st->page_size = info.page_size;
		st->passthrough = !!(info.flags & GMEMFS_INFO_PASSTHROUGH);
		err = 0;
	}
	if (fd >= 0)
		close(fd);
	unlink(probe);
	if (err)
		rmdir(st->dir);
	return err;
}

static int gmemfs_4k_setup(struct bench *b, struct bench_backend_state *st)
{
	return gmemfs_setup(b, st, "4k");
}

static int gmemfs_thp_setup(struct bench *b, struct bench_backend_state *st)
{
	return gmemfs_setup(b, st, "2m-thp");
}

static void gmemfs_teardown(struct bench *b, struct bench_backend_state *st)
{
	(void)b;
	if (rmdir(st->dir) < 0)
		fprintf(stderr, "gmembench: rmdir %s: %s\n", st->dir, strerror(errno));
}

/* --- the table ----------------------------------------------------------- */

const struct bench_backend bench_backends[] = {
	{
		.name = "guest_memfd",
		.desc = "in-kernel KVM guest_memfd, flags MMAP|INIT_SHARED",
		.flags = BK_GUEST_MEMFD | BK_NO_REOPEN,
		.align = 4096,
		.setup = gmem_setup,
		.create = gmem_create,
	},
	{
		.name = "memfd-4k",
		.desc = "raw memfd, 4K pages (shmem_enabled never)",
		.align = 4096,
		.setup = memfd4k_setup,
		.create = memfd4k_create,
	},
	{
		.name = "tmpfs-thp",
		.desc = "raw THP shmem: private tmpfs huge=within_size",
		.align = 4096,
		.setup = tmpfs_thp_setup,
		.create = create_in_dir,
		.teardown = dir_teardown,
	},
	{
		.name = "hugetlb-2m",
		.desc = "raw hugetlb memfd, MFD_HUGE_2MB (pages added to nr_hugepages)",
		.align = HUGE_2M,
		.setup = hugetlb_setup,
		.create = hugetlb_create,
		.teardown = hugetlb_teardown,
	},
	{
		.name = "gmemfs-4k",
		.desc = "gmemfs file through the mount, user.gmemfs.pagesize=4k (shmem-4k)",
		.sits_on = "memfd-4k",
		.flags = BK_GMEMFS,
		.align = 4096,
		.setup = gmemfs_4k_setup,
		.create = create_in_dir,
		.teardown = gmemfs_teardown,
	},
	{
		.name = "gmemfs-thp",
		.desc = "gmemfs file through the mount, user.gmemfs.pagesize=2m-thp (shmem-thp)",
		.sits_on = "tmpfs-thp",
		.flags = BK_GMEMFS,
		.align = 4096,
		.setup = gmemfs_thp_setup,
		.create = create_in_dir,
		.teardown = gmemfs_teardown,
	},
};
const unsigned int bench_nbackends = sizeof(bench_backends) / sizeof(bench_backends[0]);
_Static_assert(sizeof(bench_backends) / sizeof(bench_backends[0]) <= BENCH_MAX_BACKENDS,
	       "raise BENCH_MAX_BACKENDS");

int bench_backend_index(const char *name)
{
	unsigned int i;

	for (i = 0; name && i < bench_nbackends; i++)
		if (!strcmp(bench_backends[i].name, name))
			return (int)i;
	return -1;
}

void bench_backends_setup(struct bench *b)
{
	unsigned int i;

	for (i = 0; i < bench_nbackends; i++) {
		const struct bench_backend *bk = &bench_backends[i];
		struct bench_backend_state *st = &b->st[i];

		if (b->size % bk->align) {
			reason(st, -EINVAL, "size %llu is not a multiple of its page, %llu",
			       (unsigned long long)b->size, (unsigned long long)bk->align);
			continue;
		}
		st->available = !bk->setup || bk->setup(b, st) == 0;
	}
}

void bench_backends_teardown(struct bench *b)
{
	unsigned int i;

	for (i = 0; i < bench_nbackends; i++) {
		if (b->st[i].available && bench_backends[i].teardown)
			bench_backends[i].teardown(b, &b->st[i]);
	}
}

/* A request count of the gmemfs daemon from .gmemfs/stats ("read",
 * "write"), or -1 without a mount or that figure. */
long long bench_daemon_requests(const struct bench *b, const char *op)
{
	char path[PATH_MAX], buf[8192], key[32];
	const char *req, *at;
	ssize_t n;
	int fd;

	if (!b->mount)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/%s", b->mount, GMEMFS_CTL_DIR, GMEMFS_STATS_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	snprintf(key, sizeof(key), "\"%s\":", op);
	req = strstr(buf, "\"requests\":{");
	at = req ? strstr(req, key) : NULL;
	return at ? atoll(at + strlen(key)) : -1;
}
