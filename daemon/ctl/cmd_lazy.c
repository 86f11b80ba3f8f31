/*
 * Lazy-restore control commands: RESTORE_LAZY (gmemfs's own handshake: a
 * VMM hands over its userfaultfd, its regions and a snapshot chain) and
 * SESSIONS (a dump of the running sessions).  UFFD_LISTEN, Firecracker's
 * handshake, is in fc.c.  Checks what a request carries, then hands
 * the parts to a session (uffd/session.c), which owns them from then on.
 *
 * Not for: serving faults (uffd/serve.c), snapshot format (snap/format.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctl/cmd.h"
#include "ctl/cmd_lazy.h"
#include "fuse/fsops.h"
#include "ctl/sock.h"
#include "core/fd_path.h"
#include "mem/backing.h"
#include "mem/file_info.h"
#include "mem/handout.h"
#include "uffd_compat.h"
#include "uffd/lazyrec.h"
#include "uffd/resume.h"
#include "uffd/session.h"

#define GM_LAZY_FLAGS	(GMEMFS_CTL_F_RECORD_WS | GMEMFS_CTL_F_NO_PREFETCH | GMEMFS_CTL_F_FORCE)

int gm_lazy_check_uffd(int fd, char *why, size_t len)
{
	char link[64];
	int err = gm_fd_target(fd, link, sizeof(link));

	if (err) {
		snprintf(why, len, "the first fd: %s", strerror(-err));
		return -EBADF;
	}
	if (strcmp(link, "anon_inode:[userfaultfd]")) {
		snprintf(why, len, "the first fd is %s, not a userfaultfd", link);
		return -EBADF;
	}
	return 0;
}

int gm_lazy_peer_pidfd(int sock, pid_t pid)
{
	socklen_t len = sizeof(int);
	int fd;

	if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0)
		return fd;
	/* Before 6.5: the pid the peer had at connect, hopefully still its. */
	fd = syscall(SYS_pidfd_open, pid, 0);
	return fd < 0 ? -errno : fd;
}

int gm_lazy_check_flags(struct gm_ctl_req *r, uint32_t *flags)
{
	*flags = r->m.tb[GMEMFS_CTL_A_FLAGS] ? nla_get_u32(r->m.tb[GMEMFS_CTL_A_FLAGS]) : 0;
	if (*flags & ~GM_LAZY_FLAGS)
		return gm_ctl_fail(r, -EINVAL, "unknown flags %#x", *flags & ~GM_LAZY_FLAGS);
	return 0;
}

/* Every REGION nest of the request, in order. */
static int gm_lazy_regions(struct gm_ctl_req *r, struct gm_uffd_region *reg, unsigned *n)
{
	uint64_t v[GMEMFS_CTL_REGION_A_MAX + 1];
	char why[GM_CHAN_WHY_MAX];
	struct nlattr *nla;
	int rem, err;

	*n = 0;
	nlmsg_for_each_attr(nla, r->m.nlh, GENL_HDRLEN, rem) {
		if (nla_type(nla) != GMEMFS_CTL_A_REGION)
			continue;
		if (*n == GM_UFFD_MAX_REGIONS)
			return gm_ctl_fail(r, -EINVAL, "more than %d regions", GM_UFFD_MAX_REGIONS);
		err = gm_chan_parse_region(nla, v, why);
		if (err)
			return gm_ctl_fail(r, err, "region %u: %s", *n, why);
		reg[*n] = (struct gm_uffd_region){
			.addr = v[GMEMFS_CTL_REGION_A_ADDR], .size = v[GMEMFS_CTL_REGION_A_SIZE],
			.offset = v[GMEMFS_CTL_REGION_A_OFFSET],
			.page_size = v[GMEMFS_CTL_REGION_A_PAGE_SIZE],
		};
		(*n)++;
	}
	return 0;
}

/* PATH: a shmem file the regions map shared, read and writable by the
 * requester; its backing fd for the prefetcher and its size. */
