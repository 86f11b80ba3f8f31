/*
 * shmem-advise: the memory of `auto` files, in a tmpfs mounted with
 * huge=advise.  A mapping that asks with madvise(MADV_HUGEPAGE), as QEMU
 * does for every RAM block, gets 2 MiB pages; write(), read() and mappings
 * that do not ask get 4 KiB ones, so a small or sparse file written a
 * little at a time costs 4 KiB per touched page, not 2 MiB.  Served by FUSE
 * passthrough; the mechanics are in tmpfs.c.
 */
#include "prov/prov.h"
#include "gmemfs.h"

const struct gm_provider gm_prov_shmem_advise = {
	.name = "shmem-advise",
	.id = GMEMFS_PROV_SHMEM_ADVISE,
	.page_size = 2 << 20,
	.passthrough = true,
	.tmpfs_huge = "advise",
	GM_PROV_TMPFS_OPS,
};
