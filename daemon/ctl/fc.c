/*
 * UFFD_LISTEN: Firecracker's page-fault-handler handshake, so a Firecracker
 * VM restores from a gmemfs snapshot with no change to Firecracker.  The
 * request makes a unix stream socket at SOCKET and answers with one
 * NLM_F_MULTI message once it listens; then this connection's own thread
 * accepts there until the requester hangs up (which ends the listener and
 * removes the socket; sessions already started go on).  Each VMM that
 * connects sends, in one sendmsg, the JSON array of its regions
 * (fcjson.h) with exactly one fd, its userfaultfd, in SCM_RIGHTS; its
 * pid comes from SO_PEERCRED.  A bad message is logged with its reason and
 * the connection closed; the listener goes on.
 *
 * Not for: the JSON itself (fcjson.c), sessions (uffd/session.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/cmd_lazy.h"
#include "uffd/lazyrec.h"
#include "ctl/sock.h"
#include "core/log.h"
#include "ctl/fcjson.h"

#define GM_FC_MSG_MAX		65536
#define GM_FC_MAX_FDS		8	/* room to see (and refuse) a few too many */
#define GM_FC_RECV_MS		5000	/* a VMM sends right after connecting */

struct gm_fc_listener {
	struct gm_ctl_req *r;
	const char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	char *buf;			/* GM_FC_MSG_MAX */
};

/* A socket file a dead listener left is replaced; anything else refused. */
static int gm_fc_clear_stale(struct gm_ctl_req *r, const char *path)
{
	int err = gm_chan_clear_stale(path, SOCK_STREAM);

	if (err == -EEXIST)
		return gm_ctl_fail(r, err, "%s exists and is not a socket", path);
	if (err == -EADDRINUSE)
		return gm_ctl_fail(r, err, "%s: something listens there", path);
	if (err)
		return gm_ctl_fail(r, err, "cannot clear the socket path %s", path);
	return 0;
}

static int gm_fc_bind(struct gm_fc_listener *l)
{
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;
	int dirfd, err;

	err = gm_fc_clear_stale(l->r, l->path);
	if (err)
		return err;
	err = gm_chan_sockaddr(l->path, &sa, &len, &dirfd);
	if (err)
		return gm_ctl_fail(l->r, err, "socket path %s", l->path);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	err = l->fd < 0 ? -errno : 0;
	if (!err && (bind(l->fd, (struct sockaddr *)&sa, len) || listen(l->fd, 16) ||
		     lstat(l->path, &st)))
		err = -errno;
	if (dirfd >= 0)
		close(dirfd);
	if (err)
		return gm_ctl_fail(l->r, err, "cannot listen at %s", l->path);
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return 0;
}

static void gm_fc_close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

/* The one message: its length, the fds (exactly one wanted). */
static ssize_t gm_fc_recv(struct gm_fc_listener *l, int sock, int *fds, unsigned *nfds,
			  char *why)
{
	union {
		char buf[CMSG_SPACE(GM_FC_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = l->buf, .iov_len = GM_FC_MSG_MAX };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = sizeof(u.buf) };
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t n;

	*nfds = 0;
	if (poll(&p, 1, GM_FC_RECV_MS) <= 0) {
		snprintf(why, GM_CHAN_WHY_MAX, "nothing sent within %d ms", GM_FC_RECV_MS);
		return -ETIMEDOUT;
	}
	n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0) {
		snprintf(why, GM_CHAN_WHY_MAX, "recvmsg: %s", strerror(errno));
		return -errno;
	}
	*nfds = gm_chan_take_fds(&mh, fds, GM_FC_MAX_FDS);
	if (mh.msg_flags & MSG_CTRUNC) {
		snprintf(why, GM_CHAN_WHY_MAX, "more fds than the one uffd");
		return -EBADF;
	}
	if (n >= GM_FC_MSG_MAX) {
		snprintf(why, GM_CHAN_WHY_MAX, "a message of %d bytes or more", GM_FC_MSG_MAX);
		return -EMSGSIZE;
	}
	return n;
}

/* Dup the request's chain for one session, which owns what it gets. */
static int gm_fc_dup_chain(struct gm_ctl_req *r, int *fds)
{
	for (unsigned i = 0; i < r->nfds_in; i++) {
		fds[i] = fcntl(r->fds_in[i], F_DUPFD_CLOEXEC, 0);
		if (fds[i] < 0) {
			int err = -errno;

			gm_fc_close_fds(fds, i);
			return err;
		}
	}
	return 0;
}

/* The peer's pid and uid, and a pidfd. */
static int gm_fc_peer(int sock, struct gm_uffd_sess_args *a, char *why)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &uc, &len)) {
		snprintf(why, GM_CHAN_WHY_MAX, "SO_PEERCRED: %s", strerror(errno));
		return -errno;
	}
	a->pid = uc.pid;
	a->uid = uc.uid;
	a->pidfd = gm_lazy_peer_pidfd(sock, uc.pid);
	if (a->pidfd < 0) {
		snprintf(why, GM_CHAN_WHY_MAX, "no pidfd for pid %d: %s", (int)uc.pid,
			 strerror(-a->pidfd));
		return a->pidfd;
	}
	return 0;
}

