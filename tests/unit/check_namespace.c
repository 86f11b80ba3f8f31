/*
 * Unit tests of namespace.c and recover.c on a real state directory: the
 * rules of create, link, unlink, rename and policy, and that a tree rebuilt
 * from the journal (replay, then compaction, then replay again) is the
 * tree that was built.  Needs root (the pool mounts tmpfs; check_all.c
 * does not run without it).
 */
#include <errno.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ck_tmpdir.h"
#include "fixture.h"
#include "mem/backing.h"
#include "meta/namespace.h"
#include "meta/private.h"
#include "prov/prov.h"
#include "meta/recover.h"
#include "suites.h"

static char base[64];		/* per run; swept by the parent (teardown_run) */
static char state[128];
static struct gm_opts opts;
static struct gm_fs fs;

/* A failed test skips its (forked) teardown: the parent sweeps the base. */
static void setup_run(void)
{
	ck_assert_int_eq(ck_tmpdir_make(base, sizeof(base), "namespace"), 0);
}

static void teardown_run(void)
{
	ck_tmpdir_sweep(base);
}

static void setup(void)
{
	ck_fs_opts(base, state, sizeof(state), &opts, 64ULL << 20);
	ck_fs_up(&fs, &opts);
}

static void teardown(void)
{
	gm_fs_teardown(&fs);
	ck_tmpdir_sweep(state);
}

static struct gm_inode *mk(struct gm_inode *dir, const char *name, mode_t mode)
{
	struct gm_new_args a = { .name = name, .mode = mode, .uid = 1000, .gid = 100 };
	struct gm_inode *inode = NULL;

	ck_assert_int_eq(gm_ns_new(&fs, dir, &a, &inode), 0);
	gm_fs_put(&fs, inode);	/* the dentry keeps it */
	return inode;
}

static struct gm_inode *mknode(struct gm_inode *dir, const char *name, mode_t mode,
				dev_t rdev, const char *link)
{
	struct gm_new_args a = { .name = name, .mode = mode, .uid = 1000, .gid = 100,
				 .rdev = rdev, .link = link };
	struct gm_inode *inode = NULL;

	ck_assert_int_eq(gm_ns_new(&fs, dir, &a, &inode), 0);
	gm_fs_put(&fs, inode);
	return inode;
}

static struct gm_inode *at(struct gm_inode *dir, const char *name)
{
	struct gm_inode *inode = gm_dentry_lookup(&fs.it, dir->ino, name);

	if (inode)
		gm_fs_put(&fs, inode);
	return inode;
}

/* One line per name, depth first, in directory order. */
static void dump_dir(FILE *f, struct gm_inode *dir, const char *prefix)
{
	struct gm_dentry *d;
	char path[512];

	cds_list_for_each_entry(d, &dir->children, sibling) {
		struct gm_inode *i = d->inode;

		if (i->is_virtual)
			continue;
		snprintf(path, sizeof(path), "%s/%s", prefix, d->name);
		fprintf(f, "%s ino=%llu mode=%o uid=%u gid=%u pol=%d nlink=%u rdev=%llx link=%s",
			path, (unsigned long long)i->ino, i->type | i->perm, i->uid, i->gid,
			i->policy, i->nlink, (unsigned long long)i->rdev,
			i->link ? i->link : "-");
		for (struct gm_xattr *x = i->xattrs; x; x = x->next)
			fprintf(f, " %s=%.*s", x->name, (int)x->len, (char *)x->value);
		fputc('\n', f);
		if (i->type == S_IFDIR)
			dump_dir(f, i, path);
	}
}

static char *dump(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	fprintf(f, "root mode=%o pol=%d\n", fs.root->perm, fs.root->policy);
	dump_dir(f, fs.root, "");
	fclose(f);
	return buf;
}

static void restart(void)
{
	gm_fs_teardown(&fs);
	ck_fs_up(&fs, &opts);
}

