/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * Kernel channel of the gmemfs netlink family (see gmemfs_nl.h): commands
 * and attributes exchanged between the shim module and gmemfsd.
 * Numbers are ABI; commands stay within GMEMFS_SHIM_CMD_FIRST..LAST.
 */
#ifndef _UAPI_GMEMFS_SHIM_H
#define _UAPI_GMEMFS_SHIM_H

enum gmemfs_shim_cmd {
	GMEMFS_SHIM_CMD_UNSPEC = 0,
	/* Filled in by the shim issue. */
	__GMEMFS_SHIM_CMD_END,
};

enum gmemfs_shim_attr {
	GMEMFS_SHIM_A_UNSPEC = 0,
	__GMEMFS_SHIM_A_END,
};
#define GMEMFS_SHIM_A_MAX (__GMEMFS_SHIM_A_END - 1)

#endif /* _UAPI_GMEMFS_SHIM_H */
