/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * gmemfs snapshot format, versions 1 to 4 (docs/snapshot.md tells it in
 * prose).  Version 2 adds one thing: the working set's bytes stored in the
 * index file (GMEMFS_SNAP_F_WS_DATA); version 3 PRIVATE extents; version 4
 * the SECRET mark (GMEMFS_SNAP_F_SECRET).  An index is written with the
 * lowest version that describes it, and a reader takes all four.
 *
 * A snapshot is two files:
 *  - the image (SNAPFILE): a sparse raw file of exactly mem_size bytes in
 *    which the memory at guest offset N lives at file offset N.  Holes stay
 *    holes, so a tool that knows nothing of gmemfs (Firecracker's File
 *    memory backend, dd, qemu's mem-path) can use a full snapshot as is.
 *  - the index (SNAPFILE.idx): this header, nr_extents extents sorted by
 *    offset, nr_ws working-set entries, with GMEMFS_SNAP_F_WS_DATA nr_ws
 *    __le32 crc32c of each working-set chunk's bytes, then one __le32:
 *    crc32c of every byte of the index before it.  With F_WS_DATA the
 *    working set's bytes follow at ws_data_offset (the index's length
 *    rounded up to 4 KiB, zero between): nr_ws slots of chunk_size bytes,
 *    slot i holding the memory of working-set entry i's chunk (all layers
 *    resolved; a chunk cut short by mem_size is zero to the slot's end),
 *    so that a restore reads the working set in one sequential pass.
 *
 * All fields are little-endian.  Extents never overlap, never cross a
 * chunk_size boundary, and are whole pages.  What the index does not list
 * is the parent's (an incremental snapshot), or zero (a full one).
 * Checksums are CRC-32C (Castagnoli), seed ~0, final xor ~0 (as iSCSI and
 * ext4 use it), of the extent's bytes in the image.
 */
#ifndef _UAPI_GMEMFS_SNAP_H
#define _UAPI_GMEMFS_SNAP_H

#include <linux/types.h>

#define GMEMFS_SNAP_MAGIC	"GMSNAPIX"	/* 8 bytes, no NUL */
#define GMEMFS_SNAP_VERSION	4	/* the newest; 3: PRIVATE extents;
					 * 4: F_SECRET */
#define GMEMFS_SNAP_VERSION_MIN	1	/* the oldest a reader takes */
#define GMEMFS_SNAP_IDX_SUFFIX	".idx"
/* Layers of a chain a reader follows: the snapshot and its ancestors. */
#define GMEMFS_SNAP_MAX_DEPTH	7
#define GMEMFS_SNAP_PARENT_MAX	256	/* bytes of parent[], NUL included */

/* header.flags */
#define GMEMFS_SNAP_F_PARENT	(1u << 0)	/* incremental: parent_uuid set */
#define GMEMFS_SNAP_F_WS_DATA	(1u << 1)	/* version 2: the working set's bytes follow */
/*
 * Version 4: the memory was secret (a shim-secret file, outside the
 * kernel's direct map), or a layer below it was.  A restore puts it only
 * into secret memory unless forced; a daemon that knows only versions 1
 * to 3 refuses the index instead of restoring it into ordinary memory.
 */
#define GMEMFS_SNAP_F_SECRET	(1u << 2)
#define GMEMFS_SNAP_F_ALL	(GMEMFS_SNAP_F_PARENT | GMEMFS_SNAP_F_WS_DATA | \
				 GMEMFS_SNAP_F_SECRET)
/* The working set's bytes start at a multiple of this in the index file. */
#define GMEMFS_SNAP_WS_ALIGN	4096

struct gmemfs_snap_header {
	char magic[8];			/* GMEMFS_SNAP_MAGIC */
	__u32 version;			/* GMEMFS_SNAP_VERSION */
	__u32 header_size;		/* sizeof(struct gmemfs_snap_header) */
	__u64 mem_size;			/* bytes of memory; the image's size */
	__u32 page_size;		/* the source's page size: 4 KiB, 2 MiB, 1 GiB */
	__u32 chunk_size;		/* power of two >= page_size: the unit of a
					 * lazy fault and the bound of an extent */
	__u32 flags;			/* GMEMFS_SNAP_F_*; unknown bits: refuse */
	__u32 provider;			/* enum gmemfs_provider of the source */
	__u64 nr_extents;
	__u64 nr_ws;			/* working-set entries after the extents */
	__u8 uuid[16];			/* this snapshot (random) */
	__u8 parent_uuid[16];		/* the parent's uuid, or zero */
	char parent[GMEMFS_SNAP_PARENT_MAX]; /* the parent's image path as the
					 * snapshot's creator named it, NUL-
					 * terminated; "" without a parent */
	__u64 created_ns;		/* CLOCK_REALTIME */
	__u64 data_bytes;		/* sum of the DATA extents' lengths */
	__u64 ws_data_offset;		/* F_WS_DATA: where the working set's bytes
					 * start in the index file; else 0 */
	__u32 reserved[6];		/* zero */
};

enum gmemfs_snap_extent_type {
	GMEMFS_SNAP_EXT_DATA = 1,	/* bytes in this image */
	GMEMFS_SNAP_EXT_ZERO = 2,	/* zero here, whatever the parent had */
	GMEMFS_SNAP_EXT_PRIVATE = 3,	/* private in the source: no bytes in the
					 * image, crc 0; a restore makes the range
					 * private again (version 3 only) */
};

struct gmemfs_snap_extent {
	__u64 offset;			/* bytes, page-aligned */
	__u64 length;			/* bytes, whole pages, <= chunk_size */
	__u32 type;			/* enum gmemfs_snap_extent_type */
	__u32 crc;			/* DATA: crc32c of the bytes; ZERO: 0 */
};

/* A working-set entry: the offset of a chunk, in the order a lazy restore
 * first faulted it (the prefetcher's order next time). */
struct gmemfs_snap_ws {
	__u64 offset;
};

#endif /* _UAPI_GMEMFS_SNAP_H */
