/*
 * libgmemfs: snapshots from the client's side (see gmemfs_client.h).
 * Opening a snapshot chain by path, with the caller's own permissions, for
 * the daemon (which is handed the fds, never the paths) or for a local
 * reader; creating a snapshot's files and removing them again when the
 * daemon refuses; the SNAPSHOT and RESTORE requests with their progress
 * messages.
 *
 * Not for: checking a snapshot (the daemon's snap/format.c does that in
 * full; here only magic, version and the parent link are read, to find the
 * next layer).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"
#include "gmemfs_snap.h"

static int chain_fail(char *why, size_t whylen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int chain_fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return err;
}

API void gmemfs_close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* The index header of one layer, enough of it checked to follow the chain. */
static int chain_header(int idx_fd, const char *idx, struct gmemfs_snap_header *h,
			char *why, size_t whylen)
{
	ssize_t n = pread(idx_fd, h, sizeof(*h), 0);

	if (n < 0)
		return chain_fail(why, whylen, -errno, "%s: %s", idx, strerror(errno));
	if ((size_t)n < sizeof(*h))
		return chain_fail(why, whylen, -EINVAL, "%s: truncated index (%zd bytes)", idx, n);
	if (memcmp(h->magic, GMEMFS_SNAP_MAGIC, sizeof(h->magic)))
		return chain_fail(why, whylen, -EINVAL, "%s: not a gmemfs snapshot index", idx);
	if (le32toh(h->version) < GMEMFS_SNAP_VERSION_MIN ||
	    le32toh(h->version) > GMEMFS_SNAP_VERSION)
		return chain_fail(why, whylen, -EINVAL, "%s: index version %u, expected %u to %u",
				  idx, le32toh(h->version), GMEMFS_SNAP_VERSION_MIN,
				  GMEMFS_SNAP_VERSION);
	if (!memchr(h->parent, 0, sizeof(h->parent)))
		return chain_fail(why, whylen, -EINVAL, "%s: parent path not terminated", idx);
	return 0;
}

/* The parent's path as the child names it: relative to the child's
 * directory unless absolute.  0 or -ENAMETOOLONG. */
