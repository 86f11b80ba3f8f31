/*
 * The kernel channel's codec: gmemfsd's (and the in-guest tests') side of
 * the generic netlink family "gmemfs" spoken with the shim module
 * (uapi/gmemfs_shim.h), on libnl-genl.  One request at a time per handle;
 * every call returns 0 or a negative errno exactly as the kernel gave it,
 * and the kernel's extack reason, if any, is left in shim_nl_errmsg().
 *
 * Not for: what to do with events (prov_shim.c), logging, threads.
 */
#ifndef GM_SHIM_NL_H
#define GM_SHIM_NL_H

#include <stddef.h>
#include <stdint.h>

struct nl_msg;
struct shim_nl;

struct shim_nl_event {
	uint32_t type;		/* enum gmemfs_shim_event */
	uint32_t file_id;
	uint64_t offset, length, pages;
	uint32_t flags, req_id;
};

/* Resolve the family (which autoloads the module) and open the sockets. */
int shim_nl_open(struct shim_nl **out);
void shim_nl_close(struct shim_nl *nl);
const char *shim_nl_errmsg(const struct shim_nl *nl);

int shim_nl_register(struct shim_nl *nl);
int shim_nl_unregister(struct shim_nl *nl);
/* A new shim file; *fd is an O_RDWR|O_CLOEXEC fd now in this process. */
int shim_nl_create(struct shim_nl *nl, uint64_t size, uint32_t flags,
		   uint32_t order, uint32_t mode, uint32_t *id, int *fd);
/*
 * Events, oldest first: their count.  ev must have room for
 * SHIM_NL_EVENTS_MAX (one reply, NLMSG_GOODSIZE, holds fewer); ACCEPT
 * again until it returns 0.  *lost: reports the kernel dropped.
 */
#define SHIM_NL_EVENTS_MAX	256
int shim_nl_accept(struct shim_nl *nl, struct shim_nl_event *ev, int max,
		   uint32_t *lost);
/* data == NULL: a zero page.  req_id 0: unsolicited. */
int shim_nl_populate(struct shim_nl *nl, uint32_t file_id, uint64_t offset,
		     const void *data, size_t len, uint32_t req_id);
/* status: 0 or a negative errno */
int shim_nl_done(struct shim_nl *nl, uint32_t req_id, int status);
/* Folio order for misses in a 2M-aligned range of a file. */
int shim_nl_set_order(struct shim_nl *nl, uint32_t file_id, uint64_t offset,
		      uint64_t length, uint32_t order);

/* The most base pages all shim files may hold; GMEMFS_SHIM_NO_LIMIT: none. */
int shim_nl_set_limit(struct shim_nl *nl, uint64_t pages);

/* The notice socket: poll it for POLLIN, then drain it (count of NOTIFYs). */
int shim_nl_notify_fd(const struct shim_nl *nl);
int shim_nl_notify_drain(struct shim_nl *nl);

/* For tests of bad input: a message of the family with a command set, the
 * caller adds attributes, shim_nl_send() sends it and waits for the ack. */
struct nl_msg *shim_nl_msg(struct shim_nl *nl, uint8_t cmd);
int shim_nl_send(struct shim_nl *nl, struct nl_msg *msg);
/* Send raw bytes as they are (a broken header, say); ack as above. */
int shim_nl_send_raw(struct shim_nl *nl, const void *buf, size_t len);

#endif
