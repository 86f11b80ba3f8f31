/*
 * Control-socket commands: one request in, its reply (or, for a dump, its
 * replies) out.  cmd.c validates the request and dispatches through the
 * table of ops; each command's handler lives in cmd_<area>.c; the path
 * walk and the permission checks every handler uses are in cmd_path.c.
 *
 * A handler returns 0 with its answer in req->reply (and an fd to hand
 * over in req->fd_out), or a negative errno after gm_ctl_fail() wrote the
 * reason, which goes both to the log and into the error reply.
 *
 * Not for: the socket, threads, SCM_RIGHTS or credentials (sock.c);
 * the message format (common/chan.c).
 */
#ifndef GM_CTLCMD_H
#define GM_CTLCMD_H

#include <sys/types.h>

#include "common/chan.h"
#include "fs.h"
#include "meta/access.h"

/* Sends one message (and fd, or -1) on the requester's connection. */
typedef int (*gm_ctl_send_fn)(void *conn, struct nl_msg *msg, int fd);

struct gm_ctl_req {
	struct gm_fs *fs;
	const struct gm_cred *cred;
	struct gm_chan_msg m;			/* the parsed request */
	const struct gm_chan_cmd_spec *spec;
	const char *path;			/* PATH, or "" (the root) */
	int fd_in;				/* the first fd a command takes, or -1 */
	int fds_in[GM_CHAN_MAX_FDS];		/* all of them (fds_in[0] == fd_in); a
						 * handler that keeps one sets it -1 */
	unsigned nfds_in;
	struct nl_msg *reply;			/* handler's answer */
	int fd_out;				/* handed over with reply, then closed */
	gm_ctl_send_fn send;			/* for dumps */
	void *conn;
	char why[GM_CHAN_WHY_MAX];
};

/* Serve one received message: len bytes in buf, nfds fds received with it
 * (always closed here).  Sends the reply.  0, or -errno if sending failed
 * (the connection is then of no more use). */
int gm_ctl_request(struct gm_fs *fs, const struct gm_cred *cred, void *buf, size_t len,
		   int *fds, unsigned nfds, gm_ctl_send_fn send, void *conn);

/* Record why a request failed (for the reply and the log); returns err. */
int gm_ctl_fail(struct gm_ctl_req *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* cmd_path.c */
/* The inode r->path names, with a reference (gm_fs_put() it), checking
 * search permission on every directory on the way. */
int gm_ctl_resolve(struct gm_ctl_req *r, struct gm_inode **out);
/* gm_ctl_resolve, then gm_ctl_require(mask) on what it found. */
int gm_ctl_resolve_may(struct gm_ctl_req *r, int mask, struct gm_inode **out);
/* gm_may (meta/access.h), or fail with EACCES naming the file and the permission. */
int gm_ctl_require(struct gm_ctl_req *r, struct gm_inode *inode, int mask);
/* A shim file's memory is its owner's (or root's) to snapshot or restore:
 * 0, or fail with EPERM naming both uids.  Other files: 0. */
int gm_ctl_require_shim_owner(struct gm_ctl_req *r, struct gm_inode *inode);

/* cmd_file.c */
/* An inode's attributes (mode, owner, id, policy; for files, what
 * GMEMFS_IOC_INFO tells) into msg.  0 or -errno. */
int gm_ctl_put_attrs(struct gm_fs *fs, struct nl_msg *msg, struct gm_inode *inode);
int gm_ctl_cmd_open(struct gm_ctl_req *r);
int gm_ctl_cmd_info(struct gm_ctl_req *r);
int gm_ctl_cmd_attach_vm(struct gm_ctl_req *r);
/* cmd_policy.c */
int gm_ctl_cmd_policy_get(struct gm_ctl_req *r);
int gm_ctl_cmd_policy_set(struct gm_ctl_req *r);
/* cmd_list.c */
int gm_ctl_cmd_list(struct gm_ctl_req *r);
/* cmd_pool.c */
int gm_ctl_cmd_pool(struct gm_ctl_req *r);
/* cmd_lazy.c */
int gm_ctl_cmd_restore_lazy(struct gm_ctl_req *r);
int gm_ctl_cmd_sessions(struct gm_ctl_req *r);
/* cmd_record.c */
int gm_ctl_cmd_record_ws(struct gm_ctl_req *r);
int gm_ctl_cmd_resume_lazy(struct gm_ctl_req *r);
/* cmd_metrics.c */
int gm_ctl_cmd_metrics(struct gm_ctl_req *r);
/* fc.c */
int gm_ctl_cmd_uffd_listen(struct gm_ctl_req *r);
/* cmd_snap.c */
int gm_ctl_cmd_snapshot(struct gm_ctl_req *r);
int gm_ctl_cmd_restore(struct gm_ctl_req *r);

#endif
