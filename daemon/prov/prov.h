/*
 * Providers: where a file's memory comes from.  Each provider is a const
 * table of operations in its own file (shmem_4k.c, shmem_thp.c,
 * shmem_advise.c, hugetlb_2m.c, hugetlb_1g.c, kvm_gmem.c, shim.c).  A
 * provider instance (struct gm_prov_inst) is that provider attached to one
 * state directory: a tmpfs or hugetlbfs mount the daemon owns at
 * STATE_DIR/<provider name>, whose size= is the provider's share of the
 * pool (docs/providers.md).
 *
 * Backing objects are named by the file's stable id (16 hex digits) inside
 * the instance, so a restarted daemon finds them again.
 *
 * Not for: the budget arithmetic (mem/pool.c) or FUSE (fuse/).
 */
#ifndef GM_PROV_H
#define GM_PROV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <urcu/list.h>

struct gm_prov_inst;

/* backing_open flags.  CREATE is 1, so `true` still reads as create. */
#define GM_BACKING_CREATE	(1u << 0)
#define GM_BACKING_SECRET	(1u << 1)

struct gm_provider {
	const char *name;		/* "shmem-4k": also the mount dir name */
	uint32_t id;			/* enum gmemfs_provider */
	uint64_t page_size;		/* bytes */
	bool passthrough;		/* FUSE passthrough can serve its files */
	const char *tmpfs_huge;		/* tmpfs huge= value, tmpfs-backed providers */
	/* The store's size= is set once, at mount (hugetlbfs ignores it on
	 * remount): the pool carves it out of the budget instead of
	 * re-splitting it, and set_limit is never called. */
	bool fixed_limit;
	/* backing_open(pi, id, false) reaches the same object again, so the
	 * daemon holds a file's fd only while something uses it (mem/backing.h:
	 * gm_backing_fd_get) and stats an idle one through backing_stat.  Not
	 * for providers whose fd is the file (kvm-gmem's attach state, the
	 * shim's object): those keep it for the file's life. */
	bool reopen;

	/* Mount (or find the existing mount of) the instance's store with an
	 * initial size limit.  *reused tells whether it was already there. */
	int (*attach)(struct gm_prov_inst *pi, uint64_t limit, bool *reused);
	/* Forget the store without destroying it: contents must survive a
	 * daemon restart. */
	void (*detach)(struct gm_prov_inst *pi);
	/* Start the instance's own threads, once the daemon is the process it
	 * stays (after fuse_daemonize's fork, which threads do not survive).
	 * Optional; detach stops them. */
	int (*start)(struct gm_prov_inst *pi);
	/* Open the backing object for a file id, O_RDWR|O_CLOEXEC; flags
	 * GM_BACKING_*: create it (empty), secret (memory outside the
	 * kernel's direct map: the shim only, -EOPNOTSUPP elsewhere).
	 * fd or -errno. */
	int (*backing_open)(struct gm_prov_inst *pi, uint64_t id, unsigned flags);
	/* Optional (required with reopen): fstat of the backing object by
	 * id, without an fd.  0 or -errno. */
	int (*backing_stat)(struct gm_prov_inst *pi, uint64_t id, struct stat *st);
	/* Remove the backing object's name; memory is freed when the last
	 * fd and mapping go.  0 or -errno (-ENOENT if absent). */
	int (*backing_unlink)(struct gm_prov_inst *pi, uint64_t id);
	/* Change the store's size limit; -EINVAL if below current use.
	 * set_limit, usage and forget run under pool->lock: a provider's own
	 * lock nests inside it (lock order: meta/inode.h). */
	int (*set_limit)(struct gm_prov_inst *pi, uint64_t bytes);
	/* Bytes in use now and the current limit. */
	int (*usage)(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit);
	/* Call fn for every backing id present in the store (orphan sweep). */
	int (*for_each_backing)(struct gm_prov_inst *pi,
				int (*fn)(void *ctx, uint64_t id), void *ctx);

	/* Providers FUSE passthrough cannot serve (passthrough false) have the
	 * daemon serve read() and write() through these; fd is the file's
	 * backing fd.  Bytes done or -errno. */
	ssize_t (*read)(struct gm_prov_inst *pi, uint64_t id, int fd, void *buf,
			size_t len, off_t off);
	ssize_t (*write)(struct gm_prov_inst *pi, uint64_t id, int fd, const void *buf,
			 size_t len, off_t off);
	/* Optional: a provider with its own rules for sizes and allocation
	 * (NULL: ftruncate/fallocate on fd).  0 or -errno, logged. */
	int (*truncate)(struct gm_prov_inst *pi, uint64_t id, int fd, uint64_t size);
	int (*fallocate)(struct gm_prov_inst *pi, uint64_t id, int fd, int mode,
			 uint64_t off, uint64_t len);
	/* Optional: correct an fstat of fd (st_blocks of memory held elsewhere). */
	void (*stat_fixup)(struct gm_prov_inst *pi, uint64_t id, struct stat *st);
	/* Optional: the file is gone; drop what the instance keeps for it. */
	void (*forget)(struct gm_prov_inst *pi, uint64_t id);
};

