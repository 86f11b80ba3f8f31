/*
 * hugetlb-1g: guest memory in 1 GiB hugetlb pages (--hugepages=1G:N).  A
 * machine whose memory is too fragmented to give a 1 GiB page leaves this
 * provider unavailable, with the reason in the log and .gmemfs/stats.
 * The mechanics are in hugetlb.c.
 */
#include "prov/prov.h"
#include "gmemfs.h"

const struct gm_provider gm_prov_hugetlb_1g = {
	.name = "hugetlb-1g",
	.id = GMEMFS_PROV_HUGETLB_1G,
	.page_size = 1ULL << 30,
	GM_PROV_HUGETLB_OPS,
};
