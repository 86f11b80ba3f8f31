/*
 * What the shim provider offers beyond its provider table: steering one
 * shim file for a lazy restore in ask mode (uffd/ask.c).  The restore
 * routes the file's FAULT and INVALIDATE events to itself, turns the file
 * to ask mode, answers each fault by populating pages from the snapshot,
 * and turns the file back to auto mode when every unit is in.
 *
 * Across a daemon restart (docs/shim.md, "Shim files across a restart"),
 * the order is:
 *   1. attach (gm_pool_init): REGISTER with the state directory's token,
 *      which makes the module queue again every FAULT and CONVERT still
 *      pending for this token's files (same REQ_IDs); then every file the
 *      module kept is re-adopted: gm_shim_file_id() and gm_shim_file_mode()
 *      answer for it from here on.
 *   2. the journal's replay claims the files (gm_fs_setup).
 *   3. the hook for resuming lazy restores: whatever re-creates a restore's
 *      route calls gm_shim_route() here, before step 4, so the re-sent
 *      FAULTs of its file reach it and are not answered by default.
 *   4. start (gm_pool_start, after the daemon's fork): the event thread
 *      ACCEPTs the queued events.
 * A FAULT of a file in ask mode with no route by step 4 is answered as
 * after its restore (retried, so SIGBUS after the module's tries): never
 * a zero page.
 *
 * Not for: the provider's own operations (shim.c's gm_prov_shim table).
 */
#ifndef GM_PROV_SHIM_H
#define GM_PROV_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/shim_client.h"

/*
 * Called by the shim's event thread for each FAULT and INVALIDATE of a
 * routed file, in the module's order, with the provider's lock held: it
 * must only queue the event, never call back into this file.
 */
typedef void (*gm_shim_event_fn)(void *ctx, const struct gm_shimc_event *ev);

/* The module's id of file ino's shim file: 0, -ENOENT (no shim file),
 * -ENODEV (no shim provider). */
int gm_shim_file_id(uint64_t ino, uint32_t *kid);
/* Is file ino's shim file secret (GMEMFS_SHIM_F_SECRET)?  0, -ENOENT,
 * -ENODEV, as gm_shim_file_id. */
int gm_shim_file_secret(uint64_t ino, bool *secret);
/* Can secret shim files be created (the module has a carve-out)? */
bool gm_shim_secret_ready(void);
/* The module's carve-out now (INFO): base pages, and those no file holds.
 * 0, -ENODEV (no shim provider), or the module's -errno. */
int gm_shim_carveout(uint64_t *pages, uint64_t *free_pages);
/* The fault mode of kid as last set (at re-adoption: the module's, so
 * GMEMFS_SHIM_FAULT_ASK for a file a lazy restore left unfinished). */
int gm_shim_file_mode(uint32_t kid, uint32_t *mode);
/* Route kid's FAULT and INVALIDATE events to fn(ctx) instead of the
 * default answers: -EBUSY if another route has it. */
int gm_shim_route(uint32_t kid, gm_shim_event_fn fn, void *ctx);
/* The restore ends.  stuck: the file stays in ask mode with units missing,
 * and its faults fail from now on (SIGBUS) until it is unlinked; else late
 * faults (asked before the switch to auto mode) are retried. */
void gm_shim_unroute(uint32_t kid, bool stuck);
/* GMEMFS_SHIM_FAULT_AUTO or _ASK for kid's misses from now on. */
int gm_shim_set_mode(uint32_t kid, uint32_t mode);
/* Place len bytes at offset (data NULL: zero pages); pages already there
 * stay.  req_id != 0 completes that fault.  -EEXIST: nothing was missing. */
int gm_shim_populate(uint32_t kid, uint64_t offset, const void *data, size_t len,
		     uint32_t req_id);
/* Complete fault req_id: 0 (retry the lookup) or -errno (SIGBUS). */
int gm_shim_done(uint32_t req_id, int err);

/* Take in every event the module queued before this call and decide its
 * conversions, so that what a caller's ioctl did before it asked the
 * daemon (a conversion, then a snapshot) is known, not pending.  With no
 * lock held; nothing when the shim is not attached. */
void gm_shim_sync(void);

/* shim_convert.c: the conversion policy.  Queue a CONVERT event of gmemfs
 * file ino (0: none of ours), with the provider's lock held: false if out
 * of memory.  Decide the queued ones, with no lock held. */
struct gm_snap_range;
bool gm_shim_convert_queue(const struct gm_shimc_event *ev, uint64_t ino);
void gm_shim_convert_run(void);
/* Convert each of the n ranges of the shim file fd (the daemon's own
 * conversions: no owner or busy check).  0 or -errno with why. */
int gm_shim_convert_fd(int fd, const struct gm_snap_range *r, size_t n, bool private,
		       char *why, size_t len);

#endif
