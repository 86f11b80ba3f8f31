/*
 * Unit tests of the kvm-gmem provider through gmcore, with real KVM: this
 * process plays the VMM, creates a guest_memfd on its own VM
 * (KVM_CREATE_GUEST_MEMFD) and gives it to a file with
 * gm_handout_adopt_gmem.  Bytes written through the daemon's write path
 * before and after the attach are seen in a mapping of that guest_memfd
 * and back, also after the VMM closed its fd (the daemon keeps its own);
 * a second attach, a fd that is no guest_memfd, one of another size, one
 * without MMAP or INIT_SHARED, an empty file and a file the pool cannot
 * hold are refused with their errno and reason, changing nothing; and a
 * restart finds the file detached again, with its size.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/backing.h"
#include "ck_tmpdir.h"
#include "fixture.h"
#include "gm-test-util.h"
#include "mem/handout.h"
#include "meta/namespace.h"
#include "prov/kvm_gmem.h"
#include "meta/recover.h"
#include "suites.h"

#define MiB	(1024ULL * 1024)

static char base[64];
static char state[128];
static struct gm_opts opts;
static struct gm_fs fs;
static int kvm_fd = -1;

static void setup_run(void)
{
	if (ck_tmpdir_make(base, sizeof(base), "kvm"))
		base[0] = '\0';
}

static void teardown_run(void)
{
	ck_tmpdir_sweep(base);
}

static void setup(void)
{
	ck_fs_opts(base, state, sizeof(state), &opts, 64 * MiB);
	ck_fs_up(&fs, &opts);
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	ck_assert_msg(kvm_fd >= 0, "/dev/kvm: %s (run through tools/test-vm/need.sh --kvm)",
		      strerror(errno));
}

static void teardown(void)
{
	gm_fs_teardown(&fs);
	close(kvm_fd);
}

static int new_vm(void)
{
	int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);

	ck_assert_msg(vm >= 0, "KVM_CREATE_VM: %s", strerror(errno));
	return vm;
}

static char why[160];

/* Play the VMM: a guest_memfd of size bytes with flags on vm. */
static int new_gmem(int vm, uint64_t size, uint64_t flags)
{
	struct kvm_create_guest_memfd req = { .size = size, .flags = flags };
	int gfd = ioctl(vm, KVM_CREATE_GUEST_MEMFD, &req);

	ck_assert_msg(gfd >= 0, "KVM_CREATE_GUEST_MEMFD: %s", strerror(errno));
	return gfd;
}

#define GMEM_SHARED	(GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED)

/* Attach f to vm as a VMM does: a shared guest_memfd of size, handed over.
 * The guest_memfd, or -errno (and the fd is closed). */
static int attach(struct gm_inode *f, int vm, uint64_t size)
{
	int gfd = new_gmem(vm, size, GMEM_SHARED);
	int err = gm_handout_adopt_gmem(&fs, f, gfd, why, sizeof(why));

	if (err) {
		close(gfd);
		return err;
	}
	return gfd;
}

/* gm_handout_adopt_gmem of gfd refused with err and a reason naming what. */
static void refused(struct gm_inode *f, int gfd, int err, const char *what)
{
	ck_assert_int_eq(gm_handout_adopt_gmem(&fs, f, gfd, why, sizeof(why)), err);
	ck_assert_msg(strstr(why, what), "reason '%s' lacks '%s'", why, what);
}

static struct gm_inode *mkgmem(const char *name, uint64_t size)
{
	struct gm_new_args a = { .name = name, .mode = S_IFREG | 0600,
				 .policy = GM_PS_KVM_GMEM };
	struct gm_inode *inode = NULL;

	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &inode), 0);
	gm_fs_put(&fs, inode);
	ck_assert_str_eq(inode->pi->prov->name, "kvm-gmem");
	if (size)
		ck_assert_int_eq(gm_backing_set_size(&fs, inode, size), 0);
	return inode;
}

static int set_memslot(int vm, int gfd, uint64_t size, void *uaddr)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .flags = KVM_MEM_GUEST_MEMFD, .guest_phys_addr = 0,
		.memory_size = size, .userspace_addr = (uint64_t)(uintptr_t)uaddr,
		.guest_memfd = (uint32_t)gfd,
	};

	return ioctl(vm, KVM_SET_USER_MEMORY_REGION2, &r) ? -errno : 0;
}

