/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Kernel channel of the gmemfs netlink family (see gmemfs_nl.h): commands
 * and attributes exchanged between the shim module and gmemfsd, and the
 * ioctls a shim file answers.  Numbers are ABI; commands stay within
 * GMEMFS_SHIM_CMD_FIRST..LAST.
 *
 * The flow follows the kernel's net/handshake family: the module sends a
 * NOTIFY to the "events" multicast group when its event queue goes from
 * empty to non-empty; the registered daemon pulls the queue with ACCEPT and
 * answers the events that wait for it (FAULT with POPULATE or DONE, CONVERT
 * with DONE).  ALLOC and INVALIDATE are reports and need no answer.
 *
 * Not for: the control socket (gmemfs_ctl.h).
 */
#ifndef _UAPI_GMEMFS_SHIM_H
#define _UAPI_GMEMFS_SHIM_H

#include <linux/types.h>
#include <linux/ioctl.h>

enum gmemfs_shim_cmd {
	GMEMFS_SHIM_CMD_UNSPEC = 0,
	/*
	 * daemon -> kernel: [TOKEN].  CAP_SYS_ADMIN; one daemon at a time
	 * (EBUSY).  TOKEN (16..32 bytes) names the daemon's state directory:
	 * files it creates are kept by the module with no fd and no daemon
	 * (until DELETE), and only a daemon registered with the same TOKEN
	 * reaches them (EPERM otherwise).  Without TOKEN, files live only
	 * while an fd or mapping refers to them, and their pending requests
	 * fail as soon as the daemon's socket closes.
	 */
	GMEMFS_SHIM_CMD_REGISTER = 1,
	GMEMFS_SHIM_CMD_UNREGISTER = 2,
	/*
	 * daemon -> kernel: SIZE, [FLAGS], [PAGE_ORDER], [FAULT_MODE],
	 * [COOKIE] (kept with the file, given back by LIST).
	 * Reply: FILE_ID and FD, a new O_RDWR|O_CLOEXEC fd in the sender.
	 */
	GMEMFS_SHIM_CMD_CREATE = 3,
	/* kernel -> "events" group: the queue has events (no attributes) */
	GMEMFS_SHIM_CMD_NOTIFY = 4,
	/* daemon -> kernel; reply: EVENT nests (oldest first), LOST */
	GMEMFS_SHIM_CMD_ACCEPT = 5,
	/*
	 * daemon -> kernel: FILE_ID, OFFSET, and DATA (several DATA
	 * attributes are concatenated, as one holds < 64K) or the flag
	 * POPULATE_ZERO in FLAGS with [LENGTH] (default: one page); [REQ_ID]
	 * completes a FAULT.  Data up to the page at OFFSET (as a FAULT's
	 * LENGTH says) fills that page, the rest zero.  Longer data, at most
	 * 2M and whole base pages, fills the consecutive pages from OFFSET,
	 * each missing one with its own bytes; pages already there stay.
	 * EEXIST without REQ_ID if no page was missing.
	 */
	GMEMFS_SHIM_CMD_POPULATE = 6,
	/* daemon -> kernel: REQ_ID, STATUS (0 or a positive errno) */
	GMEMFS_SHIM_CMD_DONE = 7,
	/*
	 * daemon -> kernel: FILE_ID, OFFSET, LENGTH (2M-aligned), PAGE_ORDER:
	 * the folio order of misses in that range from now on (pages there
	 * stay; a block that already holds a page fills with base pages).
	 */
	GMEMFS_SHIM_CMD_SET_ORDER = 8,
	/*
	 * daemon -> kernel: PAGES, the most base pages this daemon's files
	 * together may hold: its TOKEN's, or without one, all files made
	 * without one (GMEMFS_SHIM_NO_LIMIT: none, the default).  Past it an
	 * allocation fails: write and fallocate with ENOSPC, a fault with
	 * SIGBUS, POPULATE with ENOSPC; pages already held stay, whatever the
	 * limit becomes.  The limit outlives the daemon that set it.
	 */
	GMEMFS_SHIM_CMD_SET_LIMIT = 9,
	/*
	 * daemon -> kernel: FILE_ID, FAULT_MODE: how misses in the file are
	 * served from now on.  To ASK: the daemon populates each (a lazy
	 * restore); to AUTO: the kernel allocates zeroed pages.  Faults
	 * already asked still wait for their answer.
	 */
	GMEMFS_SHIM_CMD_SET_MODE = 10,
	/*
	 * daemon -> kernel: FILE_ID of a file the module keeps for this
	 * daemon's TOKEN.  Reply as CREATE's: FILE_ID and FD, a new
	 * O_RDWR|O_CLOEXEC fd in the sender.  ENOENT: no such file, or it was
	 * DELETEd or created without TOKEN; EPERM: another TOKEN's file.
	 */
	GMEMFS_SHIM_CMD_OPEN = 11,
	/*
	 * daemon -> kernel: [FILE_ID], the first id to list (default 1).
	 * Reply: a FILE nest per file the module keeps for this daemon's
	 * TOKEN, by increasing id, as many as fit (FILE_ID, SIZE, PAGE_ORDER,
	 * FAULT_MODE, PAGES held, COOKIE); LIST again from the last id + 1
	 * until a reply holds none.  A daemon without TOKEN gets none.
	 */
	GMEMFS_SHIM_CMD_LIST = 12,
	/*
	 * daemon -> kernel: FILE_ID.  The module drops the file it keeps:
	 * its pages go with the last fd and mapping (INVALIDATE with
	 * INVAL_RELEASE then).  ENOENT and EPERM as OPEN's.
	 */
	GMEMFS_SHIM_CMD_DELETE = 13,
	/*
	 * daemon -> kernel: no attributes.  Reply: CARVE_PAGES, the base
	 * pages of the module's carve-out (module parameter carveout=, 0
	 * without one), and CARVE_FREE, how many of them no file holds.
	 */
	GMEMFS_SHIM_CMD_INFO = 14,
	__GMEMFS_SHIM_CMD_END,
};
#define GMEMFS_SHIM_CMD_MAX (__GMEMFS_SHIM_CMD_END - 1)

