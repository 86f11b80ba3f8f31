/*
 * Unit tests of the inode and dentry tables: references, eviction exactly
 * once, lookups by name, directory link counts and readdir cookie order.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta/inode.h"
#include "suites.h"

static int evicted;
static uint64_t evicted_ino;

static void count_evict(struct gm_itable *it, struct gm_inode *inode)
{
	(void)it;
	evicted++;
	evicted_ino = inode->ino;
}

static struct gm_itable it;
static struct gm_inode *root;

static void setup(void)
{
	evicted = 0;
	ck_assert_int_eq(gm_itable_init(&it, count_evict, NULL), 0);
	root = gm_inode_alloc(1, S_IFDIR | 0755, 0, 0);
	gm_inode_ref(root, 1);
	ck_assert_int_eq(gm_inode_hash_add(&it, root), 0);
}

static void teardown(void)
{
	gm_itable_fini(&it);
}

static struct gm_inode *add(struct gm_inode *dir, const char *name, uint64_t ino, mode_t mode)
{
	struct gm_inode *inode = gm_inode_alloc(ino, mode, 0, 0);

	ck_assert_int_eq(gm_inode_hash_add(&it, inode), 0);
	pthread_mutex_lock(&it.tree_lock);
	ck_assert_int_eq(gm_dentry_add_locked(&it, dir, name, inode), 0);
	pthread_mutex_unlock(&it.tree_lock);
	return inode;
}

static void del(struct gm_inode *dir, const char *name)
{
	struct gm_dentry *d;

	pthread_mutex_lock(&it.tree_lock);
	d = gm_dentry_find_locked(&it, dir->ino, name);
	ck_assert_ptr_nonnull(d);
	gm_dentry_del_locked(&it, dir, d);
	pthread_mutex_unlock(&it.tree_lock);
}

START_TEST(test_lookup_takes_reference)
{
	struct gm_inode *f = add(root, "a", 20, S_IFREG | 0644), *got;

	ck_assert_int_eq(atomic_load(&f->refs), 1);	/* the dentry's */
	got = gm_dentry_lookup(&it, 1, "a");
	ck_assert_ptr_eq(got, f);
	ck_assert_int_eq(atomic_load(&f->refs), 2);
	ck_assert_ptr_null(gm_dentry_lookup(&it, 1, "b"));
	ck_assert_ptr_null(gm_dentry_lookup(&it, 20, "a"));	/* other parent */
	got = gm_inode_find(&it, 20);
	ck_assert_ptr_eq(got, f);
	gm_inode_put(&it, f, 2);
	ck_assert_int_eq(evicted, 0);
}
END_TEST

START_TEST(test_unlink_evicts_once_after_last_ref)
{
	struct gm_inode *f = add(root, "a", 21, S_IFREG | 0644);

	gm_inode_ref(f, 3);		/* e.g. a lookup and an open */
	del(root, "a");
	ck_assert_int_eq(f->nlink, 0);
	ck_assert_int_eq(evicted, 0);	/* still open: memory stays */
	ck_assert_ptr_null(gm_dentry_lookup(&it, 1, "a"));
	gm_inode_put(&it, f, 2);
	ck_assert_int_eq(evicted, 0);
	gm_inode_put(&it, f, 1);
	ck_assert_int_eq(evicted, 1);
	ck_assert_uint_eq(evicted_ino, 21);
	ck_assert_ptr_null(gm_inode_find(&it, 21));
}
END_TEST

START_TEST(test_hard_links_share_inode)
{
	struct gm_inode *f = add(root, "a", 22, S_IFREG | 0644);

	pthread_mutex_lock(&it.tree_lock);
	ck_assert_int_eq(gm_dentry_add_locked(&it, root, "b", f), 0);
	ck_assert_int_eq(gm_dentry_add_locked(&it, root, "b", f), -EEXIST);
	pthread_mutex_unlock(&it.tree_lock);
	ck_assert_int_eq(f->nlink, 2);
	del(root, "a");
	ck_assert_int_eq(evicted, 0);
	del(root, "b");
	ck_assert_int_eq(evicted, 1);
}
END_TEST

START_TEST(test_dir_link_counts)
{
	struct gm_inode *d = add(root, "d", 23, S_IFDIR | 0755);
	struct gm_inode *e = add(d, "e", 24, S_IFDIR | 0755);

	ck_assert_ptr_eq(e->parent, d);
	ck_assert_int_eq(d->nlink, 2);		/* its name and e's ".." */
	ck_assert_uint_eq(d->nchildren, 1);
	del(d, "e");
	ck_assert_int_eq(d->nlink, 1);
	ck_assert_uint_eq(d->nchildren, 0);
	ck_assert_int_eq(evicted, 1);
}
END_TEST

START_TEST(test_readdir_cookies_stable)
{
	static const char *const names[] = { "x", "y", "z", "w" };
	struct gm_dentry *d;
	uint64_t last = 0;
	unsigned n = 0;

	for (unsigned i = 0; i < 4; i++)
		add(root, names[i], 30 + i, S_IFREG | 0600);
	del(root, "y");		/* removal must not shift later offsets */
	pthread_mutex_lock(&it.tree_lock);
	for (d = gm_dentry_next_locked(root, 2); d; d = gm_dentry_next_locked(root, d->cookie)) {
		ck_assert_uint_gt(d->cookie, last);
		last = d->cookie;
		ck_assert_str_ne(d->name, "y");
		n++;
	}
	d = gm_dentry_next_locked(root, 3);	/* resume after "x" */
	ck_assert_str_eq(d->name, "z");
	pthread_mutex_unlock(&it.tree_lock);
	ck_assert_uint_eq(n, 3);
}
END_TEST

START_TEST(test_duplicate_ino_rejected)
{
	struct gm_inode *a = gm_inode_alloc(40, S_IFREG, 0, 0);
	struct gm_inode *b = gm_inode_alloc(40, S_IFREG, 0, 0);

	gm_inode_ref(a, 1);
	ck_assert_int_eq(gm_inode_hash_add(&it, a), 0);
	ck_assert_int_eq(gm_inode_hash_add(&it, b), -EEXIST);
	free(b);
	gm_inode_put(&it, a, 1);
	ck_assert_int_eq(evicted, 1);
}
END_TEST

Suite *make_inode_suite(void)
{
	Suite *s = suite_create("inode");
	TCase *tc = tcase_create("tables");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lookup_takes_reference);
	tcase_add_test(tc, test_unlink_evicts_once_after_last_ref);
	tcase_add_test(tc, test_hard_links_share_inode);
	tcase_add_test(tc, test_dir_link_counts);
	tcase_add_test(tc, test_readdir_cookies_stable);
	tcase_add_test(tc, test_duplicate_ino_rejected);
	suite_add_tcase(s, tc);
	return s;
}
