/*
 * libgmemfs: connections and requests (see gmemfs_client.h).  Messages are
 * built and checked by the daemon's own codec (common/chan.c), linked in.
 * Not for: finding a mount's socket from a path (locate.c, which calls
 * in here; nothing here calls it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "client_int.h"
#include "kvm_compat.h"

/* A daemon that does not answer within this long is taken as stuck. */
#define GMEMFS_CTL_TIMEOUT_S 60

API int gmemfs_ctl_connect(const char *socket_path, struct gmemfs_ctl **out)
{
	struct timeval tv = { .tv_sec = GMEMFS_CTL_TIMEOUT_S };
	struct gmemfs_ctl *c;
	struct sockaddr_un sa;
	socklen_t len;
	int dirfd, err;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	err = gm_chan_sockaddr(socket_path, &sa, &len, &dirfd);
	if (err)
		goto err_free;
	c->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	err = c->fd < 0 ? -errno : 0;
	if (!err && (connect(c->fd, (struct sockaddr *)&sa, len) ||
		     setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))))
		err = -errno;
	if (dirfd >= 0)
		close(dirfd);
	if (err)
		goto err_close;
	snprintf(c->path, sizeof(c->path), "%s", socket_path);
	*out = c;
	return 0;
err_close:
	if (c->fd >= 0)
		close(c->fd);
err_free:
	free(c);
	return err;
}

API void gmemfs_ctl_close(struct gmemfs_ctl *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

API const char *gmemfs_ctl_reason(const struct gmemfs_ctl *c)
{
	return c->reason;
}

/* One reply into m; *fd gets the fd it carried (or -1).  0, the daemon's
 * -errno, or -EBADMSG/-ETIMEDOUT/... for a broken exchange. */
int ctl_recv(struct gmemfs_ctl *c, struct gm_chan_msg *m, int *fd)
{
	int fds[GM_CHAN_MAX_FDS];
	unsigned nfds;
	ssize_t n;
	bool cut;
	int err;

	n = gm_chan_recv(c->fd, c->buf, sizeof(c->buf), fds, &nfds, &cut);
	if (n < 0)
		return n == -EAGAIN ? -ETIMEDOUT : n;
	*fd = nfds ? fds[0] : -1;
	for (unsigned i = 1; i < nfds; i++)
		close(fds[i]);	/* more than any reply carries */
	if (n == 0)
		err = -ECONNRESET;
	else
		err = gm_chan_parse_reply(c->buf, n, c->seq, m, c->reason);
	if (!err && m->error) {
		snprintf(c->reason, sizeof(c->reason), "%s", m->reason ? m->reason : "");
		err = m->error;
	}
	if (err && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	return err;
}

/* A request for cmd with PATH (if path) and POLICY (if policy). */
struct nl_msg *ctl_new(struct gmemfs_ctl *c, unsigned cmd, const char *path,
		       const char *policy)
{
	struct nl_msg *msg;

	c->reason[0] = '\0';
	msg = gm_chan_new(cmd, ++c->seq, NLM_F_REQUEST);
	if (msg && ((path && nla_put_string(msg, GMEMFS_CTL_A_PATH, path) < 0) ||
		    (policy && nla_put_string(msg, GMEMFS_CTL_A_POLICY, policy) < 0))) {
		nlmsg_free(msg);
		snprintf(c->reason, sizeof(c->reason), "path or policy too long");
		return NULL;
	}
	return msg;
}

/* Send msg (freed) with fd_in (or -1); the reply in m, its fd in *fd_out. */
static int ctl_call(struct gmemfs_ctl *c, struct nl_msg *msg, int fd_in,
		    struct gm_chan_msg *m, int *fd_out)
{
	int err, fd;

	if (!msg)
		return c->reason[0] ? -ENAMETOOLONG : -ENOMEM;
	err = gm_chan_send_msg(c->fd, msg, fd_in);
	nlmsg_free(msg);
	if (!err)
		err = ctl_recv(c, m, &fd);
	if (err)
		return err;
	if (fd_out)
		*fd_out = fd;
	else if (fd >= 0)
		close(fd);
	return 0;
}

uint64_t ctl_u64(struct nlattr *a)
{
	return a ? nla_get_u64(a) : 0;
}

static uint32_t ctl_u32(struct nlattr *a)
{
	return a ? nla_get_u32(a) : 0;
}

static void ctl_copy_string(char *dst, size_t cap, struct nlattr *a)
{
	snprintf(dst, cap, "%s", a ? nla_get_string(a) : "");
}

static void ctl_stat_from(struct gmemfs_ctl_stat *st, struct nlattr **tb)
{
	if (!st)
		return;
	memset(st, 0, sizeof(*st));
	st->id = ctl_u64(tb[GMEMFS_CTL_A_ID]);
	st->mode = ctl_u32(tb[GMEMFS_CTL_A_MODE]);
	st->uid = ctl_u32(tb[GMEMFS_CTL_A_UID]);
	st->gid = ctl_u32(tb[GMEMFS_CTL_A_GID]);
	ctl_copy_string(st->policy, sizeof(st->policy), tb[GMEMFS_CTL_A_POLICY]);
	st->info.id = st->id;
	st->info.provider = ctl_u32(tb[GMEMFS_CTL_A_PROVIDER]);
	st->info.size = ctl_u64(tb[GMEMFS_CTL_A_SIZE]);
	st->info.populated = ctl_u64(tb[GMEMFS_CTL_A_POPULATED]);
	st->info.page_size = ctl_u64(tb[GMEMFS_CTL_A_PAGE_SIZE]);
	st->info.flags = ctl_u32(tb[GMEMFS_CTL_A_INFO_FLAGS]);
}

/* A command that answers with file attributes and maybe an fd. */
static int ctl_file_call(struct gmemfs_ctl *c, unsigned cmd, const char *path, int fd_in,
			 struct gmemfs_ctl_stat *st, bool want_fd)
{
	struct gm_chan_msg m;
	int err, fd = -1;

	err = ctl_call(c, ctl_new(c, cmd, path, NULL), fd_in, &m, want_fd ? &fd : NULL);
	if (err)
		return err;
	ctl_stat_from(st, m.tb);
	if (want_fd && fd < 0) {
		snprintf(c->reason, sizeof(c->reason), "the reply carried no fd");
		return -EBADMSG;
	}
	return want_fd ? fd : 0;
}

API int gmemfs_ctl_open(struct gmemfs_ctl *c, const char *path, struct gmemfs_ctl_stat *st)
{
	return ctl_file_call(c, GMEMFS_CTL_CMD_OPEN, path, -1, st, true);
}

API int gmemfs_ctl_info(struct gmemfs_ctl *c, const char *path, struct gmemfs_ctl_stat *st)
{
	return ctl_file_call(c, GMEMFS_CTL_CMD_INFO, path, -1, st, false);
}

API int gmemfs_ctl_attach_gmem(struct gmemfs_ctl *c, const char *path, int gmem_fd,
			       struct gmemfs_ctl_stat *st)
{
	return ctl_file_call(c, GMEMFS_CTL_CMD_ATTACH_VM, path, gmem_fd, st, false);
}

/* The guest_memfd flags to create with: MMAP|INIT_SHARED if the VM offers
 * both (the daemon maps it from its own process), else none, which the
 * daemon refuses with its reason.  -EBADF: vm_fd is no KVM VM. */
static int ctl_gmem_flags(struct gmemfs_ctl *c, int vm_fd, __u64 *flags)
{
	const uint64_t want = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED;
	int caps = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD);

	if (caps < 0) {
		snprintf(c->reason, sizeof(c->reason), "the fd is not a KVM VM of this process "
			 "(KVM_CHECK_EXTENSION: %s)", strerror(errno));
		return -EBADF;
	}
	if (caps == 0) {
		snprintf(c->reason, sizeof(c->reason), "this kernel's KVM has no guest_memfd");
		return -EOPNOTSUPP;
	}
	caps = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);
	*flags = caps > 0 && ((uint64_t)caps & want) == want ? want : 0;
	return 0;
}