static int chain_parent_path(const char *child, const char *parent, char *out, size_t len)
{
	const char *slash = strrchr(child, '/');
	int n;

	if (parent[0] == '/' || !slash)
		n = snprintf(out, len, "%s", parent);
	else
		n = snprintf(out, len, "%.*s/%s", (int)(slash - child), child, parent);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Open one layer: image O_RDONLY, index with idx_flags, into fds[0..1]. */
static int chain_open_layer(const char *img, int idx_flags, int *fds, char *why, size_t whylen)
{
	char idx[PATH_MAX];

	if (snprintf(idx, sizeof(idx), "%s%s", img, GMEMFS_SNAP_IDX_SUFFIX) >= (int)sizeof(idx))
		return chain_fail(why, whylen, -ENAMETOOLONG, "%s: path too long", img);
	fds[0] = open(img, O_RDONLY | O_CLOEXEC);
	if (fds[0] < 0)
		return chain_fail(why, whylen, -errno, "%s: %s", img, strerror(errno));
	fds[1] = open(idx, idx_flags | O_CLOEXEC);
	if (fds[1] < 0)
		return chain_fail(why, whylen, -errno, "%s: %s", idx, strerror(errno));
	return 0;
}

API int gmemfs_snap_open_chain(const char *snapfile, int idx0_flags, int *fds, unsigned max,
			       char *why, size_t whylen)
{
	char path[PATH_MAX], next[PATH_MAX];
	struct gmemfs_snap_header h;
	unsigned n = 0;
	int err;

	if (snprintf(path, sizeof(path), "%s", snapfile) >= (int)sizeof(path))
		return chain_fail(why, whylen, -ENAMETOOLONG, "%s: path too long", snapfile);
	for (unsigned i = 0; i < max; i++)
		fds[i] = -1;
	for (unsigned layer = 0;; layer++) {
		err = -EINVAL;
		if (layer == GMEMFS_SNAP_MAX_DEPTH) {
			chain_fail(why, whylen, err, "%s: chain deeper than %u layers",
				   snapfile, GMEMFS_SNAP_MAX_DEPTH);
			goto err_close;
		}
		err = -E2BIG;
		if (n + 2 > max) {
			chain_fail(why, whylen, err, "%s: room for %u fds, the chain needs more",
				   snapfile, max);
			goto err_close;
		}
		err = chain_open_layer(path, layer ? O_RDONLY : idx0_flags, fds + n, why, whylen);
		n += 2;
		if (err && layer && why && whylen) {
			char tmp[512];

			snprintf(tmp, sizeof(tmp), "%s", why);
			chain_fail(why, whylen, err, "missing parent of layer %u: %s", layer - 1, tmp);
		}
		if (!err)
			err = chain_header(fds[n - 1], path, &h, why, whylen);
		if (err)
			goto err_close;
		if (!(le32toh(h.flags) & GMEMFS_SNAP_F_PARENT))
			return n;
		err = -EINVAL;
		if (!h.parent[0]) {
			chain_fail(why, whylen, err, "%s: incremental, but names no parent", path);
			goto err_close;
		}
		err = chain_parent_path(path, h.parent, next, sizeof(next));
		if (err) {
			chain_fail(why, whylen, err, "%s: parent path too long", path);
			goto err_close;
		}
		memcpy(path, next, sizeof(path));
	}
err_close:
	gmemfs_close_fds(fds, n);
	return err;
}

/* ---- SNAPSHOT and RESTORE ---- */

/* The reply's figures; progress messages before it go to fn.  Progress is
 * always asked for, so that a long request keeps the socket busy well
 * within the library's receive timeout. */
static int snap_wait(struct gmemfs_ctl *c, gmemfs_progress_fn fn, void *arg,
		     struct gmemfs_snap_stats *st)
{
	struct gm_chan_msg m;
	int err, fd;

	for (;;) {
		err = ctl_recv(c, &m, &fd);
		if (fd >= 0)
			close(fd);
		if (err)
			return err;
		if (!m.multi)
			break;
		if (m.done) {
			snprintf(c->reason, sizeof(c->reason), "the reply ended without figures");
			return -EBADMSG;
		}
		if (fn)
			fn(ctl_u64(m.tb[GMEMFS_CTL_A_PROGRESS_DONE]),
			   ctl_u64(m.tb[GMEMFS_CTL_A_PROGRESS_TOTAL]), arg);
	}
	if (st) {
		st->bytes = ctl_u64(m.tb[GMEMFS_CTL_A_SNAP_BYTES]);
		st->pages = ctl_u64(m.tb[GMEMFS_CTL_A_SNAP_PAGES]);
		st->skipped = ctl_u64(m.tb[GMEMFS_CTL_A_SNAP_SKIPPED]);
		st->extents = ctl_u64(m.tb[GMEMFS_CTL_A_SNAP_EXTENTS]);
		st->ns = ctl_u64(m.tb[GMEMFS_CTL_A_SNAP_NS]);
		st->size = ctl_u64(m.tb[GMEMFS_CTL_A_SIZE]);
	}
	return 0;
}

/* Send msg (freed) with nfds fds and flags (progress added) and wait for
 * the figures. */
static int snap_call(struct gmemfs_ctl *c, struct nl_msg *msg, const int *fds, unsigned nfds,
		     uint32_t flags, gmemfs_progress_fn fn, void *arg,
		     struct gmemfs_snap_stats *st)
{
	int err;

	if (!msg)
		return c->reason[0] ? -ENAMETOOLONG : -ENOMEM;
	flags |= GMEMFS_CTL_F_PROGRESS;
	err = nla_put_u32(msg, GMEMFS_CTL_A_FLAGS, flags) < 0 ? -EMSGSIZE : 0;
	if (!err)
		err = gm_chan_send(c->fd, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, fds, nfds);
	nlmsg_free(msg);
	return err ? err : snap_wait(c, fn, arg, st);
}

/* A snapshot's output file: created, or an empty one that exists already.
 * fd or -errno; *created tells whether to remove it after a failure. */
static int snap_out_open(struct gmemfs_ctl *c, const char *path, bool *created)
{
	struct stat st;
	int fd;

	*created = true;
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd >= 0 || errno != EEXIST)
		goto out;
	*created = false;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd >= 0 && !fstat(fd, &st) && (!S_ISREG(st.st_mode) || st.st_size)) {
		close(fd);
		snprintf(c->reason, sizeof(c->reason), "%s exists and is not an empty file: "
			 "a snapshot never overwrites one", path);
		return -EEXIST;
	}
out:
	if (fd < 0) {
		fd = -errno;
		snprintf(c->reason, sizeof(c->reason), "%s: %s", path, strerror(errno));
	}
	return fd;
}

/* The parent as the child's index records it: a reader takes a relative
 * path from the child's directory, so a parent in the same directory is
 * recorded by its name (the pair can move together), any other by its
 * absolute path. */
