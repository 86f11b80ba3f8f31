/*
 * gmvmm: a tiny KVM VMM for tests and benchmarks.  It runs one vCPU in 32-bit
 * protected mode (flat segments, no paging) whose only job is to write one
 * 32-bit pattern word to the first bytes of every 4 KiB page of a guest RAM
 * slot, then halt.  The host then checks each page holds the word the guest
 * should have written (gm_vmm_verify).  That is enough to answer "does a real
 * guest fault this memory in, and how long does it take", for a RAM slot
 * backed by a userspace mapping (memfd, hugetlb, a gmemfs file) or by a KVM
 * guest_memfd.
 *
 * Guest physical layout: the guest's code lives in a small anonymous slot at
 * GPA 0 (GM_VMM_CODE_SLOT); the RAM under test is slot GM_VMM_RAM_SLOT at
 * GPA GM_VMM_RAM_GPA (1 GiB, so 2 MiB pages of the backing can be mapped
 * huge by KVM), at most GM_VMM_RAM_MAX bytes.
 *
 * Errors: every function returns 0 (or an fd) on success and a negative
 * errno on failure, and then leaves a one-line reason in vm->err (for
 * example the KVM exit reason of a guest that stopped unexpectedly).
 *
 * KVM_RUN is bounded in time: a POSIX timer aimed at the calling thread
 * sends SIGRTMIN (the library installs an empty handler for it on
 * gm_vmm_open) so a guest that does not halt ends with -ETIMEDOUT.
 *
 * Typical use:
 *	gm_vmm_open(&vm, -1);			or the VM fd gmemfsd's file is bound to
 *	fd = gm_vmm_create_gmem(&vm, size, GM_VMM_GMEM_MMAP | GM_VMM_GMEM_INIT_SHARED);
 *	host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
 *	gm_vmm_set_ram(&vm, &(struct gm_vmm_ram){ host, size, fd, 0 });
 *	gm_vmm_touch(&vm, seed, &ns);  gm_vmm_verify(host, size, seed, &bad);
 *	gm_vmm_clear_ram(&vm);  munmap(host, size);  close(fd);  gm_vmm_close(&vm);
 *
 * Not for: real guests (no interrupts, devices, paging, or more than one
 * vCPU); private (encrypted) memory; anything but one RAM slot at a time.
 * The API below is stable: other branches build on it.
 */
#ifndef GM_VMM_H
#define GM_VMM_H

#include <stddef.h>
#include <stdint.h>

#define GM_VMM_CODE_SLOT	0
#define GM_VMM_RAM_SLOT		1
#define GM_VMM_RAM_GPA		(1ULL << 30)
#define GM_VMM_RAM_MAX		(2ULL << 30)
#define GM_VMM_PAGE		4096ULL

/* guest_memfd creation flags (linux/kvm.h of 6.18; Debian 12's header is
 * older, so they are spelled out here). */
#define GM_VMM_GMEM_MMAP	(1ULL << 0)
#define GM_VMM_GMEM_INIT_SHARED	(1ULL << 1)

struct kvm_run;

struct gm_vmm {
	int kvm_fd;
	int vm_fd;		/* the VM: created by gm_vmm_open or the caller's */
	int vcpu_fd;
	int own_vm;		/* vm_fd is ours to close */
	struct kvm_run *run;	/* the vCPU's shared run page */
	size_t run_size;
	void *code;		/* host mapping of the code slot */
	uint64_t ram_size;	/* 0: no RAM slot */
	unsigned int timeout_s;	/* bound on one gm_vmm_touch; default 60 */
	char err[256];		/* why the last call failed */
};

/* Open /dev/kvm and create a VM, or, with vm_fd >= 0, use the caller's VM
 * (for example one whose guest_memfd the gmemfs daemon created; the caller
 * keeps ownership of vm_fd).  Creates the vCPU and the code slot. */
int gm_vmm_open(struct gm_vmm *vm, int vm_fd);

