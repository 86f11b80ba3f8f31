/*
 * A state directory's shim token (common/shim_keep.c): made once, 0600, of
 * GMEMFS_SHIM_TOKEN_MAX bytes, the same at every later start; a file of
 * another size refused; none without create.  The module's side (what the
 * token reaches) is tested in the test guest, tests/shim/t-persist.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/shim_keep.h"
#include "ck_tmpdir.h"
#include "suites.h"

static char base[256], dir[512];

static void keep_setup_run(void)
{
	ck_assert_int_eq(ck_tmpdir_make(base, sizeof(base), "shimkeep"), 0);
}

static void keep_teardown_run(void)
{
	ck_tmpdir_sweep(base);
}

/* Each test its own state directory: none has a token yet. */
static void keep_setup(void)
{
	ck_assert_int_eq(ck_tmpdir_sub(base, dir, sizeof(dir)), 0);
}

START_TEST(test_token_made_once_and_kept)
{
	uint8_t a[GMEMFS_SHIM_TOKEN_MAX], b[GMEMFS_SHIM_TOKEN_MAX];
	char path[sizeof(dir) + sizeof("/" GM_SHIM_TOKEN_FILE)];
	struct stat st;

	ck_assert_int_eq(gm_shim_token_load(dir, false, a), -ENOENT);
	ck_assert_int_eq(gm_shim_token_load(dir, true, a), 0);
	snprintf(path, sizeof(path), "%s/" GM_SHIM_TOKEN_FILE, dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(st.st_size, GMEMFS_SHIM_TOKEN_MAX);
	ck_assert_int_eq(gm_shim_token_load(dir, true, b), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
	ck_assert_int_eq(gm_shim_token_load(dir, false, b), 0);
	ck_assert_mem_eq(a, b, sizeof(a));
}
END_TEST

START_TEST(test_token_of_wrong_size_refused)
{
	uint8_t t[GMEMFS_SHIM_TOKEN_MAX];
	char path[sizeof(dir) + sizeof("/" GM_SHIM_TOKEN_FILE)];
	int fd;

	snprintf(path, sizeof(path), "%s/" GM_SHIM_TOKEN_FILE, dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "short", 5), 5);
	close(fd);
	ck_assert_int_eq(gm_shim_token_load(dir, true, t), -EBADMSG);
}
END_TEST

START_TEST(test_forget_without_token)
{
	unsigned n = 7;
	char why[128];

	ck_assert_int_eq(gm_shim_forget(dir, &n, why), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

Suite *make_shim_keep_suite(void)
{
	Suite *s = suite_create("shim_keep");
	TCase *tc = tcase_create("token");

	tcase_add_unchecked_fixture(tc, keep_setup_run, keep_teardown_run);
	tcase_add_checked_fixture(tc, keep_setup, NULL);
	tcase_add_test(tc, test_token_made_once_and_kept);
	tcase_add_test(tc, test_token_of_wrong_size_refused);
	tcase_add_test(tc, test_forget_without_token);
	suite_add_tcase(s, tc);
	return s;
}
