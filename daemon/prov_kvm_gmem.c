/*
 * kvm-gmem: guest memory in a KVM guest_memfd, which the kernel binds to
 * one VM at creation.  The daemon cannot create it before a VMM hands over
 * its VM fd (gm_handout_attach_vm), so a file lives in two states:
 *
 *   detached  its size and any bytes written through the mount are kept in
 *             a staging file in a tmpfs store at STATE_DIR/kvm-gmem (the
 *             tmpfs mechanics of prov_tmpfs.c), like a shmem-4k file;
 *   attached  the daemon has created the guest_memfd (flags MMAP and
 *             INIT_SHARED when KVM_CAP_GUEST_MEMFD_FLAGS offers both),
 *             sized as the file, copied the staged bytes into it and
 *             dropped them from the staging file, which now only keeps the
 *             size.  The daemon keeps its fd; read() and write() through
 *             the mount are served through a mapping of it.
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
 * Locking: kvm->lock guards the file list; it is the innermost lock (taken
 * inside pool->lock by attach and forget).  kvm->attached changes under
 * pool->lock.  Calls for one file are serialized by its inode->lock.
 *
 * Not for: the KVM VM (the client's) or sending fds (the control socket).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"
#include "prov_kvm_gmem.h"
#include "gmemfs.h"

#define GMEM_PAGE	4096ULL		/* guest_memfd: 4 KiB folios only */
#define GMEM_COPY_CHUNK	(1U << 20)

struct kvm_gmem_file {
	struct kvm_gmem_file *next;
	uint64_t id;
	int fd;			/* the guest_memfd */
	uint64_t size;		/* its size: the file's, page-aligned up */
	bool mappable;		/* created with GUEST_MEMFD_FLAG_MMAP */
};

struct kvm_gmem {
	pthread_mutex_t lock;
	struct kvm_gmem_file *files;	/* attached files; under lock */
	uint64_t attached;		/* sum of their sizes; under pool->lock */
};

static struct kvm_gmem *kvm_of(struct gm_prov_inst *pi)
{
	return pi->priv;
}

static struct kvm_gmem_file *kvm_find(struct kvm_gmem *kvm, uint64_t id)
{
	struct kvm_gmem_file *f;

	pthread_mutex_lock(&kvm->lock);
	for (f = kvm->files; f && f->id != id; f = f->next)
		;
	pthread_mutex_unlock(&kvm->lock);
	return f;
}

static int kvm_gmem_attach_store(struct gm_prov_inst *pi, uint64_t limit, bool *reused)
{
	struct kvm_gmem *kvm = calloc(1, sizeof(*kvm));
	int err;

	if (!kvm)
		return -ENOMEM;
	err = -pthread_mutex_init(&kvm->lock, NULL);
	if (err)
		goto err_free;
	err = prov_tmpfs_attach(pi, limit, reused);
	if (err)
		goto err_mutex;
	pi->priv = kvm;
	return 0;

err_mutex:
	pthread_mutex_destroy(&kvm->lock);
err_free:
	free(kvm);
	return err;
}

/* Daemon exit: our guest_memfd references go; the VMs keep theirs. */
static void kvm_gmem_detach_store(struct gm_prov_inst *pi)
{
	struct kvm_gmem *kvm = kvm_of(pi);

	while (kvm && kvm->files) {
		struct kvm_gmem_file *f = kvm->files;

		kvm->files = f->next;
		close(f->fd);
		free(f);
	}
	if (kvm) {
		pthread_mutex_destroy(&kvm->lock);
		free(kvm);
	}
	pi->priv = NULL;
	prov_tmpfs_detach(pi);
}

/* The staging tmpfs gets the limit less what attached files reserve. */
static int kvm_gmem_set_limit(struct gm_prov_inst *pi, uint64_t bytes)
{
	uint64_t attached = kvm_of(pi)->attached;
	int err;

	if (bytes < attached)
		return -EINVAL;
	err = prov_tmpfs_set_limit(pi, bytes - attached);
	pi->limit = bytes;	/* not the tmpfs's share alone */
	return err;
}