/* Release the vCPU, the code slot and (if gm_vmm_open made it) the VM; a
 * caller's VM gets its RAM slot removed.  Safe to call twice, and on a
 * struct whose gm_vmm_open failed (which has already released it); not on
 * one gm_vmm_open never saw.  RAM slot memory stays the caller's. */
void gm_vmm_close(struct gm_vmm *vm);

/* The guest_memfd flags this VM accepts (KVM_CAP_GUEST_MEMFD_FLAGS), 0 if
 * guest_memfd is unsupported. */
uint64_t gm_vmm_gmem_flags(struct gm_vmm *vm);

/* Create a guest_memfd of size bytes with flags (GM_VMM_GMEM_*): the fd, or
 * -errno. */
int gm_vmm_create_gmem(struct gm_vmm *vm, uint64_t size, uint64_t flags);

/* The RAM slot's backing.  host is a MAP_SHARED (or private) mapping of
 * size bytes the guest writes through; with gmem_fd >= 0 the slot is a
 * KVM_MEM_GUEST_MEMFD slot on gmem_fd at gmem_offset, and host must be an
 * mmap of that guest_memfd at the same offset. */
struct gm_vmm_ram {
	void *host;
	uint64_t size;		/* > 0, multiple of 4 KiB, <= GM_VMM_RAM_MAX */
	int gmem_fd;		/* -1: plain userspace_addr slot */
	uint64_t gmem_offset;
};

/* Install ram as the RAM slot, replacing any earlier one (which is removed
 * from the VM first, so the next touch faults the new memory in). */
int gm_vmm_set_ram(struct gm_vmm *vm, const struct gm_vmm_ram *ram);

/* Remove the RAM slot (so its memory can be unmapped and freed). */
int gm_vmm_clear_ram(struct gm_vmm *vm);

/* Run the guest once: it writes gm_vmm_pattern(seed, i) to the first 4
 * bytes of page i of the RAM slot, for every page, and halts.  *ns gets the
 * wall time of the run (vCPU entry to the halt exit), if ns is not NULL.
 * -ETIMEDOUT after vm->timeout_s seconds; -EIO on any exit but the final
 * halt, or a halt before the last page (vm->err says which). */
int gm_vmm_touch(struct gm_vmm *vm, uint32_t seed, uint64_t *ns);

/* The word the guest writes to page index of a run with seed: never 0, so a
 * page the guest missed (still zero) never matches. */
static inline uint32_t gm_vmm_pattern(uint32_t seed, uint32_t index)
{
	return ((index * 0x9E3779B1u) ^ seed) | 1u;
}

/* Run the checking guest: it reads the first word of RAM pages first_page,
 * first_page + stride_pages, ... (count of them) and compares each with
 * gm_vmm_pattern(seed, index), index counting from first_page by the
 * stride, halting at the first mismatch.  *checked (if not NULL) gets the
 * pages that matched, *ns the run's wall time.  0 when all count matched;
 * -EIO naming the first wrong index (vm->err); -EINVAL for a range outside
 * the RAM slot; -ETIMEDOUT as gm_vmm_touch. */
int gm_vmm_check(struct gm_vmm *vm, uint32_t seed, uint64_t first_page, uint64_t stride_pages,
		 uint64_t count, uint64_t *ns, uint64_t *checked);
/* The same with the pattern index of the first page given apart from its
 * place in the RAM slot: memory restored from offset first_index pages of
 * a snapshot into page first_page of the slot. */
int gm_vmm_check_at(struct gm_vmm *vm, uint32_t seed, uint64_t first_page, uint64_t first_index,
		    uint64_t stride_pages, uint64_t count, uint64_t *ns, uint64_t *checked);

/* Check from the host that every 4 KiB page of host (size bytes) starts with
 * the word of a run with seed.  0, or -EIO with *bad_page (if not NULL) the
 * index of the first page that does not. */
int gm_vmm_verify(const void *host, uint64_t size, uint32_t seed, uint64_t *bad_page);

#endif
