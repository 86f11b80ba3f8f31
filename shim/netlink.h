/* SPDX-License-Identifier: GPL-2.0 */
/* Handlers of the gmemfs family's commands, wired up in genl.c. */
#ifndef _GMEMFS_SHIM_NETLINK_H
#define _GMEMFS_SHIM_NETLINK_H

#include <net/genetlink.h>

int shim_nl_register_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_unregister_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_create_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_accept_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_populate_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_done_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_set_order_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_set_limit_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_set_mode_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_info_doit(struct sk_buff *skb, struct genl_info *info);
/* persist.c */
int shim_nl_open_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_list_doit(struct sk_buff *skb, struct genl_info *info);
int shim_nl_delete_doit(struct sk_buff *skb, struct genl_info *info);

/* netlink.c's, for persist.c */
struct file;
struct shim_file;
int shim_nl_daemon_req(struct genl_info *info, int attr1, int attr2);
struct shim_file *shim_nl_file(struct genl_info *info);
int shim_nl_reply_install(struct genl_info *info, u32 id, struct file *file,
			  int fd);
struct sk_buff *shim_nl_reply_new(struct genl_info *info, u8 cmd, void **hdr);

#endif
