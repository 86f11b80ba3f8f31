/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Control-socket channel of the gmemfs netlink family (see gmemfs_nl.h):
 * commands and attributes between gmemfsd and its clients.
 * Numbers are ABI; commands stay within GMEMFS_CTL_CMD_FIRST..LAST.
 *
 * One request, one reply, on a unix SOCK_SEQPACKET socket (one message per
 * packet).  A request is nlmsghdr (type GMEMFS_CTL_NLMSG_TYPE, flags
 * NLM_F_REQUEST, a sequence number the reply echoes) + genlmsghdr (cmd,
 * version GMEMFS_GENL_VERSION) + attributes.  The reply is either a message
 * of the same type and cmd carrying the answer, or NLMSG_ERROR (struct
 * nlmsgerr with a negative errno, NLM_F_CAPPED, and with NLM_F_ACK_TLVS the
 * reason as NLMSGERR_ATTR_MSG).  LIST answers with one NLM_F_MULTI message
 * per entry, then NLMSG_DONE.  File descriptors travel as SCM_RIGHTS on the
 * request (ATTACH_VM: a guest_memfd) or the reply (OPEN); a request
 * of any other command that carries fds is refused and its fds closed.
 *
 * Files are named by GMEMFS_CTL_A_PATH, relative to the mount root ("" or
 * "." is the root); ".." components and a leading '/' are refused.
 */
#ifndef _UAPI_GMEMFS_CTL_H
#define _UAPI_GMEMFS_CTL_H

/* Read-only xattr on the mount root: the control socket's path. */
#define GMEMFS_XATTR_CTL_SOCKET		"user.gmemfs.ctl-socket"

