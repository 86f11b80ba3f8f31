/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Control-socket channel of the gmemfs netlink family (see gmemfs_nl.h):
 * commands and attributes between gmemfsd and its clients.
 * Numbers are ABI; commands stay within GMEMFS_CTL_CMD_FIRST..LAST.
 */
#ifndef _UAPI_GMEMFS_CTL_H
#define _UAPI_GMEMFS_CTL_H

enum gmemfs_ctl_cmd {
	GMEMFS_CTL_CMD_UNSPEC = 0,
	/* Filled in by the control-socket issue, from 64 on. */
	__GMEMFS_CTL_CMD_END,
};

enum gmemfs_ctl_attr {
	GMEMFS_CTL_A_UNSPEC = 0,
	__GMEMFS_CTL_A_END,
};
#define GMEMFS_CTL_A_MAX (__GMEMFS_CTL_A_END - 1)

#endif /* _UAPI_GMEMFS_CTL_H */
