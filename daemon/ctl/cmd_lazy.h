/*
 * What both lazy-restore handshakes share (cmd_lazy.c: gmemfs's own over
 * the control socket; fc.c: Firecracker's): checking the uffd and the
 * flags, the VMM's pidfd, and starting the session.
 *
 * Not for: the sessions themselves (uffd/session.h).
 */
#ifndef GM_CTLCMD_LAZY_H
#define GM_CTLCMD_LAZY_H

#include <stddef.h>
#include <sys/types.h>

#include "ctl/cmd.h"
#include "uffd/session.h"

/* fd is a userfaultfd (/proc/self/fd/N reads anon_inode:[userfaultfd]):
 * 0, or -EBADF with why. */
int gm_lazy_check_uffd(int fd, char *why, size_t len);
/* A pidfd of the peer of unix socket sock (SO_PEERPIDFD; before 6.5,
 * pidfd_open of pid, its SO_PEERCRED pid): fd or -errno. */
int gm_lazy_peer_pidfd(int sock, pid_t pid);
/* FLAGS of the request: only GMEMFS_CTL_F_RECORD_WS, F_NO_PREFETCH. */
int gm_lazy_check_flags(struct gm_ctl_req *r, uint32_t *flags);
/* gm_uffd_sess_new + gm_uffd_sess_start; a's fds are the session's (or
 * closed) afterwards.  0 and *id, or -errno after gm_ctl_fail with the
 * reason after what. */
int gm_lazy_start(struct gm_ctl_req *r, const char *what, struct gm_uffd_sess_args *a,
		  uint64_t *id);

#endif