static int kvm_gmem_usage(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit)
{
	uint64_t attached = kvm_of(pi)->attached;
	int err;

	err = prov_tmpfs_usage(pi, used, limit);
	*used += attached;
	*limit += attached;
	return err;
}

/* Copy the staged bytes of a file (its data extents) into the guest_memfd. */
static int kvm_gmem_copy_in(int staging_fd, int gfd, uint64_t size)
{
	off_t data = 0, hole;
	char *buf;
	int err = 0;

	buf = malloc(GMEM_COPY_CHUNK);
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
			size_t n = (size_t)(hole - data) < GMEM_COPY_CHUNK ?
				   (size_t)(hole - data) : GMEM_COPY_CHUNK;
			ssize_t got = pread(staging_fd, buf, n, data);

			if (got <= 0) {
				err = got < 0 ? -errno : -EIO;
				break;
			}
			got = prov_mapio_write(gfd, GMEM_PAGE, buf, (size_t)got, data);
			if (got < 0)
				err = (int)got;
			else
				data += got;
		}
	}
	free(buf);
	return err;
}

/* The guest_memfd flags this VM offers: MMAP and INIT_SHARED together (the
 * daemon maps it to serve read/write), else none.  -EINVAL: no KVM VM. */
static int kvm_gmem_flags(int vm_fd, uint64_t *flags)
{
	int caps = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD);

	if (caps < 0)
		return -EINVAL;		/* ENOTTY, EBADF: not a KVM fd */
	if (caps == 0)
		return -EOPNOTSUPP;
	caps = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);
	*flags = 0;
	if (caps > 0 && ((uint64_t)caps & (GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)) ==
			(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED))
		*flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	return 0;
}

struct kvm_attach {
	struct gm_prov_inst *pi;
	uint64_t id;
	int staging_fd;
	int vm_fd;
	const char *why;	/* the reason of a refusal, for the log */
};

/* Can the instance reserve size bytes, given that the file's staged bytes
 * leave the staging store? */
static int kvm_gmem_check_room(struct gm_prov_inst *pi, uint64_t size, uint64_t staged)
{
	uint64_t used, limit, room;
	int err;

	err = kvm_gmem_usage(pi, &used, &limit);
	if (err)
		return err;
	room = pi->limit > used ? pi->limit - used : 0;
	return room + staged < size ? -ENOSPC : 0;
}

static int kvm_gmem_create(int vm_fd, uint64_t size, uint64_t flags)
{
	struct kvm_create_guest_memfd req = { .size = size, .flags = flags };
	int gfd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &req);

	if (gfd < 0)
		return errno == ENOTTY ? -EINVAL : -errno;
	return gfd;	/* KVM makes it O_CLOEXEC */
}

