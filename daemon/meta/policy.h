/*
 * Page-size policy: what the user.gmemfs.pagesize xattr means, how a file
 * inherits it from its directory, and which providers may serve it.
 * Pure logic, no I/O: unit-tested in tests/unit/check_policy.c.
 *
 * A policy value is a page size (enum gm_pagesize, bits 0-7) with an
 * optional fallback page size in bits 8-15: "1g,fallback=2m-thp" is
 * GM_PS_1G | GM_PS_2M_THP << GM_PS_FALLBACK_SHIFT.  The value is what the
 * journal records (a u32), so journals written before fallbacks existed
 * (values 0-3) read the same.  Grammar, in docs/providers.md:
 *
 *   policy   := size | hugetlb ",fallback=" smaller
 *   size     := "4k" | "2m-thp" | "2m" | "1g" | "auto" | "kvm-gmem" | "shim"
 *              | "shim-secret"
 *   hugetlb  := "2m" | "1g"
 *   smaller  := a size with smaller pages than hugetlb's, not auto, kvm-gmem or shim
 *
 * kvm-gmem is a value of the same xattr because it answers the same
 * question (where the file's memory comes from) and excludes every other
 * answer: a second xattr would allow combinations that mean nothing
 * ("1g" and "kvm-gmem") and need a journal record of its own.  The same
 * goes for shim-secret: a shim file whose pages come from the module's
 * carve-out, outside the kernel's direct map (docs/providers.md).  Being
 * a policy value, secrecy is journaled with the file, so a file whose
 * shim file is gone comes back secret, or not at all.
 */
#ifndef GM_POLICY_H
#define GM_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum gm_pagesize {
	GM_PS_INHERIT = 0,	/* directories only: take the parent's */
	GM_PS_4K,
	GM_PS_2M_THP,
	GM_PS_AUTO,		/* largest page size the file's size and the pool allow */
	GM_PS_2M,		/* hugetlb 2 MiB pages */
	GM_PS_1G,		/* hugetlb 1 GiB pages */
	GM_PS_KVM_GMEM,		/* KVM guest_memfd, bound to a client's VM */
	GM_PS_SHIM,		/* a shim file (kernel module gmemfs), 4K */
	GM_PS_SHIM_SECRET,	/* a shim file out of the carve-out, 4K */
	GM_PS_COUNT,
	/* Not a page size: keeps the enum wide enough for a fallback. */
	GM_PS_FALLBACK_MASK = 0xff00,
};

#define GM_PS_FALLBACK_SHIFT	8
/* Most providers a policy may be served by (auto: 1g, 2m, shmem-advise). */
#define GM_POLICY_MAX_CANDIDATES 3

static inline enum gm_pagesize gm_policy_primary(enum gm_pagesize ps)
{
	return (enum gm_pagesize)(ps & 0xff);
}

static inline enum gm_pagesize gm_policy_fallback(enum gm_pagesize ps)
{
	return (enum gm_pagesize)((ps & GM_PS_FALLBACK_MASK) >> GM_PS_FALLBACK_SHIFT);
}

/* Does ps keep the file's memory out of the kernel's direct map? */
static inline int gm_policy_secret(enum gm_pagesize ps)
{
	return gm_policy_primary(ps) == GM_PS_SHIM_SECRET;
}

/* Parse an xattr value (grammar above; one trailing NUL or newline
 * tolerated).  0, or -EINVAL with *why set to a sentence for the log;
 * *out is untouched on error.  why may be NULL. */
int gm_policy_parse_why(const char *val, size_t len, enum gm_pagesize *out,
			const char **why);
int gm_policy_parse(const char *val, size_t len, enum gm_pagesize *out);

/* Is ps a value parse could return (or INHERIT)?  Replay checks records. */
int gm_policy_valid(enum gm_pagesize ps);

/* The name of a bare page size ("2m-thp"); "invalid" otherwise. */
const char *gm_policy_name(enum gm_pagesize ps);
/* The text of a whole policy ("1g,fallback=2m-thp"): a constant string,
 * "invalid" for a value parse cannot return. */
const char *gm_policy_text(enum gm_pagesize ps);

/* The policy a new child of a directory gets: the directory's own setting,
 * or what the directory itself inherited. */
enum gm_pagesize gm_policy_effective(enum gm_pagesize own, enum gm_pagesize inherited);

/* enum gmemfs_provider that serves a concrete (non-INHERIT) policy first
 * (the provider of its page size, fallback aside). */
uint32_t gm_policy_provider(enum gm_pagesize ps);

/* The providers that may serve ps, in order of preference: auto lists
 * hugetlb-1g, hugetlb-2m, shmem-advise; a fallback adds its provider after
 * the page size's own.  Returns how many (0 for an invalid policy). */
unsigned gm_policy_candidates(enum gm_pagesize ps, uint32_t out[GM_POLICY_MAX_CANDIDATES]);

#endif
