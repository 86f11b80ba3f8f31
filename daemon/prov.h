/*
 * Providers: where a file's memory comes from.  Each provider is a const
 * table of operations in its own file (prov_shmem_4k.c, prov_shmem_thp.c;
 * hugetlb, kvm-gmem and shim arrive with later issues).  A provider instance
 * (struct gm_prov_inst) is that provider attached to one state directory:
 * for the shmem providers, a tmpfs mount the daemon owns at
 * STATE_DIR/<provider name>, whose size= is the provider's share of the pool.
 *
 * Backing objects are named by the file's stable id (16 hex digits) inside
 * the instance, so a restarted daemon finds them again.
 *
 * Not for: the budget arithmetic (pool.c) or FUSE (fsops_*.c).
 */
#ifndef GM_PROV_H
#define GM_PROV_H

#include <stdbool.h>
#include <stdint.h>

struct gm_prov_inst;

struct gm_provider {
	const char *name;		/* "shmem-4k": also the mount dir name */
	uint32_t id;			/* enum gmemfs_provider */
	uint64_t page_size;		/* bytes */
	bool passthrough;		/* FUSE passthrough can serve its files */
	const char *tmpfs_huge;		/* tmpfs huge= value, shmem providers */

	/* Mount (or find the existing mount of) the instance's store with an
	 * initial size limit.  *reused tells whether it was already there. */
	int (*attach)(struct gm_prov_inst *pi, uint64_t limit, bool *reused);
	/* Forget the store without destroying it: contents must survive a
	 * daemon restart. */
	void (*detach)(struct gm_prov_inst *pi);
	/* Open the backing object for a file id, O_RDWR|O_CLOEXEC; create
	 * it (empty) when create is set.  fd or -errno. */
	int (*backing_open)(struct gm_prov_inst *pi, uint64_t id, bool create);
	/* Remove the backing object's name; memory is freed when the last
	 * fd and mapping go.  0 or -errno (-ENOENT if absent). */
	int (*backing_unlink)(struct gm_prov_inst *pi, uint64_t id);
	/* Change the store's size limit; -EINVAL if below current use. */
	int (*set_limit)(struct gm_prov_inst *pi, uint64_t bytes);
	/* Bytes in use now and the current limit. */
	int (*usage)(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit);
	/* Call fn for every backing id present in the store (orphan sweep). */
	int (*for_each_backing)(struct gm_prov_inst *pi,
				int (*fn)(void *ctx, uint64_t id), void *ctx);
};

struct gm_prov_inst {
	const struct gm_provider *prov;
	char *dir;			/* STATE_DIR/<name>; immutable after attach */
	int dirfd;			/* O_PATH|O_DIRECTORY of the mount root */
	uint64_t limit;			/* current size limit; under pool->lock */
};

extern const struct gm_provider gm_prov_shmem_4k;
extern const struct gm_provider gm_prov_shmem_thp;
extern const struct gm_provider gm_prov_shim;	/* absent: attach -ENODEV */

/* Shared tmpfs mechanics used by both shmem providers (prov_tmpfs.c). */
int prov_tmpfs_attach(struct gm_prov_inst *pi, uint64_t limit, bool *reused);
void prov_tmpfs_detach(struct gm_prov_inst *pi);
int prov_tmpfs_backing_open(struct gm_prov_inst *pi, uint64_t id, bool create);
int prov_tmpfs_backing_unlink(struct gm_prov_inst *pi, uint64_t id);
int prov_tmpfs_set_limit(struct gm_prov_inst *pi, uint64_t bytes);
int prov_tmpfs_usage(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit);
int prov_tmpfs_for_each_backing(struct gm_prov_inst *pi,
				int (*fn)(void *ctx, uint64_t id), void *ctx);

/* The operations of a tmpfs-backed provider, for its const table. */
#define GM_PROV_TMPFS_OPS					\
	.attach = prov_tmpfs_attach,				\
	.detach = prov_tmpfs_detach,				\
	.backing_open = prov_tmpfs_backing_open,		\
	.backing_unlink = prov_tmpfs_backing_unlink,		\
	.set_limit = prov_tmpfs_set_limit,			\
	.usage = prov_tmpfs_usage,				\
	.for_each_backing = prov_tmpfs_for_each_backing

#endif
