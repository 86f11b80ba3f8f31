/*
 * kvm-gmem: guest memory in a KVM guest_memfd, which the kernel binds to
 * one VM at creation.  Only the VMM can create it: KVM answers a VM's
 * ioctls only in the process that created the VM (kvm_vm_ioctl: EIO when
 * current->mm is not the VM's).  So the VMM makes the guest_memfd on its
 * own VM and hands it over (gm_handout_adopt_gmem), and a file lives in
 * two states:
 *
 *   detached  its size and any bytes written through the mount are kept in
 *             a staging file in a tmpfs store at STATE_DIR/kvm-gmem (the
 *             tmpfs mechanics of tmpfs.c), like a shmem-4k file;
 *   attached  the daemon has checked the VMM's guest_memfd (sized as the
 *             file, rounded up to 4 KiB; created with MMAP and
 *             INIT_SHARED, so that another process can map it), copied the
 *             staged bytes into it through a mapping and dropped them from
 *             the staging file, which now only keeps the size.  The daemon
 *             keeps its own fd on it; read() and write() through the mount
 *             are served through a mapping of it.
 *
 * A file is attached once, to one VM, for as long as it exists in this
 * daemon: a second attach is EBUSY (the guest_memfd cannot move to another
 * VM) and its size is fixed (guest_memfd has no ftruncate).  A guest_memfd
 * lives only as long as some process holds it: after a daemon restart the
 * file is detached again, with its size and without its contents.
 *
 * Budget: guest_memfd has no size limit of its own and the daemon does not
 * see guest faults, so an attach reserves the file's whole size in the
 * pool (ENOSPC if it does not fit).  The instance's limit is the staging
 * tmpfs's size= plus the reserved bytes, so the kernel still enforces the
 * staging part; writes and fallocate on an attached file stay within its
 * reservation by construction.
 *
 * Locking: kgp->lock guards the file list; kgp->attached changes under
 * pool->lock; calls for one file are serialized by its inode->lock.  Lock
 * order: meta/inode.h.
 *
 * Names: kgp_ (kvm-gmem provider) for this file's own, so that none reads
 * as the kernel's kvm_gmem_* (virt/kvm/guest_memfd.c).
 *
 * Not for: the KVM VM and creating the guest_memfd (the VMM's, through
 * libgmemfs) or receiving fds (the control socket).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "core/fd_path.h"
#include "core/log.h"
#include "prov/kvm_gmem.h"
#include "gmemfs.h"

#define KGP_PAGE	4096ULL		/* guest_memfd: 4 KiB folios only */
#define KGP_COPY_CHUNK	(1U << 20)
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22		/* Linux 5.14 */
#endif

struct kgp_file {
	struct kgp_file *next;
	uint64_t id;
	int fd;			/* the daemon's fd on the VMM's guest_memfd */
	uint64_t size;		/* its size: the file's, page-aligned up */
};

struct kgp {
	pthread_mutex_t lock;
	struct kgp_file *files;		/* attached files; under lock */
	uint64_t attached;		/* sum of their sizes; under pool->lock */
};

static struct kgp *kgp_of(struct gm_prov_inst *pi)
{
	return pi->priv;
}

static struct kgp_file *kgp_find(struct kgp *kgp, uint64_t id)
{
	struct kgp_file *f;

	pthread_mutex_lock(&kgp->lock);
	for (f = kgp->files; f && f->id != id; f = f->next)
		;
	pthread_mutex_unlock(&kgp->lock);
	return f;
}

/* Either kind of guest_memfd, by what only the kernel sets: the magic of
 * the filesystem it lives on (newer kernels: 7.3), or the anon inode's
 * name (older: 6.x, where guest_memfd appeared). */
bool prov_kvm_gmem_is_gmem(int fd)
{
	char target[64];
	struct statfs sfs;

	if (fstatfs(fd, &sfs) == 0 && (uint32_t)sfs.f_type == GUEST_MEMFD_MAGIC)
		return true;
	if (gm_fd_target(fd, target, sizeof(target)))
		return false;
	/* An anon inode's name is the kernel's, never the caller's (memfd
	 * names read "/memfd:NAME"), so the name cannot be faked. */
	return strcmp(target, "anon_inode:[kvm-gmem]") == 0;
}