/* A guest_memfd on vm_fd of the file's size (st from INFO), close-on-exec
 * (KVM does not set it).  A size of 0 cannot be a guest_memfd: the
 * smallest one goes instead, so that the daemon gives its own reason (an
 * empty file, a directory, another provider) and logs it. */
static int ctl_gmem_create(struct gmemfs_ctl *c, int vm_fd, const struct gmemfs_ctl_stat *st)
{
	struct kvm_create_guest_memfd req = { .size = (st->info.size + 4095) & ~4095ULL };
	int fd, err;

	err = ctl_gmem_flags(c, vm_fd, &req.flags);
	if (err)
		return err;
	if (!req.size)
		req.size = 4096;
	fd = ioctl(vm_fd, KVM_CREATE_GUEST_MEMFD, &req);
	if (fd < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC)) {
		err = -errno;
		snprintf(c->reason, sizeof(c->reason), "KVM_CREATE_GUEST_MEMFD of %llu bytes, "
			 "flags %#llx: %s", (unsigned long long)req.size,
			 (unsigned long long)req.flags, strerror(-err));
		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

API int gmemfs_ctl_attach_vm(struct gmemfs_ctl *c, const char *path, int vm_fd,
			     struct gmemfs_ctl_stat *st)
{
	struct gmemfs_ctl_stat info;
	int gfd, err;

	err = gmemfs_ctl_info(c, path, &info);
	if (err)
		return err;
	gfd = ctl_gmem_create(c, vm_fd, &info);
	if (gfd < 0)
		return gfd;
	err = gmemfs_ctl_attach_gmem(c, path, gfd, st);
	if (err) {
		close(gfd);
		return err;
	}
	return gfd;
}

API int gmemfs_ctl_policy_get(struct gmemfs_ctl *c, const char *path, char *buf, size_t len)
{
	struct gm_chan_msg m;
	int err;

	err = ctl_call(c, ctl_new(c, GMEMFS_CTL_CMD_POLICY_GET, path, NULL), -1, &m, NULL);
	if (!err)
		ctl_copy_string(buf, len, m.tb[GMEMFS_CTL_A_POLICY]);
	return err;
}

API int gmemfs_ctl_policy_set(struct gmemfs_ctl *c, const char *path, const char *policy)
{
	struct gm_chan_msg m;

	return ctl_call(c, ctl_new(c, GMEMFS_CTL_CMD_POLICY_SET, path, policy), -1, &m, NULL);
}

static int ctl_pool_prov(struct gmemfs_ctl_pool *pool, struct nlattr *nest)
{
	struct nlattr *tb[GMEMFS_CTL_PROV_A_MAX + 1];
	unsigned i = pool->nprov;

	if (i >= GMEMFS_CTL_POOL_MAX_PROV)
		return 0;
	if (gm_chan_parse_prov(nest, tb))
		return -EBADMSG;
	pool->prov[i].id = ctl_u32(tb[GMEMFS_CTL_PROV_A_ID]);
	ctl_copy_string(pool->prov[i].name, sizeof(pool->prov[i].name), tb[GMEMFS_CTL_PROV_A_NAME]);
	pool->prov[i].page_size = ctl_u64(tb[GMEMFS_CTL_PROV_A_PAGE_SIZE]);
	pool->prov[i].used = ctl_u64(tb[GMEMFS_CTL_PROV_A_USED]);
	pool->prov[i].limit = ctl_u64(tb[GMEMFS_CTL_PROV_A_LIMIT]);
	pool->nprov++;
	return 0;
}

API int gmemfs_ctl_pool(struct gmemfs_ctl *c, struct gmemfs_ctl_pool *pool)
{
	struct gm_chan_msg m;
	struct nlattr *nla;
	int err, rem;

	memset(pool, 0, sizeof(*pool));
	err = ctl_call(c, ctl_new(c, GMEMFS_CTL_CMD_POOL, NULL, NULL), -1, &m, NULL);
	if (err)
		return err;
	pool->budget = ctl_u64(m.tb[GMEMFS_CTL_A_POOL_BUDGET]);
	pool->used = ctl_u64(m.tb[GMEMFS_CTL_A_POOL_USED]);
	pool->free = ctl_u64(m.tb[GMEMFS_CTL_A_POOL_FREE]);
	pool->secret_size = ctl_u64(m.tb[GMEMFS_CTL_A_POOL_SECRET_SIZE]);
	pool->secret_free = ctl_u64(m.tb[GMEMFS_CTL_A_POOL_SECRET_FREE]);
	/* POOL_PROV repeats: tb holds only the last, so walk them all. */
	nlmsg_for_each_attr(nla, m.nlh, GENL_HDRLEN, rem) {
		if (nla_type(nla) == GMEMFS_CTL_A_POOL_PROV && !err)
			err = ctl_pool_prov(pool, nla);
	}
	return err;
}

API int gmemfs_ctl_list(struct gmemfs_ctl *c, const char *dir,
			int (*fn)(void *ctx, const char *name, const struct gmemfs_ctl_stat *st),
			void *ctx)
{
	struct gmemfs_ctl_stat st;
	struct gm_chan_msg m;
	int err, stop = 0, fd;

	err = ctl_call(c, ctl_new(c, GMEMFS_CTL_CMD_LIST, dir, NULL), -1, &m, NULL);
	while (!err && !m.done) {
		if (!m.multi || !m.tb[GMEMFS_CTL_A_NAME]) {
			snprintf(c->reason, sizeof(c->reason), "a list entry without a name");
			return -EBADMSG;
		}
		ctl_stat_from(&st, m.tb);
		if (!stop)
			stop = fn(ctx, nla_get_string(m.tb[GMEMFS_CTL_A_NAME]), &st);
		err = ctl_recv(c, &m, &fd);
		if (fd >= 0)
			close(fd);
	}
	return err ? err : stop;
}

/* METRICS: a dump of TEXT pieces, joined in order.  Every reply is read,
 * even after a failure here, so the connection stays usable. */
API int gmemfs_ctl_metrics(struct gmemfs_ctl *c, char **text, size_t *len)
{
	struct gm_chan_msg m;
	size_t n = 0;
	char *buf = NULL;
	int err, bad = 0, fd;
	FILE *f;

	*text = NULL;
	f = open_memstream(&buf, &n);
	if (!f)
		return -ENOMEM;
	err = ctl_call(c, ctl_new(c, GMEMFS_CTL_CMD_METRICS, NULL, NULL), -1, &m, NULL);
	while (!err && !m.done) {
		if (!m.multi || !m.tb[GMEMFS_CTL_A_TEXT]) {
			snprintf(c->reason, sizeof(c->reason), "a metrics reply without TEXT");
			bad = -EBADMSG;
		} else if (!bad && fputs(nla_get_string(m.tb[GMEMFS_CTL_A_TEXT]), f) == EOF) {
			bad = -ENOMEM;
		}
		err = ctl_recv(c, &m, &fd);
		if (fd >= 0)
			close(fd);
	}
	if (fclose(f) && !err && !bad)
		bad = -ENOMEM;
	if (err || bad) {
		free(buf);
		return err ? err : bad;
	}
	*text = buf;
	if (len)
		*len = n;
	return 0;
}