enum gmemfs_ctl_cmd {
	GMEMFS_CTL_CMD_UNSPEC = 0,
	/* PATH [FLAGS] -> file attributes; the backing fd (O_RDWR) in SCM_RIGHTS.
	 * Needs read and write permission on the file. */
	GMEMFS_CTL_CMD_OPEN = 64,
	/* PATH -> file attributes (what GMEMFS_IOC_INFO gives, plus owner,
	 * mode and policy).  Needs search permission on the way only. */
	GMEMFS_CTL_CMD_INFO = 65,
	/* -> POOL_BUDGET, POOL_USED, POOL_FREE, one POOL_PROV per provider. */
	GMEMFS_CTL_CMD_POOL = 66,
	/* PATH -> POLICY.  Needs read permission. */
	GMEMFS_CTL_CMD_POLICY_GET = 67,
	/* PATH POLICY -> (no attributes).  Needs write permission. */
	GMEMFS_CTL_CMD_POLICY_SET = 68,
	/* PATH [FLAGS] + a guest_memfd in SCM_RIGHTS -> file attributes, no fd.
	 * The VMM creates the guest_memfd on its own VM (KVM serves
	 * KVM_CREATE_GUEST_MEMFD only in the VM's process) with the file's size
	 * (INFO's SIZE) rounded up to 4 KiB and flags MMAP|INIT_SHARED; the
	 * daemon checks it, keeps its own reference, moves the file's bytes
	 * into it and serves the mount from it.  A kvm-gmem file only, once.
	 * Needs read and write. */
	GMEMFS_CTL_CMD_ATTACH_VM = 69,
	/* [PATH] (a directory; default the root) -> per entry NAME + entry
	 * attributes, NLM_F_MULTI; then NLMSG_DONE.  Needs read and search. */
	GMEMFS_CTL_CMD_LIST = 70,
	/*
	 * Snapshots (docs/snapshot.md).  A snapshot is a layer chain: the
	 * snapshot's image and index fds first, then its parent's, and so on
	 * (GMEMFS_SNAP_MAX_DEPTH layers at most), all in SCM_RIGHTS, opened by
	 * the client with its own permissions.
	 */
	/* PATH [FLAGS: GMEMFS_CTL_F_PROGRESS] [SNAP_PARENT] + image fd (O_RDWR, empty),
	 * index fd (O_RDWR, empty), then the parent's chain if incremental ->
	 * SNAP_* figures.  With PROGRESS, NLM_F_MULTI messages carrying
	 * PROGRESS_DONE/PROGRESS_TOTAL come before the reply.  Needs read. */
	GMEMFS_CTL_CMD_SNAPSHOT = 71,
	/* PATH [FLAGS: PROGRESS|FORCE] + the chain -> SNAP_* figures.  Fills
	 * the file (which must hold no memory yet; its size is set to the
	 * snapshot's) eagerly; on any error the file holds no memory again.
	 * A secret snapshot (GMEMFS_SNAP_F_SECRET) goes only into a secret
	 * file (EPERM) unless FORCE.  Needs write. */
	GMEMFS_CTL_CMD_RESTORE = 72,
	/* REGION... [PATH] [FLAGS: GMEMFS_CTL_F_RECORD_WS|F_NO_PREFETCH] +
	 * userfaultfd, then the chain -> SESSION.  Lazy restore: the daemon
	 * serves the uffd's faults from the snapshot until the VMM exits.
	 * PATH names the gmemfs file the regions map (shared), if any.
	 * Ask mode: PATH (a shim file) [FLAGS] + the chain alone, no REGION:
	 * the daemon serves every miss in the file until all of it is in. */
	GMEMFS_CTL_CMD_RESTORE_LAZY = 73,
	/* SOCKET [FLAGS] + the chain -> an NLM_F_MULTI message once the
	 * Firecracker page-fault-handler socket listens; then every VMM that
	 * connects there gets a lazy restore session, until this request's
	 * connection closes (the final reply follows the close, if it can). */
	GMEMFS_CTL_CMD_UFFD_LISTEN = 74,
	/* -> one NLM_F_MULTI message per lazy-restore session (SESSION and
	 * SESS_* figures), then NLMSG_DONE.  Root, or the session's VMM uid. */
	GMEMFS_CTL_CMD_SESSIONS = 75,
	/* -> NLM_F_MULTI messages whose TEXTs, joined in order, are the
	 * daemon's figures in the Prometheus text format (docs/metrics.md),
	 * then NLMSG_DONE.  Sessions as SESSIONS shows them to the caller. */
	GMEMFS_CTL_CMD_METRICS = 76,
	/* Recording a working set without faults (docs/lazy-restore.md):
	 * PATH REGION + a userfaultfd registered UFFDIO_REGISTER_MODE_RWP
	 * with UFFD_FEATURE_RWP_ASYNC over REGION (which maps PATH shared
	 * from its OFFSET): the VMM arms the recording.  PATH
	 * [RECORD_INTERVAL] [RECORD_DURATION], no fd -> RECORD_UNITS: record
	 * for the duration; the file's next SNAPSHOT stores the order as its
	 * working set.  EOPNOTSUPP where the kernel lacks RWP or
	 * PAGE_IS_ACCESSED.  Needs read; recording: root or the VMM's uid. */
	GMEMFS_CTL_CMD_RECORD_WS = 77,
	/* SESSION + the VMM's userfaultfd -> SESSION.  After the daemon
	 * died, the VMM of a RESTORE_LAZY session (the same process: pid and
	 * start time) hands its uffd back to the restarted daemon, which
	 * serves what its record says is missing (docs/lazy-restore.md).
	 * libgmemfs sends it on its own.  ENOENT: no record (the session
	 * ended); ESTALE: the snapshot changed or is gone; EPERM: another
	 * process's session. */
	GMEMFS_CTL_CMD_RESUME_LAZY = 78,
	__GMEMFS_CTL_CMD_END,
};
#define GMEMFS_CTL_CMD_MAX (__GMEMFS_CTL_CMD_END - 1)