static int gm_lazy_backing(struct gm_ctl_req *r, struct gm_uffd_sess_args *a)
{
	struct gmemfs_info info = { 0 };
	struct gm_inode *inode;
	int err;

	err = gm_ctl_resolve_may(r, R_OK | W_OK, &inode);
	if (err)
		return err;
	err = inode->type == S_IFREG ? gm_file_info(r->fs, inode, &info) : -EISDIR;
	if (err) {
		gm_ctl_fail(r, err, "not a regular file with a backing");
		goto out;
	}
	if (info.flags & GMEMFS_INFO_SECRET) {
		err = gm_ctl_fail(r, -EOPNOTSUPP, "a shim-secret file: userfaultfd does not "
				  "apply to its PFN mappings; restore eagerly or in ask mode");
		goto out;
	}
	if (info.provider == GMEMFS_PROV_KVM_GMEM) {
		err = gm_ctl_fail(r, -EOPNOTSUPP, "a kvm-gmem file cannot be restored lazily: "
				  "guest_memfd has no userfaultfd support; restore it eagerly");
		goto out;
	}
	if (!gmemfs_prov_is_shmem(info.provider)) {
		err = gm_ctl_fail(r, -EOPNOTSUPP, "a %s file: lazy restore with PATH serves "
				  "shmem files", gmemfs_prov_name(info.provider));
		goto out;
	}
	err = gm_handout_open(r->fs, inode);
	if (err < 0) {
		gm_ctl_fail(r, err, "cannot open the file's backing");
		goto out;
	}
	a->backing_fd = err;
	a->backing_size = info.size;
	a->file_ino = inode->ino;
	err = 0;
out:
	gm_fs_put(r->fs, inode);
	return err;
}

/* Private ranges are recreated by an eager restore only: a lazy one's
 * placement (uffd/) would fill them as shared memory. */
static int gm_lazy_no_private(struct gm_uffd_sess *s, char why[GM_CHAN_WHY_MAX])
{
	if (!s->snap.npriv)
		return 0;
	snprintf(why, GM_CHAN_WHY_MAX, "the snapshot holds %zu private ranges, which a lazy "
		 "restore cannot recreate; restore it eagerly into a shim file", s->snap.npriv);
	return -EOPNOTSUPP;
}

/* A uffd places pages in the VMM's mappings, which a uffd can serve only
 * when they are not secret: userfaultfd does not apply to the PFN mappings
 * of secret memory.  A secret snapshot goes there only when forced. */
static int gm_lazy_uffd_secret(struct gm_uffd_sess *s, uint32_t flags,
			       char why[GM_CHAN_WHY_MAX])
{
	if (!gm_snap_secret(&s->snap))
		return 0;
	if (!(flags & GMEMFS_CTL_F_FORCE)) {
		snprintf(why, GM_CHAN_WHY_MAX, "a secret snapshot: userfaultfd does not apply to "
			 "PFN mappings; restore eagerly or in ask mode into a shim-secret file");
		return -EOPNOTSUPP;
	}
	gm_warn("lazy restore: a secret snapshot forced through a userfaultfd into memory "
		"that is not secret");
	return 0;
}

int gm_lazy_start(struct gm_ctl_req *r, const char *what, struct gm_uffd_sess_args *a,
		  uint64_t *id)
{
	char why[GM_CHAN_WHY_MAX];
	struct gm_uffd_sess *s = NULL;
	int err;

	err = gm_uffd_sess_new(a, &s, why);
	if (!err)
		err = gm_lazy_uffd_secret(s, a->flags, why);
	if (!err)
		err = gm_lazy_no_private(s, why);
	if (err && s)
		gm_uffd_sess_free(s);
	else if (!err)
		err = gm_uffd_sess_start(s, id, why);
	if (err)
		return gm_ctl_fail(r, err, "%s%s", what, why);
	return 0;
}

/* Ask mode's target: a shim file holding no memory.  *info and 0, or
 * -errno with why. */
