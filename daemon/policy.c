/*
 * Page-size policy parsing and inheritance (see policy.h).
 * Not for: moving a file between providers (fsops_xattr.c does that).
 */
#include <errno.h>
#include <string.h>

#include "policy.h"
#include "gmemfs.h"

static const char *const gm_policy_names[GM_PS_COUNT] = {
	[GM_PS_INHERIT] = "inherit",
	[GM_PS_4K] = "4k",
	[GM_PS_2M_THP] = "2m-thp",
	[GM_PS_AUTO] = "auto",
	[GM_PS_SHIM] = "shim",
};

int gm_policy_parse(const char *val, size_t len, enum gm_pagesize *out)
{
	if (len > 0 && (val[len - 1] == '\0' || val[len - 1] == '\n'))
		len--;
	/* "inherit" is how a directory goes back to its parent's policy; it is
	 * never a valid value to set (removexattr does that). */
	for (int ps = GM_PS_4K; ps < GM_PS_COUNT; ps++) {
		if (strlen(gm_policy_names[ps]) == len &&
		    memcmp(val, gm_policy_names[ps], len) == 0) {
			*out = ps;
			return 0;
		}
	}
	return -EINVAL;
}

const char *gm_policy_name(enum gm_pagesize ps)
{
	if ((unsigned)ps >= GM_PS_COUNT)
		return "invalid";
	return gm_policy_names[ps];
}

enum gm_pagesize gm_policy_effective(enum gm_pagesize own, enum gm_pagesize inherited)
{
	return own != GM_PS_INHERIT ? own : inherited;
}

uint32_t gm_policy_provider(enum gm_pagesize ps)
{
	switch (ps) {
	case GM_PS_4K:
		return GMEMFS_PROV_SHMEM_4K;
	case GM_PS_2M_THP:
	case GM_PS_AUTO:	/* THP is the largest page shmem can give here */
		return GMEMFS_PROV_SHMEM_THP;
	case GM_PS_SHIM:
		return GMEMFS_PROV_SHIM;
	default:
		return GMEMFS_PROV_NONE;
	}
}
