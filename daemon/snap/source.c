/*
 * Reading a gmemfs file's memory for a snapshot (see source.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mem/backing.h"
#include "mem/file_info.h"
#include "mem/handout.h"
#include "prov/prov.h"
#include "prov/kvm_gmem.h"
#include "snap/source.h"

#define SMALL_PAGE		4096u

/* The snapshot's page size: the huge page where the kernel gives nothing
 * smaller (hugetlb), else 4 KiB, the smallest unit the backing maps (THP
 * splits, and guest_memfd has 4 KiB folios only). */
static uint32_t src_page_size(const struct gm_provider *prov)
{
	return prov->fixed_limit ? (uint32_t)prov->page_size : SMALL_PAGE;
}

static int src_map(struct gm_snap_src *src, char *why)
{
	struct stat st;

	if (fstat(src->fd, &st))
		return gm_snap_why(why, "guest_memfd: fstat: %s", strerror(errno)), -errno;
	src->map_len = st.st_size;
	if (!src->map_len)
		return 0;
	src->map = mmap(NULL, src->map_len, PROT_READ, MAP_SHARED, src->fd, 0);
	if (src->map == MAP_FAILED) {
		src->map = NULL;
		return gm_snap_why(why, "mapping the guest_memfd: %s", strerror(errno)), -errno;
	}
	return 0;
}

int gm_snap_src_open(struct gm_snap_src *src, struct gm_fs *fs, struct gm_inode *inode,
		     char why[GM_SNAP_WHY_MAX])
{
	const struct gm_provider *prov;
	struct stat st;
	int err;

	memset(src, 0, sizeof(*src));
	src->fd = src->scratch_fd = -1;
	pthread_mutex_lock(&inode->lock);
	prov = inode->pi ? inode->pi->prov : NULL;
	err = prov ? gm_backing_stat_size(inode, &st) : -ENOENT;
	pthread_mutex_unlock(&inode->lock);
	if (err)
		return gm_snap_why(why, "file %llu has no backing: %s",
			       (unsigned long long)inode->ino, strerror(-err)), err;
	src->size = st.st_size;
	src->page_size = src_page_size(prov);
	src->provider = prov->id;
	/* An attached kvm-gmem file hands out its guest_memfd, any other its
	 * backing file: the fd itself tells which way to read. */
	src->fd = gm_handout_open(fs, inode);
	if (src->fd < 0)
		return gm_snap_why(why, "file %llu: no fd on its memory: %s",
			       (unsigned long long)inode->ino, strerror(-src->fd)), src->fd;
	src->secret = prov->id == GMEMFS_PROV_SHIM && gm_file_secret(inode);
	if (prov_kvm_gmem_is_gmem(src->fd)) {
		src->mode = GM_SNAP_SRC_MINCORE;
		err = src_map(src, why);
	} else if (src->secret) {
		src->mode = GM_SNAP_SRC_SECRET;
		src->scratch_fd = memfd_create("gmemfs-snapshot", MFD_CLOEXEC);
		if (src->scratch_fd < 0)
			err = -errno, gm_snap_why(why, "a scratch memfd: %s", strerror(errno));
	} else {
		src->mode = prov->fixed_limit ? GM_SNAP_SRC_PREAD : GM_SNAP_SRC_SEEK;
	}
	if (err)
		gm_snap_src_close(src);
	return err;
}

void gm_snap_src_close(struct gm_snap_src *src)
{
	if (src->map)
		munmap(src->map, src->map_len);
	if (src->fd >= 0)
		close(src->fd);
	if (src->scratch_fd >= 0)
		close(src->scratch_fd);
	src->scratch_fd = -1;
	free(src->vec);
	src->map = NULL;
	src->vec = NULL;
	src->fd = -1;
}

int gm_snap_src_size_now(struct gm_snap_src *src, uint64_t *size)
{
	struct stat st;

	if (src->mode == GM_SNAP_SRC_MINCORE) {
		*size = src->size;	/* an attached file's size is fixed */
		return 0;
	}
	if (fstat(src->fd, &st))
		return -errno;
	*size = st.st_size;
	return 0;
}

/* pread that reads past a concurrent truncate as zeros. */
static int src_pread(struct gm_snap_src *src, uint8_t *buf, size_t len, uint64_t off, char *why)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(src->fd, buf + done, len - done, off + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return gm_snap_why(why, "reading the memory at %#" PRIx64 ": %s",
				       off + done, strerror(errno)), -errno;
		if (n == 0) {
			memset(buf + done, 0, len - done);
			break;
		}
		done += n;
	}
	return 0;
}

/* The kernel copies from the mapping into the scratch memfd: a fault it
 * cannot serve (SIGBUS to a user access) is EFAULT here.  All or -errno. */
