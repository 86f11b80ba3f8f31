// SPDX-License-Identifier: GPL-2.0
/*
 * Handlers of the gmemfs family's commands (table in genl.c).  Each checks
 * the sender and its attributes, says why in extack when it refuses, and
 * calls into daemon.c or file.c for the work.
 *
 * Not for: the policy or the ops table (genl.c).
 */
#include <linux/file.h>
#include <linux/mm.h>

#include "shim.h"
#include "netlink.h"

/* The daemon's commands: the sender must be it, and these attributes set. */
int shim_nl_daemon_req(struct genl_info *info, int attr1, int attr2)
{
	int err;

	err = shim_daemon_check(info);
	if (err)
		return err;
	if (GENL_REQ_ATTR_CHECK(info, attr1) ||
	    (attr2 && GENL_REQ_ATTR_CHECK(info, attr2)))
		return -EINVAL;
	return 0;
}

int shim_nl_register_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *token = info->attrs[GMEMFS_SHIM_A_TOKEN];

	/* The sender's socket and task both need it, as for other admin ops. */
	if (!netlink_capable(skb, CAP_SYS_ADMIN)) {
		GENL_SET_ERR_MSG(info, "registering needs CAP_SYS_ADMIN");
		return -EPERM;
	}
	if (token && nla_len(token) < GMEMFS_SHIM_TOKEN_MIN) {
		NL_SET_ERR_MSG_ATTR(info->extack, token, "a token has 16 to 32 bytes");
		return -EINVAL;
	}
	return shim_daemon_register(info, token ? nla_data(token) : NULL,
				    token ? nla_len(token) : 0);
}

int shim_nl_unregister_doit(struct sk_buff *skb, struct genl_info *info)
{
	return shim_daemon_unregister(info);
}

static int shim_nl_reply_created(struct genl_info *info, u32 id, int fd)
{
	struct sk_buff *msg;
	void *hdr;

	msg = genlmsg_new(GENLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &shim_genl_family, 0,
				GMEMFS_SHIM_CMD_CREATE);
	if (!hdr || nla_put_u32(msg, GMEMFS_SHIM_A_FILE_ID, id) ||
	    nla_put_u32(msg, GMEMFS_SHIM_A_FD, fd)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}

/* The reply, then @file at @fd in the sender's table; both undone on failure. */
int shim_nl_reply_install(struct genl_info *info, u32 id, struct file *file,
			  int fd)
{
	int err = shim_nl_reply_created(info, id, fd);

	if (err) {
		fput(file);
		put_unused_fd(fd);
		return err;
	}
	fd_install(fd, file);
	return 0;
}

static u32 shim_nl_get_u32(struct genl_info *info, int attr, u32 dflt)
{
	return info->attrs[attr] ? nla_get_u32(info->attrs[attr]) : dflt;
}

/* Like handshake's accept: the new fd goes into the sender's table. */
int shim_nl_create_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *cookie = info->attrs[GMEMFS_SHIM_A_COOKIE];
	struct shim_file_args args;
	struct file *file;
	int fd, err;
	u32 id;

	err = shim_nl_daemon_req(info, GMEMFS_SHIM_A_SIZE, 0);
	if (err)
		return err;
	args = (struct shim_file_args){
		.size = nla_get_u64(info->attrs[GMEMFS_SHIM_A_SIZE]),
		.flags = shim_nl_get_u32(info, GMEMFS_SHIM_A_FLAGS, 0),
		.order = shim_nl_get_u32(info, GMEMFS_SHIM_A_PAGE_ORDER, 0),
		.mode = shim_nl_get_u32(info, GMEMFS_SHIM_A_FAULT_MODE,
					GMEMFS_SHIM_FAULT_AUTO),
		.cookie = cookie ? nla_get_u64(cookie) : 0,
	};
	if (args.flags & ~GMEMFS_SHIM_F_ALL) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[GMEMFS_SHIM_A_FLAGS],
				    "unknown flags");
		return -EINVAL;
	}
	if ((args.flags & GMEMFS_SHIM_F_SECRET) && !shim_carve_pages()) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[GMEMFS_SHIM_A_FLAGS],
				    "no carve-out for secret files (module parameter carveout=)");
		return -EOPNOTSUPP;
	}

	fd = get_unused_fd_flags(O_CLOEXEC);
	if (fd < 0)
		return fd;
	args.owner = shim_daemon_owner();
	file = shim_file_create(&args, &id);
	shim_owner_put(args.owner);
	err = PTR_ERR(file);
	if (IS_ERR(file)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[GMEMFS_SHIM_A_SIZE],
				    "size is not a multiple of the page size, or no memory");
		goto err_fd;
	}
	return shim_nl_reply_install(info, id, file, fd);