enum gmemfs_ctl_attr {
	GMEMFS_CTL_A_UNSPEC = 0,
	GMEMFS_CTL_A_PATH,		/* string, NUL-terminated, < PATH_MAX */
	GMEMFS_CTL_A_POLICY,		/* string: "4k", "2m-thp", "auto", ... */
	GMEMFS_CTL_A_FLAGS,		/* u32, request flags: none yet, must be 0 */
	GMEMFS_CTL_A_NAME,		/* string: a LIST entry's name */
	GMEMFS_CTL_A_MODE,		/* u32: st_mode (type and permission bits) */
	GMEMFS_CTL_A_UID,		/* u32 */
	GMEMFS_CTL_A_GID,		/* u32 */
	GMEMFS_CTL_A_ID,		/* u64: the stable id (st_ino) */
	GMEMFS_CTL_A_PROVIDER,		/* u32: enum gmemfs_provider (files) */
	GMEMFS_CTL_A_SIZE,		/* u64: bytes (files) */
	GMEMFS_CTL_A_POPULATED,		/* u64: bytes of memory held (files) */
	GMEMFS_CTL_A_PAGE_SIZE,		/* u64: bytes (files) */
	GMEMFS_CTL_A_INFO_FLAGS,	/* u32: GMEMFS_INFO_* (files) */
	GMEMFS_CTL_A_POOL_BUDGET,	/* u64 */
	GMEMFS_CTL_A_POOL_USED,		/* u64 */
	GMEMFS_CTL_A_POOL_FREE,		/* u64 */
	GMEMFS_CTL_A_POOL_PROV,		/* nested, repeated: GMEMFS_CTL_PROV_A_* */

	/* Snapshots: 20..29 */
	GMEMFS_CTL_A_PROGRESS_DONE = 20,	/* u64: bytes of the source walked */
	GMEMFS_CTL_A_PROGRESS_TOTAL = 21,	/* u64: bytes to walk */
	GMEMFS_CTL_A_SNAP_BYTES = 22,	/* u64: bytes written (snapshot/restore) */
	GMEMFS_CTL_A_SNAP_PAGES = 23,	/* u64: pages written */
	GMEMFS_CTL_A_SNAP_EXTENTS = 24,	/* u64: extents in the index */
	GMEMFS_CTL_A_SNAP_NS = 25,	/* u64: wall time of the work */
	GMEMFS_CTL_A_SNAP_SKIPPED = 26,	/* u64: pages not written: zero, or
					 * equal to the parent's */
	GMEMFS_CTL_A_SNAP_PARENT = 27,	/* string: the parent's image path, to
					 * record in the index (SNAPSHOT) */

	/* Lazy restore: 30..47 */
	GMEMFS_CTL_A_REGION = 30,	/* nested, repeated: GMEMFS_CTL_REGION_A_* */
	GMEMFS_CTL_A_SESSION = 31,	/* u64: a lazy-restore session's id */
	GMEMFS_CTL_A_SOCKET = 32,	/* string: a unix socket path */
	GMEMFS_CTL_A_PID = 33,		/* u32: the session's VMM */
	GMEMFS_CTL_A_SESS_FAULTS = 34,	/* u64: faults served */
	GMEMFS_CTL_A_SESS_PREFETCHED = 35, /* u64: bytes the prefetcher placed */
	GMEMFS_CTL_A_SESS_BYTES = 36,	/* u64: bytes placed in all */
	GMEMFS_CTL_A_SESS_STATE = 37,	/* u32: enum gmemfs_sess_state */
	GMEMFS_CTL_A_SESS_MINOR = 38,	/* u64: faults answered with UFFDIO_CONTINUE */
	GMEMFS_CTL_A_SESS_CORRUPT = 39,	/* u64: faults on bytes whose checksum failed */
	GMEMFS_CTL_A_SESS_REMOVED = 40,	/* u64: bytes the VMM discarded (REMOVE, UNMAP) */
	GMEMFS_CTL_A_SESS_WS = 41,	/* u64: units in the working set recorded so far */
	GMEMFS_CTL_A_SESS_LAT_P50 = 42,	/* u64: ns from reading a fault to its answer */
	GMEMFS_CTL_A_SESS_LAT_P99 = 43,	/* u64: ns, likewise */
	GMEMFS_CTL_A_SESS_UNIT = 44,	/* u64: bytes placed per fault: the snapshot's
					 * chunk, or a region's larger page */

	/* Text answers: 50.. */
	GMEMFS_CTL_A_TEXT = 50,		/* string: a piece of a text answer, at most
					 * GMEMFS_CTL_TEXT_MAX bytes with its NUL */

