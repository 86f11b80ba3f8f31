/*
 * Control requests: validation against the command's spec, the table of
 * ops, and the reply (see cmd.h).  The handlers are in cmd_*.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl/cmd.h"
#include "core/log.h"

typedef int (*gm_ctl_handler)(struct gm_ctl_req *r);

#define OP(c)	[GMEMFS_CTL_CMD_##c - GMEMFS_CTL_CMD_FIRST]

static const gm_ctl_handler gm_ctl_ops[] = {
	OP(OPEN) = gm_ctl_cmd_open,
	OP(INFO) = gm_ctl_cmd_info,
	OP(POOL) = gm_ctl_cmd_pool,
	OP(POLICY_GET) = gm_ctl_cmd_policy_get,
	OP(POLICY_SET) = gm_ctl_cmd_policy_set,
	OP(ATTACH_VM) = gm_ctl_cmd_attach_vm,
	OP(LIST) = gm_ctl_cmd_list,
	OP(RESTORE_LAZY) = gm_ctl_cmd_restore_lazy,
	OP(UFFD_LISTEN) = gm_ctl_cmd_uffd_listen,
	OP(SESSIONS) = gm_ctl_cmd_sessions,
	OP(SNAPSHOT) = gm_ctl_cmd_snapshot,
	OP(RESTORE) = gm_ctl_cmd_restore,
	OP(METRICS) = gm_ctl_cmd_metrics,
	OP(RECORD_WS) = gm_ctl_cmd_record_ws,
	OP(RESUME_LAZY) = gm_ctl_cmd_resume_lazy,
};

int gm_ctl_fail(struct gm_ctl_req *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	gm_info("ctl: pid %d uid %u: %s '%s': %s (%s)", (int)r->cred->pid,
		(unsigned)r->cred->uid, r->spec ? r->spec->name : "request",
		r->path ? r->path : "", r->why, strerror(-err));
	return err;
}

/* The fds a request carries must be what its command takes. */
static int gm_ctl_take_fds(struct gm_ctl_req *r, int *fds, unsigned nfds)
{
	const struct gm_chan_cmd_spec *sp = r->spec;

	if (nfds < sp->nfds || nfds > sp->nfds_max) {
		if (sp->nfds == sp->nfds_max)
			return gm_ctl_fail(r, sp->nfds ? -EBADF : -EINVAL,
					   "%u file descriptors attached, the command takes %u",
					   nfds, sp->nfds);
		return gm_ctl_fail(r, -EBADF,
				   "%u file descriptors attached, the command takes %u to %u",
				   nfds, sp->nfds, sp->nfds_max);
	}
	for (unsigned i = 0; i < nfds; i++) {
		if (fds[i] < 0)
			return gm_ctl_fail(r, -EBADF, "file descriptor %u did not arrive", i);
		r->fds_in[i] = fds[i];
		fds[i] = -1;
	}
	r->nfds_in = nfds;
	r->fd_in = nfds ? r->fds_in[0] : -1;
	return 0;
}

static int gm_ctl_parse(struct gm_ctl_req *r, void *buf, size_t len, int *fds, unsigned nfds)
{
	int err;

	err = gm_chan_parse_request(buf, len, &r->m, r->why);
	if (err) {
		gm_info("ctl: pid %d uid %u: malformed request refused: %s (%s)",
			(int)r->cred->pid, (unsigned)r->cred->uid, r->why, strerror(-err));
		return err;
	}
	r->spec = gm_chan_cmd(r->m.cmd);
	r->path = r->m.tb[GMEMFS_CTL_A_PATH] ? nla_get_string(r->m.tb[GMEMFS_CTL_A_PATH]) : "";
	return gm_ctl_take_fds(r, fds, nfds);
}

static int gm_ctl_run(struct gm_ctl_req *r)
{
	int err;

	if (!r->spec->dump) {
		r->reply = gm_chan_new(r->m.cmd, r->m.seq, 0);
		if (!r->reply)
			return gm_ctl_fail(r, -ENOMEM, "no memory for the reply");
	}
	if (r->m.cmd - GMEMFS_CTL_CMD_FIRST >= sizeof(gm_ctl_ops) / sizeof(gm_ctl_ops[0]) ||
	    !gm_ctl_ops[r->m.cmd - GMEMFS_CTL_CMD_FIRST])
		return gm_ctl_fail(r, -EOPNOTSUPP, "%s is not served by this daemon",
				   r->spec->name);
	err = gm_ctl_ops[r->m.cmd - GMEMFS_CTL_CMD_FIRST](r);
	if (err || !r->spec->dump)
		return err;
	r->reply = gm_chan_new_done(r->m.seq);
	return r->reply ? 0 : gm_ctl_fail(r, -ENOMEM, "no memory for the reply");
}

/* fd_in is fds_in[0]: a handler that keeps its fd sets either to -1. */
static void gm_ctl_close_fds_in(struct gm_ctl_req *r)
{
	if (r->fd_in < 0 && r->nfds_in)
		r->fds_in[0] = -1;
	for (unsigned i = 0; i < r->nfds_in; i++) {
		if (r->fds_in[i] >= 0)
			close(r->fds_in[i]);
	}
}

int gm_ctl_request(struct gm_fs *fs, const struct gm_cred *cred, void *buf, size_t len,
		   int *fds, unsigned nfds, gm_ctl_send_fn send, void *conn)
{
	struct gm_ctl_req r = {
		.fs = fs, .cred = cred, .fd_in = -1, .fd_out = -1, .send = send, .conn = conn,
	};
	int err;

	err = gm_ctl_parse(&r, buf, len, fds, nfds);
	if (!err)
		err = gm_ctl_run(&r);
	if (err) {
		nlmsg_free(r.reply);
		r.reply = gm_chan_new_error(r.m.nlh, r.m.seq, err, r.why);
		if (r.fd_out >= 0)
			close(r.fd_out);
		r.fd_out = -1;
	}
	err = r.reply ? send(conn, r.reply, r.fd_out) : -ENOMEM;
	nlmsg_free(r.reply);
	for (unsigned i = 0; i < nfds; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
	}
	gm_ctl_close_fds_in(&r);
	if (r.fd_out >= 0)
		close(r.fd_out);
	return err;
}
