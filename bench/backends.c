/*
 * gmembench's backends: where a sample's memory comes from.  Each entry of
 * bench_backends[] is a name, what it is, what it sits on (gmemfs ones) and
 * three functions: setup (is it available here; mount or reserve what it
 * needs), create (a fresh object of the run's size) and teardown.
 *
 * Global state changed here is given back: 2 MiB hugetlb pages are added
 * to nr_hugepages and the same number subtracted at teardown (so
 * other users' concurrent changes survive); the THP tmpfs is a private
 * mount in gmembench's own mount namespace, so no sysfs knob is touched.
 * The gmemfs hugetlb and kvm-gmem backends take their memory from the
 * daemon's control socket (libgmemfs), as a VMM must for those files.
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

#include <linux/kvm.h>

#include "bench.h"
#include "gmemfs.h"
#include "gmemfs_client.h"

#define HUGE_2M		(2ULL << 20)
#define HUGE_2M_DIR	"/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define NR_HUGEPAGES	HUGE_2M_DIR "nr_hugepages"
#define FREE_HUGEPAGES	HUGE_2M_DIR "free_hugepages"
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

/* Other users of the machine take free huge pages too (a test of theirs
 * may even write back an old nr_hugepages): before each object, add what
 * is missing again, and remember it for teardown. */
static int hugetlb_create(struct bench *b, struct bench_backend_state *st, struct bench_obj *obj)
{
	long need = (long)(b->size / HUGE_2M), free_now = read_long(FREE_HUGEPAGES);

	if (free_now >= 0 && free_now < need)
		st->hugepages_added += hugepages_add(need - free_now);
	return create_memfd(b, obj, MFD_HUGETLB | MFD_HUGE_2MB);
}

static void hugetlb_teardown(struct bench *b, struct bench_backend_state *st)
{
	(void)b;
	hugepages_give_back(st->hugepages_added);
	st->hugepages_added = 0;
}

/* --- gmemfs files through the mount ------------------------------------ */

/* A directory of our own on the mount with the page-size policy, and a
 * probe file in it: what the daemon really gives a file there (provider,
 * page size, passthrough). */
