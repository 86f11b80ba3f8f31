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
	char path[4096];		/* the socket's, as connected to */
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
/* Keep a copy of uffd and a thread that hands it back to a restarted
 * daemon (lazy_guard.c); a failure is printed, the session goes on
 * unprotected. */
void lazy_guard_start(struct gmemfs_ctl *c, uint64_t session, int uffd,
		      const struct gmemfs_region *r, unsigned n);
/* A u64 attribute, or 0 when absent. */
uint64_t ctl_u64(struct nlattr *a);

#endif
