/*
 * Page-size policy parsing, inheritance and candidate providers (see
 * policy.h).  Not for: choosing among the candidates by the pool's room
 * (mem/backing.c) or moving a file between providers (namespace.c).
 */
#include <errno.h>
#include <string.h>

#include "meta/policy.h"
#include "gmemfs.h"

#define FALLBACK_KEY	",fallback="

static const char *const gm_policy_names[GM_PS_COUNT] = {
	[GM_PS_INHERIT] = "inherit",
	[GM_PS_4K] = "4k",
	[GM_PS_2M_THP] = "2m-thp",
	[GM_PS_AUTO] = "auto",
	[GM_PS_2M] = "2m",
	[GM_PS_1G] = "1g",
	[GM_PS_KVM_GMEM] = "kvm-gmem",
	[GM_PS_SHIM] = "shim",
	[GM_PS_SHIM_SECRET] = "shim-secret",
};

/* Page sizes in bytes, for ordering a fallback below its primary. */
static const uint64_t gm_policy_bytes[GM_PS_COUNT] = {
	[GM_PS_4K] = 4096,
	[GM_PS_2M_THP] = 2 << 20,
	[GM_PS_2M] = 2 << 20,
	[GM_PS_1G] = 1 << 30,
};

/* "inherit" is how a directory goes back to its parent's policy; it is
 * never a valid value to set (removexattr does that). */
static int gm_policy_word(const char *val, size_t len, enum gm_pagesize *out)
{
	for (int ps = GM_PS_4K; ps < GM_PS_COUNT; ps++) {
		if (strlen(gm_policy_names[ps]) == len &&
		    memcmp(val, gm_policy_names[ps], len) == 0) {
			*out = ps;
			return 0;
		}
	}
	return -EINVAL;
}

static int gm_policy_is_hugetlb(enum gm_pagesize ps)
{
	return ps == GM_PS_2M || ps == GM_PS_1G;
}

/* A fallback gives smaller pages than its primary: the point of one is to
 * take what the pool has when the big pages are gone.  2m-thp under 2m
 * is allowed: same size, but it cannot run out. */
static const char *gm_policy_check_fallback(enum gm_pagesize ps, enum gm_pagesize fb)
{
	if (!gm_policy_is_hugetlb(ps))
		return "only 2m and 1g take a fallback";
	if (fb == GM_PS_AUTO || fb == GM_PS_KVM_GMEM || fb == GM_PS_SHIM ||
	    fb == GM_PS_SHIM_SECRET || fb == ps)
		return "the fallback must be 4k, 2m-thp or 2m, and not the page size itself";
	if (gm_policy_bytes[fb] > gm_policy_bytes[ps])
		return "the fallback must not have larger pages than the page size";
	return NULL;
}

int gm_policy_parse_why(const char *val, size_t len, enum gm_pagesize *out,
			const char **why)
{
	const char *comma, *dummy;
	enum gm_pagesize ps, fb;
	size_t klen = strlen(FALLBACK_KEY);

	if (!why)
		why = &dummy;
	if (len > 0 && (val[len - 1] == '\0' || val[len - 1] == '\n'))
		len--;
	*why = "use 4k, 2m-thp, 2m, 1g, auto, kvm-gmem, shim or shim-secret, "
		"or 2m/1g with ,fallback=SIZE";
	if (memchr(val, '\0', len))
		return -EINVAL;
	comma = memchr(val, ',', len);
	if (gm_policy_word(val, comma ? (size_t)(comma - val) : len, &ps))
		return -EINVAL;
	if (!comma) {
		*out = ps;
		return 0;
	}
	len -= (size_t)(comma - val);
	if (len < klen || memcmp(comma, FALLBACK_KEY, klen) != 0) {
		*why = "after the page size only ,fallback=SIZE may follow";
		return -EINVAL;
	}
	if (gm_policy_word(comma + klen, len - klen, &fb)) {
		*why = "unknown fallback page size: use 4k, 2m-thp or 2m";
		return -EINVAL;
	}
	*why = gm_policy_check_fallback(ps, fb);
	if (*why)
		return -EINVAL;
	*out = (enum gm_pagesize)(ps | fb << GM_PS_FALLBACK_SHIFT);
	return 0;
}

int gm_policy_parse(const char *val, size_t len, enum gm_pagesize *out)
{
	return gm_policy_parse_why(val, len, out, NULL);
}

