/*
 * The METRICS command: the text of .gmemfs/metrics (fuse/metrics.c) over
 * the control socket, for scrapers that do not read the mount.  The text
 * goes out in TEXT pieces of one message each, as a dump, because a
 * message is at most GMEMFS_CTL_MSG_MAX bytes and the text, with many
 * lazy-restore sessions, is longer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/cmd.h"
#include "fuse/fsops.h"

/* One piece of len bytes (< GMEMFS_CTL_TEXT_MAX) as a string attribute. */
static int gm_ctl_send_text(struct gm_ctl_req *r, const char *text, size_t len)
{
	struct nl_msg *msg = gm_chan_new(r->m.cmd, r->m.seq, NLM_F_MULTI);
	struct nlattr *a;
	int err = -ENOMEM;

	if (!msg)
		return err;
	err = -EMSGSIZE;
	a = nla_reserve(msg, GMEMFS_CTL_A_TEXT, len + 1);
	if (a) {
		memcpy(nla_data(a), text, len);
		((char *)nla_data(a))[len] = '\0';
		err = r->send(r->conn, msg, -1);
	}
	nlmsg_free(msg);
	return err;
}

int gm_ctl_cmd_metrics(struct gm_ctl_req *r)
{
	size_t len, off, n;
	char *text;
	int err = 0;

	text = gm_metrics_text(r->fs, r->cred->uid, &len);
	if (!text)
		return gm_ctl_fail(r, -ENOMEM, "cannot render the metrics");
	for (off = 0; off < len && !err; off += n) {
		n = len - off < GMEMFS_CTL_TEXT_MAX - 1 ? len - off : GMEMFS_CTL_TEXT_MAX - 1;
		err = gm_ctl_send_text(r, text + off, n);
	}
	free(text);
	return err ? gm_ctl_fail(r, err, "sending the metrics stopped") : 0;
}