err_fd:
	put_unused_fd(fd);
	return err;
}

/*
 * The shim file FILE_ID names, referenced, if it is the sender's state
 * directory's; ERR_PTR -ENOENT or -EPERM (extack set) if not.
 */
struct shim_file *shim_nl_file(struct genl_info *info)
{
	struct nlattr *attr = info->attrs[GMEMFS_SHIM_A_FILE_ID];
	struct shim_file *sf = shim_file_get(nla_get_u32(attr));
	int err;

	if (!sf) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "no such shim file");
		return ERR_PTR(-ENOENT);
	}
	err = shim_daemon_check_file(info, sf);
	return err ? ERR_PTR(err) : sf;
}

/*
 * A reply of @cmd to the registered daemon, as large as a reply goes, its
 * header at *@hdr; ERR_PTR if the sender is not the daemon, or no memory.
 */
struct sk_buff *shim_nl_reply_new(struct genl_info *info, u8 cmd, void **hdr)
{
	struct sk_buff *msg;
	int err;

	err = shim_daemon_check(info);
	if (err)
		return ERR_PTR(err);
	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return ERR_PTR(-ENOMEM);
	*hdr = genlmsg_put_reply(msg, info, &shim_genl_family, 0, cmd);
	if (!*hdr) {
		nlmsg_free(msg);
		return ERR_PTR(-EMSGSIZE);
	}
	return msg;
}

int shim_nl_accept_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int err;

	msg = shim_nl_reply_new(info, GMEMFS_SHIM_CMD_ACCEPT, &hdr);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	err = shim_events_fill(msg);
	if (err)
		goto err_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

err_free:
	nlmsg_free(msg);
	return err;
}

/*
 * POPULATE's data: the DATA attributes concatenated, since one attribute
 * holds less than 64K and a page may be 2M.  *len 0 if there are none.
 */
static void *shim_nl_data(struct genl_info *info, size_t *len)
{
	const int max = PAGE_SIZE << SHIM_MAX_ORDER;
	struct nlattr *a;
	size_t total = 0;
	char *buf;
	int rem;

	nla_for_each_attr(a, genlmsg_data(info->genlhdr), genlmsg_len(info->genlhdr), rem)
		if (nla_type(a) == GMEMFS_SHIM_A_DATA)
			total += nla_len(a);
	*len = total;
	if (!total || total > max)
		return NULL;
	buf = kvmalloc(total, GFP_KERNEL);
	if (!buf)
		return ERR_PTR(-ENOMEM);
	total = 0;
	nla_for_each_attr(a, genlmsg_data(info->genlhdr), genlmsg_len(info->genlhdr), rem)
		if (nla_type(a) == GMEMFS_SHIM_A_DATA) {
			memcpy(buf + total, nla_data(a), nla_len(a));
			total += nla_len(a);
		}
	return buf;
}

/*
 * POPULATE's bytes: the DATA, or with the ZERO flag, LENGTH bytes of zero
 * pages (*len 0 without it: the page at OFFSET); *data NULL for zeroes.
 */
