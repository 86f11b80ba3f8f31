/*
 * Recording a working set from a VM that was booted normally, without
 * faults delivered to anyone (docs/lazy-restore.md, "Recording a running
 * guest"): the VMM hands over a userfaultfd registered in RWP mode with
 * RWP_ASYNC over the mapping of a file (gm_record_arm); a recording
 * (gm_record_run) then read-write-protects the mapping every interval and
 * asks /proc/PID/pagemap which pages were touched since (PAGE_IS_ACCESSED),
 * keeping the order in which they were first seen.  The next snapshot of
 * the file stores that order as its working set (gm_record_store).
 *
 * Not for: the lazy restore's own recording of the faults it serves
 * (serve.c), or the snapshot format (snap/format.c).
 */
#ifndef GM_UFFD_RECORD_H
#define GM_UFFD_RECORD_H

#include <stdint.h>
#include <sys/types.h>

#include "snap/format.h"

struct gm_fs;

/* The mapping the VMM registered: size bytes at addr in its address space
 * map the file from offset on. */
struct gm_record_region {
	uint64_t addr, size, offset;
};

/* Keep uffd (taken over: closed here on failure too) and the pagemap of
 * pid for file ino of fs, replacing an earlier arm and its recording.
 * -EOPNOTSUPP (logged, naming the feature) where the kernel lacks
 * UFFDIO_RWPROTECT or PAGE_IS_ACCESSED. */
int gm_record_arm(struct gm_fs *fs, uint64_t ino, uid_t uid, pid_t pid, int uffd,
		  const struct gm_record_region *reg, char *why, size_t whylen);

/* Record file ino for duration_ms, a round every interval_ms: *units the
 * pages seen so far.  -ENOENT if nobody armed it; -EACCES if uid is
 * neither root nor the arming VMM's; -ECANCELED, early, once conn_fd (the
 * requester's connection, or -1) hangs up. */
int gm_record_run(struct gm_fs *fs, uint64_t ino, uid_t uid, int conn_fd, uint32_t interval_ms,
		  uint32_t duration_ms, uint64_t *units, char *why, size_t whylen);

/* If file ino has a recording, store it as the working set of the
 * snapshot just written in fds (the image and index of each layer).
 * *n the entries stored (0 without a recording).  0 or -errno with why. */
int gm_record_store(struct gm_fs *fs, uint64_t ino, const int *fds, unsigned nfds, size_t *n,
		    char why[GM_SNAP_WHY_MAX]);

/* Forget every arm of fs (its uffds closed): at unmount. */
void gm_record_forget_fs(struct gm_fs *fs);

#endif
