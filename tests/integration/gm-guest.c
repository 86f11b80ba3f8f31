/*
 * gm-guest: a VMM whose KVM guest (tests/common/vmm.h) runs on gmemfs
 * memory, got the three ways a real VMM gets it from a running gmemfsd,
 * each read back through the mount afterwards:
 *
 *   shmem    a 4k-policy file mapped through the FUSE mount (passthrough);
 *   hugetlb  a 2m-policy file, mapped from the backing fd the control
 *            socket hands out (gmemfs_ctl_open); KernelPageSize must be
 *            2048 kB;
 *   gmem     a kvm-gmem file attached to the guest's own VM over the
 *            socket (gmemfs_ctl_attach_vm: libgmemfs makes the guest_memfd
 *            on this process's VM and the daemon adopts it), that
 *            guest_memfd in a KVM_MEM_GUEST_MEMFD slot.
 *
 * The guest writes a word to every 4 KiB page; every word is checked from
 * the host mapping and then read back with pread() on the mount path
 * (served by passthrough for shmem, by the daemon for the other two).
 *
 * usage: gm-guest MNT [ROUNDS [MIB]]
 *   MNT is a live gmemfs mount whose daemon has MIB/2 2 MiB huge pages
 *   (--hugepages=2M:N) and room for 4 x MIB in its pool; MIB defaults to
 *   16.  Prints "ok - ..."/"FAIL - ..." lines; exit 0 if all passed.  With
 *   ROUNDS, also measures guest first-touch ns per 4 KiB page of the three
 *   and of an in-kernel guest_memfd, interleaved, ROUNDS times each, fresh
 *   memory every time (punch hole), and prints median, min and max.
 *
 * Not for: the daemon's side (t-hugetlb, t-kvmgmem, t-ctl*), timings
 * asserted in a test.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <gmemfs_client.h>

#include "gm-smaps.h"
#include "gm-test-util.h"
#include "vmm.h"

#define MiB		(1024ULL * 1024)
#define MAX_ROUNDS	99
#define MAX_MIB		1024

static uint64_t ram_size = 16 * MiB;

/* gm_test_report() a step that returned 0 or -errno; the daemon's reason, if the
 * control socket refused it. */
static void report_err(const char *what, int err, struct gmemfs_ctl *c)
{
	char msg[320];

	snprintf(msg, sizeof(msg), "%s%s%s", strerror(-err),
		 c && gmemfs_ctl_reason(c)[0] ? ": " : "", c ? gmemfs_ctl_reason(c) : "");
	gm_test_report(!err, what, err ? msg : NULL);
}

/* One backing under test: its mapping and, for guest_memfd, its fd. */
struct ram {
	const char *name;
	const char *file;	/* its name on the mount; NULL for in-kernel gmem */
	char path[512];
	void *host;
	int fd;			/* what host maps */
	int gmem_fd;		/* -1, or the guest_memfd of the slot */
};

/* A file of ram_size bytes made through the mount, with a page-size
 * policy (set while the file is empty and closed, as the daemon wants);
 * the VMM's open of it (shmem only) is left in r->fd. */
