/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * The gmemfs netlink family: one message format (nlmsghdr + genlmsghdr +
 * attributes) for both channels gmemfsd speaks.
 *
 *  - The kernel channel: generic netlink family "gmemfs", registered by the
 *    shim module (shim/), spoken by gmemfsd's shim provider.  Commands and
 *    attributes in gmemfs_shim.h.
 *  - The control socket: a unix SOCK_SEQPACKET socket per mount, spoken by
 *    gmemctl, libgmemfs and VMMs.  The messages have the same layout; the
 *    genlmsghdr.cmd is a control command from gmemfs_ctl.h and nlmsghdr's
 *    nlmsg_type is GMEMFS_CTL_NLMSG_TYPE (there is no genl controller to
 *    resolve a family id on a unix socket).
 *
 * Command numbers of the two channels never overlap, so a message can not
 * be taken for the other channel's: kernel commands are 1..63, control
 * commands 64..127.
 */
#ifndef _UAPI_GMEMFS_NL_H
#define _UAPI_GMEMFS_NL_H

#define GMEMFS_GENL_NAME		"gmemfs"
#define GMEMFS_GENL_VERSION		1
#define GMEMFS_GENL_MCGRP_EVENTS	"events"

#define GMEMFS_SHIM_CMD_FIRST		1
#define GMEMFS_SHIM_CMD_LAST		63
#define GMEMFS_CTL_CMD_FIRST		64
#define GMEMFS_CTL_CMD_LAST		127

/* nlmsg_type of control-socket messages (>= NLMSG_MIN_TYPE). */
#define GMEMFS_CTL_NLMSG_TYPE		0x4d47	/* "GM" */

#include "gmemfs_shim.h"
#include "gmemfs_ctl.h"

#endif /* _UAPI_GMEMFS_NL_H */
