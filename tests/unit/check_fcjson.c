/*
 * Firecracker's GuestRegionUffdMapping message (daemon/ctl/fcjson.c): the
 * text Firecracker sends parses to its regions, in any field order and
 * with whitespace; every other shape is refused with a reason that says
 * where.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "suites.h"
#include "ctl/fcjson.h"

static int parse(const char *text, struct gm_uffd_region *r, unsigned *n, char *why)
{
	return gm_fc_parse_regions(text, strlen(text), r, 4, n, why);
}

START_TEST(test_firecracker_text)
{
	const char *text =
		"[{\"base_host_virt_addr\":140384843341824,\"size\":16711680,\"offset\":131072,"
		"\"page_size\":4096,\"page_size_kib\":4096},{\"base_host_virt_addr\":"
		"140384860053504,\"size\":16711680,\"offset\":16842752,\"page_size\":4096,"
		"\"page_size_kib\":4096}]";
	struct gm_uffd_region r[4];
	char why[GM_CHAN_WHY_MAX];
	unsigned n;

	ck_assert_int_eq(parse(text, r, &n, why), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(r[0].addr, 140384843341824ULL);
	ck_assert_uint_eq(r[0].size, 16711680);
	ck_assert_uint_eq(r[0].offset, 131072);
	ck_assert_uint_eq(r[0].page_size, 4096);
	ck_assert_uint_eq(r[1].offset, 16842752);
}
END_TEST

START_TEST(test_order_and_space)
{
	struct gm_uffd_region r[4];
	char why[GM_CHAN_WHY_MAX];
	unsigned n;

	ck_assert_int_eq(parse(" [ { \"page_size_kib\" : 2097152 ,\n\"offset\":0,\"size\":2097152,"
			       "\"page_size\":2097152,\"base_host_virt_addr\":18446744073709551615 } ]\n",
			       r, &n, why), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(r[0].addr, UINT64_MAX);
	ck_assert_uint_eq(r[0].page_size, 2 << 20);
}
END_TEST

static const struct {
	const char *text, *reason;
} bad[] = {
	{ "", "expected '['" },
	{ "[]", "expected '{'" },
	{ "[{\"size\":1,\"offset\":0,\"page_size\":4096,\"page_size_kib\":4096}]", "all five" },
	{ "[{\"base_host_virt_addr\":0,\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4,\"x\":1}]", "unknown field" },
	{ "[{\"base_host_virt_addr\":0,\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4}]", "page_size_kib" },
	{ "[{\"base_host_virt_addr\":0,\"size\":1,\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4096}]", "twice" },
	{ "[{\"base_host_virt_addr\":-1,\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4096}]", "unsigned integer" },
	{ "[{\"base_host_virt_addr\":1.5,\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4096}]", "not an integer" },
	{ "[{\"base_host_virt_addr\":18446744073709551616,\"size\":1,\"offset\":0,"
	  "\"page_size\":4096,\"page_size_kib\":4096}]", "64 bits" },
	{ "[{\"base_host_virt_addr\":01,\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4096}]", "leading zero" },
	{ "[{\"base_host_virt_addr\":\"1\",\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4096}]", "unsigned integer" },
	{ "[{\"b\\u0061se_host_virt_addr\":1}]", "plain lowercase" },
	{ "[{\"base_host_virt_addr\":0,\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4096}] x", "bytes after" },
	{ "[{\"base_host_virt_addr\":0,\"size\":1,\"offset\":0,\"page_size\":4096,"
	  "\"page_size_kib\":4096}", "expected ',' or ']'" },
};

START_TEST(test_refused)
{
	struct gm_uffd_region r[4];
	char why[GM_CHAN_WHY_MAX] = "";
	unsigned n;

	ck_assert_int_eq(parse(bad[_i].text, r, &n, why), -EINVAL);
	ck_assert_msg(strstr(why, bad[_i].reason), "'%s': reason '%s', want '%s'", bad[_i].text,
		      why, bad[_i].reason);
}
END_TEST

START_TEST(test_too_many)
{
	const char *one = "{\"base_host_virt_addr\":0,\"size\":1,\"offset\":0,\"page_size\":4096,"
			  "\"page_size_kib\":4096}";
	char text[1024], why[GM_CHAN_WHY_MAX];
	struct gm_uffd_region r[4];
	unsigned n;

	snprintf(text, sizeof(text), "[%s,%s,%s,%s,%s]", one, one, one, one, one);
	ck_assert_int_eq(parse(text, r, &n, why), -EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "too many regions"));
}
END_TEST

Suite *make_fcjson_suite(void)
{
	Suite *s = suite_create("fcjson");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_firecracker_text);
	tcase_add_test(tc, test_order_and_space);
	tcase_add_loop_test(tc, test_refused, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, test_too_many);
	suite_add_tcase(s, tc);
	return s;
}