static int shim_nl_populate_args(struct genl_info *info, void **data,
				 size_t *len)
{
	struct nlattr *length = info->attrs[GMEMFS_SHIM_A_LENGTH];
	u32 flags = shim_nl_get_u32(info, GMEMFS_SHIM_A_FLAGS, 0);
	bool zero = flags & GMEMFS_SHIM_POPULATE_ZERO;
	void *buf;
	u64 n;

	buf = shim_nl_data(info, len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	*data = buf;
	if (flags & ~GMEMFS_SHIM_POPULATE_ZERO || !*len == !zero) {
		GENL_SET_ERR_MSG(info, "populate needs exactly one of DATA and the ZERO flag");
		return -EINVAL;
	}
	if (*len && !buf) {
		GENL_SET_ERR_MSG(info, "data is longer than 2M");
		return -EINVAL;
	}
	if (!length)
		return 0;
	n = nla_get_u64(length);
	if (!zero || !n || n > PAGE_SIZE << SHIM_MAX_ORDER || n & (PAGE_SIZE - 1)) {
		NL_SET_ERR_MSG_ATTR(info->extack, length,
				    "LENGTH goes with the ZERO flag only, whole base pages up to 2M");
		return -EINVAL;
	}
	*len = n;
	return 0;
}

/* More than the page at @offset: consecutive base pages, each its own. */
static int shim_nl_populate_range(struct genl_info *info, struct shim_file *sf,
				  u64 offset, const void *data, size_t len)
{
	u64 size = i_size_read(sf->inode);
	int err;

	if (len & (PAGE_SIZE - 1)) {
		GENL_SET_ERR_MSG(info, "data longer than the page at offset must be whole base pages");
		return -EINVAL;
	}
	if (offset >= size || len > size - offset) {
		GENL_SET_ERR_MSG(info, "the range reaches beyond the end of the file");
		return -EINVAL;
	}
	err = shim_folio_populate_range(sf, offset >> PAGE_SHIFT, data,
					len >> PAGE_SHIFT);
	if (err == -EINVAL)
		GENL_SET_ERR_MSG(info, "the file shrank under the range");
	if (err == -EACCES)
		GENL_SET_ERR_MSG(info, "a page in the range is private (the pages before it were placed)");
	return err;
}

static int shim_nl_populate(struct genl_info *info, struct shim_file *sf,
			    const void *data, size_t len)
{
	loff_t offset = nla_get_u64(info->attrs[GMEMFS_SHIM_A_OFFSET]);
	loff_t page = PAGE_SIZE << shim_alloc_order(sf, offset >> PAGE_SHIFT);
	int err;

	if (offset & (PAGE_SIZE - 1)) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[GMEMFS_SHIM_A_OFFSET],
				    "offset is not page-aligned");
		return -EINVAL;
	}
	/* A large folio only where it starts (shim_folio_populate()). */
	if (offset & (page - 1))
		page = PAGE_SIZE;
	if (len > page)
		return shim_nl_populate_range(info, sf, offset, data, len);
	err = shim_folio_populate(sf, offset >> PAGE_SHIFT, data, len);
	if (err == -EINVAL)
		GENL_SET_ERR_MSG(info, "offset is beyond the end of the file");
	if (err == -EACCES)
		GENL_SET_ERR_MSG(info, "offset is in a private range");
	return err;
}

int shim_nl_populate_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct shim_file *sf;
	void *data = NULL;
	size_t len;
	u32 req_id;
	int err;

	err = shim_nl_daemon_req(info, GMEMFS_SHIM_A_FILE_ID, GMEMFS_SHIM_A_OFFSET);
	if (err)
		return err;
	req_id = shim_nl_get_u32(info, GMEMFS_SHIM_A_REQ_ID, 0);
	err = shim_nl_populate_args(info, &data, &len);
	if (err)
		goto out_data;
	sf = shim_nl_file(info);
	err = PTR_ERR(sf);
	if (IS_ERR(sf))
		goto out_data;
	err = shim_nl_populate(info, sf, data, len);
	if (err == -EEXIST && req_id)
		err = 0;	/* a racing populate already served the fault */
	if (req_id)
		shim_req_complete(req_id, err);
	shim_file_put(sf);
out_data:
	kvfree(data);
	return err;
}