enum gmemfs_shim_attr {
	GMEMFS_SHIM_A_UNSPEC = 0,
	GMEMFS_SHIM_A_FILE_ID = 1,	/* u32 */
	GMEMFS_SHIM_A_FD = 2,		/* u32 */
	GMEMFS_SHIM_A_SIZE = 3,		/* u64, bytes, multiple of the page size; 0 ok */
	GMEMFS_SHIM_A_FLAGS = 4,	/* u32, GMEMFS_SHIM_F_* / per command */
	GMEMFS_SHIM_A_PAGE_ORDER = 5,	/* u32, folio order 0..9 (4K..2M on x86-64);
					 * CREATE: the default, and the
					 * alignment of punch/truncate/convert */
	GMEMFS_SHIM_A_FAULT_MODE = 6,	/* u32, enum gmemfs_shim_fault_mode */
	GMEMFS_SHIM_A_OFFSET = 7,	/* u64, bytes */
	GMEMFS_SHIM_A_LENGTH = 8,	/* u64, bytes; POPULATE_ZERO: whole base pages */
	GMEMFS_SHIM_A_DATA = 9,		/* binary */
	GMEMFS_SHIM_A_REQ_ID = 10,	/* u32 */
	GMEMFS_SHIM_A_STATUS = 11,	/* u32, positive errno, 0 = done/approved */
	GMEMFS_SHIM_A_EVENT = 12,	/* nest of GMEMFS_SHIM_A_* below */
	GMEMFS_SHIM_A_EVENT_TYPE = 13,	/* u32, enum gmemfs_shim_event */
	GMEMFS_SHIM_A_PAGES = 14,	/* u64, base pages allocated or freed;
					 * SET_LIMIT: the limit */
	GMEMFS_SHIM_A_LOST = 15,	/* u32, reports dropped since last ACCEPT */
	GMEMFS_SHIM_A_PAD = 16,
	GMEMFS_SHIM_A_TOKEN = 17,	/* binary, 16..32 bytes (REGISTER) */
	GMEMFS_SHIM_A_FILE = 18,	/* nest: one file in LIST's reply */
	GMEMFS_SHIM_A_COOKIE = 19,	/* u64, the daemon's own name for a
					 * file (CREATE), given back by LIST */
	GMEMFS_SHIM_A_UID = 21,		/* u32, CONVERT: the converting task's
					 * fsuid, in the initial user namespace */
	GMEMFS_SHIM_A_PID = 22,		/* u32, CONVERT: its thread-group id, in
					 * the initial pid namespace */
	GMEMFS_SHIM_A_CARVE_PAGES = 23,	/* u64, INFO: carve-out size in base pages */
	GMEMFS_SHIM_A_CARVE_FREE = 24,	/* u64, INFO: carve-out pages free */
	__GMEMFS_SHIM_A_END,
};
#define GMEMFS_SHIM_A_MAX (__GMEMFS_SHIM_A_END - 1)

/*
 * A FAULT or CONVERT pending when a TOKEN's daemon goes away waits for the
 * next daemon of the same TOKEN (module parameter daemon_grace_ms), which
 * gets it again, with the same REQ_ID, right after its REGISTER.
 */
enum gmemfs_shim_event {
	/* pages allocated by the kernel (auto mode); OFFSET, LENGTH, PAGES */
	GMEMFS_SHIM_EV_ALLOC = 1,
	/* a missing page in an ask-mode file; OFFSET, LENGTH, REQ_ID */
	GMEMFS_SHIM_EV_FAULT = 2,
	/*
	 * conversion asked for: OFFSET, LENGTH, FLAGS (CONVERT_*), REQ_ID,
	 * UID, PID.  The module then reports the outcome as a second CONVERT
	 * with no REQ_ID and CONVERT_APPLIED or CONVERT_FAILED in FLAGS
	 * (FAILED also when refused, or when the wait for the answer ended);
	 * these outcome reports are never dropped.
	 */
	GMEMFS_SHIM_EV_CONVERT = 3,
	/* pages gone (punch, truncate, release); OFFSET, LENGTH, PAGES, FLAGS */
	GMEMFS_SHIM_EV_INVALIDATE = 4,
};

