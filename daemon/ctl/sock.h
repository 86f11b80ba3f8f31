/*
 * The control socket of a mount: a unix SOCK_SEQPACKET socket (by default
 * STATE_DIR.sock, next to the state directory, which is private to root)
 * that gmemctl, libgmemfs and VMMs connect to.  Its path is printed at
 * start and is the value of the read-only xattr user.gmemfs.ctl-socket on
 * the mount root.
 *
 * The socket file is mode 0666: any user may connect, and each request is
 * then allowed or refused by the file modes against the peer's credentials
 * (SO_PEERCRED, SO_PEERGROUPS: those of the process that connected, at
 * connect time).
 *
 * Threads: one accepts, one serves each connection (at most
 * GM_CTLSOCK_MAX_CONNS), so a client that stops reading stalls only
 * itself; none of them ever runs on or waits for a FUSE worker.
 * Lock: cs->lock guards the connection list, nothing else (lock order:
 * meta/inode.h).
 *
 * Not for: messages (common/chan.c) or commands (cmd*.c).
 */
#ifndef GM_CTLSOCK_H
#define GM_CTLSOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include <urcu/list.h>

#include "fs.h"

#define GM_CTLSOCK_MAX_CONNS	64

struct gm_ctlsock {
	struct gm_fs *fs;
	const char *path;		/* fs->opts->ctl_socket; immutable */
	int listen_fd;			/* -1 when not open */
	int stop_fd;			/* eventfd: wakes the accept thread to stop */
	dev_t dev;			/* the socket file bound, so that only it */
	ino_t ino;			/* is unlinked at the end */
	pthread_t thread;		/* the accept thread */
	bool running;			/* thread started; main thread only */
	pthread_mutex_t lock;
	struct cds_list_head conns;	/* struct gm_ctl_conn, live or not yet
					 * joined; under lock */
	unsigned nconns;		/* live connections; under lock */
};

/* Bind and listen on path (a stale socket a dead daemon left is replaced,
 * a live one is EADDRINUSE).  0 or -errno (logged). */
int gm_ctlsock_open(struct gm_ctlsock *cs, struct gm_fs *fs, const char *path);
/* Start serving (after daemonizing: threads do not survive fork). */
int gm_ctlsock_start(struct gm_ctlsock *cs);
/* The socket of a connection (a request's r->conn): for a handler that
 * watches its client hang up or asks for the client's pidfd. */
int gm_ctl_conn_fd(void *conn);
/* Stop every thread, close every connection, remove the socket file. */
void gm_ctlsock_close(struct gm_ctlsock *cs);

#endif
