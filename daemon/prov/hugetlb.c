/*
 * Shared mechanics of the hugetlb providers (hugetlb-2m, hugetlb-1g): each
 * instance is a hugetlbfs mount the daemon owns at STATE_DIR/<provider
 * name>, with pagesize= its page size and size= = min_size= its fixed
 * share of the pool.  min_size makes the mount itself hold the kernel's
 * reservation of those pages, so another hugetlb user of the machine cannot
 * take them from under our files, and a file fault never finds the pool
 * empty while the store has room.
 *
 * hugetlbfs ignores size= on remount, so the limit is fixed at mount: the
 * pool carves it out of the budget (mem/pool.c) instead of re-splitting it.
 * A mount holding files outlives the daemon, as the tmpfs stores do; a
 * restart adopts it, and mounts it again with the new size only while it
 * holds no file.  An empty one is unmounted at exit, so that its pages can
 * go back to the kernel.
 *
 * hugetlbfs has read() but no write(), and FUSE passthrough refuses it
 * (ELOOP): the daemon serves write() through a mapping (mapio.c) and
 * read() with pread().  Sizes are whole huge pages (the kernel's rule for
 * ftruncate on hugetlbfs).
 *
 * Also here: adding to and taking from the kernel's pool of huge pages,
 * with a log line when it fails (common/hugepages.c moves it).
 *
 * Not for: backing names and the orphan sweep (shared with tmpfs.c),
 * or choosing how many pages to reserve (mem/pool.c, --hugepages).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>

#include "common/hugepages.h"
#include "core/log.h"
#include "prov/prov.h"

#define HUGETLB_MS_FLAGS	(MS_NOSUID | MS_NODEV)
#define HUGETLB_SOURCE		"gmemfs"
/* As for tmpfs: bounds the inodes, and gives statfs a real file count
 * (without it hugetlbfs reports "unlimited" as ~0, which the mount's
 * statfs would add up). */
#define HUGETLB_NR_INODES	65536

int prov_hugetlb_pages_add(const struct gm_provider *prov, long delta, long *done)
{
	int err = gm_hugepages_add(prov->page_size, delta, done);

	if (err)
		gm_err("%s: cannot change the kernel's pool of %" PRIu64 " kB pages by %ld: %s",
		       prov->name, prov->page_size >> 10, delta, strerror(-err));
	return err;
}

static int hugetlb_open_root(struct gm_prov_inst *pi)
{
	return prov_store_open_root(pi, HUGETLBFS_MAGIC, pi->prov->page_size);
}

static int hugetlb_mount_fresh(struct gm_prov_inst *pi, uint64_t limit)
{
	char opts[160];
	int err;

	snprintf(opts, sizeof(opts), "pagesize=%" PRIu64 "K,size=%" PRIu64 ",min_size=%" PRIu64
		 ",mode=0700,nr_inodes=%u", pi->prov->page_size >> 10, limit, limit,
		 HUGETLB_NR_INODES);
	if (mount(HUGETLB_SOURCE, pi->dir, "hugetlbfs", HUGETLB_MS_FLAGS, opts)) {
		err = -errno;
		/* ENOMEM: min_size could not be reserved from the kernel's pool. */
		gm_err("%s: cannot mount hugetlbfs with \"%s\": %s", pi->dir, opts,
		       err == -ENOMEM ? "the kernel's pool has fewer free huge pages" :
		       strerror(-err));
		return err;
	}
	err = hugetlb_open_root(pi);
	if (err && umount2(pi->dir, MNT_DETACH))
		gm_err("%s: cannot unmount after a failed attach: %s", pi->dir, strerror(errno));
	return err;
}

static int hugetlb_is_mount_root(const char *dir, bool *root)
{
	struct statx stx;

	if (statx(AT_FDCWD, dir, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &stx))
		return -errno;
	if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
		return -EOPNOTSUPP;
	*root = stx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
	return 0;
}

static int hugetlb_count_backing(void *ctx, uint64_t id)
{
	(void)id;
	++*(unsigned *)ctx;
	return 0;
}

/*
 * A restart finds the store mounted.  Its size cannot be changed in place:
 * while it holds no file, mount it again with the size asked for; else
 * keep it (the files' memory is in it) and say so.
 */
