/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The kernel uapi that recording a working set without faults uses, for
 * build hosts whose headers predate it (Debian 12's 6.1 headers):
 * PAGEMAP_SCAN (6.7), its PAGE_IS_ACCESSED category and userfaultfd RWP
 * (both 7.2).  These are the kernel's numbers, defined only where the
 * system header lacks them, and must never differ from them (checked
 * against the test guest's 7.3 headers).
 *
 * Not for: gmemfs's own ABI; not installed.
 */
#ifndef _GMEMFS_WS_COMPAT_H
#define _GMEMFS_WS_COMPAT_H

#include <linux/fs.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef PAGEMAP_SCAN
struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN	_IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT	(1 << 3)
#endif

#ifndef PAGE_IS_ACCESSED
#define PAGE_IS_ACCESSED	(1 << 9)
#endif

#ifndef UFFD_FEATURE_RWP
#define UFFD_FEATURE_RWP		(1 << 17)
#define UFFD_FEATURE_RWP_ASYNC		(1 << 18)
#define UFFDIO_REGISTER_MODE_RWP	((__u64)1 << 3)
#define _UFFDIO_RWPROTECT		(0x09)
struct uffdio_rwprotect {
	struct uffdio_range range;
#define UFFDIO_RWPROTECT_MODE_RWP	((__u64)1 << 0)
#define UFFDIO_RWPROTECT_MODE_DONTWAKE	((__u64)1 << 1)
	__u64 mode;
};
#define UFFDIO_RWPROTECT	_IOWR(UFFDIO, _UFFDIO_RWPROTECT, struct uffdio_rwprotect)
#endif

#endif /* _GMEMFS_WS_COMPAT_H */
