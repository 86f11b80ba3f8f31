/*
 * POSIX ACL xattr values: validation and the mode <-> ACL rules (acl.h).
 * Not for: storing them (namespace.c, as xattrs) or FUSE (fuse/acl.c).
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "meta/acl.h"

#define ACL_XATTR_VERSION	2
#define ACL_USER_OBJ		0x01
#define ACL_USER		0x02
#define ACL_GROUP_OBJ		0x04
#define ACL_GROUP		0x08
#define ACL_MASK		0x10
#define ACL_OTHER		0x20

#define ACL_HDR		4
#define ACL_ENTRY	8

static size_t acl_count(size_t len)
{
	return (len - ACL_HDR) / ACL_ENTRY;
}

static uint16_t acl_tag(const void *v, size_t i)
{
	uint16_t t;

	memcpy(&t, (const char *)v + ACL_HDR + i * ACL_ENTRY, 2);
	return le16toh(t);
}

static uint16_t acl_perm(const void *v, size_t i)
{
	uint16_t p;

	memcpy(&p, (const char *)v + ACL_HDR + i * ACL_ENTRY + 2, 2);
	return le16toh(p);
}

static void acl_set_perm(void *v, size_t i, uint16_t perm)
{
	uint16_t p = htole16(perm);

	memcpy((char *)v + ACL_HDR + i * ACL_ENTRY + 2, &p, 2);
}

static uint32_t acl_id(const void *v, size_t i)
{
	uint32_t id;

	memcpy(&id, (const char *)v + ACL_HDR + i * ACL_ENTRY + 4, 4);
	return le32toh(id);
}

/* Tags in the order an ACL lists them; each tag's rank. */
static int acl_rank(uint16_t tag)
{
	static const uint16_t order[] = { ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ,
					  ACL_GROUP, ACL_MASK, ACL_OTHER };

	for (int r = 0; r < 6; r++) {
		if (order[r] == tag)
			return r;
	}
	return -1;
}

int gm_acl_valid(const void *v, size_t len)
{
	uint32_t version;
	int seen[6] = { 0 }, prev_rank = -1;

	if (len < ACL_HDR + ACL_ENTRY || (len - ACL_HDR) % ACL_ENTRY)
		return -EINVAL;
	memcpy(&version, v, 4);
	if (le32toh(version) != ACL_XATTR_VERSION)
		return -EINVAL;
	for (size_t i = 0; i < acl_count(len); i++) {
		int rank = acl_rank(acl_tag(v, i));
		bool named = rank == 1 || rank == 3;	/* any number, any order */

		if (rank < 0 || rank < prev_rank || acl_perm(v, i) & ~7u)
			return -EINVAL;
		if (!named && seen[rank])
			return -EINVAL;	/* one owner, owning group, mask, other */
		seen[rank]++;
		prev_rank = rank;
	}
	if (!seen[0] || !seen[2] || !seen[5] || ((seen[1] || seen[3]) && !seen[4]))
		return -EINVAL;
	return 0;
}

int gm_acl_dup(const void *v, size_t len, void **out)
{
	*out = NULL;
	if (gm_acl_valid(v, len))
		return -EINVAL;
	*out = malloc(len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, v, len);
	return 0;
}

/* Index of the first entry with tag, or -1. */
static long acl_find(const void *v, size_t len, uint16_t tag)
{
	for (size_t i = 0; i < acl_count(len); i++) {
		if (acl_tag(v, i) == tag)
			return (long)i;
	}
	return -1;
}

/* The entry whose perms are the mode's group bits: the mask, if any. */
static size_t acl_group_class(const void *v, size_t len)
{
	long m = acl_find(v, len, ACL_MASK);

	return (size_t)(m >= 0 ? m : acl_find(v, len, ACL_GROUP_OBJ));
}

/* The mask's perms, or 7 without a mask. */
static unsigned acl_mask(const void *v, size_t len)
{
	long m = acl_find(v, len, ACL_MASK);

	return m >= 0 ? acl_perm(v, (size_t)m) : 7;
}

bool gm_acl_permits(const void *v, size_t len, const struct gm_acl_who *who, uid_t owner,
		    gid_t group, unsigned want)
{
	bool group_found = false;

	want &= 7;
	for (size_t i = 0; i < acl_count(len); i++) {
		unsigned perm = acl_perm(v, i);

		switch (acl_tag(v, i)) {
		case ACL_USER_OBJ:
			if (who->uid == owner)
				return (perm & want) == want;
			break;
		case ACL_USER:
			if (who->uid == acl_id(v, i))
				return (perm & acl_mask(v, len) & want) == want;
			break;
		case ACL_GROUP_OBJ:
		case ACL_GROUP:
			if (!who->in_group(who->ctx, acl_tag(v, i) == ACL_GROUP_OBJ ? group :
					   (gid_t)acl_id(v, i)))
				break;
			group_found = true;
			if ((perm & acl_mask(v, len) & want) == want)
				return true;
			break;
		case ACL_OTHER:
			return !group_found && (perm & want) == want;
		}
	}
	return false;
}

mode_t gm_acl_mode(const void *v, size_t len, bool *equiv)
{
	*equiv = acl_count(len) == 3;
	return (mode_t)(acl_perm(v, (size_t)acl_find(v, len, ACL_USER_OBJ)) << 6 |
			acl_perm(v, acl_group_class(v, len)) << 3 |
			acl_perm(v, (size_t)acl_find(v, len, ACL_OTHER)));
}

bool gm_acl_chmod(void *v, size_t len, mode_t mode)
{
	size_t idx[3] = { (size_t)acl_find(v, len, ACL_USER_OBJ), acl_group_class(v, len),
			  (size_t)acl_find(v, len, ACL_OTHER) };
	bool changed = false;

	for (int k = 0; k < 3; k++) {
		uint16_t want = (mode >> (6 - 3 * k)) & 7;

		changed |= acl_perm(v, idx[k]) != want;
		acl_set_perm(v, idx[k], want);
	}
	return changed;
}

mode_t gm_acl_inherit(void *v, size_t len, mode_t mode, bool *equiv)
{
	size_t idx[3] = { (size_t)acl_find(v, len, ACL_USER_OBJ), acl_group_class(v, len),
			  (size_t)acl_find(v, len, ACL_OTHER) };

	for (int k = 0; k < 3; k++)
		acl_set_perm(v, idx[k], acl_perm(v, idx[k]) & ((mode >> (6 - 3 * k)) & 7));
	return gm_acl_mode(v, len, equiv);
}
