/*
 * libgmemfs inside: what client.c lends the library's other files (lazy.c)
 * for requests that carry several fds or answer with a dump.  Not
 * installed, not exported.
 *
 * Not for: the API (gmemfs_client.h).
 */
#ifndef GMEMFS_CLIENT_INT_H
#define GMEMFS_CLIENT_INT_H

#include "chan.h"
#include "gmemfs_client.h"

/* A request for cmd, with PATH if path; NULL on failure. */
struct nl_msg *gmemfs__ctl_new(struct gmemfs_ctl *c, unsigned cmd, const char *path);
/* Send msg (freed) with nfds fds; the first reply in m.  0 or -errno (the
 * daemon's, with its reason kept). */
int gmemfs__ctl_call_fds(struct gmemfs_ctl *c, struct nl_msg *msg, const int *fds,
			 unsigned nfds, struct gm_chan_msg *m);
/* The next reply of a dump. */
int gmemfs__ctl_next(struct gmemfs_ctl *c, struct gm_chan_msg *m);
/* The reason buffer, for refusals found on the client's side. */
char *gmemfs__ctl_reason_buf(struct gmemfs_ctl *c, size_t *len);

#endif