static int gmemfs_setup(struct bench *b, struct bench_backend_state *st, const char *policy,
			__u32 provider)
{
	struct gmemfs_info info = { 0 };
	char probe[PATH_MAX + 16];
	int fd, err;

	if (!b->mount)
		return reason(st, -ENOENT, "no gmemfs mount (give --mount DIR, or use make bench)");
	if (snprintf(st->dir, sizeof(st->dir), "%s/gmembench-%d-%s", b->mount, (int)getpid(),
		     policy) >= (int)sizeof(st->dir))
		return reason(st, -ENAMETOOLONG, "%s: path too long", b->mount);
	if (mkdir(st->dir, 0700) < 0)
		return reason(st, -errno, "mkdir %s: %s", st->dir, strerror(errno));
	if (setxattr(st->dir, GMEMFS_XATTR_PAGESIZE, policy, strlen(policy), 0) < 0) {
		err = reason(st, -errno, "setxattr %s=%s on %s: %s (not a gmemfs mount?)",
			     GMEMFS_XATTR_PAGESIZE, policy, st->dir, strerror(errno));
		rmdir(st->dir);
		return err;
	}
	snprintf(probe, sizeof(probe), "%s/probe", st->dir);
	fd = open(probe, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		err = reason(st, -errno, "create a file with policy %s: %s (gmemfsd's %s "
			     "provider unavailable? see .gmemfs/stats)", policy, strerror(errno),
			     gmemfs_prov_name(provider));
	else if (ioctl(fd, GMEMFS_IOC_INFO, &info) < 0)
		err = reason(st, -errno, "GMEMFS_IOC_INFO on %s: %s", probe, strerror(errno));
	else if (info.provider != provider)
		err = reason(st, -ENODEV, "a file with policy %s is on %s, not %s", policy,
			     gmemfs_prov_name(info.provider), gmemfs_prov_name(provider));
	else
		err = 0;
	if (!err) {
		st->page_size = info.page_size;
		st->passthrough = !!(info.flags & GMEMFS_INFO_PASSTHROUGH);
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
	return gmemfs_setup(b, st, "4k", GMEMFS_PROV_SHMEM_4K);
}

static int gmemfs_thp_setup(struct bench *b, struct bench_backend_state *st)
{
	return gmemfs_setup(b, st, "2m-thp", GMEMFS_PROV_SHMEM_THP);
}

static void gmemfs_teardown(struct bench *b, struct bench_backend_state *st)
{
	(void)b;
	if (rmdir(st->dir) < 0)
		fprintf(stderr, "gmembench: rmdir %s: %s\n", st->dir, strerror(errno));
}

/* --- gmemfs files whose memory comes from the control socket ----------- */

/* FUSE cannot serve hugetlbfs (ELOOP) or guest_memfd (EINVAL) files, so a
 * VMM maps the fd the daemon hands out: these backends do the same.  The
 * file is made and sized through the mount (so the directory's policy
 * applies), then every access of a sample goes through the handed-out fd. */
static int ctl_setup(struct bench *b, struct bench_backend_state *st, const char *policy,
		     __u32 provider)
{
	char *rel = NULL;
	int err = gmemfs_setup(b, st, policy, provider);

	if (err)
		return err;
	err = gmemfs_ctl_connect_path(st->dir, &st->ctl, &rel);
	if (err) {
		reason(st, err, "control socket of %s: %s", b->mount, strerror(-err));
		goto err_dir;
	}
	if (snprintf(st->rel, sizeof(st->rel), "%s", rel) >= (int)sizeof(st->rel)) {
		err = reason(st, -ENAMETOOLONG, "%s: path too long", rel);
		goto err_ctl;
	}
	free(rel);
	return 0;
err_ctl:
	free(rel);
	gmemfs_ctl_close(st->ctl);
	st->ctl = NULL;
err_dir:
	rmdir(st->dir);
	return err;
}

static void ctl_teardown(struct bench *b, struct bench_backend_state *st)
{
	gmemfs_ctl_close(st->ctl);
	st->ctl = NULL;
	gmemfs_teardown(b, st);
}

/* obj's path relative to the mount root, as the control socket takes it. */
static int ctl_path(const struct bench_backend_state *st, const struct bench_obj *obj,
		    char *buf, size_t len)
{
	const char *name = strrchr(obj->path, '/');

	if (snprintf(buf, len, "%s/%s", st->rel, name ? name + 1 : obj->path) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* A sized file through the mount, then its memory from the socket: the
 * backing fd, or with vm_fd >= 0 a guest_memfd libgmemfs creates on that
 * VM (here, in the VM's process, as KVM wants) and the daemon adopts.  On
 * a refusal, gmemfs_ctl_reason() has the daemon's reason. */
static int ctl_handout(struct bench *b, struct bench_backend_state *st, struct bench_obj *obj,
		       int vm_fd, struct gmemfs_ctl_stat *cs)
{
	char rel[PATH_MAX];
	int fd, err = create_in_dir(b, st, obj);

	if (err)
		return err;
	close(obj->fd);
	obj->fd = -1;
	err = ctl_path(st, obj, rel, sizeof(rel));
	fd = err ? err : vm_fd >= 0 ? gmemfs_ctl_attach_vm(st->ctl, rel, vm_fd, cs) :
				      gmemfs_ctl_open(st->ctl, rel, cs);
	if (fd < 0) {
		bench_obj_release(obj);
		return fd;
	}
	obj->fd = fd;
	return 0;
}

/* The same, and the daemon's answer must be the file the backend stands
 * for: its page size and size. */
static int ctl_create(struct bench *b, struct bench_backend_state *st, struct bench_obj *obj,
		      int vm_fd)
{
	const char *what = vm_fd >= 0 ? "attach-vm" : "open";
	struct gmemfs_ctl_stat cs;
	int err = ctl_handout(b, st, obj, vm_fd, &cs);

	if (err) {
		fprintf(stderr, "gmembench: control socket %s in %s: %s (%s)\n", what, st->dir,
			strerror(-err), gmemfs_ctl_reason(st->ctl));
		return err;
	}
	if (cs.info.page_size != st->page_size || cs.info.size != b->size) {
		fprintf(stderr, "gmembench: %s handed out %s: %s, page size %llu, size %llu\n",
			what, obj->path, gmemfs_prov_name(cs.info.provider),
			(unsigned long long)cs.info.page_size, (unsigned long long)cs.info.size);
		bench_obj_release(obj);
		return -EIO;
	}
	return 0;
}

/* Open again through the socket: how a VMM gets these files' memory. */
static int ctl_reopen(struct bench *b, struct bench_backend_state *st,
		      const struct bench_obj *obj)
{
	char rel[PATH_MAX];
	int err = ctl_path(st, obj, rel, sizeof(rel));

	(void)b;
	return err ? err : gmemfs_ctl_open(st->ctl, rel, NULL);
}

static int gmemfs_hugetlb_setup(struct bench *b, struct bench_backend_state *st)
{
	struct gmemfs_ctl_pool pool;
	unsigned long long room = 0;
	unsigned int i;
	int err = ctl_setup(b, st, "2m", GMEMFS_PROV_HUGETLB_2M);

	if (err)
		return err;
	err = gmemfs_ctl_pool(st->ctl, &pool);
	for (i = 0; !err && i < pool.nprov; i++)
		if (pool.prov[i].id == GMEMFS_PROV_HUGETLB_2M)
			room = pool.prov[i].limit - pool.prov[i].used;
	if (err)
		reason(st, err, "pool: %s", strerror(-err));
	else if (room < b->size)
		err = reason(st, -ENOSPC, "gmemfsd's hugetlb-2m store has %llu MiB free, the "
			     "run needs %llu (start it with --hugepages=2M:%llu)", room >> 20,
			     (unsigned long long)(b->size >> 20),
			     (unsigned long long)(b->size / HUGE_2M));
	if (err)
		ctl_teardown(b, st);
	return err;
}

static int gmemfs_hugetlb_create(struct bench *b, struct bench_backend_state *st,
				 struct bench_obj *obj)
{
	return ctl_create(b, st, obj, -1);
}

/* guest_memfd is bound to the VM it is created on: the guest's VM for the
 * guest scenario, a scratch VM for userspace ones. */
static int gmemfs_kvm_gmem_setup(struct bench *b, struct bench_backend_state *st)
{
	int kvm, err = gmem_setup(b, st);

	if (err)
		return err;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	st->scratch_vm_fd = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
	if (st->scratch_vm_fd < 0)
		err = reason(st, -errno, "a scratch KVM VM: %s", strerror(errno));
	if (kvm >= 0)
		close(kvm);
	if (!err)
		err = ctl_setup(b, st, "kvm-gmem", GMEMFS_PROV_KVM_GMEM);
	if (err && st->scratch_vm_fd >= 0)
		close(st->scratch_vm_fd);
	return err;
}

static int gmemfs_kvm_gmem_create(struct bench *b, struct bench_backend_state *st,
				  struct bench_obj *obj)
{
	return ctl_create(b, st, obj, obj->vm_fd >= 0 ? obj->vm_fd : st->scratch_vm_fd);
}

static void gmemfs_kvm_gmem_teardown(struct bench *b, struct bench_backend_state *st)
{
	ctl_teardown(b, st);
	close(st->scratch_vm_fd);
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
	{
		.name = "gmemfs-hugetlb-2m",
		.desc = "gmemfs file with user.gmemfs.pagesize=2m (hugetlb-2m), mapped from the "
			"fd the control socket hands out",
		.sits_on = "hugetlb-2m",
		.flags = BK_GMEMFS | BK_CTL_FD,
		.align = HUGE_2M,
		.setup = gmemfs_hugetlb_setup,
		.create = gmemfs_hugetlb_create,
		.reopen = ctl_reopen,
		.teardown = ctl_teardown,
	},
	{
		.name = "gmemfs-kvm-gmem",
		.desc = "gmemfs file with user.gmemfs.pagesize=kvm-gmem, attached to a VM over "
			"the control socket: the guest_memfd fd it returns",
		.sits_on = "guest_memfd",
		.flags = BK_GMEMFS | BK_CTL_FD | BK_GUEST_MEMFD,
		.align = 4096,
		.setup = gmemfs_kvm_gmem_setup,
		.create = gmemfs_kvm_gmem_create,
		.reopen = ctl_reopen,
		.teardown = gmemfs_kvm_gmem_teardown,
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
	snprintf(path, sizeof(path), "%s/%s/%s", b->mount, GMEMFS_VIEWS_DIR, GMEMFS_STATS_FILE);
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
