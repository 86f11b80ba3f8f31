/*
 * The control socket (see sock.h): binding, the accept thread, one
 * thread per connection, credentials, and SCM_RIGHTS both ways.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/chan.h"
#include "ctl/cmd.h"
#include "ctl/sock.h"
#include "core/log.h"
#include "core/thread.h"

#define GM_CTLSOCK_RETRY_MS 100

struct gm_ctl_conn {
	struct cds_list_head node;	/* cs->conns; under cs->lock */
	struct gm_ctlsock *cs;
	int fd;				/* closed by the thread at its end, -1
					 * after; under cs->lock */
	pthread_t thread;
	bool done;			/* the thread is about to return; cs->lock */
	struct gm_cred cred;	/* immutable after accept */
	unsigned char buf[GMEMFS_CTL_MSG_MAX];
};

static int gm_ctl_conn_send(void *arg, struct nl_msg *msg, int fd)
{
	struct gm_ctl_conn *c = arg;

	return gm_chan_send_msg(c->fd, msg, fd);
}

int gm_ctl_conn_fd(void *conn)
{
	return ((struct gm_ctl_conn *)conn)->fd;
}

/* recvmsg's 0 is both an empty packet and the peer's close: tell them apart. */
static bool gm_ctl_conn_hung_up(struct gm_ctl_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	return poll(&p, 1, 0) != 0 && p.revents & (POLLHUP | POLLRDHUP | POLLERR);
}

/* One message: 0, or -errno when the connection is over. */
static int gm_ctl_conn_serve(struct gm_ctl_conn *c)
{
	int fds[GM_CHAN_MAX_FDS];
	unsigned nfds;
	ssize_t n;
	bool cut;

	n = gm_chan_recv(c->fd, c->buf, sizeof(c->buf), fds, &nfds, &cut);
	if (n < 0)
		return n;
	if (n == 0 && nfds == 0 && gm_ctl_conn_hung_up(c))
		return -ECONNRESET;
	if (cut) {
		/* More fds than any command takes: refused by count, not served. */
		for (unsigned i = nfds; i < GM_CHAN_MAX_FDS; i++)
			fds[i] = -1;
		nfds = GM_CHAN_MAX_FDS;
	}
	return gm_ctl_request(c->cs->fs, &c->cred, c->buf, n, fds, nfds, gm_ctl_conn_send, c);
}

static void *gm_ctl_conn_main(void *arg)
{
	struct gm_ctl_conn *c = arg;
	struct gm_ctlsock *cs = c->cs;

	while (gm_ctl_conn_serve(c) == 0)
		;
	/* Counted out here, not when reaped: a client that reconnects at
	 * once after closing many must find room. */
	/* The fd goes now, not at the next accept's reap: a client (a
	 * VMM's libgmemfs guard) that hangs up leaves nothing open here. */
	pthread_mutex_lock(&cs->lock);
	cs->nconns--;
	c->done = true;
	close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&cs->lock);
	return NULL;
}

static int gm_ctl_conn_cred(struct gm_ctl_conn *c)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	gid_t small[64];

	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &uc, &len))
		return -errno;
	c->cred.pid = uc.pid;
	c->cred.uid = uc.uid;
	c->cred.gid = uc.gid;
	len = sizeof(small);
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, small, &len) && errno != ERANGE)
		return -errno;
	c->cred.groups = malloc(len ? len : 1);
	if (!c->cred.groups)
		return -ENOMEM;
	if (getsockopt(c->fd, SOL_SOCKET, SO_PEERGROUPS, c->cred.groups, &len))
		return -errno;
	c->cred.ngroups = len / sizeof(gid_t);
	return 0;
}

static void gm_ctl_conn_free(struct gm_ctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->cred.groups);
	free(c);
}

/* Join and free finished connections (all of them when stopping). */
static void gm_ctlsock_reap(struct gm_ctlsock *cs, bool all)
{
	struct gm_ctl_conn *c, *tmp;
	CDS_LIST_HEAD(dead);

	pthread_mutex_lock(&cs->lock);
	cds_list_for_each_entry_safe(c, tmp, &cs->conns, node) {
		if (!all && !c->done)
			continue;
		if (all && c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);	/* wakes a blocked recv or send */
		cds_list_del(&c->node);
		cds_list_add(&c->node, &dead);
	}
	pthread_mutex_unlock(&cs->lock);
	cds_list_for_each_entry_safe(c, tmp, &dead, node) {
		pthread_join(c->thread, NULL);
		gm_ctl_conn_free(c);
	}
}