/* One VMM's handshake: 0 with a session started, or -errno with why. */
static int gm_fc_handshake(struct gm_fc_listener *l, int sock, struct gm_uffd_sess_args *a,
			   uint64_t *id)
{
	struct gm_ctl_req *r = l->r;
	struct gm_uffd_region reg[GM_UFFD_MAX_REGIONS];
	int fds[GM_FC_MAX_FDS], chain[GM_CHAN_MAX_FDS];
	char why[GM_CHAN_WHY_MAX], what[GM_CHAN_WHY_MAX];
	unsigned nfds;
	ssize_t n;
	int err;

	n = gm_fc_recv(l, sock, fds, &nfds, why);
	err = n < 0 ? (int)n : 0;
	if (!err && nfds != 1) {
		snprintf(why, sizeof(why), "%u fds sent, the protocol has exactly one, "
			 "the uffd", nfds);
		err = -EBADF;
	}
	if (!err)
		err = gm_lazy_check_uffd(fds[0], why, sizeof(why));
	if (!err)
		err = gm_fc_parse_regions(l->buf, n, reg, GM_UFFD_MAX_REGIONS, &a->nregions,
					  why);
	if (!err)
		err = gm_fc_peer(sock, a, why);
	if (!err)
		err = gm_fc_dup_chain(r, chain);
	if (err) {
		gm_fc_close_fds(fds, nfds);
		if (a->pidfd >= 0)
			close(a->pidfd);
		return gm_ctl_fail(r, err, "Firecracker handshake at %s: %s", l->path, why);
	}
	snprintf(what, sizeof(what), "Firecracker handshake at %s, pid %d: ", l->path,
		 (int)a->pid);
	a->regions = reg;
	a->uffd = fds[0];
	a->snap_fds = chain;
	a->nsnap_fds = r->nfds_in;
	return gm_lazy_start(r, what, a, id);
}

static void gm_fc_accept(struct gm_fc_listener *l, uint32_t flags)
{
	struct gm_uffd_sess_args a = { .uffd = -1, .pidfd = -1, .backing_fd = -1, .flags = flags,
				       .kind = GM_LAZYREC_FC };
	uint64_t id;
	int sock;

	sock = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (sock < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			gm_warn("uffd listener %s: accept: %s", l->path, strerror(errno));
		return;
	}
	if (gm_fc_handshake(l, sock, &a, &id) == 0)
		gm_info("uffd listener %s: pid %d restores lazily as session %llu", l->path,
			(int)a.pid, (unsigned long long)id);
	close(sock);
}

static int gm_fc_say_listening(struct gm_fc_listener *l)
{
	struct gm_ctl_req *r = l->r;
	struct nl_msg *msg = gm_chan_new(r->m.cmd, r->m.seq, NLM_F_MULTI);
	int err = -ENOMEM;

	if (msg)
		err = nla_put_string(msg, GMEMFS_CTL_A_SOCKET, l->path) < 0 ? -EMSGSIZE :
		      r->send(r->conn, msg, -1);
	nlmsg_free(msg);
	return err;
}

/* Accept until the requester hangs up (or the daemon shuts it down). */
static void gm_fc_serve(struct gm_fc_listener *l, uint32_t flags)
{
	struct pollfd p[2] = {
		{ .fd = l->fd, .events = POLLIN },
		{ .fd = gm_ctl_conn_fd(l->r->conn), .events = POLLRDHUP },
	};

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
			break;
		if (p[0].revents & POLLIN)
			gm_fc_accept(l, flags);
	}
}

int gm_ctl_cmd_uffd_listen(struct gm_ctl_req *r)
{
	struct gm_fc_listener l = { .r = r, .fd = -1 };
	struct stat st;
	uint32_t flags;
	int err;

	l.path = nla_get_string(r->m.tb[GMEMFS_CTL_A_SOCKET]);
	err = gm_lazy_check_flags(r, &flags);
	if (err)
		return err;
	if (r->nfds_in % 2)
		return gm_ctl_fail(r, -EBADF, "%u fds: an image and an index per layer",
				   r->nfds_in);
	l.buf = malloc(GM_FC_MSG_MAX);
	if (!l.buf)
		return gm_ctl_fail(r, -ENOMEM, "no memory for the listener");
	err = gm_fc_bind(&l);
	if (!err) {
		gm_info("uffd listener %s: Firecracker VMMs may connect (pid %d's request)", l.path,
			(int)r->cred->pid);
		err = gm_fc_say_listening(&l);
	}
	if (!err)
		gm_fc_serve(&l, flags);
	if (l.fd >= 0) {
		close(l.fd);
		if (lstat(l.path, &st) == 0 && st.st_dev == l.dev && st.st_ino == l.ino)
			unlink(l.path);
		gm_info("uffd listener %s: closed", l.path);
	}
	free(l.buf);
	return err;
}
