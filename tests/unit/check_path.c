/* Unit tests of path and option logic: state-dir names, size parsing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ck_tmpdir.h"
#include "core/options.h"
#include "common/statedir.h"
#include "suites.h"

static const char *esc(const char *path)
{
	static char buf[256];

	ck_assert_int_eq(gm_path_escape(path, buf, sizeof(buf)), 0);
	return buf;
}

START_TEST(test_escape_examples)
{
	ck_assert_str_eq(esc("/mnt/gmemfs"), "mnt-gmemfs");
	ck_assert_str_eq(esc("/"), "-");
	ck_assert_str_eq(esc("/mnt//a/"), "mnt-a");
	ck_assert_str_eq(esc("/mnt/a-b"), "mnt-a\\x2db");
	ck_assert_str_eq(esc("/mnt/.hidden"), "mnt-.hidden");
	ck_assert_str_eq(esc("/.x"), "\\x2ex");
	ck_assert_str_eq(esc("/a b\\c"), "a\\x20b\\x5cc");
}
END_TEST

START_TEST(test_escape_injective)
{
	/* Paths that a naive '/'->'-' mapping would merge stay apart. */
	char a[256], b[256];

	ck_assert_int_eq(gm_path_escape("/mnt/a-b", a, sizeof(a)), 0);
	ck_assert_int_eq(gm_path_escape("/mnt/a/b", b, sizeof(b)), 0);
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(test_escape_too_long)
{
	char small[8];

	ck_assert_int_eq(gm_path_escape("/mnt/gmemfs", small, sizeof(small)), -ENAMETOOLONG);
	ck_assert_int_eq(gm_path_escape("/-", small, 4), -ENAMETOOLONG);
}
END_TEST

START_TEST(test_state_dir_default)
{
	char *d = gm_state_dir_default("/mnt/vm-ram");

	ck_assert_str_eq(d, GM_STATE_ROOT "/mnt-vm\\x2dram");
	free(d);
}
END_TEST

START_TEST(test_parse_size)
{
	const uint64_t mem = 24ULL << 30;
	uint64_t v;

	ck_assert_int_eq(gm_parse_size("512M", mem, &v), 0);
	ck_assert_uint_eq(v, 512ULL << 20);
	ck_assert_int_eq(gm_parse_size("2G", mem, &v), 0);
	ck_assert_uint_eq(v, 2ULL << 30);
	ck_assert_int_eq(gm_parse_size("1GiB", mem, &v), 0);
	ck_assert_uint_eq(v, 1ULL << 30);
	ck_assert_int_eq(gm_parse_size("50%", mem, &v), 0);
	ck_assert_uint_eq(v, 12ULL << 30);
	ck_assert_int_eq(gm_parse_size("3000000", mem, &v), 0);
	ck_assert_uint_eq(v, 2ULL << 20);	/* rounded down to 2 MiB */
}
END_TEST

START_TEST(test_parse_size_rejects)
{
	static const char *const bad[] = { "", "M", "-1G", "+1G", "12Q", "0%", "101%",
					   "5GB2", "1.5G", "99999999999999999999" };
	uint64_t v = 7;

	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(gm_parse_size(bad[i], 1ULL << 30, &v) < 0, "accepted '%s'", bad[i]);
	ck_assert_int_eq(gm_parse_size("20000000T", 1ULL << 30, &v), -ERANGE);
	ck_assert_uint_eq(v, 7);
}
END_TEST

/* The state-dir tests' scratch dir: made and swept in the parent, so a
 * failed test leaves nothing behind. */
static char scratch[64];

static void scratch_setup(void)
{
	ck_assert_int_eq(ck_tmpdir_make(scratch, sizeof(scratch), "path"), 0);
}

static void scratch_teardown(void)
{
	ck_tmpdir_sweep(scratch);
}

START_TEST(test_state_dir_lock_excludes)
{
	char sub[128];
	int a, b;

	snprintf(sub, sizeof(sub), "%s/x/y", scratch);
	ck_assert_int_eq(gm_state_dir_prepare(sub), 0);
	a = gm_state_dir_lock(sub);
	ck_assert_int_ge(a, 0);
	b = gm_state_dir_lock(sub);
	ck_assert_int_eq(b, -EBUSY);
	close(a);
	b = gm_state_dir_lock(sub);
	ck_assert_int_ge(b, 0);
	close(b);
}
END_TEST

Suite *make_path_suite(void)
{
	Suite *s = suite_create("path");
	TCase *tc = tcase_create("core");
	TCase *state = tcase_create("state dir");

	tcase_add_test(tc, test_escape_examples);
	tcase_add_test(tc, test_escape_injective);
	tcase_add_test(tc, test_escape_too_long);
	tcase_add_test(tc, test_state_dir_default);
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_size_rejects);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(state, scratch_setup, scratch_teardown);
	tcase_add_test(state, test_state_dir_lock_excludes);
	suite_add_tcase(s, state);
	return s;
}