enum gmemfs_shim_fault_mode {
	GMEMFS_SHIM_FAULT_AUTO = 0,	/* kernel allocates zeroed pages */
	GMEMFS_SHIM_FAULT_ASK = 1,	/* daemon populates each missing page */
};

/* REGISTER TOKEN length in bytes */
#define GMEMFS_SHIM_TOKEN_MIN		16
#define GMEMFS_SHIM_TOKEN_MAX		32

/* SET_LIMIT PAGES: no limit */
#define GMEMFS_SHIM_NO_LIMIT		(~(__u64)0)

/*
 * CREATE FLAGS, also given back in LIST's FILE nests.
 * SECRET: every page of the file comes from the module's carve-out, a
 * physical range kept out of the kernel's direct map at boot (memmap=),
 * and is mapped to userspace as PFNs; the module reads or writes such a
 * page only through a temporary mapping of its own.  EOPNOTSUPP without a
 * carve-out; ENOSPC when it is full.
 */
#define GMEMFS_SHIM_F_INIT_PRIVATE	(1u << 0)
#define GMEMFS_SHIM_F_SECRET		(1u << 1)
#define GMEMFS_SHIM_F_ALL		(GMEMFS_SHIM_F_INIT_PRIVATE | GMEMFS_SHIM_F_SECRET)

/* POPULATE FLAGS */
#define GMEMFS_SHIM_POPULATE_ZERO	(1u << 0)

/* INVALIDATE FLAGS: the file was released; every page of it is gone. */
#define GMEMFS_SHIM_INVAL_RELEASE	(1u << 0)
/* A truncate: the range is past the new end, and shared again. */
#define GMEMFS_SHIM_INVAL_TRUNCATE	(1u << 1)

/* CONVERT event FLAGS and struct gmemfs_shim_convert.flags */
#define GMEMFS_SHIM_CONVERT_PRIVATE	(1u << 0)	/* else to shared */
/* CONVERT event FLAGS only: an outcome report (no REQ_ID) */
#define GMEMFS_SHIM_CONVERT_APPLIED	(1u << 1)	/* the range is converted */
#define GMEMFS_SHIM_CONVERT_FAILED	(1u << 2)	/* approved, not applied */

/*
 * ioctls on a shim file.  Reserved fields must be zero; unknown flags are
 * EINVAL.
 */
struct gmemfs_shim_convert {
	__u64 offset;		/* bytes, aligned to the file's page size */
	__u64 size;
	__u32 flags;		/* GMEMFS_SHIM_CONVERT_* */
	__u32 reserved;
};

/* Read through the file's pfncache (kernel mapping cache). */
struct gmemfs_shim_cache_read {
	__u64 offset;		/* bytes; the read stays within one base page */
	__u64 buf;		/* user pointer */
	__u32 size;
	__u32 flags;		/* out: GMEMFS_SHIM_CACHE_HIT */
	__u64 reserved;
};
#define GMEMFS_SHIM_CACHE_HIT		(1u << 0)	/* no refresh was needed */

/*
 * Which pages of a range the kernel's direct map covers (CAP_SYS_ADMIN):
 * one byte per base page from OFFSET, GMEMFS_SHIM_DM_*, written to BUF.
 * The proof that a SECRET file's memory is outside it.
 */
struct gmemfs_shim_direct_map {
	__u64 offset;		/* bytes, page aligned */
	__u64 pages;		/* base pages to report, at most 1 << 20 */
	__u64 buf;		/* user pointer to PAGES bytes */
	__u64 reserved;
};
#define GMEMFS_SHIM_DM_ABSENT		0	/* the file holds no page there */
#define GMEMFS_SHIM_DM_HIDDEN		1	/* held; not in the direct map */
#define GMEMFS_SHIM_DM_MAPPED		2	/* held; the direct map covers it */

/* GMEMFS_IOC_MAGIC of gmemfs.h; numbers from 0x40 are the shim's. */
#define GMEMFS_SHIM_IOC_MAGIC		0xb7
#define GMEMFS_SHIM_IOC_CONVERT		_IOW(GMEMFS_SHIM_IOC_MAGIC, 0x40, struct gmemfs_shim_convert)
#define GMEMFS_SHIM_IOC_CACHE_READ	_IOWR(GMEMFS_SHIM_IOC_MAGIC, 0x41, struct gmemfs_shim_cache_read)
#define GMEMFS_SHIM_IOC_DIRECT_MAP	_IOW(GMEMFS_SHIM_IOC_MAGIC, 0x42, struct gmemfs_shim_direct_map)

#endif /* _UAPI_GMEMFS_SHIM_H */