int shim_nl_done_doit(struct sk_buff *skb, struct genl_info *info)
{
	int err;

	err = shim_nl_daemon_req(info, GMEMFS_SHIM_A_REQ_ID, GMEMFS_SHIM_A_STATUS);
	if (err)
		return err;
	err = shim_req_complete(nla_get_u32(info->attrs[GMEMFS_SHIM_A_REQ_ID]),
				-(int)nla_get_u32(info->attrs[GMEMFS_SHIM_A_STATUS]));
	if (err)
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[GMEMFS_SHIM_A_REQ_ID],
				    "no such pending request (answered, timed out or never sent)");
	return err;
}

int shim_nl_set_order_doit(struct sk_buff *skb, struct genl_info *info)
{
	const loff_t block = PAGE_SIZE << SHIM_MAX_ORDER;
	struct shim_file *sf;
	loff_t offset, len;
	int err;

	err = shim_nl_daemon_req(info, GMEMFS_SHIM_A_FILE_ID, GMEMFS_SHIM_A_OFFSET);
	if (!err && (GENL_REQ_ATTR_CHECK(info, GMEMFS_SHIM_A_LENGTH) ||
		     GENL_REQ_ATTR_CHECK(info, GMEMFS_SHIM_A_PAGE_ORDER)))
		err = -EINVAL;
	if (err)
		return err;
	offset = nla_get_u64(info->attrs[GMEMFS_SHIM_A_OFFSET]);
	len = nla_get_u64(info->attrs[GMEMFS_SHIM_A_LENGTH]);
	if (offset < 0 || len <= 0 || (offset | len) & (block - 1) ||
	    offset + len < offset) {
		GENL_SET_ERR_MSG(info, "range must be 2M-aligned and not empty");
		return -EINVAL;
	}
	sf = shim_nl_file(info);
	if (IS_ERR(sf))
		return PTR_ERR(sf);
	err = shim_set_order(sf, offset, len,
			     nla_get_u32(info->attrs[GMEMFS_SHIM_A_PAGE_ORDER]));
	shim_file_put(sf);
	return err;
}

/* Cheap on purpose: the pool's rebalancer may call it every 10-100 ms. */
int shim_nl_set_limit_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct shim_owner *o;
	int err;

	err = shim_nl_daemon_req(info, GMEMFS_SHIM_A_PAGES, 0);
	if (err)
		return err;
	o = shim_daemon_owner();	/* its budget: this daemon's files */
	shim_pages_set_limit(o, nla_get_u64(info->attrs[GMEMFS_SHIM_A_PAGES]));
	shim_owner_put(o);
	return 0;
}

/*
 * Misses from now on follow the new mode; a fault already asked still
 * waits for its answer, and one that sees auto before asking allocates.
 */
int shim_nl_set_mode_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr *attr = info->attrs[GMEMFS_SHIM_A_FAULT_MODE];
	struct shim_file *sf;
	u32 mode;
	int err;

	err = shim_nl_daemon_req(info, GMEMFS_SHIM_A_FILE_ID, GMEMFS_SHIM_A_FAULT_MODE);
	if (err)
		return err;
	mode = nla_get_u32(attr);
	if (mode != GMEMFS_SHIM_FAULT_AUTO && mode != GMEMFS_SHIM_FAULT_ASK) {
		NL_SET_ERR_MSG_ATTR(info->extack, attr, "unknown fault mode");
		return -EINVAL;
	}
	sf = shim_nl_file(info);
	if (IS_ERR(sf))
		return PTR_ERR(sf);
	WRITE_ONCE(sf->mode, mode);
	shim_file_put(sf);
	return 0;
}

/* The carve-out's figures; any registered daemon may ask. */
int shim_nl_info_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;

	msg = shim_nl_reply_new(info, GMEMFS_SHIM_CMD_INFO, &hdr);
	if (IS_ERR(msg))
		return PTR_ERR(msg);
	if (nla_put_u64_64bit(msg, GMEMFS_SHIM_A_CARVE_PAGES, shim_carve_pages(),
			      GMEMFS_SHIM_A_PAD) ||
	    nla_put_u64_64bit(msg, GMEMFS_SHIM_A_CARVE_FREE,
			      shim_carve_free_pages(), GMEMFS_SHIM_A_PAD)) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);
}
