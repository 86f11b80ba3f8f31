/*
 * shmem-4k: guest memory in a tmpfs mounted with huge=never, so every page
 * is a 4 KiB page whatever the machine-wide THP setting for shmem (short of
 * "force").  Served by FUSE passthrough.  The mechanics are in prov_tmpfs.c;
 * this file only says what this provider is.
 */
#include "prov.h"
#include "../uapi/gmemfs.h"

const struct gm_provider gm_prov_shmem_4k = {
	.name = "shmem-4k",
	.id = GMEMFS_PROV_SHMEM_4K,
	.page_size = 4096,
	.passthrough = true,
	.tmpfs_huge = "never",
	.attach = prov_tmpfs_attach,
	.detach = prov_tmpfs_detach,
	.backing_open = prov_tmpfs_backing_open,
	.backing_unlink = prov_tmpfs_backing_unlink,
	.set_limit = prov_tmpfs_set_limit,
	.usage = prov_tmpfs_usage,
	.for_each_backing = prov_tmpfs_for_each_backing,
};