static uint64_t kvm_used(void)
{
	struct gm_pool_usage u;

	ck_assert_int_eq(gm_pool_usage(&fs.pool, &u), 0);
	return u.prov[GMEMFS_PROV_KVM_GMEM].used;
}

static uint64_t limits_sum(void)
{
	struct gm_pool_usage u;
	uint64_t sum = 0;

	ck_assert_int_eq(gm_pool_usage(&fs.pool, &u), 0);
	for (int i = 0; i < GM_NPROV; i++)
		sum += u.prov[i].limit;
	return sum;
}

START_TEST(test_attach_moves_staged_bytes)
{
	struct gm_inode *f = mkgmem("ram", 8 * MiB);
	uint8_t w[5000], r[5000], *map;
	int vm = new_vm(), vm2 = new_vm(), gfd;
	struct stat st;

	/* Before attach the bytes are staged in the file's tmpfs backing. */
	gm_test_fill(w, 0, sizeof(w), 1);
	ck_assert_int_eq(gm_backing_write(&fs, f, w, sizeof(w), 1 * MiB + 7), sizeof(w));
	ck_assert_int_eq(gm_handout_open(&fs, f), -ENODEV);

	gfd = attach(f, vm, 8 * MiB);
	ck_assert_msg(gfd >= 0, "attach: %s (%s)", strerror(-gfd), why);
	ck_assert_int_eq(fstat(f->backing_fd, &st), 0);
	ck_assert_int_eq(st.st_blocks, 0);		/* staged bytes moved out */
	ck_assert_int_eq(st.st_size, 8 * MiB);		/* the size stays */

	map = mmap(NULL, 8 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, gfd, 0);
	ck_assert_ptr_ne(map, MAP_FAILED);
	ck_assert(memcmp(map + 1 * MiB + 7, w, sizeof(w)) == 0);

	/* The client's writes come back through the daemon's read path ... */
	gm_test_fill(map + 3 * MiB, 0, sizeof(w), 2);
	ck_assert_int_eq(gm_backing_read(f, r, sizeof(r), 3 * MiB), sizeof(r));
	gm_test_fill(w, 0, sizeof(w), 2);
	ck_assert(memcmp(r, w, sizeof(r)) == 0);
	/* ... and the daemon's writes land in the client's mapping. */
	gm_test_fill(w, 0, sizeof(w), 3);
	ck_assert_int_eq(gm_backing_write(&fs, f, w, sizeof(w), 5 * MiB), sizeof(w));
	ck_assert(memcmp(map + 5 * MiB, w, sizeof(w)) == 0);
	/* Holes read as zeros, without allocating. */
	ck_assert_int_eq(gm_backing_read(f, r, 4096, 7 * MiB), 4096);
	for (int i = 0; i < 4096; i++)
		ck_assert_uint_eq(r[i], 0);
	ck_assert_int_eq(gm_backing_stat(f, &st), 0);
	ck_assert_int_ge(st.st_blocks * 512, 3 * 8192);	/* pages in the guest_memfd */
	ck_assert_int_lt(st.st_blocks * 512, 1 * MiB);

	/* The guest_memfd is its VM's: a memslot there, none on another. */
	ck_assert_int_eq(set_memslot(vm, gfd, 8 * MiB, map), 0);
	ck_assert_int_ne(set_memslot(vm2, gfd, 8 * MiB, map), 0);

	/* gm_handout_open now hands out the guest_memfd too. */
	int fd2 = gm_handout_open(&fs, f);
	ck_assert_int_ge(fd2, 0);
	uint8_t *map2 = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd2, 5 * MiB);
	ck_assert_ptr_ne(map2, MAP_FAILED);
	ck_assert(memcmp(map2, w, 4096) == 0);
	munmap(map2, 4096);
	close(fd2);

	/* The VMM lets go of its fd: the daemon's own keeps serving. */
	munmap(map, 8 * MiB);
	close(gfd);
	ck_assert_int_eq(gm_backing_read(f, r, sizeof(r), 5 * MiB), sizeof(r));
	ck_assert(memcmp(r, w, sizeof(r)) == 0);
	close(vm2);
	close(vm);
}
END_TEST

