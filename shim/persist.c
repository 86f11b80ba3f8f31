// SPDX-License-Identifier: GPL-2.0
/*
 * The commands of files the module keeps for a daemon's state directory
 * (its token): OPEN one again by id, LIST them, DELETE one.  A restarted
 * daemon LISTs, matches each COOKIE to a file of its journal, OPENs those
 * and DELETEs the rest.  Only the daemon registered with the files' token
 * reaches them (shim_nl_file()).
 *
 * Not for: creation (file.c), the other commands (netlink.c).
 */
#include <linux/file.h>

#include "shim.h"
#include "netlink.h"

/* The daemon's file FILE_ID, referenced; ERR_PTR (extack set) if not. */
static struct shim_file *shim_nl_own_file(struct genl_info *info)
{
	int err = shim_nl_daemon_req(info, GMEMFS_SHIM_A_FILE_ID, 0);

	return err ? ERR_PTR(err) : shim_nl_file(info);
}

int shim_nl_open_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct shim_file *sf = shim_nl_own_file(info);
	struct file *file;
	int fd, err;

	if (IS_ERR(sf))
		return PTR_ERR(sf);
	fd = get_unused_fd_flags(O_CLOEXEC);
	err = fd;
	if (fd < 0)
		goto out_put;
	file = shim_file_open(sf);
	err = PTR_ERR(file);
	if (IS_ERR(file)) {
		GENL_SET_ERR_MSG(info, "the module keeps the file no more (deleted, or created without a token)");
		put_unused_fd(fd);
		goto out_put;
	}
	err = shim_nl_reply_install(info, sf->id, file, fd);
out_put:
	shim_file_put(sf);
	return err;
}

int shim_nl_delete_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct shim_file *sf = shim_nl_own_file(info);
	int err;

	if (IS_ERR(sf))
		return PTR_ERR(sf);
	err = shim_file_delete(sf);
	if (err)
		GENL_SET_ERR_MSG(info, "the module keeps the file no more (deleted, or created without a token)");
	else
		pr_info("gmemfs: file %u deleted by its daemon; its pages go with its last fd and mapping\n",
			sf->id);
	shim_file_put(sf);
	return err;
}

/* One FILE nest; -EMSGSIZE (nothing added) if it does not fit. */
static int shim_nl_put_file(struct sk_buff *msg, struct shim_file *sf)
{
	struct nlattr *nest = nla_nest_start(msg, GMEMFS_SHIM_A_FILE);

	if (!nest ||
	    nla_put_u32(msg, GMEMFS_SHIM_A_FILE_ID, sf->id) ||
	    nla_put_u64_64bit(msg, GMEMFS_SHIM_A_SIZE, i_size_read(sf->inode), GMEMFS_SHIM_A_PAD) ||
	    nla_put_u32(msg, GMEMFS_SHIM_A_PAGE_ORDER, sf->order) ||
	    nla_put_u32(msg, GMEMFS_SHIM_A_FAULT_MODE, READ_ONCE(sf->mode)) ||
	    nla_put_u32(msg, GMEMFS_SHIM_A_FLAGS, sf->flags) ||
	    nla_put_u64_64bit(msg, GMEMFS_SHIM_A_PAGES, shim_file_pages(sf), GMEMFS_SHIM_A_PAD) ||
	    nla_put_u64_64bit(msg, GMEMFS_SHIM_A_COOKIE, sf->cookie, GMEMFS_SHIM_A_PAD)) {
		if (nest)
			nla_nest_cancel(msg, nest);
		return -EMSGSIZE;
	}
	nla_nest_end(msg, nest);
	return 0;
}

/* The owner's files from FILE_ID on, as many as fit in one reply. */
static void shim_nl_list_fill(struct sk_buff *msg, struct shim_owner *o,
			      u32 id)
{
	struct shim_file *sf;
	int err = 0;

	while (!err && id && (sf = shim_file_kept_next(o, &id))) {
		err = shim_nl_put_file(msg, sf);
		shim_file_put(sf);
		id++;	/* 0 after the last id: done */
	}
}

int shim_nl_list_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *first = info->attrs[GMEMFS_SHIM_A_FILE_ID];
	struct shim_owner *o;
	struct sk_buff *msg;
	void *hdr;

	msg = shim_nl_reply_new(info, GMEMFS_SHIM_CMD_LIST, &hdr);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	/* A daemon without a token keeps no files: an empty reply. */
	o = shim_daemon_owner();
	if (o)
		shim_nl_list_fill(msg, o, first ? max(nla_get_u32(first), 1U) : 1);
	shim_owner_put(o);
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}
