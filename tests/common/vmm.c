/*
 * gmvmm: the tiny KVM VMM of vmm.h.  One VM, one vCPU put straight into
 * 32-bit protected mode through its segment caches (no GDT in guest memory
 * is needed, since the guest never reloads a segment), a code slot holding
 * a hand-assembled page-touch loop, and one RAM slot under test.
 *
 * Not for: anything vmm.h does not promise; in particular no emulation of
 * I/O or MMIO: any exit but the final HLT is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "kvm_compat.h"
#include "vmm.h"

#define CODE_SIZE	4096UL
/* A guest run ends with exactly one exit (HLT); other signals than ours
 * may interrupt KVM_RUN a few times, but never this often. */
#define MAX_ENTRIES	1000

/*
 * The guest, 32-bit code at GPA 0.  In: esi = GPA of page 0, ecx = number of
 * pages (> 0), ebx = seed.  Out: edx = pages written.  Per page i it stores
 * gm_vmm_pattern(seed, i) at the page's first byte.
 *
 *  0: 31 d2              xor  edx, edx
 *  2: 89 d0        loop: mov  eax, edx
 *  4: 69 c0 b1 79 37 9e  imul eax, eax, 0x9e3779b1
 * 10: 31 d8              xor  eax, ebx
 * 12: 83 c8 01           or   eax, 1
 * 15: 89 06              mov  [esi], eax
 * 17: 81 c6 00 10 00 00  add  esi, 0x1000
 * 23: 42                 inc  edx
 * 24: 39 ca              cmp  edx, ecx
 * 26: 72 e6              jb   loop
 * 28: f4                 hlt
 */
static const unsigned char guest_code[] = {
	0x31, 0xd2,
	0x89, 0xd0,
	0x69, 0xc0, 0xb1, 0x79, 0x37, 0x9e,
	0x31, 0xd8,
	0x83, 0xc8, 0x01,
	0x89, 0x06,
	0x81, 0xc6, 0x00, 0x10, 0x00, 0x00,
	0x42,
	0x39, 0xca,
	0x72, 0xe6,
	0xf4,
};

/*
 * The checking guest, at CHECK_OFFSET in the code slot.  In: esi = GPA of
 * the first page, ecx = count (> 0), ebx = seed, edi = stride in pages,
 * edx = the pattern index of the first page.  Out: ebp = pages that
 * matched (count on success), edx = the index of the one that did not.
 *
 *  0: 31 ed              xor  ebp, ebp
 *  2: 90 90              nop; nop
 *  4: 89 d0        loop: mov  eax, edx
 *  6: 69 c0 b1 79 37 9e  imul eax, eax, 0x9e3779b1
 * 12: 31 d8              xor  eax, ebx
 * 14: 83 c8 01           or   eax, 1
 * 17: 39 06              cmp  [esi], eax
 * 19: 75 0e              jne  done
 * 21: 01 fa              add  edx, edi
 * 23: 89 f8              mov  eax, edi
 * 25: c1 e0 0c           shl  eax, 12
 * 28: 01 c6              add  esi, eax
 * 30: 45                 inc  ebp
 * 31: 39 cd              cmp  ebp, ecx
 * 33: 72 e1              jb   loop
 * 35: f4           done: hlt
 */
#define CHECK_OFFSET	0x100
static const unsigned char check_code[] = {
	0x31, 0xed,
	0x90, 0x90,
	0x89, 0xd0,
	0x69, 0xc0, 0xb1, 0x79, 0x37, 0x9e,
	0x31, 0xd8,
	0x83, 0xc8, 0x01,
	0x39, 0x06,
	0x75, 0x0e,
	0x01, 0xfa,
	0x89, 0xf8,
	0xc1, 0xe0, 0x0c,
	0x01, 0xc6,
	0x45,
	0x39, 0xcd,
	0x72, 0xe1,
	0xf4,
};
_Static_assert(sizeof(guest_code) <= CHECK_OFFSET, "the two guests do not overlap");

static int vmm_fail(struct gm_vmm *vm, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Record why a call failed; returns err (a negative errno). */
static int vmm_fail(struct gm_vmm *vm, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vm->err, sizeof(vm->err), fmt, ap);
	va_end(ap);
	return err;
}

