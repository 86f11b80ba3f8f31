/*
 * Control commands SNAPSHOT and RESTORE: the requester's permissions, the
 * fds of the image, the index and the parent chain (opened by the client
 * with its own rights), progress messages, and the figures in the reply.
 *
 * The file is held by an inode reference for the whole request, so an
 * unlink meanwhile frees nothing under us; the snapshot reads through an
 * fd of its own (snap/source.c) and the restore writes through the backing
 * calls, which take the inode lock for each write, so a concurrent
 * truncate makes a snapshot fail with EBUSY or a restore with its error,
 * never a crash.
 *
 * Not for: the snapshot format (snap/format.c) or the work itself
 * (snap/write.c, snap/restore.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ctl/cmd.h"
#include "core/log.h"
#include "ctl/snap_figures.h"
#include "snap/restore.h"
#include "snap/write.h"
#include "uffd/record.h"

struct snap_progress {
	struct gm_ctl_req *r;
	int err;			/* the first send that failed */
};

/* An NLM_F_MULTI message before the reply; a client that went away makes
 * the sends fail, which does not stop the work (its result is logged). */
static void snap_progress_send(uint64_t done, uint64_t total, void *arg)
{
	struct snap_progress *p = arg;
	struct nl_msg *msg;

	if (p->err)
		return;
	msg = gm_chan_new(p->r->m.cmd, p->r->m.seq, NLM_F_MULTI);
	if (!msg || nla_put_u64(msg, GMEMFS_CTL_A_PROGRESS_DONE, done) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_A_PROGRESS_TOTAL, total) < 0)
		p->err = -ENOMEM;
	else
		p->err = p->r->send(p->r->conn, msg, -1);
	nlmsg_free(msg);
}

/* FLAGS may ask for progress, and a restore may force a secret snapshot
 * into memory that is not secret. */
static uint32_t snap_flags_of(struct gm_ctl_req *r)
{
	struct nlattr *a = r->m.tb[GMEMFS_CTL_A_FLAGS];

	return a ? nla_get_u32(a) : 0;
}

static int snap_flags(struct gm_ctl_req *r, enum gm_snapfig_op op, bool *progress)
{
	uint32_t flags = snap_flags_of(r), known = GMEMFS_CTL_F_PROGRESS;

	if (op == GM_SNAPFIG_RESTORE)
		known |= GMEMFS_CTL_F_FORCE;
	if (flags & ~known)
		return gm_ctl_fail(r, -EINVAL, "unknown flags 0x%x", flags & ~known);
	*progress = flags & GMEMFS_CTL_F_PROGRESS;
	return 0;
}

/* PATH as a guest-memory file the requester may act on with mask. */
static int snap_file(struct gm_ctl_req *r, int mask, struct gm_inode **out)
{
	struct gm_inode *inode;
	int err;

	if (r->nfds_in % 2)
		return gm_ctl_fail(r, -EBADF, "%u fds: a snapshot is an image and an index per layer",
				   r->nfds_in);
	err = gm_ctl_resolve_may(r, mask, &inode);
	if (err)
		return err;
	if (inode->type != S_IFREG || inode->is_virtual) {
		gm_fs_put(r->fs, inode);
		return gm_ctl_fail(r, inode->type == S_IFREG ? -EINVAL : -EISDIR,
				   "not a guest-memory file");
	}
	err = gm_ctl_require_shim_owner(r, inode);
	if (err) {
		gm_fs_put(r->fs, inode);
		return err;
	}
	*out = inode;
	return 0;
}

static int snap_reply(struct gm_ctl_req *r, const struct gm_snap_stats *st)
{
	struct nl_msg *m = r->reply;

	if (nla_put_u64(m, GMEMFS_CTL_A_SNAP_BYTES, st->bytes) < 0 ||
	    nla_put_u64(m, GMEMFS_CTL_A_SNAP_PAGES, st->pages) < 0 ||
	    nla_put_u64(m, GMEMFS_CTL_A_SNAP_SKIPPED, st->skipped) < 0 ||
	    nla_put_u64(m, GMEMFS_CTL_A_SNAP_EXTENTS, st->extents) < 0 ||
	    nla_put_u64(m, GMEMFS_CTL_A_SNAP_NS, st->ns) < 0 ||
	    nla_put_u64(m, GMEMFS_CTL_A_SIZE, st->size) < 0)
		return gm_ctl_fail(r, -EMSGSIZE, "the reply does not fit");
	return 0;
}