int gm_policy_valid(enum gm_pagesize ps)
{
	enum gm_pagesize p = gm_policy_primary(ps), fb = gm_policy_fallback(ps);

	if ((unsigned)ps & ~0xffffU || p >= GM_PS_COUNT || fb >= GM_PS_COUNT)
		return 0;
	if (fb == GM_PS_INHERIT)
		return 1;
	return p != GM_PS_INHERIT && fb != GM_PS_INHERIT && !gm_policy_check_fallback(p, fb);
}

const char *gm_policy_name(enum gm_pagesize ps)
{
	if ((unsigned)ps >= GM_PS_COUNT)
		return "invalid";
	return gm_policy_names[ps];
}

/* Every policy with a fallback, spelled as parse accepts it. */
static const struct {
	enum gm_pagesize ps, fb;
	const char *text;
} gm_policy_fallbacks[] = {
	{ GM_PS_2M, GM_PS_4K, "2m" FALLBACK_KEY "4k" },
	{ GM_PS_2M, GM_PS_2M_THP, "2m" FALLBACK_KEY "2m-thp" },
	{ GM_PS_1G, GM_PS_4K, "1g" FALLBACK_KEY "4k" },
	{ GM_PS_1G, GM_PS_2M_THP, "1g" FALLBACK_KEY "2m-thp" },
	{ GM_PS_1G, GM_PS_2M, "1g" FALLBACK_KEY "2m" },
};

const char *gm_policy_text(enum gm_pagesize ps)
{
	enum gm_pagesize p = gm_policy_primary(ps), fb = gm_policy_fallback(ps);

	if (!gm_policy_valid(ps))
		return "invalid";
	if (!fb)
		return gm_policy_names[p];
	for (size_t i = 0; i < sizeof(gm_policy_fallbacks) / sizeof(gm_policy_fallbacks[0]); i++) {
		if (gm_policy_fallbacks[i].ps == p && gm_policy_fallbacks[i].fb == fb)
			return gm_policy_fallbacks[i].text;
	}
	return "invalid";
}

enum gm_pagesize gm_policy_effective(enum gm_pagesize own, enum gm_pagesize inherited)
{
	return own != GM_PS_INHERIT ? own : inherited;
}

static uint32_t gm_policy_size_provider(enum gm_pagesize ps)
{
	switch (ps) {
	case GM_PS_4K:
		return GMEMFS_PROV_SHMEM_4K;
	case GM_PS_2M_THP:
		return GMEMFS_PROV_SHMEM_THP;
	case GM_PS_2M:
		return GMEMFS_PROV_HUGETLB_2M;
	case GM_PS_1G:
		return GMEMFS_PROV_HUGETLB_1G;
	case GM_PS_KVM_GMEM:
		return GMEMFS_PROV_KVM_GMEM;
	case GM_PS_SHIM:
	case GM_PS_SHIM_SECRET:
		return GMEMFS_PROV_SHIM;
	default:
		return GMEMFS_PROV_NONE;
	}
}

unsigned gm_policy_candidates(enum gm_pagesize ps, uint32_t out[GM_POLICY_MAX_CANDIDATES])
{
	enum gm_pagesize p = gm_policy_primary(ps), fb = gm_policy_fallback(ps);
	unsigned n = 0;

	if (!gm_policy_valid(ps) || p == GM_PS_INHERIT)
		return 0;
	if (p == GM_PS_AUTO) {
		out[n++] = GMEMFS_PROV_HUGETLB_1G;
		out[n++] = GMEMFS_PROV_HUGETLB_2M;
		out[n++] = GMEMFS_PROV_SHMEM_ADVISE;
		return n;
	}
	out[n++] = gm_policy_size_provider(p);
	if (fb)
		out[n++] = gm_policy_size_provider(fb);
	return n;
}

uint32_t gm_policy_provider(enum gm_pagesize ps)
{
	uint32_t c[GM_POLICY_MAX_CANDIDATES];

	/* auto's choice at creation, when no size is known yet: huge pages
	 * for the mappings that ask, 4 KiB ones for everything else. */
	if (gm_policy_primary(ps) == GM_PS_AUTO)
		return gm_policy_valid(ps) ? GMEMFS_PROV_SHMEM_ADVISE : GMEMFS_PROV_NONE;
	return gm_policy_candidates(ps, c) ? c[0] : GMEMFS_PROV_NONE;
}
