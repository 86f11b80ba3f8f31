/* Unit tests of path and option logic: state-dir names, size parsing, the
 * option table (--long-name and -o long_name, the mount helper's SOURCE). */
#include <errno.h>
#include <fcntl.h>
#include <fuse_opt.h>
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

/* Parses argv as gmemfsd would; what is left of it is libfuse's. */
static int cli_parse(struct gm_cli *cli, struct fuse_args *args, int argc, char **argv)
{
	struct fuse_args in = FUSE_ARGS_INIT(argc, argv);

	*args = (struct fuse_args)FUSE_ARGS_INIT(0, NULL);
	for (int i = 0; i < in.argc; i++)
		ck_assert_int_eq(fuse_opt_add_arg(args, in.argv[i]), 0);
	return gm_cli_parse(args, cli);
}

/* mount.fuse3 and mount.fuse.gmemfs call "gmemfsd SOURCE DIR -o OPTS". */
START_TEST(test_cli_mount_helper)
{
	char *argv[] = { "gmemfsd", "gmemfs", "/mnt/g", "-o",
			 "rw,pool_size=8G,pagesize=2m-thp,nosuid,hugepages_2m=16,views=visible,"
			 "state_dir=/s,log_level=debug,ctl_socket=/c,shrink_mapped=allow",
			 NULL };
	struct gm_cli cli = { 0 };
	struct fuse_args args;

	ck_assert_int_eq(cli_parse(&cli, &args, 5, argv), 0);
	ck_assert_str_eq(cli.source, "gmemfs");
	ck_assert_str_eq(cli.mountpoint, "/mnt/g");
	ck_assert_str_eq(cli.pool_size, "8G");
	ck_assert_str_eq(cli.pagesize, "2m-thp");
	ck_assert_str_eq(cli.hugepages_2m, "16");
	ck_assert_str_eq(cli.views, "visible");
	ck_assert_str_eq(cli.state_dir, "/s");
	ck_assert_str_eq(cli.log_level, "debug");
	ck_assert_str_eq(cli.ctl_socket, "/c");
	ck_assert_str_eq(cli.shrink_mapped, "allow");
	/* libfuse's own options and the mountpoint are left for libfuse. */
	ck_assert_int_eq(args.argc, 4);
	ck_assert_str_eq(args.argv[1], "-o");
	ck_assert_str_eq(args.argv[2], "rw,nosuid");
	ck_assert_str_eq(args.argv[3], "/mnt/g");
	gm_cli_free(&cli);
	fuse_opt_free_args(&args);
}
END_TEST

START_TEST(test_cli_long_options)
{
	char *argv[] = { "gmemfsd", "--pool-size=1G", "-f", "/mnt/g", "--hugepages=2M:4,1G:1",
			 "--hugepages-1g=2", NULL };
	struct gm_cli cli = { 0 };
	struct fuse_args args;
	uint32_t n2m = 0, n1g = 0;

	ck_assert_int_eq(cli_parse(&cli, &args, 6, argv), 0);
	ck_assert_ptr_null(cli.source);
	ck_assert_str_eq(cli.mountpoint, "/mnt/g");
	ck_assert_str_eq(cli.pool_size, "1G");
	ck_assert_int_eq(gm_cli_hugepages(&cli, &n2m, &n1g), 0);
	ck_assert_uint_eq(n2m, 4);
	ck_assert_uint_eq(n1g, 2);	/* the one-size option wins */
	ck_assert_int_eq(args.argc, 3);
	ck_assert_str_eq(args.argv[1], "-f");
	gm_cli_free(&cli);
	fuse_opt_free_args(&args);
}
END_TEST

START_TEST(test_cli_rejects)
{
	char *three[] = { "gmemfsd", "a", "b", "c", NULL };
	char *count[] = { "gmemfsd", "-o", "hugepages_1g=1x", "/m", NULL };
	struct gm_cli cli = { 0 };
	struct fuse_args args;
	uint32_t n2m = 0, n1g = 0;

	ck_assert_int_eq(cli_parse(&cli, &args, 4, three), -EINVAL);
	gm_cli_free(&cli);
	fuse_opt_free_args(&args);
	cli = (struct gm_cli){ 0 };
	ck_assert_int_eq(cli_parse(&cli, &args, 4, count), 0);
	ck_assert_int_eq(gm_cli_hugepages(&cli, &n2m, &n1g), -EINVAL);
	gm_cli_free(&cli);
	fuse_opt_free_args(&args);
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
	tcase_add_test(tc, test_cli_mount_helper);
	tcase_add_test(tc, test_cli_long_options);
	tcase_add_test(tc, test_cli_rejects);
	suite_add_tcase(s, tc);

	tcase_add_unchecked_fixture(state, scratch_setup, scratch_teardown);
	tcase_add_test(state, test_state_dir_lock_excludes);
	suite_add_tcase(s, state);
	return s;
}
