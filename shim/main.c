// SPDX-License-Identifier: GPL-2.0
/*
 * gmemfs shim: guest_memfd-style files whose allocation, faults,
 * private/shared conversion and invalidation are steered by gmemfsd over
 * the generic netlink family "gmemfs", while present pages fault in with
 * no daemon involvement.  See docs/shim.md.
 *
 * This file only orders setup and teardown.  Unload is possible only when
 * no shim file is open or mapped: each file holds a module reference.
 */
#include <linux/module.h>

#include "shim.h"

static int __init shim_init(void)
{
	int err;

	err = shim_carve_init();
	if (err)
		goto err;
	err = shim_fs_init();
	if (err)
		goto err_carve;
	err = shim_daemon_init();
	if (err)
		goto err_fs;
	err = genl_register_family(&shim_genl_family);
	if (err)
		goto err_daemon;
	return 0;

err_daemon:
	shim_daemon_exit();
err_fs:
	shim_fs_exit();
err_carve:
	shim_carve_exit();
err:
	return err;
}

static void __exit shim_exit(void)
{
	/* No new commands first, then nobody to wait for, then no files. */
	genl_unregister_family(&shim_genl_family);
	shim_daemon_exit();
	shim_fs_exit();
	shim_pages_exit();
	shim_carve_exit();
}

module_init(shim_init);
module_exit(shim_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("gmemfs shim: daemon-steered guest memory files");
MODULE_ALIAS_GENL_FAMILY(GMEMFS_GENL_NAME);