static int gm_lazy_ask_target(struct gm_ctl_req *r, struct gm_inode *inode,
			      struct gmemfs_info *info, char why[GM_CHAN_WHY_MAX])
{
	int err = inode->type == S_IFREG ? gm_file_info(r->fs, inode, info) : -EISDIR;

	if (err == -EISDIR)
		return snprintf(why, GM_CHAN_WHY_MAX, "not a regular file"), err;
	/* A shim file gets its shim file at creation: no backing, no shim. */
	if (err || info->provider != GMEMFS_PROV_SHIM)
		return snprintf(why, GM_CHAN_WHY_MAX, "a %s file: a lazy restore without a uffd "
				"serves shim files (ask mode); hand over the VMM's uffd",
				err ? "memoryless" : gmemfs_prov_name(info->provider)), -EOPNOTSUPP;
	if (info->populated)
		return snprintf(why, GM_CHAN_WHY_MAX, "the file holds %llu bytes of memory; a "
				"lazy restore needs one that holds none",
				(unsigned long long)info->populated), -EBUSY;
	return 0;
}

/* Ask mode: a secret snapshot into a shim file that is not secret only
 * when forced, as an eager restore. */
static int gm_lazy_ask_secret(const struct gm_uffd_sess *s, const struct gmemfs_info *info,
			      uint32_t flags, char why[GM_CHAN_WHY_MAX])
{
	if (!gm_snap_secret(&s->snap) || info->flags & GMEMFS_INFO_SECRET)
		return 0;
	if (!(flags & GMEMFS_CTL_F_FORCE))
		return snprintf(why, GM_CHAN_WHY_MAX, "the snapshot is secret and file %llu is "
				"not: restore it into a shim-secret file, or force it",
				(unsigned long long)info->id), -EPERM;
	gm_warn("lazy restore into file %llu: a secret snapshot forced into memory that is "
		"not secret", (unsigned long long)info->id);
	return 0;
}

/* The target's size: 0 (then set to the snapshot's) or the snapshot's. */
static int gm_lazy_ask_size(struct gm_ctl_req *r, struct gm_inode *inode, uint64_t size,
			    uint64_t mem_size, char why[GM_CHAN_WHY_MAX])
{
	int err;

	if (size && size != mem_size)
		return snprintf(why, GM_CHAN_WHY_MAX, "the file has %llu bytes, the snapshot %llu",
				(unsigned long long)size, (unsigned long long)mem_size), -EINVAL;
	err = size ? 0 : gm_backing_set_size(r->fs, inode, mem_size);
	if (!err && !size)
		gm_fs_attr_changed(r->fs, inode);
	if (err)
		snprintf(why, GM_CHAN_WHY_MAX, "sizing the file to %llu bytes: %s",
			 (unsigned long long)mem_size, strerror(-err));
	return err;
}

/* RESTORE_LAZY without a uffd: PATH's shim file restored in ask mode, for
 * every consumer of it (docs/lazy-restore.md). */
static int gm_lazy_ask(struct gm_ctl_req *r, struct gm_uffd_sess_args *a)
{
	struct gmemfs_info info = { 0 };
	char why[GM_CHAN_WHY_MAX];
	struct gm_uffd_sess *s = NULL;
	struct gm_inode *inode;
	uint64_t id;
	int err;

	a->kind = GM_LAZYREC_ASK;
	if (!r->m.tb[GMEMFS_CTL_A_PATH])
		return gm_ctl_fail(r, -EBADF, "%u fds: the uffd, then an image and an index per "
				   "layer (without a uffd, PATH names a shim file)", r->nfds_in);
	if (r->m.tb[GMEMFS_CTL_A_REGION])
		return gm_ctl_fail(r, -EINVAL, "ask mode serves the file itself, not a VMM's "
				   "regions: send no REGION without a uffd");
	err = gm_ctl_resolve_may(r, R_OK | W_OK, &inode);
	if (!err)
		err = gm_ctl_require_shim_owner(r, inode);
	if (err) {
		if (inode)
			gm_fs_put(r->fs, inode);
		return err;
	}
	err = gm_lazy_ask_target(r, inode, &info, why);
	if (!err) {
		a->ask_ino = inode->ino;
		a->snap_fds = r->fds_in;
		a->nsnap_fds = r->nfds_in;
		r->fd_in = -1;
		err = gm_uffd_sess_new(a, &s, why);
	}
	if (!err)
		err = gm_lazy_no_private(s, why);
	if (!err)
		err = gm_lazy_ask_secret(s, &info, a->flags, why);
	if (!err)
		err = gm_lazy_ask_size(r, inode, info.size, s->snap.mem_size, why);
	if (err)
		gm_uffd_sess_free(s);
	else
		err = gm_uffd_sess_start(s, &id, why);
	gm_fs_put(r->fs, inode);
	if (err)
		return gm_ctl_fail(r, err, "%s", why);
	if (nla_put_u64(r->reply, GMEMFS_CTL_A_SESSION, id) < 0)
		return gm_ctl_fail(r, -EMSGSIZE, "no room for the answer");
	return 0;
}

