/*
 * gm-ws-probe: which kernel mechanism tells the host which pages a KVM
 * guest touched, without faults delivered to anyone.  Run on a kernel that
 * has them (the test guest's 7.3): a memfd of MIB mebibytes, mapped shared,
 * is the RAM slot of a tiny KVM guest (tests/common/vmm.h) that has already
 * touched all of it, so KVM's secondary MMU maps every page.  Then, for
 * each mechanism, the window is opened, the guest reads every STRIDE-th page
 * of the first half, and the scan says which pages it saw:
 *
 *   accessed	/proc/self/clear_refs "1", then PAGEMAP_SCAN for PAGE_IS_ACCESSED
 *   rwp	a uffd with FEATURE_RWP|RWP_ASYNC, MODE_RWP, UFFDIO_RWPROTECT of
 *		the range, then PAGEMAP_SCAN for PAGE_IS_ACCESSED
 *
 * Each is also tried with the host itself reading the pages, as a control
 * that the scan works at all.  Prints one line per case:
 *   "<mech> <who>: reported N of M touched, K untouched reported, guest T ms"
 * and "verdict <mech> works|fails".  Exit 0 once every case ran (the probe
 * reports, it does not judge); 1 if the setup itself failed.
 *
 * Not for: the recording mode (daemon/uffd/record.c) or its test.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmm.h"
#include "ws_compat.h"

#define PROBE_PAGE 4096ULL

struct probe {
	struct gm_vmm vm;
	uint8_t *host;
	uint64_t size;
	uint64_t stride;	/* touched: every stride-th page of the first half */
	uint32_t seed;
	int uffd;
};

static int pm_scan_accessed(uint64_t start, uint64_t end, uint8_t *seen)
{
	struct page_region regs[512];
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = start, .end = end,
		.vec = (uintptr_t)regs, .vec_len = 512,
		.category_mask = PAGE_IS_ACCESSED, .return_mask = PAGE_IS_ACCESSED,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	int n;

	if (fd < 0)
		return -errno;
	while (arg.start < end) {
		n = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		for (int i = 0; i < n; i++)
			for (uint64_t a = regs[i].start; a < regs[i].end; a += PROBE_PAGE)
				seen[(a - start) / PROBE_PAGE] = 1;
		if (arg.walk_end <= arg.start)
			break;
		arg.start = arg.walk_end;
	}
	close(fd);
	return 0;
}

static void host_read(struct probe *p)
{
	volatile uint8_t sink;
	uint64_t pages = p->size / PROBE_PAGE;

	for (uint64_t i = 0; i < pages / 2; i += p->stride)
		sink = p->host[i * PROBE_PAGE];
	(void)sink;
}

static int guest_read(struct probe *p, uint64_t *ns)
{
	uint64_t pages = p->size / PROBE_PAGE, count = (pages / 2 + p->stride - 1) / p->stride;
	uint64_t checked = 0;
	int err = gm_vmm_check(&p->vm, p->seed, 0, p->stride, count, ns, &checked);

	if (err)
		fprintf(stderr, "guest check: %s (%llu checked)\n", p->vm.err,
			(unsigned long long)checked);
	return err;
}

static void report(struct probe *p, const char *mech, const char *who, const uint8_t *seen,
		   uint64_t ns)
{
	uint64_t pages = p->size / PROBE_PAGE, hit = 0, want = 0, extra = 0;

	for (uint64_t i = 0; i < pages; i++) {
		bool touched = i < pages / 2 && i % p->stride == 0;

		want += touched;
		hit += touched && seen[i];
		extra += !touched && seen[i];
	}
	printf("%s %s: reported %llu of %llu touched, %llu untouched reported, guest %.1f ms\n",
	       mech, who, (unsigned long long)hit, (unsigned long long)want,
	       (unsigned long long)extra, ns / 1e6);
	if (!ns && !strcmp(mech, "rwp-before"))
		printf("verdict %s-%s %s\n", mech, who, hit + extra ? "not-clean" : "clean");
	else
		printf("verdict %s-%s %s\n", mech, who, hit == want && extra == 0 ? "works" :
		       hit == want ? "works-with-extra" : "fails");
}

static int clear_refs(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "1", 1) != 1)
		err = -errno;
	close(fd);
	return err;
}

/* The reads of one window: the guest's (timed into ns) or the host's. */
static int window_read(struct probe *p, bool guest, uint64_t *ns)
{
	if (guest)
		return guest_read(p, ns);
	host_read(p);
	return 0;
}

