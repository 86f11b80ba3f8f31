/*
 * Unit tests of the inode and dentry tables: references, eviction exactly
 * once, lookups by name, directory link counts and readdir cookie order.
 */
#include <errno.h>
#include <stdio.h>
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

/* A listing through a cursor, with entries removed (some ahead of it, the
 * one it rests on, some behind) and added between replies: every entry
 * that lives through the listing is seen exactly once, in cookie order,
 * and no removed one after its removal. */
START_TEST(test_dir_cursor_survivors_once)
{
	enum { N = 200 };
	static unsigned seen[N + 50];
	struct gm_dir_cursor c;
	struct gm_dentry *d;
	uint64_t off = 0, last = 0;
	char name[16];
	unsigned listed = 0;

	memset(seen, 0, sizeof(seen));
	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "f%u", i);
		add(root, name, 100 + i, S_IFREG | 0600);
	}
	pthread_mutex_lock(&it.tree_lock);
	gm_dir_cursor_open(&c, root);
	pthread_mutex_unlock(&it.tree_lock);
	for (;;) {
		unsigned batch = 0;

		pthread_mutex_lock(&it.tree_lock);
		for (d = gm_dir_cursor_seek(&c, off); d && batch < 16;
		     d = gm_dir_cursor_next(&c, d), batch++) {
			unsigned i = (unsigned)(d->inode->ino - 100);

			ck_assert_uint_gt(d->cookie, last);
			last = off = d->cookie;
			seen[i]++;
			listed++;
		}
		pthread_mutex_unlock(&it.tree_lock);
		if (!d)
			break;
		/* d is where the next reply starts: remove it, an entry ahead
		 * (every 7th) and one behind; now and then add a new one. */
		snprintf(name, sizeof(name), "%s", d->name);
		del(root, name);
		for (unsigned i = listed + 3; i < N; i += 7) {
			snprintf(name, sizeof(name), "f%u", i);
			pthread_mutex_lock(&it.tree_lock);
			d = gm_dentry_find_locked(&it, 1, name);
			if (d)
				gm_dentry_del_locked(&it, root, d);
			pthread_mutex_unlock(&it.tree_lock);
		}
		if (listed % 32 == 0 && listed / 32 < 50) {
			snprintf(name, sizeof(name), "n%u", listed / 32);
			add(root, name, 100 + N + listed / 32, S_IFREG | 0600);
		}
	}
	/* A name added once the listing reached the end comes next. */
	add(root, "late", 99, S_IFREG | 0600);
	pthread_mutex_lock(&it.tree_lock);
	d = gm_dir_cursor_seek(&c, off);
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->name, "late");
	for (unsigned i = 0; i < N + 50; i++) {
		struct gm_inode *f = gm_inode_find(&it, 100 + i);

		if (f) {	/* alive: listed exactly once */
			ck_assert_msg(seen[i] == 1, "entry %u seen %u times", i, seen[i]);
			gm_inode_put(&it, f, 1);
		} else {
			ck_assert_uint_le(seen[i], 1);
		}
	}
	gm_dir_cursor_close(&c);
	pthread_mutex_unlock(&it.tree_lock);
}
END_TEST

/* The first live entry after off, the slow way. */
static struct gm_dentry *scan_after(struct gm_inode *dir, uint64_t off)
{
	struct gm_dentry *d;

	cds_list_for_each_entry(d, &dir->children, sibling) {
		if (d->cookie > off)
			return d;
	}
	return NULL;
}

/* Seeks to any offset (the kernel asking again from inside its last
 * reply, seekdir back to an old telldir, rewinddir, past the end) find
 * what a walk from the start finds, through random adds and removes. */
START_TEST(test_dir_cursor_seek_matches_scan)
{
	struct gm_dir_cursor c[2];
	struct gm_dentry *d;
	unsigned seed = 16;
	char name[16];
	uint64_t ino = 1000;

	for (unsigned i = 0; i < 64; i++) {
		snprintf(name, sizeof(name), "s%lu", (unsigned long)ino);
		add(root, name, ino++, S_IFREG | 0600);
	}
	pthread_mutex_lock(&it.tree_lock);
	gm_dir_cursor_open(&c[0], root);
	gm_dir_cursor_open(&c[1], root);
	pthread_mutex_unlock(&it.tree_lock);
	for (unsigned step = 0; step < 4000; step++) {
		unsigned r = rand_r(&seed);
		struct gm_dir_cursor *cur = &c[r & 1];
		uint64_t off = (uint64_t)(r >> 1) % (root->next_cookie + 2);

		pthread_mutex_lock(&it.tree_lock);
		d = gm_dir_cursor_seek(cur, off);
		ck_assert_ptr_eq(d, scan_after(root, off < 3 ? 2 : off));
		for (unsigned n = (r >> 8) % 8; d && n; n--) {
			d = gm_dir_cursor_next(cur, d);
			ck_assert_ptr_eq(gm_dentry_next_locked(root, off), scan_after(root, off));
		}
		d = (r >> 12) % 3 == 0 ? scan_after(root, (r >> 14) % root->next_cookie) : NULL;
		if (d)
			gm_dentry_del_locked(&it, root, d);
		pthread_mutex_unlock(&it.tree_lock);
		if ((r >> 16) % 3 == 0) {
			snprintf(name, sizeof(name), "s%lu", (unsigned long)ino);
			add(root, name, ino++, S_IFREG | 0600);
		}
	}
	pthread_mutex_lock(&it.tree_lock);
	gm_dir_cursor_close(&c[0]);
	gm_dir_cursor_close(&c[1]);
	pthread_mutex_unlock(&it.tree_lock);
}
END_TEST