static const char *exit_name(unsigned int reason)
{
	static const char *const names[] = {
		[KVM_EXIT_UNKNOWN] = "UNKNOWN",
		[KVM_EXIT_EXCEPTION] = "EXCEPTION",
		[KVM_EXIT_IO] = "IO",
		[KVM_EXIT_HYPERCALL] = "HYPERCALL",
		[KVM_EXIT_DEBUG] = "DEBUG",
		[KVM_EXIT_HLT] = "HLT",
		[KVM_EXIT_MMIO] = "MMIO",
		[KVM_EXIT_IRQ_WINDOW_OPEN] = "IRQ_WINDOW_OPEN",
		[KVM_EXIT_SHUTDOWN] = "SHUTDOWN",
		[KVM_EXIT_FAIL_ENTRY] = "FAIL_ENTRY",
		[KVM_EXIT_INTR] = "INTR",
		[KVM_EXIT_INTERNAL_ERROR] = "INTERNAL_ERROR",
		[KVM_EXIT_MEMORY_FAULT] = "MEMORY_FAULT",
	};

	if (reason < sizeof(names) / sizeof(names[0]) && names[reason])
		return names[reason];
	return "other";
}

/* A plain slot (no guest_memfd) through the pre-6.8 ioctl, for kernels
 * without KVM_SET_USER_MEMORY_REGION2 (the shim's 6.1 test guest). */
static int set_slot_v1(struct gm_vmm *vm, const struct kvm_userspace_memory_region2 *r)
{
	struct kvm_userspace_memory_region r1 = {
		.slot = r->slot, .flags = r->flags, .guest_phys_addr = r->guest_phys_addr,
		.memory_size = r->memory_size, .userspace_addr = r->userspace_addr,
	};

	return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r1);
}

static int set_slot(struct gm_vmm *vm, const struct kvm_userspace_memory_region2 *r)
{
	int err = ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION2, r);

	if (err < 0 && errno == ENOTTY && !(r->flags & KVM_MEM_GUEST_MEMFD))
		err = set_slot_v1(vm, r);
	if (err < 0)
		return vmm_fail(vm, -errno, "KVM_SET_USER_MEMORY_REGION2 slot %u gpa %#llx "
				"size %llu flags %#x: %s", r->slot,
				(unsigned long long)r->guest_phys_addr,
				(unsigned long long)r->memory_size, r->flags, strerror(errno));
	return 0;
}

/* Flat 4 GiB code and data segments, protection on, paging off. */
static int enter_protected_mode(struct gm_vmm *vm)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 0xb,
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_sregs sregs;

	if (ioctl(vm->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return vmm_fail(vm, -errno, "KVM_GET_SREGS: %s", strerror(errno));
	data.selector = 0x10;
	data.type = 0x3;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.cr0 |= 1;		/* PE */
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vm->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return vmm_fail(vm, -errno, "KVM_SET_SREGS: %s", strerror(errno));
	return 0;
}

static int add_code_slot(struct gm_vmm *vm)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = GM_VMM_CODE_SLOT, .guest_phys_addr = 0, .memory_size = CODE_SIZE,
	};

	vm->code = mmap(NULL, CODE_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm->code == MAP_FAILED) {
		vm->code = NULL;
		return vmm_fail(vm, -errno, "mmap of the code slot: %s", strerror(errno));
	}
	memcpy(vm->code, guest_code, sizeof(guest_code));
	memcpy((char *)vm->code + CHECK_OFFSET, check_code, sizeof(check_code));
	r.userspace_addr = (uintptr_t)vm->code;
	return set_slot(vm, &r);
}

/* An empty handler: its only effect is that KVM_RUN returns EINTR. */
static void vmm_timer_signal(int sig)
{
	(void)sig;
}

static int install_timer_handler(struct gm_vmm *vm)
{
	struct sigaction sa = { .sa_handler = vmm_timer_signal };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGRTMIN, &sa, NULL) < 0)
		return vmm_fail(vm, -errno, "sigaction(SIGRTMIN): %s", strerror(errno));
	return 0;
}