struct gm_prov_inst {
	const struct gm_provider *prov;
	char *dir;			/* STATE_DIR/<name>; immutable after attach */
	int dirfd;			/* O_PATH|O_DIRECTORY of the mount root */
	uint64_t limit;			/* current size limit; under pool->lock */
	/* Sum of its files' declared bytes (gm_inode.declared), kept by
	 * mem/backing.c as they change, so a split never walks the files.
	 * Atomic: each file adds its own change under its inode->lock. */
	_Atomic uint64_t declared;
	/* Files of a reopen store whose fd the daemon keeps open while no one
	 * uses it, the most recently idle last, at most max_idle of them
	 * (mem/backing.c).  idle_lock, a leaf, guards the list, nidle and each
	 * listed inode's idle_node and idle. */
	pthread_mutex_t idle_lock;
	struct cds_list_head idle;
	unsigned nidle;
	unsigned max_idle;		/* immutable after attach */
	void *priv;			/* the provider's own per-instance state */
	unsigned long ms_atime;		/* MS_NOATIME, MS_STRICTATIME or MS_RELATIME:
					 * the FUSE mount's, mirrored on the store
					 * before the first request; immutable after */
};

extern const struct gm_provider gm_prov_shmem_4k;
extern const struct gm_provider gm_prov_shmem_thp;
extern const struct gm_provider gm_prov_shmem_advise;
extern const struct gm_provider gm_prov_hugetlb_2m;
extern const struct gm_provider gm_prov_hugetlb_1g;
extern const struct gm_provider gm_prov_kvm_gmem;
extern const struct gm_provider gm_prov_shim;	/* absent: attach -ENODEV */

/* Open the instance's mount root into pi->dirfd, checking its filesystem
 * (magic, and block size unless 0).  0 or -errno, logged (tmpfs.c). */
int prov_store_open_root(struct gm_prov_inst *pi, long fs_magic, uint64_t block_size);
/* Give the store's mount the atime rule of the FUSE mount: a passthrough
 * read touches the backing file's atime, by the store's mount flags, and
 * stat shows that atime.  Per-mount flags only; 0 or -errno. */
int prov_store_set_atime(struct gm_prov_inst *pi, unsigned long ms_atime);

/* Shared tmpfs mechanics of the shmem providers (tmpfs.c). */
int prov_tmpfs_attach(struct gm_prov_inst *pi, uint64_t limit, bool *reused);
void prov_tmpfs_detach(struct gm_prov_inst *pi);
int prov_tmpfs_backing_open(struct gm_prov_inst *pi, uint64_t id, unsigned flags);
int prov_tmpfs_backing_unlink(struct gm_prov_inst *pi, uint64_t id);
int prov_tmpfs_backing_stat(struct gm_prov_inst *pi, uint64_t id, struct stat *st);
int prov_tmpfs_set_limit(struct gm_prov_inst *pi, uint64_t bytes);
int prov_tmpfs_usage(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit);
int prov_tmpfs_for_each_backing(struct gm_prov_inst *pi,
				int (*fn)(void *ctx, uint64_t id), void *ctx);

/* The operations of a tmpfs-backed provider, for its const table. */
#define GM_PROV_TMPFS_OPS					\
	.attach = prov_tmpfs_attach,				\
	.detach = prov_tmpfs_detach,				\
	.reopen = true,						\
	.backing_open = prov_tmpfs_backing_open,		\
	.backing_stat = prov_tmpfs_backing_stat,		\
	.backing_unlink = prov_tmpfs_backing_unlink,		\
	.set_limit = prov_tmpfs_set_limit,			\
	.usage = prov_tmpfs_usage,				\
	.for_each_backing = prov_tmpfs_for_each_backing

/* Shared hugetlbfs mechanics of both hugetlb providers (hugetlb.c). */
int prov_hugetlb_attach(struct gm_prov_inst *pi, uint64_t limit, bool *reused);
void prov_hugetlb_detach(struct gm_prov_inst *pi);
int prov_hugetlb_set_limit(struct gm_prov_inst *pi, uint64_t bytes);
int prov_hugetlb_usage(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit);
ssize_t prov_hugetlb_read(struct gm_prov_inst *pi, uint64_t id, int fd, void *buf,
			  size_t len, off_t off);
ssize_t prov_hugetlb_write(struct gm_prov_inst *pi, uint64_t id, int fd, const void *buf,
			   size_t len, off_t off);
int prov_hugetlb_truncate(struct gm_prov_inst *pi, uint64_t id, int fd, uint64_t size);
/* Add delta (may be negative) to the kernel's pool of the provider's huge
 * pages (nr_hugepages of its size); *done is what the pool really moved by,
 * which may be less when the kernel cannot find the memory.  0 or -errno. */
int prov_hugetlb_pages_add(const struct gm_provider *prov, long delta, long *done);

#define GM_PROV_HUGETLB_OPS					\
	.passthrough = false,					\
	.fixed_limit = true,					\
	.attach = prov_hugetlb_attach,				\
	.detach = prov_hugetlb_detach,				\
	.reopen = true,						\
	.backing_open = prov_tmpfs_backing_open,		\
	.backing_stat = prov_tmpfs_backing_stat,		\
	.backing_unlink = prov_tmpfs_backing_unlink,		\
	.set_limit = prov_hugetlb_set_limit,			\
	.usage = prov_hugetlb_usage,				\
	.for_each_backing = prov_tmpfs_for_each_backing,	\
	.read = prov_hugetlb_read,				\
	.write = prov_hugetlb_write,				\
	.truncate = prov_hugetlb_truncate

/* Served through a mapping of the backing (mapio.c): for backings
 * without read_iter/write_iter (hugetlbfs has no write(), guest_memfd
 * neither).  Pages not yet in the file read as zeros without being
 * allocated; off + len must lie within the file. */
ssize_t prov_mapio_read(int fd, uint64_t page_size, void *buf, size_t len, off_t off);
ssize_t prov_mapio_write(int fd, uint64_t page_size, const void *buf, size_t len, off_t off);

#endif
