/*
 * The kernel channel's codec: gmemfsd's (and the in-guest tests') side of
 * the generic netlink family "gmemfs" spoken with the shim module
 * (uapi/gmemfs_shim.h), on libnl-genl.  One request at a time per handle;
 * every call returns 0 or a negative errno exactly as the kernel gave it,
 * and the kernel's extack reason, if any, is left in gm_shimc_errmsg().
 * Names: gm_shimc_ (the shim's client), apart from the module's own
 * shim_nl_* (shim/netlink.c), so a grep finds one side only.
 *
 * Not for: what to do with events (daemon/prov/shim.c), logging, threads.
 */
#ifndef GM_SHIM_CLIENT_H
#define GM_SHIM_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct nl_msg;
struct gm_shimc;

struct gm_shimc_event {
	uint32_t type;		/* enum gmemfs_shim_event */
	uint32_t file_id;
	uint64_t offset, length, pages;
	uint32_t flags, req_id;
	uint32_t uid, pid;	/* CONVERT: the converting task */
};

/* Resolve the family (which autoloads the module) and open the sockets. */
int gm_shimc_open(struct gm_shimc **out);
void gm_shimc_close(struct gm_shimc *nl);
const char *gm_shimc_errmsg(const struct gm_shimc *nl);

/* Without a token: files live only while an fd or mapping refers to them. */
int gm_shimc_register(struct gm_shimc *nl);
/* With the state directory's token (GMEMFS_SHIM_TOKEN_MIN..MAX bytes): the
 * module keeps the files this daemon creates until gm_shimc_delete(). */
int gm_shimc_register_token(struct gm_shimc *nl, const void *token, size_t len);
int gm_shimc_unregister(struct gm_shimc *nl);
/* A new shim file; *fd is an O_RDWR|O_CLOEXEC fd now in this process. */
int gm_shimc_create(struct gm_shimc *nl, uint64_t size, uint32_t flags,
		    uint32_t order, uint32_t mode, uint32_t *id, int *fd);
/* The same, with the daemon's own name for the file, which LIST gives back. */
int gm_shimc_create_named(struct gm_shimc *nl, uint64_t size, uint32_t flags,
			  uint32_t order, uint32_t mode, uint64_t cookie,
			  uint32_t *id, int *fd);
/* A new fd of a file the module keeps for this daemon's token (OPEN). */
int gm_shimc_reopen(struct gm_shimc *nl, uint32_t file_id, int *fd);
/* The module keeps the file no more: it goes with its last fd and mapping. */
int gm_shimc_delete(struct gm_shimc *nl, uint32_t file_id);

/* A file the module keeps for this daemon's token (LIST). */
struct gm_shimc_file {
	uint32_t id, order, mode;
	uint32_t flags;		/* GMEMFS_SHIM_F_* given at CREATE */
	uint64_t size, pages, cookie;
};
/*
 * Files with ids from first on, by increasing id: their count (0: no
 * more).  files must have room for GM_SHIMC_FILES_MAX (one reply holds
 * fewer); list again from the last id + 1.
 */
#define GM_SHIMC_FILES_MAX	256
int gm_shimc_list(struct gm_shimc *nl, uint32_t first, struct gm_shimc_file *files,
		  int max);
/*
 * Events, oldest first: their count.  ev must have room for
 * GM_SHIMC_EVENTS_MAX (one reply, NLMSG_GOODSIZE, holds fewer); ACCEPT
 * again until it returns 0.  *lost: reports the kernel dropped.
 */
#define GM_SHIMC_EVENTS_MAX	256
int gm_shimc_accept(struct gm_shimc *nl, struct gm_shimc_event *ev, int max,
		    uint32_t *lost);
/* data == NULL: len bytes of zero pages (0: one page).  len past the page
 * at offset: consecutive whole pages, pages already there left alone
 * (-EEXIST if none was missing).  req_id 0: unsolicited. */
int gm_shimc_populate(struct gm_shimc *nl, uint32_t file_id, uint64_t offset,
		      const void *data, size_t len, uint32_t req_id);
/* status: 0 or a negative errno */
int gm_shimc_done(struct gm_shimc *nl, uint32_t req_id, int status);
/* Folio order for misses in a 2M-aligned range of a file. */
int gm_shimc_set_order(struct gm_shimc *nl, uint32_t file_id, uint64_t offset,
		       uint64_t length, uint32_t order);

/* How misses in the file are served from now on: GMEMFS_SHIM_FAULT_*. */
int gm_shimc_set_mode(struct gm_shimc *nl, uint32_t file_id, uint32_t mode);

/* The module's carve-out (INFO): its base pages and how many no file
 * holds; both 0 without one.  -EOPNOTSUPP from a module without INFO. */
int gm_shimc_info(struct gm_shimc *nl, uint64_t *carve_pages, uint64_t *carve_free);

/* The most base pages all shim files may hold; GMEMFS_SHIM_NO_LIMIT: none. */
int gm_shimc_set_limit(struct gm_shimc *nl, uint64_t pages);

/* The notice socket: poll it for POLLIN, then drain it (count of NOTIFYs). */
int gm_shimc_notify_fd(const struct gm_shimc *nl);
int gm_shimc_notify_drain(struct gm_shimc *nl);

/* For tests of bad input: a message of the family with a command set, the
 * caller adds attributes, gm_shimc_send() sends it and waits for the ack. */
struct nl_msg *gm_shimc_msg(struct gm_shimc *nl, uint8_t cmd);
int gm_shimc_send(struct gm_shimc *nl, struct nl_msg *msg);
/* Send raw bytes as they are (a broken header, say); ack as above. */
int gm_shimc_send_raw(struct gm_shimc *nl, const void *buf, size_t len);

#endif