START_TEST(test_refusals)
{
	struct gm_inode *f = mkgmem("ram", 4 * MiB - 100), *empty = mkgmem("empty", 0);
	struct gm_new_args a = { .name = "plain", .mode = S_IFREG | 0600, .policy = GM_PS_4K };
	struct gm_inode *plain = NULL;
	int vm = new_vm(), vm2 = new_vm(), gfd, bad;
	uint8_t b[4096] = { 0 };
	uint64_t used;
	struct stat st;

	ck_assert_int_eq(gm_ns_new(&fs, fs.root, &a, &plain), 0);
	gm_fs_put(&fs, plain);
	memcpy(b, "staged", 6);
	ck_assert_int_eq(gm_backing_write(&fs, f, b, sizeof(b), 0), sizeof(b));
	used = kvm_used();

	bad = new_gmem(vm, 4 * MiB, GMEM_SHARED);
	refused(plain, bad, -EINVAL, "not a kvm-gmem file");
	refused(empty, bad, -EINVAL, "the file is empty");
	close(bad);
	bad = open("/dev/null", O_RDWR | O_CLOEXEC);
	refused(f, bad, -EBADF, "not a guest_memfd");
	close(bad);
	refused(f, kvm_fd, -EBADF, "not a guest_memfd");
	bad = memfd_create("[kvm-gmem]", MFD_CLOEXEC);	/* a name cannot fake one */
	ck_assert_int_eq(ftruncate(bad, 4 * MiB), 0);
	refused(f, bad, -EBADF, "not a guest_memfd");
	close(bad);
	bad = new_gmem(vm, 4 * MiB - 4096, GMEM_SHARED);
	refused(f, bad, -EINVAL, "has 4190208 bytes, the file needs 4194304 (its 4194204 bytes");
	close(bad);
	bad = new_gmem(vm, 4 * MiB, 0);
	refused(f, bad, -EOPNOTSUPP, "cannot be mapped");
	close(bad);
	bad = new_gmem(vm, 4 * MiB, GUEST_MEMFD_FLAG_MMAP);
	refused(f, bad, -EOPNOTSUPP, "not shared");
	close(bad);
	/* Refused: the staged bytes are where they were, the pool unmoved. */
	ck_assert_int_eq(gm_handout_open(&fs, f), -ENODEV);
	ck_assert_int_eq(fstat(f->backing_fd, &st), 0);
	ck_assert_int_eq(st.st_blocks * 512, 4096);
	ck_assert_uint_eq(kvm_used(), used);
	memset(b, 0, sizeof(b));
	ck_assert_int_eq(gm_backing_read(f, b, sizeof(b), 0), sizeof(b));
	ck_assert_str_eq((char *)b, "staged");

	gfd = attach(f, vm, 4 * MiB);
	ck_assert_msg(gfd >= 0, "attach: %s (%s)", strerror(-gfd), why);
	bad = new_gmem(vm2, 4 * MiB, GMEM_SHARED);
	refused(f, bad, -EBUSY, "already attached");
	close(bad);
	ck_assert_int_eq(attach(f, vm, 4 * MiB), -EBUSY);
	/* Its size is the guest_memfd's now. */
	ck_assert_int_eq(gm_backing_set_size(&fs, f, 8 * MiB), -EBUSY);
	ck_assert_int_eq(gm_backing_set_size(&fs, f, 4 * MiB - 100), 0);
	ck_assert_int_eq(gm_backing_write(&fs, f, b, sizeof(b), 4 * MiB), -EFBIG);
	ck_assert_int_eq(gm_backing_fallocate(&fs, f, 0, 4 * MiB, 4096), -EFBIG);
	ck_assert_int_eq(gm_backing_fallocate(&fs, f, FALLOC_FL_KEEP_SIZE, 100, 4096), -EINVAL);

	/* Punch hole through the daemon frees the page in the guest_memfd. */
	memset(b, 0xaa, sizeof(b));
	ck_assert_int_eq(gm_backing_write(&fs, f, b, sizeof(b), 8192), sizeof(b));
	ck_assert_int_eq(gm_backing_fallocate(&fs, f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
					      8192, 4096), 0);
	ck_assert_int_eq(gm_backing_read(f, b, sizeof(b), 8192), sizeof(b));
	for (size_t i = 0; i < sizeof(b); i++)
		ck_assert_uint_eq(b[i], 0);
	ck_assert_int_eq(gm_backing_fallocate(&fs, f, 0, 0, 8192), 0);	/* within: fine */
	close(gfd);
	close(vm2);
	close(vm);
}
END_TEST

