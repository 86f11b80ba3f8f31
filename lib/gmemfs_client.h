/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * libgmemfs: the client side of gmemfsd's control socket, for VMMs and
 * tools.  The shortest way to a file's backing fd (needed for hugetlb and
 * guest_memfd files, which FUSE cannot map):
 *
 *	struct gmemfs_ctl_stat st;
 *	int fd = gmemfs_open_backing("/mnt/gmemfs/vm1.ram", &st);
 *	if (fd < 0)
 *		errx(1, "vm1.ram: %s", strerror(-fd));
 *	void *ram = mmap(NULL, st.info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
 *
 * Build with `pkg-config --cflags --libs gmemfs`.  Every call returns 0 (or
 * an fd) on success and a negative errno on failure; after a failure the
 * daemon's reason is in gmemfs_ctl_reason().  A connection serves one
 * thread at a time.  The wire format is uapi/gmemfs_ctl.h.
 */
#ifndef GMEMFS_CLIENT_H
#define GMEMFS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "gmemfs.h"
#include "gmemfs_ctl.h"

#ifdef __cplusplus
extern "C" {
#endif

struct gmemfs_ctl;

/* What the daemon tells about a file or directory. */
struct gmemfs_ctl_stat {
	__u64 id;			/* stable id (st_ino) */
	__u32 mode;			/* st_mode */
	__u32 uid, gid;
	char policy[32];		/* page-size policy, as the xattr shows it */
	/* Regular files: provider, size, populated, page_size, flags (as
	 * GMEMFS_IOC_INFO); all zero for directories. */
	struct gmemfs_info info;
};

#define GMEMFS_CTL_POOL_MAX_PROV 8

struct gmemfs_ctl_pool {
	__u64 budget, used, free;	/* bytes */
	unsigned nprov;
	struct {
		__u32 id;		/* enum gmemfs_provider */
		char name[32];
		__u64 page_size, used, limit;
	} prov[GMEMFS_CTL_POOL_MAX_PROV];
	/* The shim's carve-out for files of policy shim-secret (bytes; 0 and
	 * 0 without one or without the shim).  Its pages in use count in
	 * the shim provider's used. */
	__u64 secret_size, secret_free;
};

/* Connect to the control socket at socket_path: 0 and *out, or -errno. */
int gmemfs_ctl_connect(const char *socket_path, struct gmemfs_ctl **out);
/* Find the gmemfs mount that holds path (any file or directory on it),
 * read its socket's path from the mount root's user.gmemfs.ctl-socket
 * xattr and connect.  *rel (if rel) gets path relative to the mount root,
 * to free().  -ENOENT if path is not on a gmemfs mount. */
int gmemfs_ctl_connect_path(const char *path, struct gmemfs_ctl **out, char **rel);
void gmemfs_ctl_close(struct gmemfs_ctl *c);
/* The daemon's reason for the last refused request, or "". */
const char *gmemfs_ctl_reason(const struct gmemfs_ctl *c);

/* Paths below are relative to the mount root ("" is the root). */

/* The backing fd (O_RDWR, close-on-exec) of a file: fd or -errno. */
int gmemfs_ctl_open(struct gmemfs_ctl *c, const char *path, struct gmemfs_ctl_stat *st);
int gmemfs_ctl_info(struct gmemfs_ctl *c, const char *path, struct gmemfs_ctl_stat *st);
int gmemfs_ctl_policy_get(struct gmemfs_ctl *c, const char *path, char *buf, size_t len);
int gmemfs_ctl_policy_set(struct gmemfs_ctl *c, const char *path, const char *policy);
/* Attach a kvm-gmem file to the VM behind vm_fd (KVM_CREATE_VM's, in this
 * process; KVM serves a VM's ioctls only there): asks the file's size
 * (INFO), creates a guest_memfd of that size rounded up to 4 KiB on the VM
 * with GUEST_MEMFD_FLAG_MMAP | INIT_SHARED and hands it to the daemon
 * (gmemfs_ctl_attach_gmem), which moves the file's bytes into it and
 * serves the mount from it.  The guest_memfd fd (close-on-exec) for
 * KVM_SET_USER_MEMORY_REGION2, or -errno. */
int gmemfs_ctl_attach_vm(struct gmemfs_ctl *c, const char *path, int vm_fd,
			 struct gmemfs_ctl_stat *st);
/* The same with a guest_memfd the caller created itself (the file's size
 * rounded up to 4 KiB, flags MMAP|INIT_SHARED); gmem_fd stays the
 * caller's.  0 or -errno. */
int gmemfs_ctl_attach_gmem(struct gmemfs_ctl *c, const char *path, int gmem_fd,
			   struct gmemfs_ctl_stat *st);
int gmemfs_ctl_pool(struct gmemfs_ctl *c, struct gmemfs_ctl_pool *pool);
/* Call fn for each entry of directory dir; a non-zero return from fn
 * stops the listing (the rest of the answer is still read) and is
 * returned. */
int gmemfs_ctl_list(struct gmemfs_ctl *c, const char *dir,
		    int (*fn)(void *ctx, const char *name, const struct gmemfs_ctl_stat *st),
		    void *ctx);

/* The daemon's figures in the Prometheus text format (docs/metrics.md),
 * as MOUNT/.gmemfs/metrics shows them to the caller: 0 and *text (NUL-
 * terminated, to free()) with its length in *len (if len), or -errno. */
int gmemfs_ctl_metrics(struct gmemfs_ctl *c, char **text, size_t *len);

/* Snapshots (docs/snapshot.md). */

/* Open the chain of the snapshot SNAPFILE: SNAPFILE (O_RDONLY) and
 * SNAPFILE.idx (idx0_flags: O_RDONLY, or O_RDWR to store a working set),
 * then each parent the index names (a relative parent path is taken from
 * the child's directory), up to GMEMFS_SNAP_MAX_DEPTH layers.  fds gets
 * img0, idx0, img1, idx1, ... (close-on-exec); only the magic, version
 * and parent link are checked here.  The count of fds, or -errno with the
 * reason in why (whylen bytes). */
int gmemfs_snap_open_chain(const char *snapfile, int idx0_flags, int *fds, unsigned max,
			   char *why, size_t whylen);
/* Close n fds (those >= 0) and set them to -1. */
void gmemfs_close_fds(int *fds, unsigned n);

/* Lazy restore (docs/lazy-restore.md). */

/* One mapping of guest memory the VMM registered with its userfaultfd. */
struct gmemfs_region {
	__u64 addr;		/* host virtual address in the VMM */
	__u64 size;		/* bytes, whole pages */
	__u64 offset;		/* where the region's memory is in the snapshot */
	__u64 page_size;	/* the mapping's page size */
};

/* Hand uffd (a userfaultfd this process created, with the regions
 * registered: MISSING, and MINOR too with path) to the daemon, which serves
 * its faults from the snapshot SNAPFILE (and its parents) until this
 * process exits.  path: "" or NULL, or a shmem file on the mount (relative
 * to its root) the regions map shared, of the snapshot's size.  flags:
 * GMEMFS_CTL_F_RECORD_WS (store the faulted order in SNAPFILE.idx, which
 * is then opened O_RDWR), GMEMFS_CTL_F_NO_PREFETCH, GMEMFS_CTL_F_FORCE
 * (a secret snapshot through a uffd, else -EOPNOTSUPP).  uffd stays the
 * caller's.  Ask UFFDIO_API for UFFD_FEATURE_POISON if the kernel has it: a
 * corrupt snapshot page is then poisoned (SIGBUS where the VMM touches it)
 * instead of the VMM being killed.  0 and *session, or -errno. */
int gmemfs_ctl_restore_lazy(struct gmemfs_ctl *c, const char *snapfile, int uffd,
			    const struct gmemfs_region *r, unsigned n, const char *path,
			    uint32_t flags, uint64_t *session);
/*
 * Surviving the daemon's death (docs/lazy-restore.md "Daemon death and
 * resume").  Unless flags has GMEMFS_LAZY_NO_RESUME (the library's own
 * bit, never sent), gmemfs_ctl_restore_lazy keeps a copy of uffd and starts
 * a thread (every signal blocked) that holds an idle connection to the
 * daemon.  When that connection closes it reconnects to the same socket
 * every 50 ms for a grace period (GMEMFS_LAZY_GRACE_MS in the environment,
 * default 150000: longer than a stopping daemon's 2 minutes of placing
 * what is missing) and hands the uffd back with gmemfs_ctl_resume_lazy;
 * meanwhile the VMM's faults wait.  If no daemon takes it within the
 * grace period, or the daemon refuses (the snapshot changed or is gone),
 * the thread answers every later fault with UFFDIO_POISON (the access
 * gets SIGBUS) or, on a uffd without UFFD_FEATURE_POISON, sends the
 * process SIGBUS: memory the snapshot holds is never read as zeros.  It
 * ends when the daemon says the session is over (ENOENT after a clean
 * stop, which placed everything and unregistered the regions).
 * A VMM that closes its own copy of the uffd is still protected by this
 * one; with GMEMFS_LAZY_NO_RESUME and its own copy closed, the daemon's
 * death releases the uffd and the kernel fills the missing pages with
 * zeros.
 */
#define GMEMFS_LAZY_NO_RESUME	(1u << 31)
/* Hand uffd (a session's, made by this process) back to a restarted
 * daemon: RESUME_LAZY.  uffd stays the caller's.  0, or -errno: -ENOENT
 * (the session is over), -ESTALE (its snapshot changed or is gone),
 * -EPERM (not this process's session). */
int gmemfs_ctl_resume_lazy(struct gmemfs_ctl *c, uint64_t session, int uffd);

/* Make the daemon listen at socket for Firecracker VMMs (its page-fault
 * handler protocol) and restore each from SNAPFILE.  0 once it listens;
 * it listens until c is closed (gmemfs_ctl_close), and c serves nothing
 * else meanwhile. */
int gmemfs_ctl_uffd_listen(struct gmemfs_ctl *c, const char *snapfile, const char *socket,
			   uint32_t flags);

/* Recording a working set without faults (docs/lazy-restore.md): arm
 * path (relative to the mount's root), which this process maps shared
 * from offset at addr for size bytes, with a userfaultfd made here in RWP
 * mode (Linux 7.2+) and handed to the daemon.  0, or -errno:
 * -EOPNOTSUPP where the kernel lacks userfaultfd RWP or PAGE_IS_ACCESSED. */
int gmemfs_ctl_record_ws_arm(struct gmemfs_ctl *c, const char *path, void *addr,
			     uint64_t size, uint64_t offset);
/* Record the armed path's working set for duration_ms, a scan every
 * interval_ms; *pages the 4 KiB pages seen.  The file's next snapshot
 * stores their order as its working set. */
int gmemfs_ctl_record_ws(struct gmemfs_ctl *c, const char *path, uint32_t interval_ms,
			 uint32_t duration_ms, uint64_t *pages);

/* A lazy-restore session, as SESSIONS tells it. */
struct gmemfs_session {
	__u64 id;
	__u32 pid, uid;
	__u32 state;			/* enum gmemfs_sess_state */
	__u64 faults;			/* faults served */
	__u64 minor;			/* of which answered with UFFDIO_CONTINUE */
	__u64 bytes;			/* bytes placed in all */
	__u64 prefetched;		/* bytes the prefetcher placed */
	__u64 corrupt;			/* faults on bytes that failed their checksum */
	__u64 removed;			/* bytes the VMM discarded */
	__u64 ws;			/* working-set units recorded */
	__u64 lat_p50_ns, lat_p99_ns;	/* fault service time */
	__u64 unit;			/* bytes placed per fault */
};
/* Call fn for each session the caller may see (root: all; else its own
 * uid's); a non-zero return stops the calls and is returned. */
int gmemfs_ctl_sessions(struct gmemfs_ctl *c,
			int (*fn)(void *ctx, const struct gmemfs_session *s), void *ctx);
/* What a snapshot or restore did. */
struct gmemfs_snap_stats {
	uint64_t bytes;		/* written: to the image, or to the file */
	uint64_t pages;		/* pages written */
	uint64_t skipped;	/* pages not written: zero, or as in the parent */
	uint64_t extents;	/* snapshot: in the index; restore: data pieces */
	uint64_t ns;		/* the daemon's wall time for the work */
	uint64_t size;		/* bytes of memory */
};
/* Called about every 64 MiB walked: done of total bytes. */
typedef void (*gmemfs_progress_fn)(uint64_t done, uint64_t total, void *arg);

/* Snapshot file path (relative to the mount root) into SNAPFILE and
 * SNAPFILE.idx, which are created (or must exist empty: a snapshot never
 * overwrites one; -EEXIST).  With parent (a snapshot's image path), an
 * incremental snapshot: only pages that differ from the parent chain's
 * are written, and the index names the parent (by its name if it sits in
 * SNAPFILE's directory, else by its absolute path).  fn (if not NULL)
 * gets the progress.  Needs read permission on the file.  0 and *st, or
 * -errno with the reason in gmemfs_ctl_reason(); files this call created
 * are removed again on failure. */
int gmemfs_ctl_snapshot(struct gmemfs_ctl *c, const char *path, const char *snapfile,
			const char *parent, gmemfs_progress_fn fn, void *arg,
			struct gmemfs_snap_stats *st);
/* Restore SNAPFILE (and its parent chain) into file path, which must hold
 * no memory (-EBUSY) and be empty or of the snapshot's size (-EINVAL).
 * Every extent's checksum is verified before use; on any failure the file
 * holds no memory again (-EIO names the layer and extent that failed).
 * Needs write permission.  0 and *st, or -errno with the reason. */
int gmemfs_ctl_restore(struct gmemfs_ctl *c, const char *snapfile, const char *path,
		       gmemfs_progress_fn fn, void *arg, struct gmemfs_snap_stats *st);
/* The same with flags: GMEMFS_CTL_F_FORCE restores a secret snapshot
 * (GMEMFS_SNAP_F_SECRET) into a file that is not secret, which is
 * refused with -EPERM without it (docs/snapshot.md). */
int gmemfs_ctl_restore_flags(struct gmemfs_ctl *c, const char *snapfile, const char *path,
			     uint32_t flags, gmemfs_progress_fn fn, void *arg,
			     struct gmemfs_snap_stats *st);

/* All in one: connect through path's mount, open, close: fd or -errno. */
int gmemfs_open_backing(const char *path, struct gmemfs_ctl_stat *st);

#ifdef __cplusplus
}
#endif

#endif
