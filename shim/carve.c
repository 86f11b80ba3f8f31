// SPDX-License-Identifier: GPL-2.0
/*
 * The carve-out: one physical range the boot kept out of System RAM and
 * out of the kernel's direct map (memmap=SIZE$ADDR on the kernel command
 * line), named to the module by carveout=SIZE@ADDR.  Its pages back secret
 * shim files (secret.c).  They have no struct page the page allocator
 * knows (none at all where a whole section is carved out), so this file is
 * their allocator: a bitmap of base pages, runs of 2^order pages handed
 * out at a physical address aligned to their size (2M pieces for order 9).
 *
 * The module never reaches a page through the direct map, which does not
 * cover it; it writes one through a temporary mapping of just those pages
 * (memremap), gone again before the call returns.  Pages are zeroed at
 * load and when given back, so an allocation is zero already.
 *
 * Not for: which file holds which page (secret.c), the page limit (limit.c).
 */
#include <linux/bitmap.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <asm/memtype.h>
#include <asm/pgtable.h>

#include "shim.h"

static char *carveout;
module_param(carveout, charp, 0444);
MODULE_PARM_DESC(carveout,
		 "SIZE@ADDR: a range the boot kept out of the direct map (memmap=SIZE$ADDR) for secret files");

static struct {
	unsigned long base_pfn, nr;	/* immutable after load; nr 0: none */
	struct resource *res;
	/* used (bit set: held by a file) and free under lock */
	spinlock_t lock;
	unsigned long *used;
	unsigned long free;
} shim_carve = {
	.lock = __SPIN_LOCK_UNLOCKED(shim_carve.lock),
};

unsigned long shim_carve_pages(void)
{
	return shim_carve.nr;
}

unsigned long shim_carve_free_pages(void)
{
	unsigned long free;

	spin_lock(&shim_carve.lock);
	free = shim_carve.free;
	spin_unlock(&shim_carve.lock);
	return free;
}

/*
 * Zero @nr pages from @pfn through a mapping of their own; false if no
 * mapping could be had (the pages must not be handed out again then).
 */
static bool shim_carve_zero(unsigned long pfn, unsigned long nr)
{
	void *kaddr = memremap(PFN_PHYS(pfn), nr << PAGE_SHIFT, MEMREMAP_WB);

	if (!kaddr)
		return false;
	memset(kaddr, 0, nr << PAGE_SHIFT);
	memunmap(kaddr);
	return true;
}

/*
 * A run of 2^@order zeroed pages, its first page at a physical address
 * aligned to the run's size; its first pfn, or 0 if no such run is free.
 */
unsigned long shim_carve_alloc(u32 order)
{
	unsigned long nr = 1UL << order, i;

	if (!shim_carve.nr)
		return 0;
	spin_lock(&shim_carve.lock);
	/* The offset turns the bitmap's index alignment into the pfn's. */
	i = bitmap_find_next_zero_area_off(shim_carve.used, shim_carve.nr, 0, nr,
					   nr - 1, shim_carve.base_pfn & (nr - 1));
	if (i >= shim_carve.nr) {
		spin_unlock(&shim_carve.lock);
		return 0;
	}
	bitmap_set(shim_carve.used, i, nr);
	shim_carve.free -= nr;
	spin_unlock(&shim_carve.lock);
	return shim_carve.base_pfn + i;
}

/*
 * Give back @nr pages from @pfn, zeroed first: what a file held never
 * reaches the next one.  Never under a spinlock (the mapping sleeps).
 */
void shim_carve_free(unsigned long pfn, unsigned long nr)
{
	unsigned long i = pfn - shim_carve.base_pfn, n;

	if (WARN_ON(pfn < shim_carve.base_pfn || i + nr > shim_carve.nr))
		return;
	for (; nr; i += n, pfn += n, nr -= n) {
		n = min(nr, 1UL << SHIM_MAX_ORDER);
		if (!shim_carve_zero(pfn, n)) {
			pr_warn_ratelimited("gmemfs: carve-out pages %#lx..%#lx not zeroed (no mapping): kept out of use\n",
					    pfn, pfn + n - 1);
			continue;
		}
		spin_lock(&shim_carve.lock);
		bitmap_clear(shim_carve.used, i, n);
		shim_carve.free += n;
		spin_unlock(&shim_carve.lock);
	}
}

/*
 * A WB memtype for the page at @pfn while a PFN mapping of it is made:
 * x86 PAT gives such a mapping of a range outside System RAM the memtype
 * reserved for it, or UC- when none is (lookup_memtype()).  memremap() of
 * the page reserves WB for as long as it lives; the PTE made meanwhile
 * keeps WB after it goes.  NULL without PAT (nothing to hold); an
 * ERR_PTR if the mapping failed.  Release with shim_carve_wb_put().
 */