START_TEST(test_replay_rebuilds_tree)
{
	struct gm_inode *d, *e, *f, *s;
	char *before, *after;

	d = mk(fs.root, "vms", S_IFDIR | 0750);
	ck_assert_int_eq(gm_ns_set_policy(&fs, d, GM_PS_4K), 0);
	f = mk(d, "a.ram", S_IFREG | 0600);
	ck_assert_int_eq(f->policy, GM_PS_4K);		/* inherited */
	e = mk(d, "sub", S_IFDIR | 0700);
	mk(e, "b.ram", S_IFREG | 0640);
	ck_assert_int_eq(gm_ns_link(&fs, f, e, "a-link", 0), 0);
	ck_assert_int_eq(gm_ns_xattr_set(&fs, f, "user.vm", "alpha", 5, 0), 0);
	ck_assert_int_eq(gm_ns_set_attr(&fs, f, GM_ATTR_MODE | GM_ATTR_UID, 0644, 7, 0, 0), 0);
	ck_assert_int_eq(gm_ns_rename(&fs, d, "a.ram", fs.root, "top.ram", 0, 0), 0);
	mk(fs.root, "gone", S_IFREG | 0600);
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "gone", false, 0), 0);
	s = mknode(e, "current", S_IFLNK | 0777, 0, "../vms/sub/b.ram");
	ck_assert_int_eq(gm_ns_link(&fs, s, fs.root, "current-link", 0), 0);
	mknode(d, "console", S_IFIFO | 0620, 0, NULL);
	mknode(d, "qmp.sock", S_IFSOCK | 0755, 0, NULL);
	mknode(d, "null", S_IFCHR | 0666, makedev(1, 3), NULL);
	mknode(d, "loop", S_IFBLK | 0660, makedev(7, 1 << 19), NULL);
	mk(fs.root, "lower", S_IFREG | 0600);
	ck_assert_int_eq(gm_ns_rename_as(&fs, fs.root, "lower", d, "upper", RENAME_WHITEOUT,
					 5, 6, 0), 0);
	ck_assert_uint_eq(at(fs.root, "lower")->type, S_IFCHR);	/* the whiteout */
	ck_assert_uint_eq(at(fs.root, "lower")->uid, 5);
	before = dump();
	restart();				/* replay of the live journal */
	after = dump();
	ck_assert_str_eq(after, before);
	free(after);
	restart();				/* replay of the compacted journal */
	after = dump();
	ck_assert_str_eq(after, before);
	ck_assert_int_eq(at(fs.root, "top.ram")->nlink, 2);
	free(after);
	free(before);
}
END_TEST

START_TEST(test_name_rules)
{
	static char target[GM_NS_LINK_MAX + 2];
	char name[300];
	struct gm_new_args a = { .name = name, .mode = S_IFREG | 0600 };
	struct gm_inode *out;

	memset(name, 'n', 256);
	name[256] = '\0';
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), -ENAMETOOLONG);
	name[255] = '\0';
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), 0);
	gm_fs_put(&fs, out);
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), -EEXIST);
	a.name = GMEMFS_VIEWS_DIR;
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), -EEXIST);
	a.name = "odd";
	a.mode = 0170000 | 0600;	/* no such file type */
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), -EINVAL);
	a.mode = S_IFLNK | 0777;	/* a symlink needs a target */
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), -ENOENT);
	a.link = "";
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), -ENOENT);
	memset(target, 't', GM_NS_LINK_MAX + 1);
	target[GM_NS_LINK_MAX + 1] = '\0';
	a.link = target;
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), -ENAMETOOLONG);
	target[GM_NS_LINK_MAX] = '\0';
	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &out), 0);
	ck_assert_uint_eq(strlen(out->link), GM_NS_LINK_MAX);
	gm_fs_put(&fs, out);
}
END_TEST

START_TEST(test_rename_rules)
{
	struct gm_inode *a = mk(fs.root, "a", S_IFDIR | 0755);
	struct gm_inode *b = mk(fs.root, "b", S_IFDIR | 0755);

	mk(b, "x", S_IFREG | 0600);
	mk(fs.root, "f", S_IFREG | 0600);
	mk(fs.root, "g", S_IFREG | 0600);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "a", fs.root, "b", 0, 0), -ENOTEMPTY);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "f", fs.root, "g", RENAME_NOREPLACE, 0),
			 -EEXIST);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "f", fs.root, "a", 0, 0), -EISDIR);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "a", fs.root, "f", 0, 0), -ENOTDIR);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "b", b, "inside", 0, 0), -EINVAL);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "nope", fs.root, "z", 0, 0), -ENOENT);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "f", fs.root, "z", RENAME_EXCHANGE, 0),
			 -ENOENT);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, GMEMFS_VIEWS_DIR, fs.root, "z", 0, 0), -EPERM);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "a", fs.root, "b", RENAME_EXCHANGE, 0), 0);
	ck_assert_ptr_eq(at(fs.root, "a"), b);
	ck_assert_ptr_eq(at(fs.root, "b"), a);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "b", fs.root, "a", RENAME_NOREPLACE |
				      RENAME_EXCHANGE, 0), -EINVAL);
	ck_assert_int_eq(gm_ns_rename(&fs, fs.root, "f", fs.root, "g", 0, 0), 0);
	ck_assert_ptr_null(at(fs.root, "f"));
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "a", false, 0), -EISDIR);
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "a", true, 0), -ENOTEMPTY);
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "g", true, 0), -ENOTDIR);
}
END_TEST