static int kgp_attach_store(struct gm_prov_inst *pi, uint64_t limit, bool *reused)
{
	struct kgp *kgp = calloc(1, sizeof(*kgp));
	int err;

	if (!kgp)
		return -ENOMEM;
	err = -pthread_mutex_init(&kgp->lock, NULL);
	if (err)
		goto err_free;
	err = prov_tmpfs_attach(pi, limit, reused);
	if (err)
		goto err_mutex;
	pi->priv = kgp;
	return 0;

err_mutex:
	pthread_mutex_destroy(&kgp->lock);
err_free:
	free(kgp);
	return err;
}

/* Daemon exit: our guest_memfd references go; the VMs keep theirs. */
static void kgp_detach_store(struct gm_prov_inst *pi)
{
	struct kgp *kgp = kgp_of(pi);

	while (kgp && kgp->files) {
		struct kgp_file *f = kgp->files;

		kgp->files = f->next;
		close(f->fd);
		free(f);
	}
	if (kgp) {
		pthread_mutex_destroy(&kgp->lock);
		free(kgp);
	}
	pi->priv = NULL;
	prov_tmpfs_detach(pi);
}

/* The staging tmpfs gets the limit less what attached files reserve. */
static int kgp_set_limit(struct gm_prov_inst *pi, uint64_t bytes)
{
	uint64_t attached = kgp_of(pi)->attached;
	int err;

	if (bytes < attached)
		return -EINVAL;
	err = prov_tmpfs_set_limit(pi, bytes - attached);
	pi->limit = bytes;	/* not the tmpfs's share alone */
	return err;
}

static int kgp_usage(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit)
{
	uint64_t attached = kgp_of(pi)->attached;
	int err;

	err = prov_tmpfs_usage(pi, used, limit);
	*used += attached;
	*limit += attached;
	return err;
}

/* Copy the staged bytes of a file (its data extents) into the guest_memfd. */
static int kgp_copy_in(int staging_fd, int gfd, uint64_t size)
{
	off_t data = 0, hole;
	char *buf;
	int err = 0;

	buf = malloc(KGP_COPY_CHUNK);
	if (!buf)
		return -ENOMEM;
	while (!err && (uint64_t)data < size) {
		data = lseek(staging_fd, data, SEEK_DATA);
		if (data < 0) {
			err = errno == ENXIO ? 0 : -errno;	/* ENXIO: no more data */
			break;
		}
		hole = lseek(staging_fd, data, SEEK_HOLE);
		if (hole < 0) {
			err = -errno;
			break;
		}
		while (!err && data < hole) {
			size_t n = (size_t)(hole - data) < KGP_COPY_CHUNK ?
				   (size_t)(hole - data) : KGP_COPY_CHUNK;
			ssize_t got = pread(staging_fd, buf, n, data);

			if (got <= 0) {
				err = got < 0 ? -errno : -EIO;
				break;
			}
			got = prov_mapio_write(gfd, KGP_PAGE, buf, (size_t)got, data);
			if (got < 0)
				err = (int)got;
			else
				data += got;
		}
	}
	free(buf);
	return err;
}

struct kgp_attach {
	struct gm_prov_inst *pi;
	uint64_t id;
	int staging_fd;
	int gfd;		/* the VMM's guest_memfd, as received */
	char *why;		/* the reason of a refusal, for the reply and log */
	size_t why_len;
};

static void kgp_why(struct kgp_attach *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void kgp_why(struct kgp_attach *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->why, a->why_len, fmt, ap);
	va_end(ap);
}

/* Can the instance reserve size bytes, given that the file's staged bytes
 * leave the staging store? */
static int kgp_check_room(struct gm_prov_inst *pi, uint64_t size, uint64_t staged)
{
	uint64_t used, limit, room;
	int err;

	err = kgp_usage(pi, &used, &limit);
	if (err)
		return err;
	room = pi->limit > used ? pi->limit - used : 0;
	return room + staged < size ? -ENOSPC : 0;
}