int gm_ctl_cmd_restore_lazy(struct gm_ctl_req *r)
{
	struct gm_uffd_region reg[GM_UFFD_MAX_REGIONS];
	struct gm_uffd_sess_args a = {
		.uffd = -1, .pidfd = -1, .backing_fd = -1, .regions = reg,
		.pid = r->cred->pid, .uid = r->cred->uid, .kind = GM_LAZYREC_CTL,
	};
	char why[GM_CHAN_WHY_MAX];
	uint64_t id;
	int err;

	err = gm_lazy_check_flags(r, &a.flags);
	if (err)
		return err;
	if (r->nfds_in % 2 == 0)
		return gm_lazy_ask(r, &a);
	err = gm_lazy_check_uffd(r->fds_in[0], why, sizeof(why));
	if (err)
		return gm_ctl_fail(r, err, "%s", why);
	err = gm_lazy_regions(r, reg, &a.nregions);
	if (err)
		return err;
	if (!a.nregions)
		return gm_ctl_fail(r, -EINVAL, "a uffd and no REGION: name the mappings it serves");
	if (r->m.tb[GMEMFS_CTL_A_PATH]) {
		err = gm_lazy_backing(r, &a);
		if (err)
			return err;
	}
	a.pidfd = gm_lazy_peer_pidfd(gm_ctl_conn_fd(r->conn), r->cred->pid);
	if (a.pidfd < 0) {
		if (a.backing_fd >= 0)
			close(a.backing_fd);
		return gm_ctl_fail(r, a.pidfd, "no pidfd for the VMM, pid %d", (int)r->cred->pid);
	}
	a.uffd = r->fds_in[0];
	r->fds_in[0] = r->fd_in = -1;
	a.snap_fds = &r->fds_in[1];
	a.nsnap_fds = r->nfds_in - 1;
	err = gm_lazy_start(r, "", &a, &id);
	if (err)
		return err;
	if (nla_put_u64(r->reply, GMEMFS_CTL_A_SESSION, id) < 0)
		return gm_ctl_fail(r, -EMSGSIZE, "no room for the answer");
	return 0;
}

/* The record's VMM is the requester, who may resume it. */
static int gm_lazy_resume_may(struct gm_ctl_req *r, const struct gm_lazyrec *rec)
{
	char why[GM_CHAN_WHY_MAX];
	int err;

	if (rec->kind != GM_LAZYREC_CTL)
		return gm_ctl_fail(r, -EINVAL, "session %llu was not started with RESTORE_LAZY",
				   (unsigned long long)rec->id);
	if (r->cred->uid && r->cred->uid != rec->uid)
		return gm_ctl_fail(r, -EPERM, "session %llu is uid %u's",
				   (unsigned long long)rec->id, rec->uid);
	err = gm_resume_check_vmm(rec, r->cred->pid, why);
	return err ? gm_ctl_fail(r, err, "%s", why) : 0;
}

/* RESUME_LAZY: the VMM of a session the daemon served before it died
 * hands its uffd back (uffd/resume.c). */