static int open_vm(struct gm_vmm *vm, int vm_fd)
{
	int api;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0)
		return vmm_fail(vm, -errno, "/dev/kvm: %s", strerror(errno));
	api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION)
		return vmm_fail(vm, -ENOTSUP, "/dev/kvm: API version %d, not %d",
				api, KVM_API_VERSION);
	if (vm_fd >= 0) {
		vm->vm_fd = vm_fd;
		return 0;
	}
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0)
		return vmm_fail(vm, -errno, "KVM_CREATE_VM: %s", strerror(errno));
	vm->own_vm = 1;
	return 0;
}

static int open_vcpu(struct gm_vmm *vm)
{
	int size;

	vm->vcpu_fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, 0);
	if (vm->vcpu_fd < 0)
		return vmm_fail(vm, -errno, "KVM_CREATE_VCPU: %s", strerror(errno));
	size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < (int)sizeof(struct kvm_run))
		return vmm_fail(vm, size < 0 ? -errno : -EINVAL,
				"KVM_GET_VCPU_MMAP_SIZE: %d", size);
	vm->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
		       vm->vcpu_fd, 0);
	if (vm->run == MAP_FAILED) {
		vm->run = NULL;
		return vmm_fail(vm, -errno, "mmap of the vCPU run page: %s", strerror(errno));
	}
	vm->run_size = (size_t)size;
	return 0;
}

int gm_vmm_open(struct gm_vmm *vm, int vm_fd)
{
	int err;

	*vm = (struct gm_vmm){ .kvm_fd = -1, .vm_fd = -1, .vcpu_fd = -1, .timeout_s = 60 };
	err = install_timer_handler(vm);
	if (err)
		goto err_close;
	err = open_vm(vm, vm_fd);
	if (err)
		goto err_close;
	err = open_vcpu(vm);
	if (err)
		goto err_close;
	err = enter_protected_mode(vm);
	if (err)
		goto err_close;
	err = add_code_slot(vm);
	if (err)
		goto err_close;
	return 0;

err_close:
	gm_vmm_close(vm);
	return err;
}

void gm_vmm_close(struct gm_vmm *vm)
{
	if (vm->run)
		munmap(vm->run, vm->run_size);
	if (vm->vcpu_fd >= 0)
		close(vm->vcpu_fd);
	/* Closing the VM drops its slots; a caller's VM keeps them, so the
	 * RAM slot is removed explicitly and the caller may reuse the VM. */
	if (vm->vm_fd >= 0 && !vm->own_vm && vm->ram_size)
		gm_vmm_clear_ram(vm);
	if (vm->vm_fd >= 0 && vm->own_vm)
		close(vm->vm_fd);
	if (vm->code)
		munmap(vm->code, CODE_SIZE);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->run = NULL;
	vm->code = NULL;
	vm->kvm_fd = vm->vm_fd = vm->vcpu_fd = -1;
	vm->ram_size = 0;
}

uint64_t gm_vmm_gmem_flags(struct gm_vmm *vm)
{
	int r = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GUEST_MEMFD_FLAGS);

	return r > 0 ? (uint64_t)r : 0;
}

int gm_vmm_create_gmem(struct gm_vmm *vm, uint64_t size, uint64_t flags)
{
	struct kvm_create_guest_memfd c = { .size = size, .flags = flags };
	int fd = ioctl(vm->vm_fd, KVM_CREATE_GUEST_MEMFD, &c);

	if (fd < 0)
		return vmm_fail(vm, -errno, "KVM_CREATE_GUEST_MEMFD size %llu flags %#llx: %s",
				(unsigned long long)size, (unsigned long long)flags,
				strerror(errno));
	return fd;
}

int gm_vmm_clear_ram(struct gm_vmm *vm)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = GM_VMM_RAM_SLOT, .guest_phys_addr = GM_VMM_RAM_GPA,
	};
	int err;

	if (!vm->ram_size)
		return 0;
	err = set_slot(vm, &r);
	if (!err)
		vm->ram_size = 0;
	return err;
}

