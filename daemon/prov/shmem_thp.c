/*
 * shmem-thp: guest memory in a tmpfs mounted with huge=within_size, so the
 * kernel backs every 2 MiB-aligned range that lies inside the file's size
 * with a transparent huge page when it can get one (and falls back to small
 * pages when it cannot; the pool's limit still counts every small page).
 * Per-mount huge= works while the machine-wide shmem_enabled is "never",
 * which only governs internal shmem (memfd, SysV).  Served by FUSE
 * passthrough.  The mechanics are in tmpfs.c.
 */
#include "prov/prov.h"
#include "gmemfs.h"

const struct gm_provider gm_prov_shmem_thp = {
	.name = "shmem-thp",
	.id = GMEMFS_PROV_SHMEM_THP,
	.page_size = 2 << 20,
	.passthrough = true,
	.tmpfs_huge = "within_size",
	GM_PROV_TMPFS_OPS,
};