/* 0, or -errno when accept itself failed. */
static int gm_ctlsock_accept(struct gm_ctlsock *cs)
{
	struct gm_ctl_conn *c;
	int fd, err;

	fd = accept4(cs->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EINTR || errno == EAGAIN || errno == ECONNABORTED ? 0 : -errno;
	c = calloc(1, sizeof(*c));
	err = -ENOMEM;
	if (!c)
		goto err_close;
	c->cs = cs;
	c->fd = fd;
	err = gm_ctl_conn_cred(c);
	if (err)
		goto err_free;
	pthread_mutex_lock(&cs->lock);
	err = -EMFILE;
	if (cs->nconns < GM_CTLSOCK_MAX_CONNS)
		err = gm_thread_start(&c->thread, gm_ctl_conn_main, c);
	if (!err) {
		cds_list_add(&c->node, &cs->conns);
		cs->nconns++;
	}
	pthread_mutex_unlock(&cs->lock);
	if (!err)
		return 0;
	gm_warn("ctl: connection of pid %d uid %u refused: %s", (int)c->cred.pid,
		(unsigned)c->cred.uid, err == -EMFILE ? "too many connections" : strerror(-err));
err_free:
	free(c->cred.groups);
	free(c);
err_close:
	close(fd);
	return 0;
}

static void *gm_ctlsock_main(void *arg)
{
	struct gm_ctlsock *cs = arg;
	struct pollfd pfd[2] = {
		{ .fd = cs->listen_fd, .events = POLLIN },
		{ .fd = cs->stop_fd, .events = POLLIN },
	};
	bool failing = false;
	int err;

	for (;;) {
		if (poll(pfd, 2, failing ? GM_CTLSOCK_RETRY_MS : -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		/* Finished connections give their fds back before the next accept. */
		gm_ctlsock_reap(cs, false);
		if (!(pfd[0].revents & POLLIN) && !failing)
			continue;
		err = gm_ctlsock_accept(cs);
		/* Out of fds or memory, the connection stays queued and poll
		 * would return at once: retry on a timer instead. */
		if (err && !failing)
			gm_warn("control socket %s: accept: %s; retrying every %d ms",
				cs->path, strerror(-err), GM_CTLSOCK_RETRY_MS);
		else if (!err && failing)
			gm_info("control socket %s: accepting again", cs->path);
		failing = err != 0;
		pfd[0].events = failing ? 0 : POLLIN;
	}
	return NULL;
}

static int gm_ctlsock_bind(struct gm_ctlsock *cs)
{
	struct sockaddr_un sa;
	struct stat st;
	socklen_t len;
	int dirfd, err;

	err = gm_chan_sockaddr(cs->path, &sa, &len, &dirfd);
	if (err)
		return err;
	/* Non-blocking: the accept thread retries on a timer and must never
	 * sleep in accept where the stop eventfd cannot wake it. */
	cs->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	err = cs->listen_fd < 0 ? -errno : 0;
	if (!err && bind(cs->listen_fd, (struct sockaddr *)&sa, len))
		err = -errno;
	if (dirfd >= 0)
		close(dirfd);
	if (err)
		return err;
	/* Anyone may connect; each request is checked against the file modes. */
	if (chmod(cs->path, 0666) || lstat(cs->path, &st) || listen(cs->listen_fd, 64))
		return -errno;
	cs->dev = st.st_dev;
	cs->ino = st.st_ino;
	return 0;
}

int gm_ctlsock_open(struct gm_ctlsock *cs, struct gm_fs *fs, const char *path)
{
	int err;

	memset(cs, 0, sizeof(*cs));
	cs->fs = fs;
	cs->path = path;
	cs->listen_fd = cs->stop_fd = -1;
	pthread_mutex_init(&cs->lock, NULL);
	CDS_INIT_LIST_HEAD(&cs->conns);
	err = gm_chan_clear_stale(path, SOCK_SEQPACKET);
	if (err == -EADDRINUSE)
		gm_err("control socket %s: another gmemfsd serves it", path);
	else if (err)
		gm_err("control socket %s: %s is in the way", path, strerror(-err));
	if (err)
		return err;
	err = gm_ctlsock_bind(cs);
	if (!err) {
		cs->stop_fd = eventfd(0, EFD_CLOEXEC);
		err = cs->stop_fd < 0 ? -errno : 0;
	}
	if (err) {
		gm_err("control socket %s: %s", path, strerror(-err));
		gm_ctlsock_close(cs);
		return err;
	}
	gm_info("control socket %s (also in the xattr %s of the mount root)", path,
		GMEMFS_XATTR_CTL_SOCKET);
	return 0;
}

int gm_ctlsock_start(struct gm_ctlsock *cs)
{
	int err = gm_thread_start(&cs->thread, gm_ctlsock_main, cs);

	if (err)
		gm_err("control socket %s: cannot start its thread: %s", cs->path,
		       strerror(-err));
	cs->running = !err;
	return err;
}

/* Remove the socket file if it is still the one we bound. */
static void gm_ctlsock_unlink(struct gm_ctlsock *cs)
{
	struct stat st;

	if (cs->ino && lstat(cs->path, &st) == 0 && st.st_dev == cs->dev &&
	    st.st_ino == cs->ino)
		unlink(cs->path);
}

void gm_ctlsock_close(struct gm_ctlsock *cs)
{
	uint64_t one = 1;

	if (cs->running) {
		if (write(cs->stop_fd, &one, sizeof(one)) != sizeof(one))
			gm_warn("control socket: cannot wake its thread: %s", strerror(errno));
		pthread_join(cs->thread, NULL);
		cs->running = false;
	}
	gm_ctlsock_reap(cs, true);
	gm_ctlsock_unlink(cs);
	if (cs->listen_fd >= 0)
		close(cs->listen_fd);
	if (cs->stop_fd >= 0)
		close(cs->stop_fd);
	cs->listen_fd = cs->stop_fd = -1;
	pthread_mutex_destroy(&cs->lock);
}
