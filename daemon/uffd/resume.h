/*
 * Resuming lazy restores after the daemon died (see resume.c).
 *
 * Not for: the record (uffd/lazyrec.h), the RESUME_LAZY request
 * (ctl/cmd_lazy.c).
 */
#ifndef GM_UFFD_RESUME_H
#define GM_UFFD_RESUME_H

#include <sys/types.h>

#include "common/chan.h"
#include "uffd/lazyrec.h"

/* At start-up, before the control socket serves: open STATE/lazy, keep
 * new session ids above the recorded ones, drop the records whose VMM is
 * gone, take back the uffd of the Firecracker ones.  0 or -errno (then
 * sessions run unrecorded). */
int gm_resume_startup(const char *state_dir);
/* pid is the recorded VMM (same pid, same start time): 0, or -EPERM with
 * why. */
int gm_resume_check_vmm(const struct gm_lazyrec *rec, pid_t pid, char why[GM_CHAN_WHY_MAX]);
/* Rebuild and start rec's session on uffd, the VMM's pidfd (both taken:
 * the session's, or closed): the snapshot reopened and proven the same,
 * the units and discards recorded applied.  0, or -errno with why
 * (-ESTALE: the snapshot changed or is gone). */
int gm_resume_session(const struct gm_lazyrec *rec, int uffd, int pidfd,
		      char why[GM_CHAN_WHY_MAX]);

#endif
