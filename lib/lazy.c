/*
 * libgmemfs: lazy restore from the client's side (see gmemfs_client.h):
 * RESTORE_LAZY with the VMM's uffd and regions, UFFD_LISTEN for
 * Firecracker VMMs, and the SESSIONS dump.  The snapshot chain is opened
 * here, with the caller's permissions (lib/snap.c), and handed over as fds.
 *
 * Not for: the wire codec (common/chan.c), connections (client.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client_int.h"

/* Send msg (freed) with nfds fds; the first reply in m (an fd it carried
 * is closed).  0, or -errno with the daemon's reason kept. */
static int lazy_call(struct gmemfs_ctl *c, struct nl_msg *msg, const int *fds, unsigned nfds,
		     struct gm_chan_msg *m)
{
	int err, fd;

	if (!msg)
		return c->reason[0] ? -ENAMETOOLONG : -ENOMEM;
	err = gm_chan_send(c->fd, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, fds, nfds);
	nlmsg_free(msg);
	if (!err)
		err = ctl_recv(c, m, &fd);
	if (!err && fd >= 0)
		close(fd);
	return err;
}

/* The next reply of a dump. */
static int lazy_next(struct gmemfs_ctl *c, struct gm_chan_msg *m)
{
	int err, fd;

	err = ctl_recv(c, m, &fd);
	if (fd >= 0)
		close(fd);
	return err;
}

/* The chain of snapfile, after `first` (the uffd, or -1): fds and count. */
static int lazy_chain(struct gmemfs_ctl *c, const char *snapfile, uint32_t flags, int first,
		      int *fds, unsigned *nfds)
{
	size_t len = sizeof(c->reason);
	char *why = c->reason;
	unsigned skip = first >= 0;
	int n;

	why[0] = '\0';
	n = gmemfs_snap_open_chain(snapfile, flags & GMEMFS_CTL_F_RECORD_WS ? O_RDWR : O_RDONLY,
				   fds + skip, GM_CHAN_CHAIN_FDS, why, len);
	if (n < 0)
		return n;
	if (skip)
		fds[0] = first;
	*nfds = n + skip;
	return 0;
}

static int lazy_put_region(struct nl_msg *msg, const struct gmemfs_region *r)
{
	struct nlattr *nest = nla_nest_start(msg, GMEMFS_CTL_A_REGION);

	if (!nest || nla_put_u64(msg, GMEMFS_CTL_REGION_A_ADDR, r->addr) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_REGION_A_SIZE, r->size) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_REGION_A_OFFSET, r->offset) < 0 ||
	    nla_put_u64(msg, GMEMFS_CTL_REGION_A_PAGE_SIZE, r->page_size) < 0)
		return -EMSGSIZE;
	nla_nest_end(msg, nest);
	return 0;
}

API int gmemfs_ctl_resume_lazy(struct gmemfs_ctl *c, uint64_t session, int uffd)
{
	struct nl_msg *msg = ctl_new(c, GMEMFS_CTL_CMD_RESUME_LAZY, NULL, NULL);
	struct gm_chan_msg m;

	if (msg && nla_put_u64(msg, GMEMFS_CTL_A_SESSION, session) < 0) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return lazy_call(c, msg, &uffd, 1, &m);
}

API int gmemfs_ctl_restore_lazy(struct gmemfs_ctl *c, const char *snapfile, int uffd,
				const struct gmemfs_region *r, unsigned n, const char *path,
				uint32_t flags, uint64_t *session)
{
	bool guard = !(flags & GMEMFS_LAZY_NO_RESUME);

	int fds[1 + GM_CHAN_CHAIN_FDS];
	struct gm_chan_msg m;
	struct nl_msg *msg;
	unsigned nfds;
	int err;

	flags &= ~GMEMFS_LAZY_NO_RESUME;
	err = lazy_chain(c, snapfile, flags, uffd, fds, &nfds);
	if (err)
		return err;
	msg = ctl_new(c, GMEMFS_CTL_CMD_RESTORE_LAZY, path && *path ? path : NULL, NULL);
	for (unsigned i = 0; msg && i < n; i++) {
		if (lazy_put_region(msg, &r[i])) {
			nlmsg_free(msg);
			msg = NULL;
		}
	}
	if (msg && flags && nla_put_u32(msg, GMEMFS_CTL_A_FLAGS, flags) < 0) {
		nlmsg_free(msg);
		msg = NULL;
	}
	err = lazy_call(c, msg, fds, nfds, &m);
	gmemfs_close_fds(fds + 1, nfds - 1);
	if (err)
		return err;
	if (!m.tb[GMEMFS_CTL_A_SESSION])
		return -EBADMSG;
	*session = nla_get_u64(m.tb[GMEMFS_CTL_A_SESSION]);
	/* Ask mode has no uffd: the daemon alone serves the file. */
	if (guard && uffd >= 0)
		lazy_guard_start(c, *session, uffd, r, n);
	return 0;
}

