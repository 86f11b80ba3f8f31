/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * gmemfs user API: the one contract shared by gmemfsd, its clients and (later)
 * the kernel shim.  Fixed-width fields only; every reserved field must be zero
 * and unknown flag bits are rejected with EINVAL, so fields can be given a
 * meaning later without breaking old binaries.
 *
 * Not for: daemon internals (daemon/), wire formats of the control socket
 * (they arrive with the control-socket issue, next to the netlink family).
 */
#ifndef _UAPI_GMEMFS_H
#define _UAPI_GMEMFS_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Extended attribute that selects a file's page-size policy (see docs/). */
#define GMEMFS_XATTR_PAGESIZE	"user.gmemfs.pagesize"
#define GMEMFS_XATTR_PREFIX	"user.gmemfs."

/* Directory at the mount root holding the daemon's read-only views. */
#define GMEMFS_VIEWS_DIR	".gmemfs"
#define GMEMFS_CTL_DIR		GMEMFS_VIEWS_DIR	/* its first name; kept for clients */
#define GMEMFS_STATS_FILE	"stats"
#define GMEMFS_METRICS_FILE	"metrics"	/* Prometheus text format */

/* Providers: where a file's memory comes from.  Numbers are ABI. */
enum gmemfs_provider {
	GMEMFS_PROV_NONE	= 0,
	GMEMFS_PROV_SHMEM_4K	= 1,	/* tmpfs, huge=never */
	GMEMFS_PROV_SHMEM_THP	= 2,	/* tmpfs, huge=within_size */
	GMEMFS_PROV_HUGETLB_2M	= 3,	/* reserved: control-socket issue */
	GMEMFS_PROV_HUGETLB_1G	= 4,	/* reserved: control-socket issue */
	GMEMFS_PROV_KVM_GMEM	= 5,	/* reserved: control-socket issue */
	GMEMFS_PROV_SHIM	= 6,	/* reserved: shim issue */
	GMEMFS_PROV_SHMEM_ADVISE = 7,	/* tmpfs, huge=advise: auto's files */
};

/* The provider's name, as in .gmemfs/stats and the state directory. */
static inline const char *gmemfs_prov_name(__u32 provider)
{
	switch (provider) {
	case GMEMFS_PROV_SHMEM_4K:	return "shmem-4k";
	case GMEMFS_PROV_SHMEM_THP:	return "shmem-thp";
	case GMEMFS_PROV_HUGETLB_2M:	return "hugetlb-2m";
	case GMEMFS_PROV_HUGETLB_1G:	return "hugetlb-1g";
	case GMEMFS_PROV_KVM_GMEM:	return "kvm-gmem";
	case GMEMFS_PROV_SHIM:		return "shim";
	case GMEMFS_PROV_SHMEM_ADVISE:	return "shmem-advise";
	default:			return "none";
	}
}

/* Is the provider one of the tmpfs stores (a file in the state directory,
 * mappable and writable by anyone the daemon lets open it)? */
static inline int gmemfs_prov_is_shmem(__u32 provider)
{
	return provider == GMEMFS_PROV_SHMEM_4K || provider == GMEMFS_PROV_SHMEM_THP ||
	       provider == GMEMFS_PROV_SHMEM_ADVISE;
}

/* Flags reported in gmemfs_info.flags (output only). */
#define GMEMFS_INFO_PASSTHROUGH	(1U << 0)	/* opens are served by FUSE passthrough */
#define GMEMFS_INFO_UNLINKED	(1U << 1)	/* no name left; freed on last close */
#define GMEMFS_INFO_SECRET	(1U << 2)	/* policy shim-secret: the memory is
						 * outside the kernel's direct map */

/*
 * GMEMFS_IOC_INFO: what backs an open gmemfs file.
 * In:  in_flags must be 0, reserved[] must be 0.
 * Out: every other field.
 */
struct gmemfs_info {
	__u32 in_flags;		/* in: must be 0 */
	__u32 provider;		/* out: enum gmemfs_provider */
	__u64 id;		/* out: the file's stable id (st_ino) */
	__u64 size;		/* out: file size, bytes */
	__u64 populated;	/* out: bytes of memory the file holds */
	__u64 page_size;	/* out: page size the provider maps with, bytes */
	__u32 flags;		/* out: GMEMFS_INFO_* */
	__u32 __pad;		/* must be 0 */
	__u64 reserved[4];	/* must be 0 */
};

#define GMEMFS_IOC_MAGIC	0xb7
#define GMEMFS_IOC_INFO		_IOWR(GMEMFS_IOC_MAGIC, 0x01, struct gmemfs_info)

#endif /* _UAPI_GMEMFS_H */
