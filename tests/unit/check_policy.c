/* Unit tests of the page-size policy: parsing, inheritance, providers. */
#include <errno.h>
#include <string.h>

#include "gmemfs.h"
#include "policy.h"
#include "suites.h"

START_TEST(test_parse_values)
{
	enum gm_pagesize ps;

	ck_assert_int_eq(gm_policy_parse("4k", 2, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_4K);
	ck_assert_int_eq(gm_policy_parse("2m-thp", 6, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_2M_THP);
	ck_assert_int_eq(gm_policy_parse("auto", 4, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_AUTO);
}
END_TEST

START_TEST(test_parse_tolerates_terminator)
{
	enum gm_pagesize ps;

	ck_assert_int_eq(gm_policy_parse("4k\n", 3, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_4K);
	ck_assert_int_eq(gm_policy_parse("auto", 5, &ps), 0);	/* with its NUL */
	ck_assert_int_eq(ps, GM_PS_AUTO);
}
END_TEST

START_TEST(test_parse_rejects)
{
	static const char *const bad[] = { "", "4K ", "4", "2M", "1G", "inherit", "auto\n\n",
					   "4kk", "thp", "AUTO" };
	enum gm_pagesize ps = GM_PS_4K;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(gm_policy_parse(bad[i], strlen(bad[i]), &ps) == -EINVAL,
			      "accepted '%s'", bad[i]);
		ck_assert_int_eq(ps, GM_PS_4K);	/* untouched on error */
	}
}
END_TEST

START_TEST(test_effective_and_provider)
{
	ck_assert_int_eq(gm_policy_effective(GM_PS_INHERIT, GM_PS_4K), GM_PS_4K);
	ck_assert_int_eq(gm_policy_effective(GM_PS_2M_THP, GM_PS_4K), GM_PS_2M_THP);
	ck_assert_uint_eq(gm_policy_provider(GM_PS_4K), GMEMFS_PROV_SHMEM_4K);
	ck_assert_uint_eq(gm_policy_provider(GM_PS_2M_THP), GMEMFS_PROV_SHMEM_THP);
	ck_assert_uint_eq(gm_policy_provider(GM_PS_AUTO), GMEMFS_PROV_SHMEM_THP);
	ck_assert_uint_eq(gm_policy_provider(GM_PS_INHERIT), GMEMFS_PROV_NONE);
	ck_assert_str_eq(gm_policy_name(GM_PS_2M_THP), "2m-thp");
	ck_assert_str_eq(gm_policy_name(GM_PS_COUNT), "invalid");
}
END_TEST

Suite *make_policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_values);
	tcase_add_test(tc, test_parse_tolerates_terminator);
	tcase_add_test(tc, test_parse_rejects);
	tcase_add_test(tc, test_effective_and_provider);
	suite_add_tcase(s, tc);
	return s;
}