API int gmemfs_ctl_uffd_listen(struct gmemfs_ctl *c, const char *snapfile, const char *socket,
			       uint32_t flags)
{
	int fds[GM_CHAN_CHAIN_FDS];
	struct gm_chan_msg m;
	struct nl_msg *msg;
	unsigned nfds;
	int err;

	err = lazy_chain(c, snapfile, flags, -1, fds, &nfds);
	if (err)
		return err;
	msg = ctl_new(c, GMEMFS_CTL_CMD_UFFD_LISTEN, NULL, NULL);
	if (msg && (nla_put_string(msg, GMEMFS_CTL_A_SOCKET, socket) < 0 ||
		    (flags && nla_put_u32(msg, GMEMFS_CTL_A_FLAGS, flags) < 0))) {
		nlmsg_free(msg);
		msg = NULL;
	}
	err = lazy_call(c, msg, fds, nfds, &m);
	gmemfs_close_fds(fds, nfds);
	if (!err && !m.multi)
		err = -EBADMSG;		/* the final reply before listening */
	return err;
}

static uint64_t lazy_u64(struct nlattr **tb, int a)
{
	return ctl_u64(tb[a]);
}

static uint32_t lazy_u32(struct nlattr **tb, int a)
{
	return tb[a] ? nla_get_u32(tb[a]) : 0;
}

static void lazy_session_from(struct gmemfs_session *s, struct nlattr **tb)
{
	memset(s, 0, sizeof(*s));
	s->id = lazy_u64(tb, GMEMFS_CTL_A_SESSION);
	s->pid = lazy_u32(tb, GMEMFS_CTL_A_PID);
	s->uid = lazy_u32(tb, GMEMFS_CTL_A_UID);
	s->state = lazy_u32(tb, GMEMFS_CTL_A_SESS_STATE);
	s->faults = lazy_u64(tb, GMEMFS_CTL_A_SESS_FAULTS);
	s->minor = lazy_u64(tb, GMEMFS_CTL_A_SESS_MINOR);
	s->bytes = lazy_u64(tb, GMEMFS_CTL_A_SESS_BYTES);
	s->prefetched = lazy_u64(tb, GMEMFS_CTL_A_SESS_PREFETCHED);
	s->corrupt = lazy_u64(tb, GMEMFS_CTL_A_SESS_CORRUPT);
	s->removed = lazy_u64(tb, GMEMFS_CTL_A_SESS_REMOVED);
	s->ws = lazy_u64(tb, GMEMFS_CTL_A_SESS_WS);
	s->lat_p50_ns = lazy_u64(tb, GMEMFS_CTL_A_SESS_LAT_P50);
	s->lat_p99_ns = lazy_u64(tb, GMEMFS_CTL_A_SESS_LAT_P99);
	s->unit = lazy_u64(tb, GMEMFS_CTL_A_SESS_UNIT);
}

API int gmemfs_ctl_sessions(struct gmemfs_ctl *c,
			    int (*fn)(void *ctx, const struct gmemfs_session *s), void *ctx)
{
	struct gmemfs_session s;
	struct gm_chan_msg m;
	int err, stop = 0;

	err = lazy_call(c, ctl_new(c, GMEMFS_CTL_CMD_SESSIONS, NULL, NULL), NULL, 0, &m);
	while (!err && !m.done) {
		if (!m.multi || !m.tb[GMEMFS_CTL_A_SESSION])
			return -EBADMSG;
		lazy_session_from(&s, m.tb);
		if (!stop)
			stop = fn(ctx, &s);
		err = lazy_next(c, &m);
	}
	return err ? err : stop;
}