/* Does the guest_memfd have the file's size?  KVM fixes it at creation. */
static int kgp_check_size(struct kgp_attach *a, uint64_t size, uint64_t file_size)
{
	struct stat st;

	if (fstat(a->gfd, &st)) {
		kgp_why(a, "cannot stat the guest_memfd: %s", strerror(errno));
		return -EBADF;
	}
	if ((uint64_t)st.st_size == size)
		return 0;
	kgp_why(a, "the guest_memfd has %llu bytes, the file needs %" PRIu64 " (its %" PRIu64
		" bytes rounded up to 4 KiB)", (unsigned long long)st.st_size, size, file_size);
	return -EINVAL;
}

/* Can the daemon map the guest_memfd and read it?  Without
 * GUEST_MEMFD_FLAG_MMAP mmap is ENODEV; without INIT_SHARED its pages are
 * private and a fault is SIGBUS, which MADV_POPULATE_READ reports as
 * EFAULT instead of a signal.  A shared guest_memfd gets its first page
 * allocated (zeroed) by the probe, within the size attach reserves. */
static int kgp_check_mappable(struct kgp_attach *a)
{
	void *map;
	int err = 0;

	map = mmap(NULL, KGP_PAGE, PROT_READ, MAP_SHARED, a->gfd, 0);
	if (map == MAP_FAILED) {
		kgp_why(a, "the guest_memfd cannot be mapped (%s): create it with flags "
			"MMAP|INIT_SHARED", strerror(errno));
		return -EOPNOTSUPP;
	}
	if (madvise(map, KGP_PAGE, MADV_POPULATE_READ)) {
		kgp_why(a, "the guest_memfd's pages are not shared (%s): create it with "
			"flags MMAP|INIT_SHARED", strerror(errno));
		err = -EOPNOTSUPP;
	}
	munmap(map, KGP_PAGE);
	return err;
}

/* Everything that can refuse the attach, before anything changes. */
static int kgp_check(struct kgp_attach *a, uint64_t *size, uint64_t *staged,
		     off_t *file_size)
{
	struct stat st;
	int err;

	if (!prov_kvm_gmem_is_gmem(a->gfd)) {
		kgp_why(a, "the fd is not a guest_memfd (want the fd KVM_CREATE_GUEST_MEMFD "
			"returned on the VMM's VM)");
		return -EBADF;
	}
	if (kgp_find(kgp_of(a->pi), a->id)) {
		kgp_why(a, "already attached to a VM, and a guest_memfd cannot move to "
			"another: use a new file");
		return -EBUSY;
	}
	if (fstat(a->staging_fd, &st)) {
		err = -errno;
		kgp_why(a, "cannot stat the staging file: %s", strerror(-err));
		return err;
	}
	if (st.st_size == 0) {
		kgp_why(a, "the file is empty: give it its size first");
		return -EINVAL;
	}
	*file_size = st.st_size;
	*size = ((uint64_t)st.st_size + KGP_PAGE - 1) & ~(KGP_PAGE - 1);
	*staged = (uint64_t)st.st_blocks * 512;
	err = kgp_check_size(a, *size, (uint64_t)st.st_size);
	if (err)
		return err;
	err = kgp_check_room(a->pi, *size, *staged);
	if (err) {
		kgp_why(a, "the pool cannot reserve the file's %" PRIu64 " bytes", *size);
		return err;
	}
	return kgp_check_mappable(a);
}

/* The staged bytes into guest_memfd gfd, then out of the staging store:
 * from here on the file's bytes live in the guest_memfd only. */
static int kgp_move_staged(struct kgp_attach *a, int gfd, off_t file_size)
{
	int err = kgp_copy_in(a->staging_fd, gfd, (uint64_t)file_size);

	if (err) {
		kgp_why(a, "copying the staged bytes into the guest_memfd failed: %s",
			strerror(-err));
		return err;
	}
	if (fallocate(a->staging_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, file_size))
		gm_warn("file %llu: staged bytes not freed after attach: %s",
			(unsigned long long)a->id, strerror(errno));
	return 0;
}