int gm_vmm_set_ram(struct gm_vmm *vm, const struct gm_vmm_ram *ram)
{
	struct kvm_userspace_memory_region2 r = {
		.slot = GM_VMM_RAM_SLOT, .guest_phys_addr = GM_VMM_RAM_GPA,
		.memory_size = ram->size, .userspace_addr = (uintptr_t)ram->host,
	};
	int err;

	if (!ram->size || ram->size % GM_VMM_PAGE || ram->size > GM_VMM_RAM_MAX ||
	    !ram->host || (uintptr_t)ram->host % GM_VMM_PAGE)
		return vmm_fail(vm, -EINVAL, "RAM slot of %llu bytes at %p: the size must be "
				"a non-zero multiple of 4 KiB up to %llu, the mapping page-aligned",
				(unsigned long long)ram->size, ram->host, GM_VMM_RAM_MAX);
	if (ram->gmem_fd >= 0) {
		r.flags = KVM_MEM_GUEST_MEMFD;
		r.guest_memfd = (__u32)ram->gmem_fd;
		r.guest_memfd_offset = ram->gmem_offset;
	}
	err = gm_vmm_clear_ram(vm);
	if (err)
		return err;
	err = set_slot(vm, &r);
	if (err)
		return err;
	vm->ram_size = ram->size;
	return 0;
}

/* Describe an exit the guest should never make. */
static int unexpected_exit(struct gm_vmm *vm)
{
	struct kvm_run *run = vm->run;
	unsigned int reason = run->exit_reason;
	const char *name = exit_name(reason);

	switch (reason) {
	case KVM_EXIT_IO:
		return vmm_fail(vm, -EIO, "guest exit %s (%u): port %#x", name, reason,
				run->io.port);
	case KVM_EXIT_MMIO:
		return vmm_fail(vm, -EIO, "guest exit %s (%u): gpa %#llx (no slot there?)",
				name, reason, (unsigned long long)run->mmio.phys_addr);
	case KVM_EXIT_FAIL_ENTRY:
		return vmm_fail(vm, -EIO, "guest exit %s (%u): hardware reason %#llx", name,
				reason,
				(unsigned long long)run->fail_entry.hardware_entry_failure_reason);
	case KVM_EXIT_INTERNAL_ERROR:
		return vmm_fail(vm, -EIO, "guest exit %s (%u): suberror %u", name, reason,
				run->internal.suberror);
	default:
		return vmm_fail(vm, -EIO, "guest exit %s (%u)", name, reason);
	}
}

static int arm_timer(struct gm_vmm *vm, timer_t *timer)
{
	struct sigevent sev = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN };
	struct itimerspec its = { .it_value.tv_sec = vm->timeout_s ? vm->timeout_s : 60 };

	sev._sigev_un._tid = gettid();
	if (timer_create(CLOCK_MONOTONIC, &sev, timer) < 0)
		return vmm_fail(vm, -errno, "timer_create: %s", strerror(errno));
	if (timer_settime(*timer, 0, &its, NULL) < 0) {
		int err = -errno;

		timer_delete(*timer);
		return vmm_fail(vm, err, "timer_settime: %s", strerror(-err));
	}
	return 0;
}

/* The one-shot timer has fired once it is disarmed. */
static int timer_fired(timer_t timer)
{
	struct itimerspec its;

	return timer_gettime(timer, &its) == 0 && !its.it_value.tv_sec && !its.it_value.tv_nsec;
}