	/* Recording a working set: 51.. */
	GMEMFS_CTL_A_RECORD_INTERVAL = 51, /* u32: ms between scans (default 100) */
	GMEMFS_CTL_A_RECORD_DURATION = 52, /* u32: ms to record (default 10000) */
	GMEMFS_CTL_A_RECORD_UNITS = 53,	/* u64: 4 KiB pages recorded */

	/* Secret memory (docs/providers.md, shim-secret): 54.. */
	GMEMFS_CTL_A_POOL_SECRET_SIZE = 54, /* u64: bytes of the shim's carve-out;
					 * POOL replies carry it when the shim
					 * is attached (0: no carve-out) */
	GMEMFS_CTL_A_POOL_SECRET_FREE = 55, /* u64: bytes of it no file holds */
	__GMEMFS_CTL_A_END,
};
#define GMEMFS_CTL_A_MAX (__GMEMFS_CTL_A_END - 1)

/* Inside GMEMFS_CTL_A_POOL_PROV: one provider instance of the pool. */
enum gmemfs_ctl_prov_attr {
	GMEMFS_CTL_PROV_A_UNSPEC = 0,
	GMEMFS_CTL_PROV_A_ID,		/* u32: enum gmemfs_provider */
	GMEMFS_CTL_PROV_A_NAME,		/* string */
	GMEMFS_CTL_PROV_A_PAGE_SIZE,	/* u64 */
	GMEMFS_CTL_PROV_A_USED,		/* u64 */
	GMEMFS_CTL_PROV_A_LIMIT,	/* u64 */
	__GMEMFS_CTL_PROV_A_END,
};
#define GMEMFS_CTL_PROV_A_MAX (__GMEMFS_CTL_PROV_A_END - 1)

/* Inside GMEMFS_CTL_A_REGION: one mapping of guest memory registered with
 * the uffd, as in Firecracker's GuestRegionUffdMapping. */
enum gmemfs_ctl_region_attr {
	GMEMFS_CTL_REGION_A_UNSPEC = 0,
	GMEMFS_CTL_REGION_A_ADDR,	/* u64: base host virtual address */
	GMEMFS_CTL_REGION_A_SIZE,	/* u64: bytes */
	GMEMFS_CTL_REGION_A_OFFSET,	/* u64: offset of the region in the snapshot */
	GMEMFS_CTL_REGION_A_PAGE_SIZE,	/* u64: the mapping's page size */
	__GMEMFS_CTL_REGION_A_END,
};
#define GMEMFS_CTL_REGION_A_MAX (__GMEMFS_CTL_REGION_A_END - 1)

/* GMEMFS_CTL_A_FLAGS bits; unknown bits are refused with EINVAL. */
#define GMEMFS_CTL_F_PROGRESS		(1u << 0)	/* SNAPSHOT, RESTORE */
#define GMEMFS_CTL_F_RECORD_WS		(1u << 1)	/* RESTORE_LAZY, UFFD_LISTEN:
							 * store the faulted order
							 * in the snapshot's index */
#define GMEMFS_CTL_F_NO_PREFETCH	(1u << 2)	/* RESTORE_LAZY, UFFD_LISTEN:
							 * ignore a stored working set */
#define GMEMFS_CTL_F_FORCE		(1u << 3)	/* RESTORE, RESTORE_LAZY,
							 * UFFD_LISTEN: restore a
							 * secret snapshot into
							 * memory that is not secret
							 * (refused with EPERM, or
							 * EOPNOTSUPP for a uffd,
							 * without it) */

enum gmemfs_sess_state {
	GMEMFS_SESS_SERVING = 1,	/* faults still possible */
	GMEMFS_SESS_COMPLETE = 2,	/* every page placed; still watching */
};

/* The largest message either side sends or accepts, in bytes. */
#define GMEMFS_CTL_MSG_MAX		16384
/* The largest TEXT attribute, its NUL included: a piece fits a message. */
#define GMEMFS_CTL_TEXT_MAX		4096

#endif /* _UAPI_GMEMFS_CTL_H */