START_TEST(test_policy_change_needs_empty_file)
{
	struct gm_inode *f = mk(fs.root, "f", S_IFREG | 0600);

	ck_assert_int_eq(f->policy, GM_PS_AUTO);
	ck_assert_uint_eq(f->pi->prov->id, GMEMFS_PROV_SHMEM_ADVISE);
	ck_assert_int_eq(gm_ns_set_policy(&fs, f, GM_PS_4K), 0);
	ck_assert_uint_eq(f->pi->prov->id, GMEMFS_PROV_SHMEM_4K);
	ck_assert_int_eq(gm_backing_write(&fs, f, "x", 1, 0), 1);
	ck_assert_int_eq(gm_ns_set_policy(&fs, f, GM_PS_2M_THP), -EBUSY);
	ck_assert_uint_eq(f->pi->prov->id, GMEMFS_PROV_SHMEM_4K);
	ck_assert_int_eq(gm_ns_set_policy(&fs, f, GM_PS_INHERIT), -EINVAL);
	restart();
	f = at(fs.root, "f");
	ck_assert_int_eq(f->policy, GM_PS_4K);
	ck_assert_uint_eq(f->pi->prov->id, GMEMFS_PROV_SHMEM_4K);
}
END_TEST

/* The file's private ranges after a restart are want[0..n). */
static void private_eq(uint64_t ino, const struct gm_snap_range *want, size_t n)
{
	struct gm_snap_range *r;
	size_t got;

	ck_assert_int_eq(gm_private_ranges(ino, 1ULL << 30, &r, &got), 0);
	ck_assert_uint_eq(got, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(r[i].off, want[i].off);
		ck_assert_uint_eq(r[i].len, want[i].len);
	}
	free(r);
}

/* Private ranges (meta/private.c) come back from the journal, appended
 * and compacted; a backing that came back empty has none. */
START_TEST(test_private_ranges_replayed)
{
	const struct gm_snap_range want[] = { { 12 * 4096, 4 * 4096 }, { 64 * 4096, 4096 } };
	struct gm_inode *f = mk(fs.root, "vm.ram", S_IFREG | 0600);
	uint64_t ino = f->ino;
	char path[256];

	ck_assert_int_eq(gm_backing_set_size(&fs, f, 1 << 20), 0);
	ck_assert_ptr_nonnull(f->pi);
	snprintf(path, sizeof(path), "%s/%016llx", f->pi->dir, (unsigned long long)ino);
	ck_assert_int_eq(gm_private_applied(ino, 8 * 4096, 8 * 4096, true), 0);
	ck_assert_int_eq(gm_private_applied(ino, 8 * 4096, 4 * 4096, false), 0);
	ck_assert_int_eq(gm_private_applied(ino, 64 * 4096, 4096, true), 0);
	private_eq(ino, want, 2);
	restart();			/* the appended records */
	private_eq(ino, want, 2);
	restart();			/* the compacted ones */
	private_eq(ino, want, 2);
	ck_assert_int_eq(unlink(path), 0);
	restart();
	private_eq(ino, NULL, 0);
	restart();
	private_eq(ino, NULL, 0);
}
END_TEST

START_TEST(test_orphan_backing_swept)
{
	char path[256];
	struct stat st;

	/* A crash between creating a backing and journaling its name. */
	snprintf(path, sizeof(path), "%s/shmem-4k/00000000000003e8", state);
	ck_assert_int_ge(creat(path, 0600), 0);
	restart();
	ck_assert_int_eq(stat(path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

Suite *make_namespace_suite(void)
{
	Suite *s = suite_create("namespace");
	TCase *tc = tcase_create("tree");

	tcase_add_unchecked_fixture(tc, setup_run, teardown_run);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_replay_rebuilds_tree);
	tcase_add_test(tc, test_name_rules);
	tcase_add_test(tc, test_rename_rules);
	tcase_add_test(tc, test_policy_change_needs_empty_file);
	tcase_add_test(tc, test_orphan_backing_swept);
	tcase_add_test(tc, test_private_ranges_replayed);
	suite_add_tcase(s, tc);
	return s;
}