static void snap_log_done(struct gm_ctl_req *r, const char *what, const struct gm_snap_stats *st)
{
	gm_info("ctl: pid %d: %s '%s': %" PRIu64 " bytes in %" PRIu64 " pages, %" PRIu64
		" pages skipped, %" PRIu64 " extents, %" PRIu64 " ms", (int)r->cred->pid, what,
		r->path, st->bytes, st->pages, st->skipped, st->extents, st->ns / 1000000);
}

/* What a command does once the file is resolved: 0 with the figures, or
 * -errno with why. */
typedef int (*snap_work_fn)(struct gm_ctl_req *r, struct gm_inode *inode,
			    gm_snap_progress_fn progress, void *arg,
			    struct gm_snap_stats *st, char *why);

/* Flags, the file with permission mask, the work, the reply or the
 * refusal, the log line: the same for both commands. */
static int snap_serve(struct gm_ctl_req *r, int mask, enum gm_snapfig_op op,
		      snap_work_fn work)
{
	const char *what = gm_snapfig_names[op];
	struct snap_progress p = { .r = r };
	char why[GM_SNAP_WHY_MAX];
	struct gm_snap_stats st;
	struct gm_inode *inode = NULL;
	bool progress = false;
	int err;

	err = snap_flags(r, op, &progress);
	if (!err)
		err = snap_file(r, mask, &inode);
	if (err)
		return err;
	err = work(r, inode, progress ? snap_progress_send : NULL, &p, &st, why);
	gm_snapfig_note(&r->fs->snapfig[op], err, &st);
	if (err)
		err = gm_ctl_fail(r, err, "file %llu: %s", (unsigned long long)inode->ino, why);
	else
		err = snap_reply(r, &st);
	if (!err)
		snap_log_done(r, what, &st);
	gm_fs_put(r->fs, inode);
	return err;
}

/* fds: the image, the index, then the parent's chain. */
static int snap_work_snapshot(struct gm_ctl_req *r, struct gm_inode *inode,
			      gm_snap_progress_fn progress, void *arg,
			      struct gm_snap_stats *st, char *why)
{
	struct nlattr *parent = r->m.tb[GMEMFS_CTL_A_SNAP_PARENT];
	struct gm_snap_write_req req = {
		.fs = r->fs, .inode = inode, .img_fd = r->fds_in[0], .idx_fd = r->fds_in[1],
		.parent_fds = r->fds_in + 2, .nparent_fds = r->nfds_in - 2,
		.parent_path = parent ? nla_get_string(parent) : NULL,
		.progress = progress, .arg = arg,
	};
	size_t nws;
	int err;

	err = gm_snap_write(&req, st, why);
	/* a working set recorded from the running guest goes with it */
	if (!err)
		err = gm_record_store(r->fs, inode->ino, r->fds_in, r->nfds_in, &nws, why);
	if (!err && nws)
		gm_info("ctl: pid %d: snapshot '%s': stored the recorded working set, %zu chunks",
			(int)r->cred->pid, r->path, nws);
	return err;
}

static int snap_work_restore(struct gm_ctl_req *r, struct gm_inode *inode,
			     gm_snap_progress_fn progress, void *arg,
			     struct gm_snap_stats *st, char *why)
{
	struct gm_snap_restore_req req = {
		.fs = r->fs, .inode = inode, .fds = r->fds_in, .nfds = r->nfds_in,
		.progress = progress, .arg = arg,
		.force = snap_flags_of(r) & GMEMFS_CTL_F_FORCE,
	};

	return gm_snap_restore(&req, st, why);
}

int gm_ctl_cmd_snapshot(struct gm_ctl_req *r)
{
	return snap_serve(r, R_OK, GM_SNAPFIG_SNAPSHOT, snap_work_snapshot);
}

int gm_ctl_cmd_restore(struct gm_ctl_req *r)
{
	return snap_serve(r, W_OK, GM_SNAPFIG_RESTORE, snap_work_restore);
}
