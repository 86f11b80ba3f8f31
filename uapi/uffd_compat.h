/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The userfaultfd and pidfd uapi that lazy restore uses, for build hosts
 * whose headers predate it (Debian 12's 6.1 headers): UFFDIO_POISON (6.6)
 * and SO_PEERPIDFD (6.5).  These are the kernel's numbers, defined only
 * where the system header lacks them, and must never differ from them.
 *
 * Not for: gmemfs's own ABI; not installed.
 */
#ifndef _GMEMFS_UFFD_COMPAT_H
#define _GMEMFS_UFFD_COMPAT_H

#include <linux/userfaultfd.h>

#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON		(1 << 14)
#endif
#ifndef UFFDIO_POISON
#define _UFFDIO_POISON			(0x08)
struct uffdio_poison {
	struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE	((__u64)1 << 0)
	__u64 mode;
	__s64 updated;
};
#define UFFDIO_POISON	_IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD	77
#endif

#endif /* _GMEMFS_UFFD_COMPAT_H */
