/*
 * libgmemfs inside: the connection and the request helpers client.c
 * defines, for the library's other files (snap.c).  Not installed, and
 * none of it is exported (the library hides every symbol not marked API).
 */
#ifndef GMEMFS_CLIENT_INT_H
#define GMEMFS_CLIENT_INT_H

#include <stdint.h>

#include "common/chan.h"
#include "gmemfs_client.h"

#define API __attribute__((visibility("default")))

struct gmemfs_ctl {
	int fd;
	uint32_t seq;
	char reason[GM_CHAN_WHY_MAX];
	unsigned char buf[GMEMFS_CTL_MSG_MAX];
};

/* A request for cmd with PATH (if path) and POLICY (if policy); clears
 * the reason.  NULL when out of memory or a string does not fit (then
 * the reason says so). */
struct nl_msg *ctl_new(struct gmemfs_ctl *c, unsigned cmd, const char *path,
		       const char *policy);
/* One reply into m; *fd gets the fd it carried (or -1).  0, the daemon's
 * -errno (its reason in c->reason), or -errno for a broken exchange. */
int ctl_recv(struct gmemfs_ctl *c, struct gm_chan_msg *m, int *fd);
/* A u64 attribute, or 0 when absent. */
uint64_t ctl_u64(struct nlattr *a);

#endif
