/*
 * gm-guest: a real KVM guest (tests/common/vmm.h) whose RAM is gmemfs
 * memory, three ways, each read back through the mount afterwards:
 *
 *   shmem    a file mapped through the FUSE mount (passthrough);
 *   hugetlb  a 2m-policy file, mapped from the fd gm_handout_open gives
 *            (what the control socket sends a VMM); KernelPageSize must be
 *            2048 kB;
 *   gmem     a kvm-gmem file attached to the guest's VM with
 *            gm_handout_attach_vm, the guest_memfd in a GUEST_MEMFD slot.
 *
 * Until the control socket lands, the handouts need the daemon in this
 * process: gm-guest is gmemfsd's filesystem (gmcore and the FUSE ops)
 * serving STATE at MNT from a thread, while its main thread is the VMM.
 * With the socket, the hugetlb and gmem cases become socket requests and
 * this file shrinks to the VMM (see docs/providers.md).
 *
 * usage: gm-guest STATE MNT [ROUNDS]
 *   Prints "ok - ..."/"FAIL - ..." lines; exit 0 if all passed.  With
 *   ROUNDS, also measures guest first-touch ns per 4 KiB page for the
 *   three and for an in-kernel guest_memfd, interleaved, ROUNDS times
 *   each, fresh memory every time, and prints the medians.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backing.h"
#include "fsops.h"
#include "gm-smaps.h"
#include "handout.h"
#include "recover.h"
#include "vmm.h"

#define MiB		(1024ULL * 1024)
#define RAM		(16 * MiB)
#define HUGEPAGES	16		/* 32 MiB of 2 MiB pages: two files' worth */
#define MAX_ROUNDS	99

static int failures;

static void report(bool ok, const char *what, const char *detail)
{
	printf("%s - %s%s%s\n", ok ? "ok" : "FAIL", what, detail ? ": " : "", detail ? detail : "");
	fflush(stdout);
	failures += !ok;
}

/* gmemfsd's filesystem, served from a thread of this process. */
struct daemon {
	struct gm_opts opts;
	struct gm_fs fs;
	pthread_t loop;
	bool looping;
};

