/*
 * The kernel's pool of huge pages of one size
 * (/sys/kernel/mm/hugepages/hugepages-<kB>kB/nr_hugepages), and the record
 * a state directory keeps of the pages its daemons added to it and have not
 * given back yet:
 *   STATE/hugepages-<kB>kB.owed   one decimal count and a newline
 * gmemfsd writes the record when it adds pages (so a kill -9 does not lose
 * it) and rewrites it with what is left after its give-back at exit (pages
 * holding files of a store that stays mounted: 1 GiB pages cannot become
 * surplus); a restart takes the count over.  gmemctl discard gives the
 * rest back once it has unmounted the stores that held them.
 * Shared by gmemfsd (mem/pool.c) and gmemctl discard.
 */
#ifndef GM_HUGEPAGES_H
#define GM_HUGEPAGES_H

#include <stdint.h>

/* Move the kernel's persistent pool (nr_hugepages less surplus_hugepages)
 * by delta pages, as a difference to the value read just before (other
 * users change it).  *done is what it moved by: the kernel may grow it by
 * less (no memory), and shrinks it by free pages and, for sizes that can
 * be surplus (not 1 GiB), by pages in use, which become surplus and are
 * freed when let go.  0 or -errno. */
int gm_hugepages_add(uint64_t page_size, long delta, long *done);

/* The record of state_dir for page_size: *owed is 0 without one.
 * 0, or -errno (-EIO: the record is not a count). */
int gm_hugepages_owed_get(const char *state_dir, uint64_t page_size, long *owed);

/* Replace the record (written whole, then renamed); owed 0 removes it.
 * 0 or -errno. */
int gm_hugepages_owed_set(const char *state_dir, uint64_t page_size, long owed);

#endif