static int kgp_attach_locked(struct gm_pool *pool, void *ctx)
{
	struct kgp_attach *a = ctx;
	struct gm_prov_inst *pi = a->pi;
	struct kgp *kgp = kgp_of(pi);
	struct kgp_file *f;
	uint64_t size, staged;
	off_t file_size;
	int gfd, err;

	(void)pool;
	err = kgp_check(a, &size, &staged, &file_size);
	if (err)
		return err;
	err = -ENOMEM;
	kgp_why(a, "out of memory");
	f = calloc(1, sizeof(*f));
	if (!f)
		return err;
	/* The daemon's own reference: the request's fd is closed after it. */
	gfd = fcntl(a->gfd, F_DUPFD_CLOEXEC, 0);
	err = gfd < 0 ? -errno : 0;
	if (err) {
		kgp_why(a, "the daemon cannot keep a reference: %s", strerror(-err));
		goto err_free;
	}
	err = staged ? kgp_move_staged(a, gfd, file_size) : 0;
	if (err)
		goto err_close;
	/* The staging store shrinks by what the reservation adds, so the
	 * instance's limit (and the pool's sum) stays put.  A staging write
	 * that slipped in since the check is fixed by the next rebalance. */
	kgp->attached += size;
	if (kgp_set_limit(pi, pi->limit))
		gm_warn("%s: staging store not shrunk after attach; the next rebalance "
			"will", pi->dir);
	*f = (struct kgp_file){ .id = a->id, .fd = gfd, .size = size };
	pthread_mutex_lock(&kgp->lock);
	f->next = kgp->files;
	kgp->files = f;
	pthread_mutex_unlock(&kgp->lock);
	gm_info("file %llu: attached: the VMM's guest_memfd of %" PRIu64 " bytes, %" PRIu64
		" staged bytes moved in", (unsigned long long)a->id, size, staged);
	return 0;

err_close:
	close(gfd);
err_free:
	free(f);
	return err;
}

int prov_kvm_gmem_adopt(struct gm_pool *pool, struct gm_prov_inst *pi, uint64_t id,
			int staging_fd, int gfd, char *why, size_t why_len)
{
	struct kgp_attach a = { .pi = pi, .id = id, .staging_fd = staging_fd, .gfd = gfd,
				.why = why, .why_len = why_len };

	why[0] = '\0';
	return gm_pool_locked(pool, kgp_attach_locked, &a);
}

int prov_kvm_gmem_dup(struct gm_prov_inst *pi, uint64_t id)
{
	struct kgp_file *f = kgp_find(kgp_of(pi), id);
	int fd;

	if (!f) {
		gm_warn("file %llu: no guest_memfd yet: attach the file to a VM first",
			(unsigned long long)id);
		return -ENODEV;
	}
	/* A guest_memfd cannot be reopened through /proc: the client shares
	 * the daemon's file description, which has no offset to share. */
	fd = fcntl(f->fd, F_DUPFD_CLOEXEC, 0);
	return fd < 0 ? -errno : fd;
}

bool prov_kvm_gmem_attached(struct gm_prov_inst *pi, uint64_t id)
{
	return kgp_find(kgp_of(pi), id) != NULL;
}