static int make_file(struct ram *r, const char *mnt, const char *policy, bool keep_open)
{
	int fd;

	snprintf(r->path, sizeof(r->path), "%s/%s", mnt, r->file);
	fd = open(r->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	if (setxattr(r->path, "user.gmemfs.pagesize", policy, strlen(policy), 0) ||
	    truncate(r->path, (off_t)ram_size))
		return -errno;
	if (!keep_open)
		return 0;
	r->fd = open(r->path, O_RDWR | O_CLOEXEC);
	return r->fd < 0 ? -errno : 0;
}

/* Every page's first word, read through the mount with pread(): served by
 * passthrough for shmem and by the daemon for hugetlb and gmem files. */
static int read_back(const char *path, uint32_t seed, uint64_t *bad)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return -errno;
	for (uint64_t i = 0; i < ram_size / GM_VMM_PAGE; i++) {
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

/* Run the guest over ram once: it writes every page; check from the host
 * and, for gmemfs files, through the mount. */
static int guest_round(struct gm_vmm *vm, struct ram *r, uint32_t seed, uint64_t *ns)
{
	struct gm_vmm_ram slot = { .host = r->host, .size = ram_size, .gmem_fd = r->gmem_fd };
	uint64_t bad = 0;
	char msg[320];
	int err;

	err = gm_vmm_set_ram(vm, &slot);
	if (!err)
		err = gm_vmm_touch(vm, seed, ns);
	if (err) {
		snprintf(msg, sizeof(msg), "%s (%s)", vm->err, strerror(-err));
		gm_test_report(false, r->name, msg);
		return err;
	}
	err = gm_vmm_verify(r->host, ram_size, seed, &bad);
	if (!err && r->file)
		err = read_back(r->path, seed, &bad);
	gm_vmm_clear_ram(vm);
	if (err) {
		snprintf(msg, sizeof(msg), "page %llu does not hold the guest's word",
			 (unsigned long long)bad);
		gm_test_report(false, r->name, msg);
	}
	return err;
}

/* Give the pages back, so the next round's touch is a first touch. */
static int release(struct ram *r)
{
	if (fallocate(r->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, (off_t)ram_size))
		return -errno;
	return 0;
}

static int map_ram(struct ram *r)
{
	r->host = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->host != MAP_FAILED)
		return 0;
	r->host = NULL;
	return -errno;
}

static int setup_shmem(struct ram *r, const char *mnt)
{
	int err = make_file(r, mnt, "4k", true);

	return err ? err : map_ram(r);
}

/* What a VMM does for memory FUSE cannot map: ask the socket for the fd. */
static int setup_hugetlb(struct ram *r, struct gmemfs_ctl *c, const char *mnt)
{
	struct gmemfs_ctl_stat st;
	int err = make_file(r, mnt, "2m", false);

	if (err)
		return err;
	r->fd = gmemfs_ctl_open(c, r->file, &st);
	if (r->fd < 0)
		return r->fd;
	if (st.info.provider != GMEMFS_PROV_HUGETLB_2M || st.info.size != ram_size)
		return -EPROTO;
	return map_ram(r);
}

static int setup_gmem(struct ram *r, struct gmemfs_ctl *c, const char *mnt, int vm_fd)
{
	struct gmemfs_ctl_stat st;
	int err = make_file(r, mnt, "kvm-gmem", false);

	if (err)
		return err;
	r->fd = r->gmem_fd = gmemfs_ctl_attach_vm(c, r->file, vm_fd, &st);
	if (r->fd < 0)
		return r->fd;
	if (st.info.provider != GMEMFS_PROV_KVM_GMEM || st.info.size != ram_size)
		return -EPROTO;
	return map_ram(r);
}

static int setup_kernel_gmem(struct ram *r, struct gm_vmm *vm)
{
	r->fd = r->gmem_fd = gm_vmm_create_gmem(vm, ram_size, GM_VMM_GMEM_MMAP |
						GM_VMM_GMEM_INIT_SHARED);
	return r->fd < 0 ? r->fd : map_ram(r);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Interleaved rounds: every backing once per round, in turn, so drift of
 * the machine hits all alike; median, min and max per backing, and the
 * median against the last backing's (in-kernel guest_memfd). */
static void bench(struct gm_vmm *vm, struct ram *rams, int n, int rounds)
{
	static uint64_t ns[4][MAX_ROUNDS];
	double pages = (double)(ram_size / GM_VMM_PAGE), med[4];

	for (int k = 0; k < rounds; k++) {
		for (int i = 0; i < n; i++) {
			int err = release(&rams[i]);

			if (err) {
				report_err(rams[i].name, err, NULL);
				return;
			}
			if (guest_round(vm, &rams[i], 0x5000u + (uint32_t)k, &ns[i][k]))
				return;
		}
	}
	printf("# first touch by a KVM guest, %llu MiB, %d interleaved rounds, "
	       "ns per 4 KiB page:\n", (unsigned long long)(ram_size / MiB), rounds);
	printf("# %-34s %8s %8s %8s %10s\n", "backing", "median", "min", "max",
	       "vs gmem");
	for (int i = 0; i < n; i++) {
		qsort(ns[i], (size_t)rounds, sizeof(ns[i][0]), cmp_u64);
		med[i] = (double)ns[i][rounds / 2] / pages;
	}
	for (int i = 0; i < n; i++)
		printf("# %-34s %8.0f %8.0f %8.0f %9.2fx\n", rams[i].name, med[i],
		       (double)ns[i][0] / pages, (double)ns[i][rounds - 1] / pages,
		       med[i] / med[n - 1]);
}

static void release_rams(struct ram *rams, int n)
{
	for (int i = 0; i < n; i++) {
		if (rams[i].host)
			munmap(rams[i].host, ram_size);
		if (rams[i].fd >= 0)
			close(rams[i].fd);
		/* Empty hugetlb stores go at the daemon's exit, their pages too. */
		if (rams[i].file && rams[i].path[0] && unlink(rams[i].path))
			report_err("remove the file through the mount", -errno, NULL);
	}
}

/* The three gmemfs guests, each checked; ROUNDS then compares them. */
static void run_guests(struct gm_vmm *vm, struct gmemfs_ctl *c, struct ram *rams,
		       const char *mnt)
{
	int err = setup_shmem(&rams[0], mnt);
	char msg[64];

	report_err("shmem file made and mapped through the mount", err, NULL);
	if (!err && !guest_round(vm, &rams[0], 0xa, NULL))
		gm_test_report(true, "shmem: the guest's word in every page, read back through the mount",
			       NULL);

	err = setup_hugetlb(&rams[1], c, mnt);
	report_err("hugetlb-2m file made through the mount, its fd from the control socket",
		   err, c);
	if (!err && !guest_round(vm, &rams[1], 0xb, NULL))
		gm_test_report(true, "hugetlb: the guest's word in every page, read back through the mount",
			       NULL);
	if (!err) {
		long kb = gm_smaps_kb(rams[1].host, "KernelPageSize");

		snprintf(msg, sizeof(msg), "KernelPageSize %ld kB", kb);
		gm_test_report(kb == 2048, "hugetlb: the socket's fd maps 2 MiB pages", msg);
	}

	err = setup_gmem(&rams[2], c, mnt, vm->vm_fd);
	report_err("kvm-gmem file attached to the guest's VM over the control socket", err, c);
	if (!err && !guest_round(vm, &rams[2], 0xc, NULL))
		gm_test_report(true, "kvm-gmem: the guest's word in every page, read back through the mount",
			       NULL);
}

int main(int argc, char **argv)
{
	struct ram rams[4] = {
		{ .name = "(a) shmem file through the mount", .file = "shmem.ram" },
		{ .name = "(b) hugetlb-2m fd from the socket", .file = "hugetlb.ram" },
		{ .name = "(c) kvm-gmem attached to the VM", .file = "gmem.ram" },
		{ .name = "in-kernel guest_memfd" },
	};
	int rounds = argc > 2 ? atoi(argv[2]) : 0, mib = argc > 3 ? atoi(argv[3]) : 16;
	struct gmemfs_ctl *c = NULL;
	struct gm_vmm vm = { 0 };
	int err, n = 3;

	if (argc < 2 || argc > 4 || rounds < 0 || rounds > MAX_ROUNDS || mib < 2 ||
	    mib > MAX_MIB || mib % 2) {
		fprintf(stderr, "usage: %s MNT [ROUNDS (0-%d) [MIB (even, 2-%d)]]\n", argv[0],
			MAX_ROUNDS, MAX_MIB);
		return 2;
	}
	ram_size = (uint64_t)mib * MiB;
	for (int i = 0; i < 4; i++)
		rams[i].fd = rams[i].gmem_fd = -1;
	err = gmemfs_ctl_connect_path(argv[1], &c, NULL);
	report_err("connected to the mount's control socket (found by its xattr)", err, NULL);
	if (err)
		return 1;
	err = gm_vmm_open(&vm, -1);
	gm_test_report(!err, "a KVM VM with one vCPU", err ? vm.err : NULL);
	if (err)
		goto out_ctl;
	run_guests(&vm, c, rams, argv[1]);
	if (rounds && !gm_test_failures) {
		err = setup_kernel_gmem(&rams[n], &vm);
		report_err("in-kernel guest_memfd for comparison", err, NULL);
		n++;
		if (!err)
			bench(&vm, rams, n, rounds);
	}
	release_rams(rams, n);
	gm_vmm_close(&vm);
out_ctl:
	gmemfs_ctl_close(c);
	return gm_test_failures ? 1 : 0;
}
