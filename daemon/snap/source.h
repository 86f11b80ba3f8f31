/*
 * The memory of a gmemfs file as a snapshot reads it: window by window,
 * with the pages known to be holes marked, so the writer neither reads
 * nor allocates memory the file never had.  How holes are found depends
 * on the backing: SEEK_DATA/SEEK_HOLE on tmpfs (shmem-4k, shmem-thp, a
 * kvm-gmem file's staging file), mincore() on a mapping of an attached
 * guest_memfd (whose llseek knows no holes), and for hugetlbfs, which has
 * neither (mincore there reports this process's page tables, not the
 * file), pread, which reads holes as zeros without allocating a page.
 *
 * Reads use an fd of the source's own, taken at open: a concurrent unlink
 * leaves it valid (the caller also holds an inode reference), and pread
 * past a concurrent truncate reads short instead of faulting.  An
 * attached guest_memfd is read through a mapping, and its size is fixed.
 * A secret shim file is read through the daemon's own mapping of each
 * window (the module's PFN mapping of carve-out pages), its data ranges
 * found with SEEK_DATA/SEEK_HOLE as on tmpfs.  The bytes are copied by
 * the kernel (a write into a scratch memfd, read back), so a page gone
 * meanwhile (truncate, a conversion to private the daemon never saw)
 * fails the copy with EFAULT instead of killing the daemon with SIGBUS.
 *
 * Not for: deciding what to write (write.c).
 */
#ifndef GM_SNAP_SRC_H
#define GM_SNAP_SRC_H

#include <stdbool.h>
#include <stdint.h>

#include "fs.h"
#include "snap/format.h"

enum gm_snap_src_mode {
	GM_SNAP_SRC_SEEK = 1,		/* SEEK_DATA/SEEK_HOLE, then pread */
	GM_SNAP_SRC_MINCORE,		/* mincore and memcpy from a mapping */
	GM_SNAP_SRC_PREAD,		/* pread everything */
	GM_SNAP_SRC_SECRET,		/* SEEK_DATA/SEEK_HOLE, then the mapping */
};

struct gm_snap_src {
	enum gm_snap_src_mode mode;
	int fd;				/* our own, O_RDWR (mem/handout.c) */
	uint64_t size;			/* at open */
	uint32_t page_size;		/* the snapshot's: 4 KiB, or the huge page */
	uint32_t provider;		/* enum gmemfs_provider */
	uint8_t *map;			/* MINCORE: the whole file, PROT_READ */
	size_t map_len;
	unsigned char *vec;		/* MINCORE: one window's mincore */
	size_t vec_len;
	uint64_t data_from, data_to;	/* SEEK: the last data range found */
	int scratch_fd;			/* SECRET: a memfd the copies go through */
	bool secret;			/* a secret shim file: the snapshot is marked */
};

/* Open inode's memory for reading (inode referenced by the caller).
 * 0 or -errno with why. */
int gm_snap_src_open(struct gm_snap_src *src, struct gm_fs *fs, struct gm_inode *inode,
		     char why[GM_SNAP_WHY_MAX]);
void gm_snap_src_close(struct gm_snap_src *src);

/* Read [off, off + len) (off page-aligned, len whole pages or reaching
 * size) into buf; present[i] is false for
 * page i of the range when it is a hole, whose bytes in buf are zero.
 * 0 or -errno with why. */
int gm_snap_src_read(struct gm_snap_src *src, uint64_t off, void *buf, size_t len,
		     bool *present, char why[GM_SNAP_WHY_MAX]);

/* The file's size now; a snapshot compares it with the size at open. */
int gm_snap_src_size_now(struct gm_snap_src *src, uint64_t *size);

#endif
