/*
 * hugetlb-2m: guest memory in 2 MiB hugetlb pages, from a hugetlbfs the
 * daemon mounts with the pages --hugepages=2M:N added to the kernel's pool.
 * Not served by FUSE passthrough (the kernel refuses hugetlbfs backings):
 * VMMs map the fd the control socket hands out.  The mechanics are in
 * hugetlb.c; this file only says what this provider is.
 */
#include "prov/prov.h"
#include "gmemfs.h"

const struct gm_provider gm_prov_hugetlb_2m = {
	.name = "hugetlb-2m",
	.id = GMEMFS_PROV_HUGETLB_2M,
	.page_size = 2ULL << 20,
	GM_PROV_HUGETLB_OPS,
};