static int probe_accessed(struct probe *p, bool guest)
{
	uint64_t pages = p->size / PROBE_PAGE, ns = 0;
	uint8_t *seen = calloc(pages, 1);
	int err;

	if (!seen)
		return -ENOMEM;
	err = clear_refs();
	if (err)
		goto out;
	err = window_read(p, guest, &ns);
	if (err)
		goto out;
	err = pm_scan_accessed((uintptr_t)p->host, (uintptr_t)p->host + p->size, seen);
	if (err) {
		printf("accessed %s: PAGEMAP_SCAN: %s\n", guest ? "guest" : "host", strerror(-err));
		printf("verdict accessed-%s fails\n", guest ? "guest" : "host");
		err = 0;
		goto out;
	}
	report(p, "accessed", guest ? "guest" : "host", seen, ns);
out:
	free(seen);
	return err;
}

static int rwp_open(struct probe *p)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_RWP | UFFD_FEATURE_RWP_ASYNC };
	struct uffdio_register reg = {
		.range = { (uintptr_t)p->host, p->size }, .mode = UFFDIO_REGISTER_MODE_RWP,
	};
	int err;

	p->uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (p->uffd < 0)
		return -errno;
	if (ioctl(p->uffd, UFFDIO_API, &api) < 0) {
		err = -errno;	/* before printf, which may change errno */
		printf("rwp: UFFDIO_API features RWP|RWP_ASYNC: %s\n", strerror(-err));
		return err;
	}
	if (ioctl(p->uffd, UFFDIO_REGISTER, &reg) < 0) {
		err = -errno;
		printf("rwp: UFFDIO_REGISTER MODE_RWP: %s\n", strerror(-err));
		return err;
	}
	printf("rwp: registered, ioctls 0x%llx\n", (unsigned long long)reg.ioctls);
	return 0;
}

static int rwp_protect(struct probe *p)
{
	struct uffdio_rwprotect rw = {
		.range = { (uintptr_t)p->host, p->size }, .mode = UFFDIO_RWPROTECT_MODE_RWP,
	};

	if (ioctl(p->uffd, UFFDIO_RWPROTECT, &rw) < 0) {
		int err = -errno;

		printf("rwp: UFFDIO_RWPROTECT: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

static int probe_rwp(struct probe *p, bool guest)
{
	uint64_t pages = p->size / PROBE_PAGE, ns = 0;
	uint8_t *seen = calloc(pages, 1);
	int err;

	if (!seen)
		return -ENOMEM;
	err = rwp_protect(p);
	if (err)
		goto out;
	/* what the scan says right after protecting: nothing should show */
	err = pm_scan_accessed((uintptr_t)p->host, (uintptr_t)p->host + p->size, seen);
	if (err) {
		printf("rwp: PAGEMAP_SCAN: %s\n", strerror(-err));
		goto out;
	}
	report(p, "rwp-before", guest ? "guest" : "host", seen, 0);
	memset(seen, 0, pages);
	err = window_read(p, guest, &ns);
	if (err)
		goto out;
	err = pm_scan_accessed((uintptr_t)p->host, (uintptr_t)p->host + p->size, seen);
	if (err)
		goto out;
	report(p, "rwp", guest ? "guest" : "host", seen, ns);
out:
	free(seen);
	return err;
}

static int setup(struct probe *p, uint64_t mib)
{
	int fd, err;
	uint64_t ns;

	p->size = mib << 20;
	fd = memfd_create("gm-ws-probe", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, p->size) < 0)
		return -errno;
	p->host = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p->host == MAP_FAILED)
		return -errno;
	err = gm_vmm_open(&p->vm, -1);
	if (err)
		goto fail;
	err = gm_vmm_set_ram(&p->vm, &(struct gm_vmm_ram){ p->host, p->size, -1, 0 });
	if (err)
		goto fail;
	err = gm_vmm_touch(&p->vm, p->seed, &ns);
	if (err)
		goto fail;
	printf("setup: guest touched %llu MiB in %.1f ms\n", (unsigned long long)mib, ns / 1e6);
	return 0;
fail:
	fprintf(stderr, "setup: %s (%s)\n", strerror(-err), p->vm.err);
	return err;
}

int main(int argc, char **argv)
{
	struct probe p = { .seed = 0x5eed, .stride = 4, .uffd = -1 };
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 64;

	if (argc > 2)
		p.stride = strtoull(argv[2], NULL, 0);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (setup(&p, mib))
		return 1;
	probe_accessed(&p, false);
	probe_accessed(&p, true);
	if (rwp_open(&p) == 0) {
		probe_rwp(&p, false);
		probe_rwp(&p, true);
		/* a second window: the mode re-protects every interval */
		probe_rwp(&p, true);
	} else {
		printf("verdict rwp fails\n");
	}
	gm_vmm_clear_ram(&p.vm);
	gm_vmm_close(&p.vm);
	return 0;
}
