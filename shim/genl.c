// SPDX-License-Identifier: GPL-2.0
/*
 * The "gmemfs" generic netlink family: attribute policy, the table of
 * operations and the multicast group, kept apart from the handlers
 * (netlink.c) as net/handshake keeps its spec-generated table apart.
 *
 * Every operation needs CAP_NET_ADMIN (GENL_ADMIN_PERM) to reach a handler
 * at all; the handlers then require the registered daemon, which had
 * CAP_SYS_ADMIN when it registered.
 *
 * Not for: what the commands do (netlink.c).
 */
#include <linux/module.h>

#include "shim.h"
#include "netlink.h"

static const struct nla_policy shim_genl_policy[GMEMFS_SHIM_A_MAX + 1] = {
	[GMEMFS_SHIM_A_FILE_ID]		= { .type = NLA_U32 },
	[GMEMFS_SHIM_A_SIZE]		= { .type = NLA_U64 },
	[GMEMFS_SHIM_A_FLAGS]		= { .type = NLA_U32 },
	[GMEMFS_SHIM_A_PAGE_ORDER]	= NLA_POLICY_MAX(NLA_U32, SHIM_MAX_ORDER),
	[GMEMFS_SHIM_A_FAULT_MODE]	= NLA_POLICY_MAX(NLA_U32, GMEMFS_SHIM_FAULT_ASK),
	[GMEMFS_SHIM_A_OFFSET]		= { .type = NLA_U64 },
	[GMEMFS_SHIM_A_LENGTH]		= { .type = NLA_U64 },
	[GMEMFS_SHIM_A_DATA]		= { .type = NLA_BINARY },
	[GMEMFS_SHIM_A_REQ_ID]		= NLA_POLICY_MIN(NLA_U32, 1),
	[GMEMFS_SHIM_A_STATUS]		= NLA_POLICY_MAX(NLA_U32, MAX_ERRNO),
	[GMEMFS_SHIM_A_PAGES]		= { .type = NLA_U64 },
	[GMEMFS_SHIM_A_TOKEN]		= { .type = NLA_BINARY, .len = GMEMFS_SHIM_TOKEN_MAX },
	[GMEMFS_SHIM_A_COOKIE]		= { .type = NLA_U64 },
};

/*
 * SET_MODE's own: its handler refuses an unknown FAULT_MODE with EINVAL
 * and says so, where the family's range check would answer ERANGE first.
 */
static const struct nla_policy shim_genl_set_mode_policy[GMEMFS_SHIM_A_MAX + 1] = {
	[GMEMFS_SHIM_A_FILE_ID]		= { .type = NLA_U32 },
	[GMEMFS_SHIM_A_FAULT_MODE]	= { .type = NLA_U32 },
};

static const struct genl_ops shim_genl_ops[] = {
	{
		.cmd	= GMEMFS_SHIM_CMD_REGISTER,
		.doit	= shim_nl_register_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_UNREGISTER,
		.doit	= shim_nl_unregister_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_CREATE,
		.doit	= shim_nl_create_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_ACCEPT,
		.doit	= shim_nl_accept_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_POPULATE,
		.doit	= shim_nl_populate_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_DONE,
		.doit	= shim_nl_done_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_SET_ORDER,
		.doit	= shim_nl_set_order_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_SET_LIMIT,
		.doit	= shim_nl_set_limit_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_SET_MODE,
		.doit	= shim_nl_set_mode_doit,
		.policy	= shim_genl_set_mode_policy,
		.maxattr = GMEMFS_SHIM_A_MAX,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_OPEN,
		.doit	= shim_nl_open_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_LIST,
		.doit	= shim_nl_list_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_DELETE,
		.doit	= shim_nl_delete_doit,
		.flags	= GENL_ADMIN_PERM,
	},
	{
		.cmd	= GMEMFS_SHIM_CMD_INFO,
		.doit	= shim_nl_info_doit,
		.flags	= GENL_ADMIN_PERM,
	},
};

enum { SHIM_MCGRP_EVENTS };

static const struct genl_multicast_group shim_genl_mcgrps[] = {
	[SHIM_MCGRP_EVENTS] = {
		.name = GMEMFS_GENL_MCGRP_EVENTS,
		.flags = GENL_UNS_ADMIN_PERM,
	},
};

struct genl_family shim_genl_family __ro_after_init = {
	.name		= GMEMFS_GENL_NAME,
	.version	= GMEMFS_GENL_VERSION,
	.maxattr	= GMEMFS_SHIM_A_MAX,
	.policy		= shim_genl_policy,
	.module		= THIS_MODULE,
	.ops		= shim_genl_ops,
	.n_ops		= ARRAY_SIZE(shim_genl_ops),
	.resv_start_op	= __GMEMFS_SHIM_CMD_END,
	.mcgrps		= shim_genl_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(shim_genl_mcgrps),
};

/* The handshake-style notice: "there is work", nothing more. */
int shim_genl_notify(struct net *net)
{
	struct sk_buff *msg;
	void *hdr;

	if (!genl_has_listeners(&shim_genl_family, net, SHIM_MCGRP_EVENTS))
		return -ESRCH;
	msg = genlmsg_new(GENLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put(msg, 0, 0, &shim_genl_family, 0,
			  GMEMFS_SHIM_CMD_NOTIFY);
	if (!hdr) {
		nlmsg_free(msg);
		return -EMSGSIZE;
	}
	genlmsg_end(msg, hdr);
	return genlmsg_multicast_netns(&shim_genl_family, net, msg, 0,
				       SHIM_MCGRP_EVENTS, GFP_KERNEL);
}
