/*
 * libgmemfs: the guard of a lazy restore (see gmemfs_client.h, "Surviving
 * the daemon's death").  One thread per session, in the VMM's process,
 * holding a copy of its uffd and an idle connection to the daemon: when
 * the connection closes, the daemon is gone; the guard reconnects and
 * hands the uffd back (RESUME_LAZY) within the grace period, or else
 * makes every later fault fail loudly (UFFDIO_POISON: SIGBUS), since a
 * page nobody serves would otherwise wait for ever or, once the last
 * copy of the uffd is closed, be read as zeros.
 *
 * Not for: the requests themselves (lazy.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "client_int.h"
#include "uffd_compat.h"

/* The default grace period (GMEMFS_LAZY_GRACE_MS): longer than a stopping
 * daemon may take to place what its sessions still lack (2 minutes,
 * GM_UFFD_DRAIN_NS), so the guard never reads faults while it does. */
#define GUARD_GRACE_MS		150000
#define GUARD_RETRY_MS		50
#define GUARD_MAX_REGIONS	32

struct lazy_guard {
	char sock[4096];
	uint64_t session;
	int uffd;			/* the guard's own copy */
	struct gmemfs_region r[GUARD_MAX_REGIONS];
	unsigned n;
	unsigned grace_ms;
};

static uint64_t guard_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Until the daemon at the other end of c is gone. */
static void guard_watch(struct gmemfs_ctl *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLRDHUP };

	while (poll(&p, 1, -1) < 0 && errno == EINTR)
		;
}

/* Reconnect within the grace period and hand the uffd back: 0 and *c
 * (the new connection), or -errno. */
static int guard_resume(struct lazy_guard *g, struct gmemfs_ctl **c)
{
	struct timespec pause = { .tv_nsec = GUARD_RETRY_MS * 1000000L };
	uint64_t t0 = guard_now_ms();
	int err;

	for (;;) {
		err = gmemfs_ctl_connect(g->sock, c);
		if (!err) {
			err = gmemfs_ctl_resume_lazy(*c, g->session, g->uffd);
			if (!err)
				return 0;
			/* No answer: the dying daemon's listening socket took
			 * the connection.  Only an answer with a reason ends it. */
			if (!gmemfs_ctl_reason(*c)[0]) {
				gmemfs_ctl_close(*c);
				goto again;
			}
			fprintf(stderr, "libgmemfs: lazy restore session %llu: the daemon refused "
				"to resume it: %s (%s)\n", (unsigned long long)g->session,
				strerror(-err), gmemfs_ctl_reason(*c));
			gmemfs_ctl_close(*c);
			return err;
		}
again:
		if (guard_now_ms() - t0 >= g->grace_ms)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
}

static const struct gmemfs_region *guard_region_of(struct lazy_guard *g, uint64_t addr)
{
	for (unsigned i = 0; i < g->n; i++) {
		if (addr >= g->r[i].addr && addr - g->r[i].addr < g->r[i].size)
			return &g->r[i];
	}
	return NULL;
}

/* One fault nobody will serve: poison its page, or end the process. */
static void guard_refuse(struct lazy_guard *g, uint64_t addr)
{
	const struct gmemfs_region *r = guard_region_of(g, addr);
	uint64_t ps = r ? r->page_size : 4096;
	struct uffdio_poison p = { .range = { .start = addr & ~(ps - 1), .len = ps } };

	if (!ioctl(g->uffd, UFFDIO_POISON, &p) || errno == EEXIST || errno == EAGAIN)
		return;
	fprintf(stderr, "libgmemfs: lazy restore session %llu: the uffd cannot poison (%s): "
		"SIGBUS to the process rather than let it run on memory nobody restored\n",
		(unsigned long long)g->session, strerror(errno));
	kill(getpid(), SIGBUS);
}

static void guard_event(struct lazy_guard *g, const struct uffd_msg *m)
{
	if (m->event == UFFD_EVENT_PAGEFAULT)
		guard_refuse(g, m->arg.pagefault.address);
	else if (m->event == UFFD_EVENT_FORK)
		close((int)m->arg.fork.ufd);
}

/* No daemon will serve the session again: every fault fails, for ever. */
static void guard_fail(struct lazy_guard *g, int err)
{
	struct uffd_msg msgs[16];
	ssize_t n;

	fprintf(stderr, "libgmemfs: lazy restore session %llu: %s; memory not restored yet "
		"now gets SIGBUS where it is touched\n", (unsigned long long)g->session,
		err == -ETIMEDOUT ? "no daemon took it back within the grace period" :
		"the daemon cannot resume it");
	/* Faults the dead daemon read and never answered wait unseen:
	 * woken, they fault again, and come to us. */
	for (unsigned i = 0; i < g->n; i++) {
		struct uffdio_range rg = { .start = g->r[i].addr, .len = g->r[i].size };

		ioctl(g->uffd, UFFDIO_WAKE, &rg);
	}
	for (;;) {
		struct pollfd p = { .fd = g->uffd, .events = POLLIN };

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			return;
		if (p.revents & (POLLERR | POLLHUP | POLLNVAL))
			return;
		n = read(g->uffd, msgs, sizeof(msgs));
		for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(msgs[0]); i++)
			guard_event(g, &msgs[i]);
	}
}

