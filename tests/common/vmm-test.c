/*
 * vmm-test: the gmvmm library (vmm.h) really runs a guest that writes every
 * page of its RAM slot, for a memfd backing and a KVM guest_memfd
 * (MMAP|INIT_SHARED) backing, twice each on fresh memory; the host-side
 * check finds a page the guest did not write; and bad input is refused with
 * a reason.  Exit 0 when all pass, 1 on a failure, 77 (skip, with the
 * reason) without /dev/kvm or guest_memfd MMAP|INIT_SHARED.
 *
 * Not for: timings (printed, never asserted).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gm-test-util.h"
#include "vmm.h"

#define SIZE	(8ULL << 20)
#define GMEM_FLAGS (GM_VMM_GMEM_MMAP | GM_VMM_GMEM_INIT_SHARED)

/* A result, with the VMM's reason for a failure if it gave one. */
static void check(int ok, const char *what, const struct gm_vmm *vm)
{
	gm_test_report(ok, what, !ok && vm && vm->err[0] ? vm->err : NULL);
}

/* A fresh backing: a memfd, or a guest_memfd of vm; fd or -1. */
static int make_backing(struct gm_vmm *vm, int gmem)
{
	int fd;

	if (gmem)
		return gm_vmm_create_gmem(vm, SIZE, GMEM_FLAGS);
	fd = memfd_create("vmm-test", MFD_CLOEXEC);
	if (fd >= 0 && ftruncate(fd, SIZE) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The checking guest agrees with the host: all pages but the spoiled 5th,
 * every 3rd page from 6, and it stops at page 5 naming it. */
static void guest_check(struct gm_vmm *vm, const char *kind, uint32_t seed)
{
	uint64_t npages = SIZE / GM_VMM_PAGE, checked = 0, ns = 0;
	char what[160];
	int err;

	err = gm_vmm_check(vm, seed, 0, 1, 5, NULL, &checked);
	snprintf(what, sizeof(what), "%s: the checking guest finds pages 0-4 right", kind);
	check(!err && checked == 5, what, vm);
	err = gm_vmm_check(vm, seed, 6, 3, (npages - 7) / 3 + 1, &ns, &checked);
	snprintf(what, sizeof(what), "%s: and every 3rd page from 6 (%llu pages, %.0f ns/page)",
		 kind, (unsigned long long)checked, checked ? (double)ns / checked : 0.0);
	check(!err, what, vm);
	err = gm_vmm_check(vm, seed, 0, 1, npages, NULL, &checked);
	snprintf(what, sizeof(what), "%s: it stops at the spoiled page 5", kind);
	check(err == -EIO && checked == 5 && strstr(vm->err, "index 5 "), what, vm);
	err = gm_vmm_check_at(vm, seed ^ 0x100, 0, 0, 1, 1, NULL, &checked);
	snprintf(what, sizeof(what), "%s: another seed's pattern does not match", kind);
	check(err == -EIO && checked == 0, what, vm);
	err = gm_vmm_check(vm, seed, 1, 1, npages, NULL, NULL);
	snprintf(what, sizeof(what), "%s: a check beyond the slot is refused", kind);
	check(err == -EINVAL, what, vm);
}

/* One guest run over fresh memory of one kind, checked from the host. */
static void run_once(struct gm_vmm *vm, int gmem, uint32_t seed)
{
	const char *kind = gmem ? "guest_memfd" : "memfd";
	uint64_t ns = 0, bad = 0;
	char what[160];
	unsigned char *host;
	int fd, err;

	fd = make_backing(vm, gmem);
	snprintf(what, sizeof(what), "%s: backing of %llu MiB created", kind, SIZE >> 20);
	check(fd >= 0, what, vm);
	if (fd < 0)
		return;
	host = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	check(host != MAP_FAILED, "the backing maps", NULL);
	if (host == MAP_FAILED)
		goto out_close;
	err = gm_vmm_set_ram(vm, &(struct gm_vmm_ram){
		.host = host, .size = SIZE, .gmem_fd = gmem ? fd : -1 });
	snprintf(what, sizeof(what), "%s: RAM slot installed", kind);
	check(!err, what, vm);
	if (err)
		goto out_unmap;
	err = gm_vmm_touch(vm, seed, &ns);
	snprintf(what, sizeof(what), "%s: guest ran to its halt (%.0f ns/page)", kind,
		 (double)ns / (double)(SIZE / GM_VMM_PAGE));
	check(!err, what, vm);
	err = gm_vmm_verify(host, SIZE, seed, &bad);
	snprintf(what, sizeof(what), "%s: every page holds the guest's word (seed %#x; "
		 "first bad page %llu)", kind, seed, err ? (unsigned long long)bad : 0ULL);
	check(!err, what, NULL);
	/* The check must be able to fail: spoil one page. */
	memset(host + 5 * GM_VMM_PAGE, 0, 4);
	err = gm_vmm_verify(host, SIZE, seed, &bad);
	snprintf(what, sizeof(what), "%s: verify finds a page the guest did not write", kind);
	check(err == -EIO && bad == 5, what, NULL);
	guest_check(vm, kind, seed);
	check(!gm_vmm_clear_ram(vm), "RAM slot removed", vm);
out_unmap:
	munmap(host, SIZE);
out_close:
	close(fd);
}

/* A guest that strays outside its memory stops with a reason naming the
 * exit: the library is told the slot is twice its real size. */
static void unexpected_exit(struct gm_vmm *vm)
{
	void *host = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	char want[64];
	int err;

	check(host != MAP_FAILED, "anonymous memory maps", NULL);
	if (host == MAP_FAILED)
		return;
	err = gm_vmm_set_ram(vm, &(struct gm_vmm_ram){ .host = host, .size = SIZE,
							 .gmem_fd = -1 });
	check(!err, "anonymous: RAM slot installed", vm);
	vm->ram_size = 2 * SIZE;
	err = gm_vmm_touch(vm, 7, NULL);
	snprintf(want, sizeof(want), "gpa %#llx", GM_VMM_RAM_GPA + SIZE);
	check(err == -EIO && strstr(vm->err, "MMIO") && strstr(vm->err, want),
	      "a write past the slot ends the run with the exit reason and address", NULL);
	printf("#   %s\n", vm->err);
	vm->ram_size = SIZE;
	check(!gm_vmm_clear_ram(vm), "RAM slot removed", vm);
	munmap(host, SIZE);
}

static void bad_input(struct gm_vmm *vm)
{
	static char unaligned[8192];
	int err;

	err = gm_vmm_touch(vm, 1, NULL);
	check(err == -EINVAL && strstr(vm->err, "no RAM slot"),
	      "touch without a RAM slot is refused with a reason", NULL);
	err = gm_vmm_set_ram(vm, &(struct gm_vmm_ram){
		.host = unaligned + 1, .size = 4096, .gmem_fd = -1 });
	check(err == -EINVAL && strstr(vm->err, "page-aligned"),
	      "an unaligned RAM slot is refused with a reason", NULL);
	err = gm_vmm_set_ram(vm, &(struct gm_vmm_ram){
		.host = unaligned, .size = GM_VMM_RAM_MAX + GM_VMM_PAGE, .gmem_fd = -1 });
	check(err == -EINVAL, "a RAM slot larger than GM_VMM_RAM_MAX is refused", NULL);
}

int main(void)
{
	struct gm_vmm vm;
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (access("/dev/kvm", R_OK | W_OK) < 0) {
		printf("SKIP: /dev/kvm: %s\n", strerror(errno));
		return 77;
	}
	err = gm_vmm_open(&vm, -1);
	if (err) {
		printf("FAIL - gm_vmm_open: %s\n", vm.err);
		return 1;
	}
	if ((gm_vmm_gmem_flags(&vm) & GMEM_FLAGS) != GMEM_FLAGS) {
		printf("SKIP: KVM guest_memfd without MMAP|INIT_SHARED (flags %#llx)\n",
		       (unsigned long long)gm_vmm_gmem_flags(&vm));
		gm_vmm_close(&vm);
		return 77;
	}
	bad_input(&vm);
	unexpected_exit(&vm);
	run_once(&vm, 0, 0x5eed0001);
	run_once(&vm, 1, 0x5eed0002);
	run_once(&vm, 0, 0x5eed0003);
	run_once(&vm, 1, 0x5eed0004);
	gm_vmm_close(&vm);
	printf("%d failed\n", gm_test_failures);
	return gm_test_failures ? 1 : 0;
}
