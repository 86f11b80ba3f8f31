/* The Check suites of the unit-test runner, one per daemon area. */
#ifndef GM_TEST_SUITES_H
#define GM_TEST_SUITES_H

#include <check.h>

Suite *make_policy_suite(void);
Suite *make_path_suite(void);
Suite *make_journal_suite(void);
Suite *make_pool_suite(void);
Suite *make_inode_suite(void);
Suite *make_namespace_suite(void);
Suite *make_prov_hugetlb_suite(void);
Suite *make_prov_kvm_suite(void);
Suite *make_chan_suite(void);
Suite *make_snapfmt_suite(void);
Suite *make_fcjson_suite(void);
Suite *make_acl_suite(void);
Suite *make_uffd_unit_suite(void);
Suite *make_backing_suite(void);
Suite *make_log_suite(void);
Suite *make_shim_keep_suite(void);

#endif
