/*
 * libgmemfs: recording a working set without faults, from the client's
 * side (see gmemfs_client.h): the VMM creates a userfaultfd in RWP mode
 * over its mapping of a file and hands it to the daemon (a uffd acts on
 * the address space of the process that made it, so only the VMM can);
 * then anyone allowed asks for a recording.
 *
 * Not for: the work (daemon/uffd/record.c), the wire codec (common/chan.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client_int.h"
#include "ws_compat.h"

/* Send msg (freed) with fd (or -1); the reply in m. */
static int record_call(struct gmemfs_ctl *c, struct nl_msg *msg, int fd, struct gm_chan_msg *m)
{
	int err, fd_back;

	if (!msg)
		return c->reason[0] ? -ENAMETOOLONG : -ENOMEM;
	err = gm_chan_send(c->fd, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, &fd, fd >= 0);
	nlmsg_free(msg);
	if (!err)
		err = ctl_recv(c, m, &fd_back);
	if (!err && fd_back >= 0)
		close(fd_back);
	return err;
}

/* A uffd with RWP_ASYNC registered over [addr, addr + size), or -errno
 * with the reason (EOPNOTSUPP: the kernel lacks userfaultfd RWP). */
static int record_uffd(struct gmemfs_ctl *c, void *addr, uint64_t size)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_RWP | UFFD_FEATURE_RWP_ASYNC };
	struct uffdio_register reg = { .range = { (uintptr_t)addr, size },
				       .mode = UFFDIO_REGISTER_MODE_RWP };
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	int err;

	if (uffd < 0) {
		err = -errno;
		snprintf(c->reason, sizeof(c->reason), "userfaultfd: %s", strerror(errno));
		return err;
	}
	if (ioctl(uffd, UFFDIO_API, &api) < 0) {
		close(uffd);
		snprintf(c->reason, sizeof(c->reason),
			 "the kernel lacks UFFD_FEATURE_RWP_ASYNC (userfaultfd RWP, Linux 7.2)");
		return -EOPNOTSUPP;
	}
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0) {
		err = -errno;
		snprintf(c->reason, sizeof(c->reason), "UFFDIO_REGISTER_MODE_RWP: %s",
			 strerror(errno));
		close(uffd);
		return err;
	}
	return uffd;
}

API int gmemfs_ctl_record_ws_arm(struct gmemfs_ctl *c, const char *path, void *addr,
				 uint64_t size, uint64_t offset)
{
	struct gm_chan_msg m;
	struct nl_msg *msg;
	struct nlattr *nest;
	int uffd, err;

	c->reason[0] = '\0';
	uffd = record_uffd(c, addr, size);
	if (uffd < 0)
		return uffd;
	msg = ctl_new(c, GMEMFS_CTL_CMD_RECORD_WS, path, NULL);
	nest = msg ? nla_nest_start(msg, GMEMFS_CTL_A_REGION) : NULL;
	if (msg && (!nest || nla_put_u64(msg, GMEMFS_CTL_REGION_A_ADDR, (uintptr_t)addr) < 0 ||
		    nla_put_u64(msg, GMEMFS_CTL_REGION_A_SIZE, size) < 0 ||
		    nla_put_u64(msg, GMEMFS_CTL_REGION_A_OFFSET, offset) < 0 ||
		    nla_put_u64(msg, GMEMFS_CTL_REGION_A_PAGE_SIZE, 4096) < 0)) {
		nlmsg_free(msg);
		msg = NULL;
	} else if (msg) {
		nla_nest_end(msg, nest);
	}
	err = record_call(c, msg, uffd, &m);
	/* the daemon keeps its copy, which keeps the registration */
	close(uffd);
	return err;
}

API int gmemfs_ctl_record_ws(struct gmemfs_ctl *c, const char *path, uint32_t interval_ms,
			     uint32_t duration_ms, uint64_t *pages)
{
	struct nl_msg *msg = ctl_new(c, GMEMFS_CTL_CMD_RECORD_WS, path, NULL);
	struct gm_chan_msg m;
	int err;

	if (msg && (nla_put_u32(msg, GMEMFS_CTL_A_RECORD_INTERVAL, interval_ms) < 0 ||
		    nla_put_u32(msg, GMEMFS_CTL_A_RECORD_DURATION, duration_ms) < 0)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	/* the reply comes when the recording ends: wait that long, and the
	 * connection's usual bound for a daemon that is stuck, then put it back */
	struct timeval tv = { .tv_sec = duration_ms / 1000 + 60 }, old;
	socklen_t len = sizeof(old);

	if (getsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &old, &len) ||
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		nlmsg_free(msg);
		return -errno;
	}
	err = record_call(c, msg, -1, &m);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &old, sizeof(old));
	if (!err)
		*pages = ctl_u64(m.tb[GMEMFS_CTL_A_RECORD_UNITS]);
	return err;
}
