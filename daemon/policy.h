/*
 * Page-size policy: what the user.gmemfs.pagesize xattr means, how a file
 * inherits it from its directory, and which provider serves it.
 * Pure logic, no I/O: unit-tested in tests/unit/check_policy.c.
 */
#ifndef GM_POLICY_H
#define GM_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum gm_pagesize {
	GM_PS_INHERIT = 0,	/* directories only: take the parent's */
	GM_PS_4K,
	GM_PS_2M_THP,
	GM_PS_AUTO,		/* largest page size the pool can give */
	GM_PS_SHIM,		/* a shim file (kernel module gmemfs), 4K */
	GM_PS_COUNT,
};

/* Parse an xattr value ("4k", "2m-thp", "auto"; one trailing NUL or newline
 * tolerated).  Returns 0 or -EINVAL. */
int gm_policy_parse(const char *val, size_t len, enum gm_pagesize *out);
const char *gm_policy_name(enum gm_pagesize ps);

/* The policy a new child of a directory gets: the directory's own setting,
 * or what the directory itself inherited. */
enum gm_pagesize gm_policy_effective(enum gm_pagesize own, enum gm_pagesize inherited);

/* enum gmemfs_provider that serves a concrete (non-INHERIT) policy. */
uint32_t gm_policy_provider(enum gm_pagesize ps);

#endif
