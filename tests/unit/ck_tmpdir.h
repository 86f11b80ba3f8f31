/*
 * ck_tmpdir: the scratch directory of a unit-test suite, and the sweep that
 * takes it away again: whatever is mounted below it is unmounted (deepest
 * first), then everything in it removed, without crossing into a mount that
 * stayed.  A suite makes its directory in an unchecked fixture's setup and
 * sweeps it in the teardown, which runs in the runner process even when a
 * forked test failed half-way.
 *
 * Not for: the mounts themselves; check_all.c gives the whole run a mount
 * namespace of its own, so a runner killed before its teardowns leaves none.
 */
#ifndef GM_CK_TMPDIR_H
#define GM_CK_TMPDIR_H

#include <stddef.h>

/* Make /tmp/gmemfs-check-TAG-XXXXXX and put its path in buf; 0 or -errno. */
int ck_tmpdir_make(char *buf, size_t len, const char *tag);

/* Make a fresh BASE/t-XXXXXX for one test (inside the suite's directory,
 * so the suite's sweep takes it too); 0 or -errno. */
int ck_tmpdir_sub(const char *base, char *buf, size_t len);

/* Unmount everything below dir, then remove dir and all in it.  Complains
 * on stderr about what it could not remove; never fails a test. */
void ck_tmpdir_sweep(const char *dir);

#endif