/* The pool's lock is held (backing.c evicts through gm_pool_locked). */
static void kgp_forget(struct gm_prov_inst *pi, uint64_t id)
{
	struct kgp *kgp = kgp_of(pi);
	struct kgp_file **pf, *f = NULL;

	pthread_mutex_lock(&kgp->lock);
	for (pf = &kgp->files; *pf; pf = &(*pf)->next) {
		if ((*pf)->id == id) {
			f = *pf;
			*pf = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&kgp->lock);
	if (!f)
		return;
	/* The VM may still hold the memory through its own fd and memslot;
	 * the pool stops counting it here. */
	kgp->attached -= f->size;
	kgp_set_limit(pi, pi->limit);
	close(f->fd);
	free(f);
}

static ssize_t kgp_read(struct gm_prov_inst *pi, uint64_t id, int fd, void *buf,
			size_t len, off_t off)
{
	struct kgp_file *f = kgp_find(kgp_of(pi), id);
	ssize_t n;

	if (f)
		return prov_mapio_read(f->fd, KGP_PAGE, buf, len, off);
	n = pread(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static ssize_t kgp_write(struct gm_prov_inst *pi, uint64_t id, int fd, const void *buf,
			 size_t len, off_t off)
{
	struct kgp_file *f = kgp_find(kgp_of(pi), id);
	struct stat st;
	ssize_t n;

	if (!f) {
		n = pwrite(fd, buf, len, off);
		return n < 0 ? -errno : n;
	}
	if (fstat(fd, &st))
		return -errno;
	if ((uint64_t)off + len > (uint64_t)st.st_size) {
		gm_info("file %llu: write past its end refused: an attached file's size "
			"is its guest_memfd's, fixed at attach", (unsigned long long)id);
		return -EFBIG;
	}
	return prov_mapio_write(f->fd, KGP_PAGE, buf, len, off);
}

static int kgp_truncate(struct gm_prov_inst *pi, uint64_t id, int fd, uint64_t size)
{
	struct stat st;

	if (!kgp_find(kgp_of(pi), id))
		return ftruncate(fd, (off_t)size) ? -errno : 0;
	if (fstat(fd, &st))
		return -errno;
	if ((uint64_t)st.st_size == size)
		return 0;
	gm_info("file %llu: size change refused: it is attached to a VM, and a "
		"guest_memfd's size is fixed when it is created", (unsigned long long)id);
	return -EBUSY;
}

static int kgp_fallocate(struct gm_prov_inst *pi, uint64_t id, int fd, int mode,
			 uint64_t off, uint64_t len)
{
	struct kgp_file *f = kgp_find(kgp_of(pi), id);
	struct stat st;

	if (!f)
		return fallocate(fd, mode, (off_t)off, (off_t)len) ? -errno : 0;
	if (fstat(fd, &st))
		return -errno;
	if (!(mode & FALLOC_FL_KEEP_SIZE) && off + len > (uint64_t)st.st_size) {
		gm_info("file %llu: fallocate past its end refused: an attached file's "
			"size is fixed", (unsigned long long)id);
		return -EFBIG;
	}
	if ((off | len) & (KGP_PAGE - 1)) {
		gm_info("file %llu: fallocate of [%" PRIu64 ", +%" PRIu64 ") refused: a "
			"guest_memfd takes whole 4 KiB pages", (unsigned long long)id, off, len);
		return -EINVAL;
	}
	/* guest_memfd allocates and punches only with KEEP_SIZE; the range is
	 * inside its size, so that changes nothing. */
	if (fallocate(f->fd, mode | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len))
		return -errno;
	return 0;
}

/* An attached file holds its memory in the guest_memfd: count the pages
 * that are there (mincore sees those faulted or written, not those only
 * fallocated, which guest_memfd leaves un-uptodate). */
static void kgp_stat_fixup(struct gm_prov_inst *pi, uint64_t id, struct stat *st)
{
	struct kgp_file *f = kgp_find(kgp_of(pi), id);
	unsigned char *vec;
	uint64_t n = 0;
	void *map;

	if (!f)
		return;
	map = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (map == MAP_FAILED)
		return;
	vec = malloc(f->size / KGP_PAGE);
	if (vec && mincore(map, f->size, vec) == 0) {
		for (uint64_t i = 0; i < f->size / KGP_PAGE; i++)
			n += vec[i] & 1;
		st->st_blocks = (blkcnt_t)(n * (KGP_PAGE / 512));
	}
	free(vec);
	munmap(map, f->size);
}

const struct gm_provider gm_prov_kvm_gmem = {
	.name = "kvm-gmem",
	.id = GMEMFS_PROV_KVM_GMEM,
	.page_size = KGP_PAGE,
	.passthrough = false,		/* the kernel refuses guest_memfd (EINVAL) */
	.tmpfs_huge = "never",
	.attach = kgp_attach_store,
	.detach = kgp_detach_store,
	.backing_open = prov_tmpfs_backing_open,
	.backing_unlink = prov_tmpfs_backing_unlink,
	.set_limit = kgp_set_limit,
	.usage = kgp_usage,
	.for_each_backing = prov_tmpfs_for_each_backing,
	.read = kgp_read,
	.write = kgp_write,
	.truncate = kgp_truncate,
	.fallocate = kgp_fallocate,
	.stat_fixup = kgp_stat_fixup,
	.forget = kgp_forget,
};