int gm_ctl_cmd_resume_lazy(struct gm_ctl_req *r)
{
	uint64_t id = nla_get_u64(r->m.tb[GMEMFS_CTL_A_SESSION]);
	char why[GM_CHAN_WHY_MAX];
	struct gm_lazyrec *rec;
	int err, pidfd, uffd;

	err = gm_lazy_check_uffd(r->fds_in[0], why, sizeof(why));
	if (err)
		return gm_ctl_fail(r, err, "%s", why);
	err = gm_lazyrec_load(id, &rec, why);
	if (err)
		return gm_ctl_fail(r, err, "%s", why);
	err = gm_lazy_resume_may(r, rec);
	pidfd = err ? err : gm_lazy_peer_pidfd(gm_ctl_conn_fd(r->conn), r->cred->pid);
	if (!err && pidfd < 0)
		err = gm_ctl_fail(r, pidfd, "no pidfd for the VMM, pid %d", (int)r->cred->pid);
	if (!err) {
		uffd = r->fds_in[0];
		r->fds_in[0] = r->fd_in = -1;
		err = gm_resume_session(rec, uffd, pidfd, why);
		if (err)
			gm_ctl_fail(r, err, "resuming session %llu: %s", (unsigned long long)id, why);
	}
	gm_lazyrec_free(rec);
	if (!err && nla_put_u64(r->reply, GMEMFS_CTL_A_SESSION, id) < 0)
		return gm_ctl_fail(r, -EMSGSIZE, "no room for the answer");
	return err;
}

static int gm_lazy_put_figures(struct nl_msg *msg, const struct gm_uffd_figures *f)
{
	const struct { int attr; uint64_t v; } u64s[] = {
		{ GMEMFS_CTL_A_SESSION, f->id }, { GMEMFS_CTL_A_SESS_FAULTS, f->faults },
		{ GMEMFS_CTL_A_SESS_PREFETCHED, f->prefetched }, { GMEMFS_CTL_A_SESS_BYTES, f->bytes },
		{ GMEMFS_CTL_A_SESS_MINOR, f->minor }, { GMEMFS_CTL_A_SESS_CORRUPT, f->corrupt },
		{ GMEMFS_CTL_A_SESS_REMOVED, f->removed }, { GMEMFS_CTL_A_SESS_WS, f->ws },
		{ GMEMFS_CTL_A_SESS_LAT_P50, f->lat_p50_ns },
		{ GMEMFS_CTL_A_SESS_LAT_P99, f->lat_p99_ns }, { GMEMFS_CTL_A_SESS_UNIT, f->unit },
	};

	if (nla_put_u32(msg, GMEMFS_CTL_A_PID, f->pid) < 0 ||
	    nla_put_u32(msg, GMEMFS_CTL_A_UID, f->uid) < 0 ||
	    nla_put_u32(msg, GMEMFS_CTL_A_SESS_STATE, f->state) < 0)
		return -EMSGSIZE;
	for (size_t i = 0; i < sizeof(u64s) / sizeof(u64s[0]); i++) {
		if (nla_put_u64(msg, u64s[i].attr, u64s[i].v) < 0)
			return -EMSGSIZE;
	}
	return 0;
}

static int gm_lazy_send_session(void *ctx, const struct gm_uffd_figures *f)
{
	struct gm_ctl_req *r = ctx;
	struct nl_msg *msg = gm_chan_new(r->m.cmd, r->m.seq, NLM_F_MULTI);
	int err = -ENOMEM;

	if (msg)
		err = gm_lazy_put_figures(msg, f);
	if (!err)
		err = r->send(r->conn, msg, -1);
	nlmsg_free(msg);
	return err;
}

int gm_ctl_cmd_sessions(struct gm_ctl_req *r)
{
	int err = gm_uffd_sessions_each(r->cred->uid, gm_lazy_send_session, r);

	return err ? gm_ctl_fail(r, err, "listing sessions stopped") : 0;
}