/* Guest faults do not ask the daemon, so an attach reserves the file's
 * whole size; what the pool cannot hold is ENOSPC, nothing else moves. */
START_TEST(test_budget)
{
	struct gm_inode *a = mkgmem("a", 48 * MiB), *b = mkgmem("b", 32 * MiB);
	int vm = new_vm(), vm2 = new_vm(), ga, gb;

	ga = attach(a, vm, 48 * MiB);
	ck_assert_int_ge(ga, 0);
	ck_assert_uint_ge(kvm_used(), 48 * MiB);
	ck_assert_uint_le(limits_sum(), 64 * MiB);
	ck_assert_int_eq(attach(b, vm2, 32 * MiB), -ENOSPC);
	ck_assert_msg(strstr(why, "the pool cannot reserve the file's 33554432 bytes"), "%s", why);
	ck_assert_int_eq(gm_handout_open(&fs, b), -ENODEV);	/* still detached */
	ck_assert_uint_le(limits_sum(), 64 * MiB);

	/* The file goes: the pool stops counting its guest_memfd. */
	close(ga);
	ck_assert_int_eq(gm_ns_unlink(&fs, fs.root, "a", false, 0), 0);
	ck_assert_uint_lt(kvm_used(), 1 * MiB);
	gm_backing_rebalance(&fs, NULL, 0);
	gb = attach(b, vm2, 32 * MiB);
	ck_assert_int_ge(gb, 0);
	ck_assert_uint_le(limits_sum(), 64 * MiB);
	close(gb);
	close(vm2);
	close(vm);
}
END_TEST

/* A guest_memfd dies with the daemon's fds: after a restart the file is
 * detached, with its size and no contents, and can be attached again. */
START_TEST(test_restart_detaches)
{
	struct gm_inode *f = mkgmem("ram", 2 * MiB);
	int vm = new_vm(), gfd;
	uint8_t b[16] = "guest memory";

	gfd = attach(f, vm, 2 * MiB);
	ck_assert_int_ge(gfd, 0);
	ck_assert_int_eq(gm_backing_write(&fs, f, b, sizeof(b), 0), sizeof(b));
	close(gfd);
	close(vm);
	gm_fs_teardown(&fs);
	ck_fs_up(&fs, &opts);

	f = gm_dentry_lookup(&fs.it, fs.root->ino, "ram");
	ck_assert_ptr_nonnull(f);
	gm_fs_put(&fs, f);
	struct stat st;
	ck_assert_int_eq(gm_backing_stat(f, &st), 0);
	ck_assert_int_eq(st.st_size, 2 * MiB);
	ck_assert_int_eq(gm_handout_open(&fs, f), -ENODEV);
	ck_assert_int_eq(gm_backing_read(f, b, sizeof(b), 0), sizeof(b));
	ck_assert_uint_eq(b[0], 0);
	vm = new_vm();
	gfd = attach(f, vm, 2 * MiB);
	ck_assert_int_ge(gfd, 0);
	close(gfd);
	close(vm);
}
END_TEST

Suite *make_prov_kvm_suite(void)
{
	Suite *s = suite_create("prov_kvm");
	TCase *tc = tcase_create("guest_memfd");

	/* meson runs the "kvm" tag through tools/test-vm/need.sh --kvm. */
	tcase_set_tags(tc, "kvm");
	tcase_add_unchecked_fixture(tc, setup_run, teardown_run);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_attach_moves_staged_bytes);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_budget);
	tcase_add_test(tc, test_restart_detaches);
	suite_add_tcase(s, tc);
	return s;
}