/* Enter the guest until it halts; bounded by the timer and MAX_ENTRIES. */
static int run_to_halt(struct gm_vmm *vm, timer_t timer)
{
	int i;

	for (i = 0; i < MAX_ENTRIES; i++) {
		if (timer_fired(timer))
			break;
		if (ioctl(vm->vcpu_fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return vmm_fail(vm, -errno, "KVM_RUN: %s", strerror(errno));
		}
		if (vm->run->exit_reason == KVM_EXIT_HLT)
			return 0;
		if (vm->run->exit_reason != KVM_EXIT_INTR)
			return unexpected_exit(vm);
	}
	return vmm_fail(vm, -ETIMEDOUT, "guest did not halt within %u s (%d entries)",
			vm->timeout_s, i);
}

/* Run the guest from regs to its halt; regs gets its registers after,
 * *ns (if not NULL) the wall time. */
static int run_guest(struct gm_vmm *vm, struct kvm_regs *regs, uint64_t *ns)
{
	uint64_t t0, t1;
	timer_t timer;
	int err;

	if (ioctl(vm->vcpu_fd, KVM_SET_REGS, regs) < 0)
		return vmm_fail(vm, -errno, "KVM_SET_REGS: %s", strerror(errno));
	err = arm_timer(vm, &timer);
	if (err)
		return err;
	t0 = gm_mono_ns();
	err = run_to_halt(vm, timer);
	t1 = gm_mono_ns();
	timer_delete(timer);
	if (err)
		return err;
	if (ioctl(vm->vcpu_fd, KVM_GET_REGS, regs) < 0)
		return vmm_fail(vm, -errno, "KVM_GET_REGS: %s", strerror(errno));
	if (ns)
		*ns = t1 - t0;
	return 0;
}

int gm_vmm_touch(struct gm_vmm *vm, uint32_t seed, uint64_t *ns)
{
	uint64_t npages = vm->ram_size / GM_VMM_PAGE;
	struct kvm_regs regs = {
		.rip = 0, .rflags = 0x2, .rsi = GM_VMM_RAM_GPA, .rcx = npages, .rbx = seed,
	};
	uint64_t t;
	int err;

	if (!npages)
		return vmm_fail(vm, -EINVAL, "no RAM slot to touch (gm_vmm_set_ram first)");
	err = run_guest(vm, &regs, &t);
	if (err)
		return err;
	if ((regs.rdx & 0xffffffff) != npages)
		return vmm_fail(vm, -EIO, "guest halted after %llu of %llu pages (rip %#llx)",
				(unsigned long long)(regs.rdx & 0xffffffff),
				(unsigned long long)npages, (unsigned long long)regs.rip);
	if (ns)
		*ns = t;
	return 0;
}

int gm_vmm_check_at(struct gm_vmm *vm, uint32_t seed, uint64_t first_page, uint64_t first_index,
		    uint64_t stride_pages, uint64_t count, uint64_t *ns, uint64_t *checked)
{
	uint64_t npages = vm->ram_size / GM_VMM_PAGE;
	struct kvm_regs regs = {
		.rip = CHECK_OFFSET, .rflags = 0x2, .rsi = GM_VMM_RAM_GPA + first_page * GM_VMM_PAGE,
		.rcx = count, .rbx = seed, .rdi = stride_pages, .rdx = first_index,
	};
	int err;

	if (checked)
		*checked = 0;
	if (!count || !stride_pages || first_page >= npages ||
	    (count - 1) * stride_pages >= npages - first_page)
		return vmm_fail(vm, -EINVAL, "check of %llu pages from %llu by %llu: outside the "
				"%llu-page RAM slot", (unsigned long long)count,
				(unsigned long long)first_page, (unsigned long long)stride_pages,
				(unsigned long long)npages);
	err = run_guest(vm, &regs, ns);
	if (err)
		return err;
	if (checked)
		*checked = regs.rbp & 0xffffffff;
	if ((regs.rbp & 0xffffffff) != count)
		return vmm_fail(vm, -EIO, "guest found page index %llu wrong after %llu of %llu "
				"pages matched", (unsigned long long)(regs.rdx & 0xffffffff),
				(unsigned long long)(regs.rbp & 0xffffffff),
				(unsigned long long)count);
	return 0;
}

int gm_vmm_check(struct gm_vmm *vm, uint32_t seed, uint64_t first_page, uint64_t stride_pages,
		 uint64_t count, uint64_t *ns, uint64_t *checked)
{
	return gm_vmm_check_at(vm, seed, first_page, first_page, stride_pages, count, ns,
			       checked);
}

int gm_vmm_verify(const void *host, uint64_t size, uint32_t seed, uint64_t *bad_page)
{
	const unsigned char *p = host;
	uint64_t i;

	for (i = 0; i < size / GM_VMM_PAGE; i++) {
		uint32_t word;

		memcpy(&word, p + i * GM_VMM_PAGE, sizeof(word));
		if (word != gm_vmm_pattern(seed, (uint32_t)i)) {
			if (bad_page)
				*bad_page = i;
			return -EIO;
		}
	}
	return 0;
}