static void *guard_main(void *arg)
{
	struct lazy_guard *g = arg;
	struct gmemfs_ctl *c;
	int err = gmemfs_ctl_connect(g->sock, &c);

	/* Never a guard that could take faults from a live daemon. */
	if (err) {
		fprintf(stderr, "libgmemfs: lazy restore session %llu: no guard (connecting to "
			"%s: %s): the daemon's death would end it\n",
			(unsigned long long)g->session, g->sock, strerror(-err));
		err = -ENOENT;
	}
	while (!err) {
		guard_watch(c);
		gmemfs_ctl_close(c);
		err = guard_resume(g, &c);
		if (!err)
			fprintf(stderr, "libgmemfs: lazy restore session %llu resumed by the "
				"restarted daemon\n", (unsigned long long)g->session);
	}
	if (err != -ENOENT)
		guard_fail(g, err);
	close(g->uffd);
	free(g);
	return NULL;
}

static unsigned guard_grace_ms(void)
{
	const char *v = getenv("GMEMFS_LAZY_GRACE_MS");
	char *end;
	unsigned long ms;

	if (!v || !*v)
		return GUARD_GRACE_MS;
	ms = strtoul(v, &end, 10);
	return *end || ms > 86400000 ? GUARD_GRACE_MS : ms;
}

void lazy_guard_start(struct gmemfs_ctl *c, uint64_t session, int uffd,
		      const struct gmemfs_region *r, unsigned n)
{
	struct lazy_guard *g = calloc(1, sizeof(*g));
	sigset_t all, old;
	pthread_t t;
	int err = -ENOMEM;

	if (g) {
		snprintf(g->sock, sizeof(g->sock), "%s", c->path);
		g->session = session;
		g->n = n < GUARD_MAX_REGIONS ? n : GUARD_MAX_REGIONS;
		memcpy(g->r, r, g->n * sizeof(*r));
		g->grace_ms = guard_grace_ms();
		g->uffd = fcntl(uffd, F_DUPFD_CLOEXEC, 0);
		err = g->uffd < 0 ? -errno : 0;
	}
	if (!err) {
		/* Signals are the VMM's threads' business, never the guard's. */
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		err = -pthread_create(&t, NULL, guard_main, g);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	if (!err) {
		pthread_detach(t);
		return;
	}
	fprintf(stderr, "libgmemfs: lazy restore session %llu: no guard (%s): the daemon's "
		"death would end it\n", (unsigned long long)session, strerror(-err));
	if (g && g->uffd >= 0)
		close(g->uffd);
	free(g);
}
