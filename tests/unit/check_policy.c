/* Unit tests of the page-size policy: parsing (with fallbacks), text,
 * inheritance, candidate providers; and the --hugepages option. */
#include <errno.h>
#include <string.h>

#include "gmemfs.h"
#include "core/options.h"
#include "meta/policy.h"
#include "suites.h"

#define FB(p, f)	((enum gm_pagesize)((p) | (f) << GM_PS_FALLBACK_SHIFT))

START_TEST(test_parse_values)
{
	enum gm_pagesize ps;

	ck_assert_int_eq(gm_policy_parse("4k", 2, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_4K);
	ck_assert_int_eq(gm_policy_parse("2m-thp", 6, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_2M_THP);
	ck_assert_int_eq(gm_policy_parse("auto", 4, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_AUTO);
	ck_assert_int_eq(gm_policy_parse("2m", 2, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_2M);
	ck_assert_int_eq(gm_policy_parse("1g", 2, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_1G);
	ck_assert_int_eq(gm_policy_parse("kvm-gmem", 8, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_KVM_GMEM);
}
END_TEST

START_TEST(test_parse_fallbacks)
{
	static const struct {
		const char *text;
		enum gm_pagesize ps;
	} good[] = {
		{ "2m,fallback=4k", FB(GM_PS_2M, GM_PS_4K) },
		{ "2m,fallback=2m-thp", FB(GM_PS_2M, GM_PS_2M_THP) },
		{ "1g,fallback=4k", FB(GM_PS_1G, GM_PS_4K) },
		{ "1g,fallback=2m-thp", FB(GM_PS_1G, GM_PS_2M_THP) },
		{ "1g,fallback=2m", FB(GM_PS_1G, GM_PS_2M) },
	};
	enum gm_pagesize ps;

	for (unsigned i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_int_eq(gm_policy_parse(good[i].text, strlen(good[i].text), &ps), 0);
		ck_assert_int_eq(ps, good[i].ps);
		ck_assert_int_eq(gm_policy_primary(ps), good[i].ps & 0xff);
		/* The text is what parse took, so getfattr shows what was set. */
		ck_assert_str_eq(gm_policy_text(ps), good[i].text);
		ck_assert(gm_policy_valid(ps));
	}
	ck_assert_int_eq(gm_policy_parse("1g,fallback=2m-thp\n", 19, &ps), 0);
	ck_assert_int_eq(ps, FB(GM_PS_1G, GM_PS_2M_THP));
}
END_TEST

START_TEST(test_parse_fallback_rejects_with_reason)
{
	static const struct {
		const char *text, *why;
	} bad[] = {
		{ "auto,fallback=4k", "only 2m and 1g take a fallback" },
		{ "4k,fallback=4k", "only 2m and 1g take a fallback" },
		{ "kvm-gmem,fallback=4k", "only 2m and 1g take a fallback" },
		{ "2m,fallback=1g", "must not have larger pages" },
		{ "1g,fallback=1g", "not the page size itself" },
		{ "1g,fallback=auto", "must be 4k, 2m-thp or 2m" },
		{ "1g,fallback=kvm-gmem", "must be 4k, 2m-thp or 2m" },
		{ "1g,fallback=", "unknown fallback page size" },
		{ "1g,fallback=2m,fallback=4k", "unknown fallback page size" },
		{ "1g,fb=2m", "only ,fallback=SIZE may follow" },
		{ "1g,", "only ,fallback=SIZE may follow" },
		{ "1g ,fallback=2m", "use 4k, 2m-thp, 2m, 1g, auto, kvm-gmem, shim or shim-secret" },
		{ ",fallback=2m", "use 4k, 2m-thp, 2m, 1g, auto, kvm-gmem, shim or shim-secret" },
		{ "1g,fallback=shim-secret", "must be 4k, 2m-thp or 2m" },
		{ "shim-secret,fallback=4k", "only 2m and 1g take a fallback" },
		{ "shim-secre", "use 4k" },
		{ "shim-secret2", "use 4k" },
		{ "secret", "use 4k" },
	};
	enum gm_pagesize ps = GM_PS_4K;
	const char *why;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		ck_assert_msg(gm_policy_parse_why(bad[i].text, strlen(bad[i].text), &ps,
						  &why) == -EINVAL, "accepted '%s'", bad[i].text);
		ck_assert_ptr_nonnull(why);
		ck_assert_msg(strstr(why, bad[i].why), "'%s': reason '%s'", bad[i].text, why);
		ck_assert_int_eq(ps, GM_PS_4K);	/* untouched on error */
	}
	/* An embedded NUL is not a terminator the parser may skip. */
	ck_assert_int_eq(gm_policy_parse("1g\0,fallback=2m", 16, &ps), -EINVAL);
}
END_TEST

/* Journal records hold the policy as a u32: values before fallbacks
 * existed read the same, and replay refuses what parse never returns. */
START_TEST(test_valid_journal_values)
{
	ck_assert(gm_policy_valid(GM_PS_INHERIT));
	ck_assert(gm_policy_valid(GM_PS_4K));
	ck_assert(gm_policy_valid(GM_PS_2M_THP));
	ck_assert(gm_policy_valid(GM_PS_AUTO));
	ck_assert(gm_policy_valid(FB(GM_PS_1G, GM_PS_2M)));
	ck_assert(!gm_policy_valid(GM_PS_COUNT));
	ck_assert(!gm_policy_valid(FB(GM_PS_2M, GM_PS_1G)));
	ck_assert(!gm_policy_valid(FB(GM_PS_AUTO, GM_PS_4K)));
	ck_assert(!gm_policy_valid(FB(GM_PS_INHERIT, GM_PS_4K)));
	ck_assert(!gm_policy_valid((enum gm_pagesize)0x10001));
	ck_assert_str_eq(gm_policy_text((enum gm_pagesize)0x10001), "invalid");
}
END_TEST

START_TEST(test_candidates)
{
	uint32_t c[GM_POLICY_MAX_CANDIDATES];

	ck_assert_uint_eq(gm_policy_candidates(GM_PS_AUTO, c), 3);
	ck_assert_uint_eq(c[0], GMEMFS_PROV_HUGETLB_1G);
	ck_assert_uint_eq(c[1], GMEMFS_PROV_HUGETLB_2M);
	ck_assert_uint_eq(c[2], GMEMFS_PROV_SHMEM_ADVISE);
	ck_assert_uint_eq(gm_policy_candidates(FB(GM_PS_1G, GM_PS_2M_THP), c), 2);
	ck_assert_uint_eq(c[0], GMEMFS_PROV_HUGETLB_1G);
	ck_assert_uint_eq(c[1], GMEMFS_PROV_SHMEM_THP);
	ck_assert_uint_eq(gm_policy_candidates(GM_PS_2M, c), 1);
	ck_assert_uint_eq(c[0], GMEMFS_PROV_HUGETLB_2M);
	ck_assert_uint_eq(gm_policy_candidates(GM_PS_KVM_GMEM, c), 1);
	ck_assert_uint_eq(c[0], GMEMFS_PROV_KVM_GMEM);
	ck_assert_uint_eq(gm_policy_candidates(GM_PS_INHERIT, c), 0);
	ck_assert_uint_eq(gm_policy_candidates(FB(GM_PS_2M, GM_PS_1G), c), 0);
	/* First choice at creation: auto has no size yet, so THP. */
	ck_assert_uint_eq(gm_policy_provider(GM_PS_1G), GMEMFS_PROV_HUGETLB_1G);
	ck_assert_uint_eq(gm_policy_provider(FB(GM_PS_1G, GM_PS_4K)), GMEMFS_PROV_HUGETLB_1G);
}
END_TEST

START_TEST(test_hugepages_option)
{
	uint32_t n2m = 7, n1g = 9;

	ck_assert_int_eq(gm_parse_hugepages("2M:16", &n2m, &n1g), 0);
	ck_assert_uint_eq(n2m, 16);
	ck_assert_uint_eq(n1g, 9);	/* not named: left alone */
	ck_assert_int_eq(gm_parse_hugepages("1g:2,2m:0", &n2m, &n1g), 0);
	ck_assert_uint_eq(n2m, 0);
	ck_assert_uint_eq(n1g, 2);
	static const char *const bad[] = { "", "2M", "2M:", "2M:x", "2M:-1", "2M:1,", "4M:1",
					   "2M:1,2M:2", "2M:1;1G:1", "1G:4294967296", ",2M:1",
					   "2M: 1" };
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(gm_parse_hugepages(bad[i], &n2m, &n1g) == -EINVAL,
			      "accepted '%s'", bad[i]);
		ck_assert_uint_eq(n2m, 0);
		ck_assert_uint_eq(n1g, 2);
	}
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
	ck_assert_uint_eq(gm_policy_provider(GM_PS_AUTO), GMEMFS_PROV_SHMEM_ADVISE);
	ck_assert_uint_eq(gm_policy_provider(GM_PS_INHERIT), GMEMFS_PROV_NONE);
	ck_assert_uint_eq(gm_policy_provider(GM_PS_2M), GMEMFS_PROV_HUGETLB_2M);
	ck_assert_uint_eq(gm_policy_provider(GM_PS_KVM_GMEM), GMEMFS_PROV_KVM_GMEM);
	ck_assert_str_eq(gm_policy_name(GM_PS_2M_THP), "2m-thp");
	ck_assert_str_eq(gm_policy_name(GM_PS_COUNT), "invalid");
}
END_TEST

/* shim-secret: a shim file out of the carve-out.  The journal holds the
 * value as it holds any policy, so secrecy survives a restart with the
 * file; a journal written before it existed never holds 8. */
START_TEST(test_shim_secret)
{
	uint32_t cand[GM_POLICY_MAX_CANDIDATES];
	enum gm_pagesize ps = GM_PS_4K;

	ck_assert_int_eq(gm_policy_parse("shim-secret", 11, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_SHIM_SECRET);
	ck_assert_int_eq(GM_PS_SHIM_SECRET, 8);	/* journal value: never renumber */
	ck_assert_int_eq(gm_policy_parse("shim-secret\n", 12, &ps), 0);
	ck_assert_str_eq(gm_policy_text(ps), "shim-secret");
	ck_assert_str_eq(gm_policy_name(GM_PS_SHIM_SECRET), "shim-secret");
	ck_assert(gm_policy_valid(GM_PS_SHIM_SECRET));
	ck_assert(gm_policy_secret(GM_PS_SHIM_SECRET));
	ck_assert(!gm_policy_secret(GM_PS_SHIM));
	ck_assert(!gm_policy_secret(GM_PS_4K));
	ck_assert(!gm_policy_secret(GM_PS_INHERIT));
	ck_assert(!gm_policy_valid(FB(GM_PS_SHIM_SECRET, GM_PS_4K)));
	ck_assert(!gm_policy_valid(FB(GM_PS_1G, GM_PS_SHIM_SECRET)));
	/* Served by the shim provider alone: no fallback to ordinary memory. */
	ck_assert_uint_eq(gm_policy_provider(GM_PS_SHIM_SECRET), GMEMFS_PROV_SHIM);
	ck_assert_uint_eq(gm_policy_candidates(GM_PS_SHIM_SECRET, cand), 1);
	ck_assert_uint_eq(cand[0], GMEMFS_PROV_SHIM);
	/* "shim" still means an ordinary shim file. */
	ck_assert_int_eq(gm_policy_parse("shim", 4, &ps), 0);
	ck_assert_int_eq(ps, GM_PS_SHIM);
	ck_assert(gm_policy_effective(GM_PS_INHERIT, GM_PS_SHIM_SECRET) == GM_PS_SHIM_SECRET);
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
	tcase_add_test(tc, test_parse_fallbacks);
	tcase_add_test(tc, test_parse_fallback_rejects_with_reason);
	tcase_add_test(tc, test_valid_journal_values);
	tcase_add_test(tc, test_candidates);
	tcase_add_test(tc, test_hugepages_option);
	tcase_add_test(tc, test_shim_secret);
	suite_add_tcase(s, tc);
	return s;
}