static int kvm_gmem_attach_locked(struct gm_pool *pool, void *ctx)
{
	struct kvm_attach *a = ctx;
	struct gm_prov_inst *pi = a->pi;
	struct kvm_gmem *kvm = kvm_of(pi);
	struct kvm_gmem_file *f;
	uint64_t size, staged, flags = 0;
	struct stat st;
	int gfd, err;

	(void)pool;
	a->why = "already attached to a VM (a guest_memfd is bound to one)";
	err = -EBUSY;
	if (kvm_find(kvm, a->id))
		return err;
	a->why = "cannot stat the staging file";
	err = fstat(a->staging_fd, &st) ? -errno : 0;
	if (err)
		return err;
	a->why = "the file is empty: give it its size first";
	err = -EINVAL;
	if (st.st_size == 0)
		return err;
	size = ((uint64_t)st.st_size + GMEM_PAGE - 1) & ~(GMEM_PAGE - 1);
	staged = (uint64_t)st.st_blocks * 512;
	a->why = "the fd is not a KVM VM, or the VM has no guest_memfd";
	err = kvm_gmem_flags(a->vm_fd, &flags);
	if (err)
		return err;
	a->why = "bytes were written before attach, and this guest_memfd cannot be "
		 "mapped to move them in";
	err = -EOPNOTSUPP;
	if (staged && !(flags & GUEST_MEMFD_FLAG_MMAP))
		return err;
	a->why = "the pool cannot reserve the file's size";
	err = kvm_gmem_check_room(pi, size, staged);
	if (err)
		return err;
	a->why = "KVM_CREATE_GUEST_MEMFD failed (is the fd a VM, not /dev/kvm?)";
	err = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		return err;
	gfd = kvm_gmem_create(a->vm_fd, size, flags);
	err = gfd;
	if (gfd < 0)
		goto err_free;
	a->why = "copying the staged bytes into the guest_memfd failed";
	err = staged ? kvm_gmem_copy_in(a->staging_fd, gfd, (uint64_t)st.st_size) : 0;
	if (err)
		goto err_close;
	/* From here on the file's bytes live in the guest_memfd only. */
	if (staged && fallocate(a->staging_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				0, st.st_size))
		gm_warn("file %llu: staged bytes not freed after attach: %s",
			(unsigned long long)a->id, strerror(errno));
	/* The staging store shrinks by what the reservation adds, so the
	 * instance's limit (and the pool's sum) stays put.  A staging write
	 * that slipped in since the check is fixed by the next rebalance. */
	kvm->attached += size;
	if (kvm_gmem_set_limit(pi, pi->limit))
		gm_warn("%s: staging store not shrunk after attach; the next rebalance "
			"will", pi->dir);
	*f = (struct kvm_gmem_file){ .id = a->id, .fd = gfd, .size = size,
				     .mappable = flags & GUEST_MEMFD_FLAG_MMAP };
	pthread_mutex_lock(&kvm->lock);
	f->next = kvm->files;
	kvm->files = f;
	pthread_mutex_unlock(&kvm->lock);
	gm_info("file %llu: attached to a VM: guest_memfd of %" PRIu64 " bytes, flags %#" PRIx64
		", %" PRIu64 " staged bytes moved in", (unsigned long long)a->id, size, flags,
		staged);
	return 0;

err_close:
	close(gfd);
err_free:
	free(f);
	return err;
}

int prov_kvm_gmem_attach(struct gm_pool *pool, struct gm_prov_inst *pi, uint64_t id,
			 int staging_fd, int vm_fd)
{
	struct kvm_attach a = { .pi = pi, .id = id, .staging_fd = staging_fd, .vm_fd = vm_fd };
	int err;

	err = gm_pool_locked(pool, kvm_gmem_attach_locked, &a);
	if (err) {
		gm_warn("file %llu: attach to a VM refused: %s (%s)", (unsigned long long)id,
			a.why, strerror(-err));
		return err;
	}
	return prov_kvm_gmem_dup(pi, id);
}

int prov_kvm_gmem_dup(struct gm_prov_inst *pi, uint64_t id)
{
	struct kvm_gmem_file *f = kvm_find(kvm_of(pi), id);
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
	return kvm_find(kvm_of(pi), id) != NULL;
}

/* The pool's lock is held (backing.c evicts through gm_pool_locked). */
static void kvm_gmem_forget(struct gm_prov_inst *pi, uint64_t id)
{
	struct kvm_gmem *kvm = kvm_of(pi);
	struct kvm_gmem_file **pf, *f = NULL;

	pthread_mutex_lock(&kvm->lock);
	for (pf = &kvm->files; *pf; pf = &(*pf)->next) {
		if ((*pf)->id == id) {
			f = *pf;
			*pf = f->next;
			break;
		}
	}
	pthread_mutex_unlock(&kvm->lock);
	if (!f)
		return;
	/* The VM may still hold the memory through its own fd and memslot;
	 * the pool stops counting it here. */
	kvm->attached -= f->size;
	kvm_gmem_set_limit(pi, pi->limit);
	close(f->fd);
	free(f);
}