static int src_copy_via_kernel(struct gm_snap_src *src, uint8_t *buf, const uint8_t *from,
			       size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pwrite(src->scratch_fd, from + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += n;
	}
	for (done = 0; done < len;) {
		ssize_t n = pread(src->scratch_fd, buf + done, len - done, (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		done += n;
	}
	return 0;
}

/* A secret file's [off, off + len) through a mapping of the daemon's own.
 * A page the module refuses (private, or gone with a truncate) is EACCES,
 * as the module's read() would answer for a private one. */
static int src_mapped(struct gm_snap_src *src, uint8_t *buf, size_t len, uint64_t off, char *why)
{
	uint64_t base = off & ~(uint64_t)(SMALL_PAGE - 1);
	size_t maplen = (size_t)(off + len - base);
	uint8_t *map;
	int err;

	if (!len)
		return 0;
	map = mmap(NULL, maplen, PROT_READ, MAP_SHARED, src->fd, (off_t)base);
	if (map == MAP_FAILED)
		return gm_snap_why(why, "mapping the secret memory at %#" PRIx64 ": %s", off,
			       strerror(errno)), -errno;
	err = src_copy_via_kernel(src, buf, map + (off - base), len);
	munmap(map, maplen);
	if (err == -EFAULT)
		return gm_snap_why(why, "the secret memory at %#" PRIx64 " cannot be read", off),
		       -EACCES;
	if (err)
		return gm_snap_why(why, "copying the secret memory at %#" PRIx64 ": %s", off,
			       strerror(-err)), err;
	return 0;
}

static int src_data(struct gm_snap_src *src, uint8_t *buf, size_t len, uint64_t off, char *why)
{
	if (src->mode == GM_SNAP_SRC_SECRET)
		return src_mapped(src, buf, len, off, why);
	return src_pread(src, buf, len, off, why);
}

static void mark(bool *present, uint64_t off, uint32_t page, uint64_t from, uint64_t to, bool v)
{
	for (uint64_t p = (from - off) / page; p < (to - off + page - 1) / page; p++)
		present[p] = v;
}

/* The data range at or after pos: [*d, *h), or *d = -1 if none.  The
 * last range found is kept: SEEK_HOLE walks the page cache up to the next
 * hole, past the window, and asking again in every window would walk a
 * dense file once per window. */
static int src_seek_data(struct gm_snap_src *src, uint64_t pos, off_t *d, off_t *h, char *why)
{
	if (pos >= src->data_from && pos < src->data_to) {
		*d = (off_t)pos;
		*h = (off_t)src->data_to;
		return 0;
	}
	*d = lseek(src->fd, (off_t)pos, SEEK_DATA);
	if (*d < 0 && errno == ENXIO)
		return 0;
	if (*d < 0)
		return gm_snap_why(why, "SEEK_DATA at %#" PRIx64 ": %s", pos, strerror(errno)), -errno;
	*h = lseek(src->fd, *d, SEEK_HOLE);
	if (*h < 0)
		return gm_snap_why(why, "SEEK_HOLE at %#jx: %s", (intmax_t)*d, strerror(errno)), -errno;
	src->data_from = *d;
	src->data_to = *h;
	return 0;
}

/* tmpfs, shim files: only the data ranges SEEK_DATA/SEEK_HOLE report are
 * read. */
static int src_read_seek(struct gm_snap_src *src, uint64_t off, uint8_t *buf, size_t len,
			 bool *present, char *why)
{
	uint64_t end = off + len, pos = off;

	mark(present, off, src->page_size, off, end, false);
	while (pos < end) {
		off_t d, h;
		int err;

		err = src_seek_data(src, pos, &d, &h, why);
		if (err)
			return err;
		if (d < 0 || (uint64_t)d >= end)
			break;		/* no data after pos (or past a truncate) */
		if ((uint64_t)h > end)
			h = (off_t)end;
		memset(buf + (pos - off), 0, (uint64_t)d - pos);
		err = src_data(src, buf + ((uint64_t)d - off), (uint64_t)h - (uint64_t)d, d, why);
		if (err)
			return err;
		mark(present, off, src->page_size, d, h, true);
		pos = h;
	}
	if (pos < end)
		memset(buf + (pos - off), 0, end - pos);
	return 0;
}

/* An attached guest_memfd: pages mincore does not show were never touched
 * (or were punched) and are not read, which would allocate them. */
static int src_read_mincore(struct gm_snap_src *src, uint64_t off, uint8_t *buf, size_t len,
			    bool *present, char *why)
{
	size_t npages = (len + SMALL_PAGE - 1) / SMALL_PAGE;

	if (off + len > src->map_len)
		return gm_snap_why(why, "read past the guest_memfd's %zu bytes", src->map_len), -EINVAL;
	if (npages > src->vec_len) {
		unsigned char *v = realloc(src->vec, npages);

		if (!v)
			return gm_snap_why(why, "out of memory"), -ENOMEM;
		src->vec = v;
		src->vec_len = npages;
	}
	if (mincore(src->map + off, npages * SMALL_PAGE, src->vec))
		return gm_snap_why(why, "mincore at %#" PRIx64 ": %s", off, strerror(errno)), -errno;
	for (size_t i = 0; i < npages; i++) {
		size_t n = i + 1 == npages ? len - i * SMALL_PAGE : SMALL_PAGE;

		present[i] = src->vec[i] & 1;
		if (present[i])
			memcpy(buf + i * SMALL_PAGE, src->map + off + i * SMALL_PAGE, n);
		else
			memset(buf + i * SMALL_PAGE, 0, n);
	}
	return 0;
}

int gm_snap_src_read(struct gm_snap_src *src, uint64_t off, void *buf, size_t len,
		     bool *present, char why[GM_SNAP_WHY_MAX])
{
	switch (src->mode) {
	case GM_SNAP_SRC_SEEK:
	case GM_SNAP_SRC_SECRET:
		return src_read_seek(src, off, buf, len, present, why);
	case GM_SNAP_SRC_MINCORE:
		return src_read_mincore(src, off, buf, len, present, why);
	case GM_SNAP_SRC_PREAD:
		mark(present, off, src->page_size, off, off + len, true);
		return src_pread(src, buf, len, off, why);
	}
	return gm_snap_why(why, "no source"), -EINVAL;
}
