/*
 * fixture: what the unit suites that run the daemon's file system set up
 * the same way: a state directory of its own for each test, inside the
 * suite's scratch directory (ck_tmpdir.h), daemon options on it, and the
 * gm_fs started on them (again, for a test that restarts it).  And the
 * bitwise CRC-32C the journal and snapshot suites check gm_crc32c and
 * their on-disk records against.
 *
 * Not for: the scratch directory itself and its sweep (ck_tmpdir.h), or a
 * suite's own options beyond the pool size (set them in opts after
 * ck_fs_opts, before ck_fs_up).
 */
#ifndef GM_CK_FIXTURE_H
#define GM_CK_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "meta/recover.h"

/* Make a fresh state directory for one test inside base (the suite's
 * scratch directory; "" if that could not be made, which fails the test),
 * and point opts at it: pool_bytes of budget, page size auto. */
void ck_fs_opts(const char *base, char *state, size_t len, struct gm_opts *opts,
		uint64_t pool_bytes);

/* Start fs on opts, from whatever the state directory holds (a restart,
 * after gm_fs_teardown); fails the test if it does not start. */
void ck_fs_up(struct gm_fs *fs, struct gm_opts *opts);

/* CRC-32C (Castagnoli, reflected, init and final xor ~0) one bit at a
 * time, written from the definition: an independent reference for
 * gm_crc32c, never a call to it. */
uint32_t ck_ref_crc32c(const void *buf, size_t len);

#endif