static ssize_t kvm_gmem_read(struct gm_prov_inst *pi, uint64_t id, int fd, void *buf,
			     size_t len, off_t off)
{
	struct kvm_gmem_file *f = kvm_find(kvm_of(pi), id);
	ssize_t n;

	if (f && !f->mappable)
		return -EOPNOTSUPP;
	if (f)
		return prov_mapio_read(f->fd, GMEM_PAGE, buf, len, off);
	n = pread(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static ssize_t kvm_gmem_write(struct gm_prov_inst *pi, uint64_t id, int fd, const void *buf,
			      size_t len, off_t off)
{
	struct kvm_gmem_file *f = kvm_find(kvm_of(pi), id);
	struct stat st;
	ssize_t n;

	if (!f) {
		n = pwrite(fd, buf, len, off);
		return n < 0 ? -errno : n;
	}
	if (!f->mappable)
		return -EOPNOTSUPP;
	if (fstat(fd, &st))
		return -errno;
	if ((uint64_t)off + len > (uint64_t)st.st_size) {
		gm_info("file %llu: write past its end refused: an attached file's size "
			"is its guest_memfd's, fixed at attach", (unsigned long long)id);
		return -EFBIG;
	}
	return prov_mapio_write(f->fd, GMEM_PAGE, buf, len, off);
}

static int kvm_gmem_truncate(struct gm_prov_inst *pi, uint64_t id, int fd, uint64_t size)
{
	struct stat st;

	if (!kvm_find(kvm_of(pi), id))
		return ftruncate(fd, (off_t)size) ? -errno : 0;
	if (fstat(fd, &st))
		return -errno;
	if ((uint64_t)st.st_size == size)
		return 0;
	gm_info("file %llu: size change refused: it is attached to a VM, and a "
		"guest_memfd's size is fixed when it is created", (unsigned long long)id);
	return -EBUSY;
}

static int kvm_gmem_fallocate(struct gm_prov_inst *pi, uint64_t id, int fd, int mode,
			      uint64_t off, uint64_t len)
{
	struct kvm_gmem_file *f = kvm_find(kvm_of(pi), id);
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
	if ((off | len) & (GMEM_PAGE - 1)) {
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
static void kvm_gmem_stat_fixup(struct gm_prov_inst *pi, uint64_t id, struct stat *st)
{
	struct kvm_gmem_file *f = kvm_find(kvm_of(pi), id);
	unsigned char *vec;
	uint64_t n = 0;
	void *map;

	if (!f || !f->mappable)
		return;
	map = mmap(NULL, f->size, PROT_READ, MAP_SHARED, f->fd, 0);
	if (map == MAP_FAILED)
		return;
	vec = malloc(f->size / GMEM_PAGE);
	if (vec && mincore(map, f->size, vec) == 0) {
		for (uint64_t i = 0; i < f->size / GMEM_PAGE; i++)
			n += vec[i] & 1;
		st->st_blocks = (blkcnt_t)(n * (GMEM_PAGE / 512));
	}
	free(vec);
	munmap(map, f->size);
}

const struct gm_provider gm_prov_kvm_gmem = {
	.name = "kvm-gmem",
	.id = GMEMFS_PROV_KVM_GMEM,
	.page_size = GMEM_PAGE,
	.passthrough = false,		/* the kernel refuses guest_memfd (EINVAL) */
	.tmpfs_huge = "never",
	.attach = kvm_gmem_attach_store,
	.detach = kvm_gmem_detach_store,
	.backing_open = prov_tmpfs_backing_open,
	.backing_unlink = prov_tmpfs_backing_unlink,
	.set_limit = kvm_gmem_set_limit,
	.usage = kvm_gmem_usage,
	.for_each_backing = prov_tmpfs_for_each_backing,
	.read = kvm_gmem_read,
	.write = kvm_gmem_write,
	.truncate = kvm_gmem_truncate,
	.fallocate = kvm_gmem_fallocate,
	.stat_fixup = kvm_gmem_stat_fixup,
	.forget = kvm_gmem_forget,
};
