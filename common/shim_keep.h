/*
 * A state directory's shim files: the module keeps them (not the state
 * directory), for the daemon registered with the directory's token,
 * STATE/shim.token (GMEMFS_SHIM_TOKEN_MAX random bytes, 0600, made once by
 * the first gmemfsd and kept across restarts).  gmemfsd registers with it
 * (daemon/prov/shim.c); gmemctl discard and the tests drop a stopped
 * directory's files with it.
 *
 * Not for: the netlink codec (shim_client.h).
 */
#ifndef GM_SHIM_KEEP_H
#define GM_SHIM_KEEP_H

#include <stdbool.h>
#include <stdint.h>

#include "gmemfs_nl.h"

#define GM_SHIM_TOKEN_FILE	"shim.token"

/* The state directory's token into token; made first if create and there
 * is none.  0, -ENOENT (none and !create), -EBADMSG (a token file of the
 * wrong size), or -errno. */
int gm_shim_token_load(const char *state_dir, bool create,
		       uint8_t token[GMEMFS_SHIM_TOKEN_MAX]);

/* Delete every shim file the module keeps for the state directory: *n of
 * them.  0 with *n 0 if it has no token or the module is not loaded;
 * -EBUSY if another daemon is registered with the module (one at a time),
 * or -errno, with the module's reason in why (at least 128 bytes). */
int gm_shim_forget(const char *state_dir, unsigned *n, char *why);

#endif
