/*
 * Runner for the daemon's unit tests: every area's suite in one SRunner, so
 * Check prints one summary and the exit status says whether all passed.
 *
 * It runs as root only: the pool and namespace suites mount tmpfs stores as
 * gmemfsd does.  Those mounts live in a mount namespace of the runner's own
 * (the forked tests inherit it), so they vanish with the runner even when
 * it is killed before a teardown could unmount them.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "suites.h"

#define EXIT_SKIP	77	/* meson's "skipped" */

static int private_mount_namespace(void)
{
	if (unshare(CLONE_NEWNS)) {
		fprintf(stderr, "check-all: unshare(CLONE_NEWNS): %s\n", strerror(errno));
		return -1;
	}
	/* Nothing mounted here may propagate back to the parent namespace. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) {
		fprintf(stderr, "check-all: making / private: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (geteuid() != 0) {
		printf("SKIP: needs root: the pool and namespace suites mount tmpfs\n");
		return EXIT_SKIP;
	}
	if (private_mount_namespace())
		return EXIT_FAILURE;
	sr = srunner_create(make_policy_suite());
	srunner_add_suite(sr, make_path_suite());
	srunner_add_suite(sr, make_log_suite());
	srunner_add_suite(sr, make_journal_suite());
	srunner_add_suite(sr, make_pool_suite());
	srunner_add_suite(sr, make_inode_suite());
	srunner_add_suite(sr, make_namespace_suite());
	srunner_add_suite(sr, make_prov_hugetlb_suite());
	srunner_add_suite(sr, make_prov_kvm_suite());
	srunner_add_suite(sr, make_chan_suite());
	srunner_add_suite(sr, make_snapfmt_suite());
	srunner_add_suite(sr, make_fcjson_suite());
	srunner_add_suite(sr, make_acl_suite());
	srunner_add_suite(sr, make_uffd_unit_suite());
	srunner_add_suite(sr, make_backing_suite());
	srunner_add_suite(sr, make_shim_keep_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
