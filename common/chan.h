/*
 * The control channel's message codec: building and validating the
 * netlink-format messages of uapi/gmemfs_ctl.h with libnl.  Shared by the
 * daemon (requests in, replies out) and libgmemfs (the other way round), so
 * both sides agree on one policy.
 *
 * Validation is stricter than libnl's nla_parse, which ignores unknown
 * attributes, duplicates and trailing bytes: a request must be exactly one
 * message, of our type and version, of a known command, carrying only the
 * attributes that command takes, each once, each of the policy's size, and
 * nothing after them.  Every refusal comes with an errno and a reason text
 * for the error reply.
 *
 * Not for: sockets, fds or credentials (daemon/ctl/sock.c), what commands do
 * (daemon/ctl/cmd*.c).  Knows nothing of the daemon, so it links into the client
 * library and the fuzz target as is.
 */
#ifndef GM_CHAN_H
#define GM_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/genl/genl.h>

#include "gmemfs_nl.h"
#include "gmemfs_snap.h"

#define GM_CHAN_BIT(a)	(1ULL << (a))

/* What a command's request may and must carry. */
struct gm_chan_cmd_spec {
	const char *name;	/* "open": for logs and reasons */
	uint64_t required;	/* GM_CHAN_BIT(GMEMFS_CTL_A_*) */
	uint64_t allowed;	/* superset of required */
	unsigned nfds;		/* SCM_RIGHTS fds the request carries: at least */
	unsigned nfds_max;	/* and at most this many */
	bool dump;		/* answered with NLM_F_MULTI messages and NLMSG_DONE */
};

/* The spec of a control command, or NULL for a number that is not one. */
const struct gm_chan_cmd_spec *gm_chan_cmd(unsigned cmd);
/* An attribute's name ("PATH"), or "?" */
const char *gm_chan_attr_name(unsigned type);

extern const struct nla_policy gm_chan_policy[GMEMFS_CTL_A_MAX + 1];
extern const struct nla_policy gm_chan_prov_policy[GMEMFS_CTL_PROV_A_MAX + 1];
extern const struct nla_policy gm_chan_region_policy[GMEMFS_CTL_REGION_A_MAX + 1];

/* A parsed message.  Everything points into the caller's buffer. */
struct gm_chan_msg {
	struct nlmsghdr *nlh;		/* NULL if not even a header arrived */
	uint32_t seq;			/* 0 if no header */
	unsigned cmd;			/* genl cmd; 0 for NLMSG_ERROR/DONE */
	int error;			/* replies: NLMSG_ERROR's errno (<= 0) */
	const char *reason;		/* replies: NLMSGERR_ATTR_MSG, or NULL */
	bool done;			/* replies: NLMSG_DONE */
	bool multi;			/* replies: NLM_F_MULTI set */
	struct nlattr *tb[GMEMFS_CTL_A_MAX + 1];
};

#define GM_CHAN_WHY_MAX 160

/* Validate len bytes received from a client as one request.  0, or -errno
 * with the reason in why: -EMSGSIZE (too long), -EBADMSG (not a whole
 * message of ours), -EPROTO (wrong version), -EOPNOTSUPP (unknown command),
 * -EINVAL (attributes), -ENAMETOOLONG (PATH too long). */
int gm_chan_parse_request(void *buf, size_t len, struct gm_chan_msg *m,
			  char why[GM_CHAN_WHY_MAX]);
/* Validate len bytes received from the daemon as a reply to request seq. */
int gm_chan_parse_reply(void *buf, size_t len, uint32_t seq, struct gm_chan_msg *m,
			char why[GM_CHAN_WHY_MAX]);
/* Parse one GMEMFS_CTL_A_POOL_PROV nest: 0 or -EBADMSG. */
int gm_chan_parse_prov(struct nlattr *nest, struct nlattr *tb[GMEMFS_CTL_PROV_A_MAX + 1]);

/* Parse one GMEMFS_CTL_A_REGION nest of a request: all four attributes,
 * each once, into out[GMEMFS_CTL_REGION_A_*].  0 or -EINVAL with why. */
int gm_chan_parse_region(struct nlattr *nest, uint64_t out[GMEMFS_CTL_REGION_A_MAX + 1],
			 char why[GM_CHAN_WHY_MAX]);

/* New messages (NULL when out of memory).  Requests set NLM_F_REQUEST;
 * replies echo the request's seq. */
struct nl_msg *gm_chan_new(unsigned cmd, uint32_t seq, int flags);
/* NLMSG_ERROR for a request (req may be NULL when none could be read)
 * with err < 0 and, if given, the reason as NLMSGERR_ATTR_MSG. */
struct nl_msg *gm_chan_new_error(const struct nlmsghdr *req, uint32_t seq, int err,
				 const char *reason);
struct nl_msg *gm_chan_new_done(uint32_t seq);

/* Send one packet of len bytes with nfds fds (SCM_RIGHTS); 0 or -errno. */
int gm_chan_send(int sock, const void *buf, size_t len, const int *fds, unsigned nfds);
/* Send a built message with one fd, or none if fd < 0. */
static inline int gm_chan_send_msg(int sock, struct nl_msg *msg, int fd)
{
	return gm_chan_send(sock, nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len, &fd, fd >= 0);
}

/* fds a packet may carry; more are cut.  Above every command's nfds_max,
 * so a cut packet is always refused by count. */
#define GM_CHAN_MAX_FDS	16
/* A snapshot chain's fds: image and index per layer. */
#define GM_CHAN_CHAIN_FDS (2 * GMEMFS_SNAP_MAX_DEPTH)
_Static_assert(1 + GM_CHAN_CHAIN_FDS < GM_CHAN_MAX_FDS, "a chain and a uffd fit a packet");

/* Receive one packet into buf (cap bytes): its real length (more than cap
 * if it was cut; 0 for an empty packet or the peer's close), or -errno.
 * Up to GM_CHAN_MAX_FDS fds it carried go to fds (close-on-exec), their
 * count to *nfds; *cut is set if it carried more (the rest are closed). */
ssize_t gm_chan_recv(int sock, void *buf, size_t cap, int fds[GM_CHAN_MAX_FDS],
		     unsigned *nfds, bool *cut);

/* The SCM_RIGHTS fds of a received message: up to max into fds (the rest
 * closed); how many. */
unsigned gm_chan_take_fds(struct msghdr *mh, int *fds, unsigned max);

/* A unix socket file at path a dead server left (nothing accepts a
 * connection of type there) is removed: 0, also when there is none;
 * -EADDRINUSE when something serves it, -EEXIST when path is no socket. */
int gm_chan_clear_stale(const char *path, int type);

/* The address of the channel's socket at path, for bind or connect.  A
 * path longer than sun_path is reached through its directory, opened into
 * *dirfd (close it after the bind or connect; -1 when not needed), as
 * /proc/self/fd/N/NAME.  0 or -errno. */
int gm_chan_sockaddr(const char *path, struct sockaddr_un *sa, socklen_t *len, int *dirfd);

#endif