static void *daemon_loop(void *arg)
{
	struct daemon *d = arg;
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();

	if (cfg) {
		fuse_loop_cfg_set_max_threads(cfg, 4);
		fuse_session_loop_mt(d->fs.se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	return NULL;
}

static int daemon_start(struct daemon *d, char *state, char *mnt)
{
	char *argv[] = { "gm-guest", "-o", "default_permissions,allow_other,fsname=gmemfs",
			 NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	int err;

	d->opts = (struct gm_opts){ .mountpoint = mnt, .state_dir = state,
				    .pool_bytes = 256 * MiB, .pagesize = GM_PS_AUTO,
				    .hugepages_2m = HUGEPAGES };
	err = gm_fs_setup(&d->fs, &d->opts);
	if (err)
		return err;
	err = -EIO;
	d->fs.se = fuse_session_new(&args, &gm_fsops, sizeof(gm_fsops), &d->fs);
	fuse_opt_free_args(&args);	/* the parser made its own copy */
	if (!d->fs.se)
		goto err_fs;
	if (fuse_session_mount(d->fs.se, mnt))
		goto err_session;
	d->fs.fuse_dev = gm_mount_dev(mnt);
	err = gm_rebalancer_start(&d->fs.rebalancer, &d->fs);
	if (err)
		goto err_umount;
	err = -pthread_create(&d->loop, NULL, daemon_loop, d);
	if (err)
		goto err_rebalancer;
	d->looping = true;
	return 0;

err_rebalancer:
	gm_rebalancer_stop(&d->fs.rebalancer);
err_umount:
	fuse_session_unmount(d->fs.se);
err_session:
	fuse_session_destroy(d->fs.se);
err_fs:
	gm_fs_teardown(&d->fs);
	return err;
}

static void daemon_stop(struct daemon *d)
{
	fuse_session_exit(d->fs.se);
	fuse_session_unmount(d->fs.se);		/* wakes the loop's reads */
	if (d->looping)
		pthread_join(d->loop, NULL);
	gm_rebalancer_stop(&d->fs.rebalancer);
	fuse_session_destroy(d->fs.se);
	gm_fs_teardown(&d->fs);
}

static struct gm_inode *daemon_inode(struct daemon *d, const char *name)
{
	struct gm_inode *inode = gm_dentry_lookup(&d->fs.it, d->fs.root->ino, name);

	if (inode)
		gm_fs_put(&d->fs, inode);	/* its name keeps it */
	return inode;
}

/* A file of RAM bytes made through the mount, with a page-size policy. */
static int make_file(const char *mnt, const char *name, const char *policy, char *path,
		     size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", mnt, name);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	if (policy && setxattr(path, "user.gmemfs.pagesize", policy, strlen(policy), 0))
		return -errno;
	return truncate(path, (off_t)RAM) ? -errno : 0;
}

/* Every page's first word, read through the mount with read(): served by
 * passthrough for shmem and by the daemon for hugetlb and gmem files. */
static int read_back(const char *path, uint32_t seed, uint64_t *bad)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	for (uint64_t i = 0; i < RAM / GM_VMM_PAGE; i++) {
		uint32_t w = 0;

		if (pread(fd, &w, sizeof(w), (off_t)(i * GM_VMM_PAGE)) != sizeof(w) ||
		    w != gm_vmm_pattern(seed, (uint32_t)i)) {
			*bad = i;
			err = -EIO;
			break;
		}
	}
	close(fd);
	return err;
}

/* One backing under test: its mapping and, for guest_memfd, its fd. */
struct ram {
	const char *name;
	char path[512];		/* through the mount; "" for in-kernel gmem */
	void *host;
	int fd;			/* what host maps */
	int gmem_fd;		/* -1, or the guest_memfd of the slot */
};

/* Run the guest over ram once: it writes every page; check from the host
 * and, for gmemfs files, through the mount. */
static int guest_round(struct gm_vmm *vm, struct ram *r, uint32_t seed, uint64_t *ns)
{
	struct gm_vmm_ram slot = { .host = r->host, .size = RAM, .gmem_fd = r->gmem_fd };
	uint64_t bad = 0;
	char msg[320];
	int err;

	err = gm_vmm_set_ram(vm, &slot);
	if (!err)
		err = gm_vmm_touch(vm, seed, ns);
	if (err) {
		snprintf(msg, sizeof(msg), "%s (%s)", vm->err, strerror(-err));
		report(false, r->name, msg);
		return err;
	}
	err = gm_vmm_verify(r->host, RAM, seed, &bad);
	if (!err && r->path[0])
		err = read_back(r->path, seed, &bad);
	gm_vmm_clear_ram(vm);
	if (err) {
		snprintf(msg, sizeof(msg), "page %llu does not hold the guest's word",
			 (unsigned long long)bad);
		report(false, r->name, msg);
	}
	return err;
}

/* Give the pages back, so the next round's touch is a first touch. */
static int release(struct ram *r)
{
	int fd = r->gmem_fd >= 0 ? r->gmem_fd : r->fd;

	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)RAM))
		return -errno;
	return 0;
}