static struct gm_xattr *new_xattr(const char *name)
{
	struct gm_xattr *x = calloc(1, sizeof(*x));

	x->name = strdup(name);
	return x;
}

/* Many xattrs on one inode: each is found by name (through the index past
 * a few), the list keeps the order they were set in, and a missing name's
 * slot is the end of the list, through adds and removes. */
START_TEST(test_xattr_index)
{
	enum { N = 3000 };
	struct gm_inode *f = add(root, "x", 50, S_IFREG | 0600);
	char name[32];
	unsigned n = 0;

	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "user.v%u", i);
		ck_assert_ptr_null(*gm_xattr_slot(f, name));
		gm_xattr_link(f, new_xattr(name));
	}
	for (unsigned i = 0; i < N; i += 3) {	/* the first, the last, between */
		struct gm_xattr *x;

		snprintf(name, sizeof(name), "user.v%u", i == 2997 ? N - 1 : i);
		x = *gm_xattr_slot(f, name);
		ck_assert_ptr_nonnull(x);
		gm_xattr_unlink(f, x);
		gm_xattr_free(x);
	}
	gm_xattr_link(f, new_xattr("user.last"));
	for (struct gm_xattr *x = f->xattrs, *prev = NULL; x; prev = x, x = x->next) {
		ck_assert_ptr_eq(*gm_xattr_slot(f, x->name), x);
		if (prev && x->next)
			ck_assert_int_lt(atoi(prev->name + 6), atoi(x->name + 6));
		n++;
	}
	ck_assert_uint_eq(n, N - N / 3 + 1);	/* and user.last */
	snprintf(name, sizeof(name), "user.v%u", 0);
	ck_assert_ptr_null(*gm_xattr_slot(f, name));
	ck_assert_ptr_null(*gm_xattr_slot(f, "user.v2999"));
	while (f->xattrs) {
		struct gm_xattr *x = f->xattrs;

		gm_xattr_unlink(f, x);
		gm_xattr_free(x);
	}
	ck_assert_ptr_null(f->xindex);
	ck_assert_ptr_eq(gm_xattr_slot(f, "user.v1"), &f->xattrs);
}
END_TEST

/* The tables follow their counts up and back down, and every entry stays
 * findable through each resize. */
START_TEST(test_tables_grow_and_shrink)
{
	enum { N = 3000 };
	char name[16];

	for (unsigned i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "g%u", i);
		add(root, name, 2000 + i, S_IFREG | 0600);
	}
	ck_assert_uint_ge(it.dentry_buckets, 2048);
	ck_assert_uint_ge(it.inode_buckets, 2048);
	for (unsigned i = 0; i < N; i++) {
		struct gm_inode *f;

		snprintf(name, sizeof(name), "g%u", i);
		f = gm_dentry_lookup(&it, 1, name);
		ck_assert_ptr_nonnull(f);
		gm_inode_put(&it, f, 1);
	}
	for (unsigned i = 10; i < N; i++) {
		snprintf(name, sizeof(name), "g%u", i);
		del(root, name);
	}
	ck_assert_uint_le(it.dentry_buckets, 128);
	ck_assert_uint_le(it.inode_buckets, 128);
	for (unsigned i = 0; i < 10; i++) {
		struct gm_inode *f = gm_inode_find(&it, 2000 + i);

		ck_assert_ptr_nonnull(f);
		gm_inode_put(&it, f, 1);
		snprintf(name, sizeof(name), "g%u", i);
		f = gm_dentry_lookup(&it, 1, name);
		ck_assert_ptr_nonnull(f);
		gm_inode_put(&it, f, 1);
	}
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
	tcase_add_test(tc, test_dir_cursor_survivors_once);
	tcase_add_test(tc, test_dir_cursor_seek_matches_scan);
	tcase_add_test(tc, test_xattr_index);
	tcase_add_test(tc, test_tables_grow_and_shrink);
	suite_add_tcase(s, tc);
	return s;
}