static int hugetlb_adopt(struct gm_prov_inst *pi, uint64_t limit)
{
	uint64_t used, cur;
	unsigned files = 0;
	int err;

	err = hugetlb_open_root(pi);
	if (err)
		return err;
	err = prov_hugetlb_usage(pi, &used, &cur);
	if (!err)
		err = prov_tmpfs_for_each_backing(pi, hugetlb_count_backing, &files);
	if (err)
		goto err_close;
	if (cur == limit || limit == 0)
		return 0;
	if (files) {
		gm_info("%s: holds %u files: keeping its size of %" PRIu64 " bytes, not the "
			"%" PRIu64 " asked for", pi->dir, files, cur, limit);
		return 0;
	}
	prov_tmpfs_detach(pi);
	if (umount2(pi->dir, 0)) {
		err = -errno;
		gm_err("%s: cannot unmount the empty store to resize it: %s", pi->dir,
		       strerror(-err));
		return err;
	}
	return hugetlb_mount_fresh(pi, limit);

err_close:
	prov_tmpfs_detach(pi);
	return err;
}

int prov_hugetlb_attach(struct gm_prov_inst *pi, uint64_t limit, bool *reused)
{
	bool mounted = false;
	uint64_t used;
	int err;

	pi->dirfd = -1;
	if (mkdir(pi->dir, 0700) && errno != EEXIST) {
		err = -errno;
		gm_err("%s: cannot create the instance dir: %s", pi->dir, strerror(-err));
		return err;
	}
	err = hugetlb_is_mount_root(pi->dir, &mounted);
	if (err) {
		gm_err("%s: cannot tell whether it is mounted: %s", pi->dir, strerror(-err));
		return err;
	}
	if (mounted)
		err = hugetlb_adopt(pi, limit);
	else if (limit)
		err = hugetlb_mount_fresh(pi, limit);
	else
		err = -ENOENT;		/* nothing reserved, nothing to adopt */
	if (err)
		return err;
	err = prov_hugetlb_usage(pi, &used, &pi->limit);
	if (err) {
		prov_tmpfs_detach(pi);
		return err;
	}
	*reused = mounted;
	return 0;
}

/*
 * A store that holds no file has nothing to keep for a restart, and its
 * mount holds a reservation (min_size) that would keep its pages from
 * going back to the kernel (1 GiB pages cannot become surplus): unmount
 * it.  A store with files stays mounted, pages and all.
 */
void prov_hugetlb_detach(struct gm_prov_inst *pi)
{
	unsigned files = 0;

	if (pi->dirfd >= 0 &&
	    prov_tmpfs_for_each_backing(pi, hugetlb_count_backing, &files) == 0 &&
	    files == 0 && umount2(pi->dir, MNT_DETACH))
		gm_warn("%s: cannot unmount the empty store: %s", pi->dir, strerror(errno));
	prov_tmpfs_detach(pi);
}

int prov_hugetlb_set_limit(struct gm_prov_inst *pi, uint64_t bytes)
{
	return bytes == pi->limit ? 0 : -EOPNOTSUPP;
}

/* hugetlbfs with size= reports it as f_blocks of huge pages, and the pages
 * its files hold or have reserved (a shared mapping reserves its range) as
 * f_blocks - f_bfree. */
int prov_hugetlb_usage(struct gm_prov_inst *pi, uint64_t *used, uint64_t *limit)
{
	struct statfs sfs;

	if (fstatfs(pi->dirfd, &sfs))
		return -errno;
	*used = (uint64_t)(sfs.f_blocks - sfs.f_bfree) * (uint64_t)sfs.f_bsize;
	*limit = (uint64_t)sfs.f_blocks * (uint64_t)sfs.f_bsize;
	return 0;
}

ssize_t prov_hugetlb_read(struct gm_prov_inst *pi, uint64_t id, int fd, void *buf,
			  size_t len, off_t off)
{
	ssize_t n;

	(void)pi;
	(void)id;
	n = pread(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

ssize_t prov_hugetlb_write(struct gm_prov_inst *pi, uint64_t id, int fd, const void *buf,
			   size_t len, off_t off)
{
	(void)id;
	return prov_mapio_write(fd, pi->prov->page_size, buf, len, off);
}

int prov_hugetlb_truncate(struct gm_prov_inst *pi, uint64_t id, int fd, uint64_t size)
{
	if (size % pi->prov->page_size) {
		gm_info("file %llu: size %" PRIu64 " refused: %s files are whole %" PRIu64
			" KiB pages", (unsigned long long)id, size, pi->prov->name,
			pi->prov->page_size >> 10);
		return -EINVAL;
	}
	return ftruncate(fd, (off_t)size) ? -errno : 0;
}