static int snap_parent_name(struct gmemfs_ctl *c, const char *snapfile, const char *parent,
			    char out[GMEMFS_SNAP_PARENT_MAX])
{
	char child_abs[PATH_MAX], parent_abs[PATH_MAX];
	const char *cs, *ps;
	int n;

	if (!realpath(snapfile, child_abs) || !realpath(parent, parent_abs)) {
		int err = -errno;

		snprintf(c->reason, sizeof(c->reason), "resolving %.100s: %s", parent, strerror(-err));
		return err;
	}
	cs = strrchr(child_abs, '/');
	ps = strrchr(parent_abs, '/');
	if (cs - child_abs == ps - parent_abs && !strncmp(child_abs, parent_abs, cs - child_abs))
		n = snprintf(out, GMEMFS_SNAP_PARENT_MAX, "%s", ps + 1);
	else
		n = snprintf(out, GMEMFS_SNAP_PARENT_MAX, "%s", parent_abs);
	if (n >= GMEMFS_SNAP_PARENT_MAX) {
		snprintf(c->reason, sizeof(c->reason), "the parent's absolute path is longer than %u bytes",
			 GMEMFS_SNAP_PARENT_MAX - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

API int gmemfs_ctl_snapshot(struct gmemfs_ctl *c, const char *path, const char *snapfile,
			    const char *parent, gmemfs_progress_fn fn, void *arg,
			    struct gmemfs_snap_stats *st)
{
	char idx[PATH_MAX], pname[GMEMFS_SNAP_PARENT_MAX];
	int fds[GM_CHAN_CHAIN_FDS], n = 0, err;
	bool img_created = false, idx_created = false;
	struct nl_msg *msg;

	c->reason[0] = '\0';
	if (snprintf(idx, sizeof(idx), "%s%s", snapfile, GMEMFS_SNAP_IDX_SUFFIX) >= (int)sizeof(idx))
		return -ENAMETOOLONG;
	fds[0] = snap_out_open(c, snapfile, &img_created);
	if (fds[0] < 0)
		return fds[0];
	fds[1] = snap_out_open(c, idx, &idx_created);
	err = fds[1] < 0 ? fds[1] : 0;
	if (err)
		goto err_remove;
	if (parent) {
		err = snap_parent_name(c, snapfile, parent, pname);
		if (err)
			goto err_remove;
		n = gmemfs_snap_open_chain(parent, O_RDONLY, fds + 2, GM_CHAN_CHAIN_FDS - 2,
					   c->reason, sizeof(c->reason));
		err = n < 0 ? n : 0;
		if (err)
			goto err_remove;
	}
	msg = ctl_new(c, GMEMFS_CTL_CMD_SNAPSHOT, path, NULL);
	if (msg && parent && nla_put_string(msg, GMEMFS_CTL_A_SNAP_PARENT, pname) < 0) {
		nlmsg_free(msg);
		msg = NULL;
	}
	err = snap_call(c, msg, fds, 2 + n, 0, fn, arg, st);
	gmemfs_close_fds(fds + 2, n);
	if (err)
		goto err_remove;
	close(fds[0]);
	close(fds[1]);
	return 0;
err_remove:
	/* Nothing of a refused snapshot stays behind. */
	if (fds[1] >= 0) {
		close(fds[1]);
		if (idx_created)
			unlink(idx);
	}
	close(fds[0]);
	if (img_created)
		unlink(snapfile);
	return err;
}

API int gmemfs_ctl_restore(struct gmemfs_ctl *c, const char *snapfile, const char *path,
			   gmemfs_progress_fn fn, void *arg, struct gmemfs_snap_stats *st)
{
	return gmemfs_ctl_restore_flags(c, snapfile, path, 0, fn, arg, st);
}

API int gmemfs_ctl_restore_flags(struct gmemfs_ctl *c, const char *snapfile, const char *path,
				 uint32_t flags, gmemfs_progress_fn fn, void *arg,
				 struct gmemfs_snap_stats *st)
{
	int fds[GM_CHAN_CHAIN_FDS], n, err;

	c->reason[0] = '\0';
	if (flags & ~GMEMFS_CTL_F_FORCE) {
		snprintf(c->reason, sizeof(c->reason), "unknown restore flags %#x",
			 flags & ~GMEMFS_CTL_F_FORCE);
		return -EINVAL;
	}
	n = gmemfs_snap_open_chain(snapfile, O_RDONLY, fds, GM_CHAN_CHAIN_FDS, c->reason,
				   sizeof(c->reason));
	if (n < 0)
		return n;
	err = snap_call(c, ctl_new(c, GMEMFS_CTL_CMD_RESTORE, path, NULL), fds, n, flags, fn, arg, st);
	gmemfs_close_fds(fds, n);
	return err;
}
