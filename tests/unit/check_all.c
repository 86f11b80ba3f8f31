/*
 * Runner for the daemon's unit tests: every area's suite in one SRunner, so
 * Check prints one summary and the exit status says whether all passed.
 */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
	SRunner *sr = srunner_create(make_policy_suite());
	int failed;

	srunner_add_suite(sr, make_path_suite());
	srunner_add_suite(sr, make_journal_suite());
	srunner_add_suite(sr, make_pool_suite());
	srunner_add_suite(sr, make_inode_suite());
	srunner_add_suite(sr, make_namespace_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