void *shim_carve_wb_get(unsigned long pfn, unsigned long nr)
{
	void *kaddr;

	if (!IS_ENABLED(CONFIG_X86_PAT) || !pat_enabled())
		return NULL;
	kaddr = memremap(PFN_PHYS(pfn), nr << PAGE_SHIFT, MEMREMAP_WB);
	return kaddr ?: ERR_PTR(-ENOMEM);
}

void shim_carve_wb_put(void *kaddr)
{
	if (!IS_ERR_OR_NULL(kaddr))
		memunmap(kaddr);
}

/* SIZE@ADDR, both page aligned, not at 0. */
static int shim_carve_parse(const char *arg, u64 *base, u64 *size)
{
	char *p;

	*size = memparse(arg, &p);
	if (*p != '@')
		return -EINVAL;
	*base = memparse(p + 1, &p);
	if (*p && *p != '\n')
		return -EINVAL;
	if (!*size || !*base || !PAGE_ALIGNED(*size) || !PAGE_ALIGNED(*base) ||
	    *base + *size < *base)
		return -EINVAL;
	return 0;
}

/* The first page of [@base, +@size) the direct map covers, or 0. */
static u64 shim_carve_mapped(u64 base, u64 size)
{
	unsigned int level;
	u64 pa;
	pte_t *pte;

	for (pa = base; pa < base + size; pa += PAGE_SIZE) {
		/* The address the direct map would give it; never touched. */
		pte = lookup_address((unsigned long)__va(pa), &level);
		if (pte && pte_present(*pte))
			return pa;
		if (!(pa & (SZ_2M - 1)))
			cond_resched();
	}
	return 0;
}

static int shim_carve_check(u64 base, u64 size)
{
	u64 pa;

	if (region_intersects(base, size, IORESOURCE_SYSTEM_RAM,
			      IORES_DESC_NONE) != REGION_DISJOINT) {
		pr_err("gmemfs: carveout=%s refused: [%#llx, %#llx) overlaps System RAM; keep it out with memmap=SIZE$ADDR\n",
		       carveout, base, base + size);
		return -EINVAL;
	}
	pa = shim_carve_mapped(base, size);
	if (pa) {
		pr_err("gmemfs: carveout=%s refused: the direct map covers %#llx\n",
		       carveout, pa);
		return -EINVAL;
	}
	return 0;
}

/* Zero the whole range once, 2M at a time: the boot left it as it was. */
static int shim_carve_zero_all(void)
{
	unsigned long done, n;

	for (done = 0; done < shim_carve.nr; done += n) {
		n = min(shim_carve.nr - done, 1UL << SHIM_MAX_ORDER);
		if (!shim_carve_zero(shim_carve.base_pfn + done, n))
			return -ENOMEM;
		cond_resched();
	}
	return 0;
}

int shim_carve_init(void)
{
	u64 base, size;
	int err;

	if (!carveout || !*carveout)
		return 0;
	err = shim_carve_parse(carveout, &base, &size);
	if (err) {
		pr_err("gmemfs: carveout=%s refused: not SIZE@ADDR, both page aligned and not 0\n",
		       carveout);
		return err;
	}
	err = shim_carve_check(base, size);
	if (err)
		return err;
	shim_carve.res = request_mem_region(base, size, "gmemfs carve-out");
	if (!shim_carve.res) {
		pr_err("gmemfs: carveout=%s refused: [%#llx, %#llx) is claimed by another driver\n",
		       carveout, base, base + size);
		return -EBUSY;
	}
	shim_carve.base_pfn = PHYS_PFN(base);
	shim_carve.nr = size >> PAGE_SHIFT;
	err = -ENOMEM;
	shim_carve.used = bitmap_zalloc(shim_carve.nr, GFP_KERNEL);
	if (!shim_carve.used || shim_carve_zero_all())
		goto err;
	shim_carve.free = shim_carve.nr;
	pr_info("gmemfs: carve-out [%#llx, %#llx): %lu pages for secret files\n",
		base, base + size, shim_carve.nr);
	return 0;

err:
	pr_err("gmemfs: carveout=%s refused: no memory to manage or zero it\n", carveout);
	shim_carve.free = shim_carve.nr;	/* none handed out yet */
	shim_carve_exit();
	return err;
}

/* At unload every file is gone, so every page must be free again. */
void shim_carve_exit(void)
{
	if (shim_carve.used)
		WARN(shim_carve.free != shim_carve.nr,
		     "gmemfs: %lu carve-out pages still held at unload\n",
		     shim_carve.nr - shim_carve.free);
	bitmap_free(shim_carve.used);
	shim_carve.used = NULL;
	if (shim_carve.res)
		release_mem_region(PFN_PHYS(shim_carve.base_pfn),
				   shim_carve.nr << PAGE_SHIFT);
	shim_carve.res = NULL;
	shim_carve.nr = 0;
}
