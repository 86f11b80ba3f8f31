/*
 * The log's per-site limit (core/log.c): a call site repeated in a loop
 * logs its burst and no more in one window; another site, and a one-off
 * line, are still logged.  The window's roll-over summary is not waited
 * for here (5 s); t-badinput sees refusals logged by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "suites.h"

/* Run fn with stderr going to a file; return how many lines it wrote. */
static unsigned count_lines(void (*fn)(void))
{
	char path[] = "/tmp/gm-check-log.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	unsigned n = 0;
	FILE *f;
	int c;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(saved, 0);
	unlink(path);
	ck_assert_int_ge(dup2(fd, STDERR_FILENO), 0);
	fn();
	ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
	close(saved);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	f = fdopen(fd, "r");
	ck_assert_ptr_nonnull(f);
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static void one_site_many_times(void)
{
	for (int i = 0; i < 10 * GM_LOG_BURST; i++)
		gm_info("file %d: refused, again", i);
}

static void two_sites_once(void)
{
	gm_info("file 1: refused once");
	gm_warn("file 2: refused once");
}

START_TEST(test_site_limited_to_burst)
{
	unsigned n = count_lines(one_site_many_times);

	/* A window may roll over mid-loop: then a summary and a new burst. */
	ck_assert_uint_ge(n, GM_LOG_BURST);
	ck_assert_uint_le(n, 2 * GM_LOG_BURST + 1);
	ck_assert_uint_eq(count_lines(two_sites_once), 2);
}
END_TEST

Suite *make_log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("limit");

	tcase_add_test(tc, test_site_limited_to_burst);
	suite_add_tcase(s, tc);
	return s;
}
