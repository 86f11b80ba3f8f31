/*
 * The state directory: where a mount's backing stores and journal live, so
 * a restarted daemon with the same arguments finds the same files.
 *   STATE/journal        metadata journal (meta/journal.h)
 *   STATE/shmem-4k/      tmpfs, huge=never     (prov/shmem_4k.c)
 *   STATE/shmem-thp/     tmpfs, huge=within_size (prov/shmem_thp.c)
 *   STATE/shmem-advise/  tmpfs, huge=advise (prov/shmem_advise.c)
 *   STATE/kvm-gmem/, STATE/hugetlb-2m/, STATE/hugetlb-1g/  (prov/)
 *   STATE/lock           flock()ed by the running daemon
 *   STATE/hugepages-<kB>kB.owed  huge pages added to the kernel's pool and
 *                        not given back yet (common/hugepages.h)
 *   STATE/shim.token     the shim module's key to this directory's shim
 *                        files (common/shim_keep.h)
 * Shared by gmemfsd and gmemctl discard, so both name a mountpoint's state
 * directory by the one rule here.
 */
#ifndef GM_STATEDIR_H
#define GM_STATEDIR_H

#include <stddef.h>

#define GM_STATE_ROOT "/run/gmemfs"

/* Escape an absolute path into one file name, systemd-style: strip
 * leading/trailing '/', '/' becomes '-', and '-', '\' and bytes outside
 * [A-Za-z0-9:_.] become \xNN (a leading '.' too); "/" becomes "-".
 * Injective, so two mountpoints never share a state directory.
 * 0, or -ENAMETOOLONG if it does not fit in cap. */
int gm_path_escape(const char *path, char *buf, size_t cap);

/* GM_STATE_ROOT "/" escaped(mountpoint); malloc'd, or NULL. */
char *gm_state_dir_default(const char *mountpoint);

/* The control socket's default path: beside the state directory, not in
 * it (that one is root's alone; the socket must be reachable by every
 * user).  dir ".sock"; malloc'd, or NULL. */
char *gm_state_dir_socket(const char *dir);

/* mkdir -p with mode 0700 for the last component.  0 or -errno. */
int gm_state_dir_prepare(const char *dir);

/* Take the state directory's lock so two daemons never share it.
 * Returns the lock fd (keep it open) or -errno (-EBUSY if held). */
int gm_state_dir_lock(const char *dir);

#endif
