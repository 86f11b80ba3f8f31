/* Unit tests of the POSIX ACL xattr rules (acl.c): which values are valid,
 * and the mode <-> ACL arithmetic of setfacl, chmod and inheritance. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "meta/acl.h"
#include "suites.h"

#define UO 0x01
#define U 0x02
#define GO 0x04
#define G 0x08
#define MK 0x10
#define O 0x20

struct ent {
	uint16_t tag, perm;
	uint32_t id;
};

/* An ACL's xattr bytes from n entries (x86 is little-endian, as the
 * format). */
static size_t acl_make(uint8_t *buf, const struct ent *e, size_t n)
{
	uint32_t version = 2;

	memcpy(buf, &version, 4);
	for (size_t i = 0; i < n; i++)
		memcpy(buf + 4 + 8 * i, &e[i], 8);
	return 4 + 8 * n;
}

START_TEST(test_valid_and_not)
{
	uint8_t b[128];
	const struct ent minimal[] = { { UO, 6, 0 }, { GO, 4, 0 }, { O, 4, 0 } };
	const struct ent named[] = { { UO, 7, 0 }, { U, 6, 1000 }, { U, 6, 1001 },
				     { GO, 5, 0 }, { MK, 7, 0 }, { O, 0, 0 } };
	const struct ent no_mask[] = { { UO, 7, 0 }, { U, 6, 1000 }, { GO, 5, 0 }, { O, 0, 0 } };
	const struct ent out_of_order[] = { { GO, 5, 0 }, { UO, 7, 0 }, { O, 0, 0 } };
	const struct ent dup_id[] = { { UO, 7, 0 }, { U, 6, 5 }, { U, 6, 5 }, { GO, 5, 0 },
				      { MK, 7, 0 }, { O, 0, 0 } };
	const struct ent bad_perm[] = { { UO, 8, 0 }, { GO, 4, 0 }, { O, 4, 0 } };
	const struct ent no_other[] = { { UO, 6, 0 }, { GO, 4, 0 } };
	size_t len;

	ck_assert_int_eq(gm_acl_valid(b, acl_make(b, minimal, 3)), 0);
	ck_assert_int_eq(gm_acl_valid(b, acl_make(b, named, 6)), 0);
	ck_assert_int_eq(gm_acl_valid(b, acl_make(b, no_mask, 4)), -EINVAL);
	ck_assert_int_eq(gm_acl_valid(b, acl_make(b, out_of_order, 3)), -EINVAL);
	ck_assert_int_eq(gm_acl_valid(b, acl_make(b, dup_id, 6)), 0);	/* as the kernel */
	ck_assert_int_eq(gm_acl_valid(b, acl_make(b, bad_perm, 3)), -EINVAL);
	ck_assert_int_eq(gm_acl_valid(b, acl_make(b, no_other, 2)), -EINVAL);
	len = acl_make(b, minimal, 3);
	ck_assert_int_eq(gm_acl_valid(b, len - 1), -EINVAL);	/* torn entry */
	ck_assert_int_eq(gm_acl_valid(b, 4), -EINVAL);		/* no entries */
	ck_assert_int_eq(gm_acl_valid(b, 2), -EINVAL);
	b[0] = 1;						/* version 1 */
	ck_assert_int_eq(gm_acl_valid(b, len), -EINVAL);
}
END_TEST

START_TEST(test_mode_chmod_inherit)
{
	uint8_t b[128];
	const struct ent minimal[] = { { UO, 6, 0 }, { GO, 4, 0 }, { O, 0, 0 } };
	const struct ent named[] = { { UO, 7, 0 }, { U, 7, 1000 }, { GO, 5, 0 },
				     { MK, 7, 0 }, { O, 0, 0 } };
	size_t len;
	bool equiv;

	len = acl_make(b, minimal, 3);
	ck_assert_uint_eq(gm_acl_mode(b, len, &equiv), 0640);
	ck_assert(equiv);
	len = acl_make(b, named, 5);
	ck_assert_uint_eq(gm_acl_mode(b, len, &equiv), 0770);	/* group bits: the mask */
	ck_assert(!equiv);
	ck_assert(gm_acl_chmod(b, len, 0640));
	ck_assert_uint_eq(gm_acl_mode(b, len, &equiv), 0640);
	ck_assert(!gm_acl_chmod(b, len, 0640));			/* nothing to change */
	len = acl_make(b, named, 5);
	/* A file created 0666 under this default ACL: owner rw, mask rw, other none. */
	ck_assert_uint_eq(gm_acl_inherit(b, len, 0100666, &equiv), 0660);
	ck_assert(!equiv);
	ck_assert_int_eq(gm_acl_valid(b, len), 0);
}
END_TEST

Suite *make_acl_suite(void)
{
	Suite *s = suite_create("acl");
	TCase *tc = tcase_create("xattr");

	tcase_add_test(tc, test_valid_and_not);
	tcase_add_test(tc, test_mode_chmod_inherit);
	suite_add_tcase(s, tc);
	return s;
}