static int map_ram(struct ram *r)
{
	r->host = mmap(NULL, RAM, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	return r->host == MAP_FAILED ? -errno : 0;
}

static int setup_shmem(struct ram *r, const char *mnt)
{
	int err = make_file(mnt, "shmem.ram", "4k", r->path, sizeof(r->path));

	if (err)
		return err;
	r->fd = open(r->path, O_RDWR | O_CLOEXEC);
	return r->fd < 0 ? -errno : map_ram(r);
}

static int setup_hugetlb(struct ram *r, struct daemon *d, const char *mnt)
{
	struct gm_inode *inode;
	int err = make_file(mnt, "hugetlb.ram", "2m", r->path, sizeof(r->path));

	if (err)
		return err;
	inode = daemon_inode(d, "hugetlb.ram");
	if (!inode)
		return -ENOENT;
	r->fd = gm_handout_open(&d->fs, inode);
	return r->fd < 0 ? r->fd : map_ram(r);
}

static int setup_gmem(struct ram *r, struct daemon *d, const char *mnt, int vm_fd)
{
	struct gm_inode *inode;
	int err = make_file(mnt, "gmem.ram", "kvm-gmem", r->path, sizeof(r->path));

	if (err)
		return err;
	inode = daemon_inode(d, "gmem.ram");
	if (!inode)
		return -ENOENT;
	r->fd = r->gmem_fd = gm_handout_attach_vm(&d->fs, inode, vm_fd);
	return r->fd < 0 ? r->fd : map_ram(r);
}

static int setup_kernel_gmem(struct ram *r, struct gm_vmm *vm)
{
	r->fd = r->gmem_fd = gm_vmm_create_gmem(vm, RAM, GM_VMM_GMEM_MMAP |
						GM_VMM_GMEM_INIT_SHARED);
	return r->fd < 0 ? r->fd : map_ram(r);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Interleaved rounds: every backing once per round, in turn, so drift of
 * the machine hits all alike; medians per backing. */
static void bench(struct gm_vmm *vm, struct ram *rams, int n, int rounds)
{
	uint64_t ns[4][MAX_ROUNDS];

	for (int k = 0; k < rounds; k++) {
		for (int i = 0; i < n; i++) {
			if (release(&rams[i]) || guest_round(vm, &rams[i], 0x5000u + (uint32_t)k,
							     &ns[i][k]))
				return;
		}
	}
	printf("# first touch by a KVM guest, %llu MiB, %d interleaved rounds, median "
	       "ns per 4 KiB page:\n", (unsigned long long)(RAM / MiB), rounds);
	for (int i = 0; i < n; i++) {
		qsort(ns[i], (size_t)rounds, sizeof(ns[i][0]), cmp_u64);
		printf("# %-24s %8.0f\n", rams[i].name,
		       (double)ns[i][rounds / 2] / (double)(RAM / GM_VMM_PAGE));
	}
}

int main(int argc, char **argv)
{
	struct ram rams[4] = {
		{ .name = "shmem file through the mount", .fd = -1, .gmem_fd = -1 },
		{ .name = "hugetlb-2m fd from the daemon", .fd = -1, .gmem_fd = -1 },
		{ .name = "kvm-gmem attached to the VM", .fd = -1, .gmem_fd = -1 },
		{ .name = "in-kernel guest_memfd", .fd = -1, .gmem_fd = -1 },
	};
	int rounds = argc > 3 ? atoi(argv[3]) : 0, err, n = 3;
	struct daemon d = { 0 };
	struct gm_vmm vm = { 0 };
	char msg[128];

	if (argc < 3 || rounds < 0 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s STATE MNT [ROUNDS (1-%d)]\n", argv[0], MAX_ROUNDS);
		return 2;
	}
	err = daemon_start(&d, argv[1], argv[2]);
	if (err) {
		fprintf(stderr, "gm-guest: serving %s: %s\n", argv[2], strerror(-err));
		return 1;
	}
	err = gm_vmm_open(&vm, -1);
	report(!err, "a KVM VM with one vCPU", err ? vm.err : NULL);
	if (err)
		goto out;

	err = setup_shmem(&rams[0], argv[2]);
	report(!err, "shmem file made and mapped through the mount", err ? strerror(-err) : NULL);
	if (!err && !guest_round(&vm, &rams[0], 0xa, NULL))
		report(true, "shmem: the guest's word in every page, read back through the mount",
		       NULL);

	err = setup_hugetlb(&rams[1], &d, argv[2]);
	report(!err, "hugetlb file made through the mount, fd from gm_handout_open",
	       err ? strerror(-err) : NULL);
	if (!err && !guest_round(&vm, &rams[1], 0xb, NULL))
		report(true, "hugetlb: the guest's word in every page, read back through the mount",
		       NULL);
	if (!err) {
		long kb = gm_smaps_kb(rams[1].host, "KernelPageSize");

		snprintf(msg, sizeof(msg), "KernelPageSize %ld kB", kb);
		report(kb == 2048, "hugetlb: the handed-out fd maps 2 MiB pages", msg);
	}

	err = setup_gmem(&rams[2], &d, argv[2], vm.vm_fd);
	report(!err, "kvm-gmem file attached to the guest's VM", err ? strerror(-err) : NULL);
	if (!err && !guest_round(&vm, &rams[2], 0xc, NULL))
		report(true, "kvm-gmem: the guest's word in every page, read back through the mount",
		       NULL);

	if (rounds && !failures) {
		err = setup_kernel_gmem(&rams[3], &vm);
		report(!err, "in-kernel guest_memfd for comparison", err ? strerror(-err) : NULL);
		n = 4;
		if (!err)
			bench(&vm, rams, n, rounds);
	}
out:
	for (int i = 0; i < n; i++) {
		if (rams[i].host && rams[i].host != MAP_FAILED)
			munmap(rams[i].host, RAM);
		if (rams[i].fd >= 0)
			close(rams[i].fd);
		if (rams[i].path[0])
			unlink(rams[i].path);	/* empty stores go at exit, pages too */
	}
	gm_vmm_close(&vm);
	daemon_stop(&d);
	return failures ? 1 : 0;
}
