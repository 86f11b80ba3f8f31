/*
 * The list command: a directory's entries, one message each (a netlink
 * dump).  Entries are taken in batches under tree_lock, each with an inode
 * reference, and sent after the lock is dropped: a client that reads its
 * replies slowly stalls only its own connection, never a namespace change.
 * Cookies only grow, so entries added or removed meanwhile never make the
 * walk skip or repeat another.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/cmd.h"

#define GM_CTL_LIST_BATCH 32

struct gm_ctl_entry {
	struct gm_inode *inode;		/* referenced */
	char *name;
};

/* Up to GM_CTL_LIST_BATCH entries of c's directory after *cookie: how
 * many, or -ENOMEM when not even one could be taken (*cookie stays before
 * it). */
static int gm_ctl_list_batch(struct gm_fs *fs, struct gm_dir_cursor *c, uint64_t *cookie,
			     struct gm_ctl_entry *e)
{
	struct gm_dentry *d;
	unsigned n = 0;

	pthread_mutex_lock(&fs->it.tree_lock);
	for (d = gm_dir_cursor_seek(c, *cookie); d && n < GM_CTL_LIST_BATCH;
	     d = gm_dir_cursor_next(c, d)) {
		if (!d->inode->is_virtual) {
			e[n].name = strdup(d->name);
			if (!e[n].name)
				break;
			e[n].inode = d->inode;
			gm_inode_ref(d->inode, 1);
			n++;
		}
		*cookie = d->cookie;
	}
	pthread_mutex_unlock(&fs->it.tree_lock);
	return n == 0 && d ? -ENOMEM : (int)n;
}

static int gm_ctl_list_send(struct gm_ctl_req *r, struct gm_ctl_entry *e)
{
	struct nl_msg *msg = gm_chan_new(r->m.cmd, r->m.seq, NLM_F_MULTI);
	int err = -ENOMEM;

	if (!msg)
		return err;
	err = nla_put_string(msg, GMEMFS_CTL_A_NAME, e->name) < 0 ? -EMSGSIZE :
	      gm_ctl_put_attrs(r->fs, msg, e->inode);
	/* An entry whose backing vanished (unlinked meanwhile) is left out. */
	if (!err)
		err = r->send(r->conn, msg, -1);
	else if (err != -EMSGSIZE && err != -ENOMEM)
		err = 0;
	nlmsg_free(msg);
	return err;
}

/* dir is referenced by the caller for as long as the cursor is open. */
static int gm_ctl_list_dir(struct gm_ctl_req *r, struct gm_inode *dir)
{
	struct gm_ctl_entry e[GM_CTL_LIST_BATCH];
	struct gm_dir_cursor cur;
	uint64_t cookie = 0;
	int n, i, err = 0;

	pthread_mutex_lock(&r->fs->it.tree_lock);
	gm_dir_cursor_open(&cur, dir);
	pthread_mutex_unlock(&r->fs->it.tree_lock);
	while (!err && (n = gm_ctl_list_batch(r->fs, &cur, &cookie, e)) != 0) {
		if (n < 0) {
			err = n;
			break;
		}
		for (i = 0; i < n; i++) {
			if (!err)
				err = gm_ctl_list_send(r, &e[i]);
			gm_fs_put(r->fs, e[i].inode);
			free(e[i].name);
		}
	}
	pthread_mutex_lock(&r->fs->it.tree_lock);
	gm_dir_cursor_close(&cur);
	pthread_mutex_unlock(&r->fs->it.tree_lock);
	return err ? gm_ctl_fail(r, err, "listing stopped") : 0;
}

int gm_ctl_cmd_list(struct gm_ctl_req *r)
{
	struct gm_inode *dir;
	int err;

	err = gm_ctl_resolve_may(r, R_OK | X_OK, &dir);
	if (err)
		return err;
	if (dir->type != S_IFDIR)
		err = gm_ctl_fail(r, -ENOTDIR, "not a directory");
	else
		err = gm_ctl_list_dir(r, dir);
	gm_fs_put(r->fs, dir);
	return err;
}
