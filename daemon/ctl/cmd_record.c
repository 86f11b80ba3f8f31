/*
 * Control command RECORD_WS: a VMM arms the recording of a working set of
 * a file it maps (its userfaultfd and the region), then anyone allowed
 * runs a recording of it; the work is in uffd/record.c.
 *
 * Not for: storing the recording in a snapshot (cmd_snap.c calls
 * gm_record_store), the lazy restore's own recording (uffd/serve.c).
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include "ctl/cmd.h"
#include "ctl/cmd_lazy.h"
#include "ctl/sock.h"
#include "core/log.h"
#include "uffd/record.h"

#define RECORD_INTERVAL_MS	100
#define RECORD_DURATION_MS	10000
#define RECORD_DURATION_MAX_MS	(24u * 3600 * 1000)

static int record_arm(struct gm_ctl_req *r, struct gm_inode *inode)
{
	uint64_t v[GMEMFS_CTL_REGION_A_MAX + 1];
	char why[GM_CHAN_WHY_MAX];
	struct gm_record_region reg;
	int uffd, err;

	if (!r->m.tb[GMEMFS_CTL_A_REGION])
		return gm_ctl_fail(r, -EINVAL, "a userfaultfd but no REGION");
	err = gm_chan_parse_region(r->m.tb[GMEMFS_CTL_A_REGION], v, why);
	if (err)
		return gm_ctl_fail(r, err, "region: %s", why);
	err = gm_lazy_check_uffd(r->fd_in, why, sizeof(why));
	if (err)
		return gm_ctl_fail(r, err, "%s", why);
	reg = (struct gm_record_region){ .addr = v[GMEMFS_CTL_REGION_A_ADDR],
					 .size = v[GMEMFS_CTL_REGION_A_SIZE],
					 .offset = v[GMEMFS_CTL_REGION_A_OFFSET] };
	uffd = r->fds_in[0];
	r->fds_in[0] = -1;		/* gm_record_arm owns it now */
	err = gm_record_arm(r->fs, inode->ino, r->cred->uid, r->cred->pid, uffd, &reg, why,
			    sizeof(why));
	if (err)
		return gm_ctl_fail(r, err, "file %llu: %s", (unsigned long long)inode->ino, why);
	gm_info("ctl: pid %d: record-ws '%s' armed, %llu bytes at offset %llu", (int)r->cred->pid,
		r->path, (unsigned long long)reg.size, (unsigned long long)reg.offset);
	return 0;
}

static uint32_t record_u32(struct gm_ctl_req *r, int a, uint32_t dflt)
{
	return r->m.tb[a] ? nla_get_u32(r->m.tb[a]) : dflt;
}

static int record_run(struct gm_ctl_req *r, struct gm_inode *inode)
{
	uint32_t interval = record_u32(r, GMEMFS_CTL_A_RECORD_INTERVAL, RECORD_INTERVAL_MS);
	uint32_t duration = record_u32(r, GMEMFS_CTL_A_RECORD_DURATION, RECORD_DURATION_MS);
	char why[GM_CHAN_WHY_MAX];
	uint64_t units = 0;
	int conn_fd, err;

	if (!interval || duration > RECORD_DURATION_MAX_MS)
		return gm_ctl_fail(r, -EINVAL, "interval %u ms, duration %u ms: out of range",
				   interval, duration);
	/* a recording ends early when its requester hangs up */
	conn_fd = r->conn ? gm_ctl_conn_fd(r->conn) : -1;
	err = gm_record_run(r->fs, inode->ino, r->cred->uid, conn_fd, interval, duration, &units,
			    why, sizeof(why));
	if (err)
		return gm_ctl_fail(r, err, "file %llu: %s", (unsigned long long)inode->ino, why);
	if (nla_put_u64(r->reply, GMEMFS_CTL_A_RECORD_UNITS, units) < 0)
		return gm_ctl_fail(r, -EMSGSIZE, "the reply does not fit");
	gm_info("ctl: pid %d: record-ws '%s': %llu pages in %u ms, a scan every %u ms",
		(int)r->cred->pid, r->path, (unsigned long long)units, duration, interval);
	return 0;
}

int gm_ctl_cmd_record_ws(struct gm_ctl_req *r)
{
	struct gm_inode *inode;
	int err;

	err = gm_ctl_resolve_may(r, R_OK, &inode);
	if (err)
		return err;
	if (inode->type != S_IFREG || inode->is_virtual)
		err = gm_ctl_fail(r, -EINVAL, "not a guest-memory file");
	else if (r->nfds_in)
		err = record_arm(r, inode);
	else
		err = record_run(r, inode);
	gm_fs_put(r->fs, inode);
	return err;
}
