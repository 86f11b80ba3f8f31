/*
 * shmem-4k: guest memory in a tmpfs mounted with huge=never, so every page
 * is a 4 KiB page whatever the machine-wide THP setting for shmem (short of
 * "force").  Served by FUSE passthrough.  The mechanics are in tmpfs.c;
 * this file only says what this provider is.
 */
#include "prov/prov.h"
#include "gmemfs.h"

const struct gm_provider gm_prov_shmem_4k = {
	.name = "shmem-4k",
	.id = GMEMFS_PROV_SHMEM_4K,
	.page_size = 4096,
	.passthrough = true,
	.tmpfs_huge = "never",
	GM_PROV_TMPFS_OPS,
};
