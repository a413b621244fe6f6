// SPDX-License-Identifier: GPL-2.0
/*
 * umhmm: a test driver for HMM that owns its device memory the way a real
 * device driver does, through devm_memremap_pages() on a platform device.
 *
 * Upstream's lib/test_hmm.c uses plain memremap_pages(), so its selftest
 * never tears device memory down through devres while processes still map
 * it.  Here unbinding a device through sysfs evicts every page it handed
 * out (migrate_device_range()) and then lets devres unmap the memory, which
 * waits until all device pages are free.  The device memory is simulated:
 * each device page is backed by a system page holding its data.
 *
 * The user ABI is in src/include/umhmm.h.
 */

#include <linux/atomic.h>
#include <linux/bitmap.h>
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/init.h>
#include <linux/ioport.h>
#include <linux/kernel.h>
#include <linux/kref.h>
#include <linux/memremap.h>
#include <linux/memory_hotplug.h>
#include <linux/migrate.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/pagemap.h>
#include <linux/pagewalk.h>
#include <linux/platform_device.h>
#include <linux/rmap.h>
#include <linux/rwsem.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/swap.h>
#include <linux/uaccess.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>

#include "umhmm.h"
#include "umhmm_compat.h"

#ifdef UMHMM_UML_IOMEM
#include <linux/pfn_t.h>
#include <mem_user.h>
#endif

#define UMHMM_MAX_DEVICES	8
#define UMHMM_BATCH		64	/* pages per migrate/fault step */
#define UMHMM_EVICT_TRIES	16

static unsigned int ndevices = 2;
module_param(ndevices, uint, 0444);
MODULE_PARM_DESC(ndevices, "number of umhmm platform devices (1-8)");

static unsigned int chunk_pages = 1024;
module_param(chunk_pages, uint, 0444);
MODULE_PARM_DESC(chunk_pages, "device pages per memory chunk (512-65536, a multiple of 512)");

static_assert(MMU_NOTIFY_UNMAP == UMHMM_EVENT_UNMAP);
static_assert(MMU_NOTIFY_CLEAR == UMHMM_EVENT_CLEAR);
static_assert(MMU_NOTIFY_PROTECTION_VMA == UMHMM_EVENT_PROTECTION_VMA);
static_assert(MMU_NOTIFY_PROTECTION_PAGE == UMHMM_EVENT_PROTECTION_PAGE);
static_assert(MMU_NOTIFY_SOFT_DIRTY == UMHMM_EVENT_SOFT_DIRTY);
static_assert(MMU_NOTIFY_RELEASE == UMHMM_EVENT_RELEASE);
static_assert(MMU_NOTIFY_MIGRATE == UMHMM_EVENT_MIGRATE);
static_assert(MMU_NOTIFY_EXCLUSIVE == UMHMM_EVENT_EXCLUSIVE);

/* Counters of one device id; they outlive unbind so leaks can be checked. */
struct umhmm_counters {
	atomic64_t chunks_added;
	atomic64_t pages_allocated;
	atomic64_t pages_freed;
	atomic64_t migrate_to_ram;
	atomic64_t migrated_to_device;
	atomic64_t migrated_to_system;
	atomic64_t evicted;
	atomic64_t alloc_failures;
	atomic64_t copy_failures;
	atomic64_t invalidations[UMHMM_NR_EVENTS];
	atomic64_t busy_injected;
	atomic64_t race_faults;
	atomic64_t locked_injected;
	atomic64_t stalls;
	atomic64_t stall_waits;
	atomic64_t stall_device;
	atomic64_t race_migrations;
	atomic64_t isolated;
	atomic64_t bar_faults;
	atomic64_t race_zaps;
};

static struct umhmm_counters umhmm_counters[UMHMM_MAX_DEVICES];

/*
 * Pagemap owners: device N uses owner id umhmm_owner_id[N] (N by default),
 * and owner id I is the token &umhmm_owner_token[I], so devices with the
 * same id share an owner and treat each other's pages as their own.
 */
static u8 umhmm_owner_id[UMHMM_MAX_DEVICES];
static u8 umhmm_owner_token[UMHMM_MAX_DEVICES];

struct umhmm_device;

struct umhmm_chunk {
	struct dev_pagemap pagemap;
	struct umhmm_device *udev;
};

struct umhmm_device {
	struct kref ref;
	struct device *dev;
	void *owner;
	struct umhmm_counters *cnt;
	struct miscdevice misc;
	char name[16];

	/* Serialises ioctls against unbind; dead is set under it for write. */
	struct rw_semaphore teardown;
	bool dead;

	struct mutex chunk_lock;	/* protects chunks and nchunks */
	struct umhmm_chunk **chunks;
	unsigned int nchunks;

	spinlock_t lock;		/* protects the fields below */
	struct page *free_pages;	/* linked through zone_device_data */
	unsigned long nfree;
	unsigned int fail_alloc;
	unsigned int fail_copy;
	unsigned int fail_busy;
	unsigned int race_fault;
	unsigned int fail_locked;
	unsigned int stall;
	unsigned int race_migrate;
	unsigned int isolate;
	unsigned int race_zap;
};

/* One open file: a mirror of the opener's address space. */
struct umhmm_mirror {
	struct umhmm_device *udev;
	struct mmu_interval_notifier notifier;
	struct mutex lock;		/* orders data copies and invalidations */
	struct xarray exclusive;	/* pfn index -> page held exclusive */
	struct list_head grabs;		/* struct umhmm_grab, under lock */
};

/*
 * One EXCLUSIVE batch from its grab to its record: make_device_exclusive()
 * returns the pages locked, and a zap or unmap takes an exclusive entry
 * back without the page lock, before the mirror could record it.
 */
struct umhmm_grab {
	struct list_head node;		/* in mirror->grabs */
	unsigned long start, end;
	struct task_struct *task;
	bool in_grab;			/* task is in make_device_exclusive() */
	bool stale;			/* a page may have been taken back */
};

static const struct dev_pagemap_ops umhmm_pagemap_ops;

static void umhmm_device_release(struct kref *ref)
{
	struct umhmm_device *udev = container_of(ref, struct umhmm_device, ref);

	kfree(udev->chunks);
	kfree(udev);
}

static struct umhmm_chunk *umhmm_page_chunk(struct page *page)
{
	return container_of(page_pgmap(page), struct umhmm_chunk, pagemap);
}

static bool umhmm_is_our_page(struct page *page)
{
	return is_device_private_page(page) &&
	       page_pgmap(page)->ops == &umhmm_pagemap_ops;
}

/* The system page that holds the data of a device page. */
static struct page *umhmm_backing_page(struct page *page)
{
	return umhmm_is_our_page(page) ? page->zone_device_data : page;
}

/* Arms the budgets of @in (UMHMM_IOC_INJECT); all zero disarms them. */
static void umhmm_set_injections(struct umhmm_device *udev,
				 const struct umhmm_inject *in)
{
	spin_lock(&udev->lock);
	udev->fail_alloc = in->fail_alloc;
	udev->fail_copy = in->fail_copy;
	udev->fail_busy = in->busy;
	udev->race_fault = in->race_fault;
	udev->fail_locked = in->locked;
	udev->stall = in->stall;
	udev->race_migrate = in->race_migrate;
	udev->isolate = in->isolate;
	udev->race_zap = in->race_zap;
	spin_unlock(&udev->lock);
}

static bool umhmm_inject(struct umhmm_device *udev, unsigned int *counter,
			 atomic64_t *stat)
{
	bool fail = false;

	spin_lock(&udev->lock);
	if (*counter) {
		(*counter)--;
		fail = true;
	}
	spin_unlock(&udev->lock);
	if (fail)
		atomic64_inc(stat);
	return fail;
}

static int umhmm_add_chunk(struct umhmm_device *udev)
{
	unsigned long size = (unsigned long)chunk_pages << PAGE_SHIFT;
	struct umhmm_chunk *chunk, **chunks;
	unsigned long pfn, first, last;
	struct resource *res;
	void *addr;
	int ret = 0;

	mutex_lock(&udev->chunk_lock);
	if (udev->dead) {
		ret = -ENODEV;
		goto out;
	}
	chunks = krealloc_array(udev->chunks, udev->nchunks + 1,
				sizeof(*chunks), GFP_KERNEL);
	if (!chunks) {
		ret = -ENOMEM;
		goto out;
	}
	udev->chunks = chunks;

	chunk = devm_kzalloc(udev->dev, sizeof(*chunk), GFP_KERNEL);
	if (!chunk) {
		ret = -ENOMEM;
		goto out;
	}
	res = devm_request_free_mem_region(udev->dev, &iomem_resource, size);
	if (IS_ERR(res)) {
		ret = PTR_ERR(res);
		goto err_chunk;
	}
	chunk->udev = udev;
	chunk->pagemap.type = MEMORY_DEVICE_PRIVATE;
	chunk->pagemap.range.start = res->start;
	chunk->pagemap.range.end = res->end;
	chunk->pagemap.nr_range = 1;
	chunk->pagemap.ops = &umhmm_pagemap_ops;
	chunk->pagemap.owner = udev->owner;
	addr = devm_memremap_pages(udev->dev, &chunk->pagemap);
	if (IS_ERR(addr)) {
		ret = PTR_ERR(addr);
		goto err_region;
	}
	udev->chunks[udev->nchunks++] = chunk;
	atomic64_inc(&udev->cnt->chunks_added);

	first = PHYS_PFN(res->start);
	last = first + chunk_pages;
	spin_lock(&udev->lock);
	for (pfn = first; pfn < last; pfn++) {
		struct page *page = pfn_to_page(pfn);

		page->zone_device_data = udev->free_pages;
		udev->free_pages = page;
	}
	udev->nfree += chunk_pages;
	spin_unlock(&udev->lock);
	mutex_unlock(&udev->chunk_lock);
	return 0;

	/*
	 * Not left to devres: an allocation that fails here runs at every
	 * page the device cannot hand out, and each failure would hold its
	 * chunk and its range of iomem until unbind.
	 */
err_region:
	devm_release_mem_region(udev->dev, res->start, resource_size(res));
err_chunk:
	devm_kfree(udev->dev, chunk);
out:
	mutex_unlock(&udev->chunk_lock);
	return ret;
}

/* Hands out a device page with its backing page, growing memory on demand. */
static struct page *umhmm_alloc_page(struct umhmm_device *udev)
{
	struct page *dpage, *backing;

	if (umhmm_inject(udev, &udev->fail_alloc, &udev->cnt->alloc_failures))
		return NULL;

	backing = alloc_page(GFP_HIGHUSER);
	if (!backing)
		return NULL;

	for (;;) {
		spin_lock(&udev->lock);
		dpage = udev->free_pages;
		if (dpage) {
			udev->free_pages = dpage->zone_device_data;
			udev->nfree--;
		}
		spin_unlock(&udev->lock);
		if (dpage)
			break;
		if (umhmm_add_chunk(udev)) {
			__free_page(backing);
			return NULL;
		}
	}

	umhmm_zone_device_page_init(dpage);
	dpage->zone_device_data = backing;
	atomic64_inc(&udev->cnt->pages_allocated);
	return dpage;
}

static void umhmm_page_free(struct page *page)
{
	struct umhmm_device *udev = umhmm_page_chunk(page)->udev;

	__free_page(page->zone_device_data);
	atomic64_inc(&udev->cnt->pages_freed);

	spin_lock(&udev->lock);
	page->zone_device_data = udev->free_pages;
	udev->free_pages = page;
	udev->nfree++;
	spin_unlock(&udev->lock);
}

/* Copies the selected device pages to new system pages. */
static unsigned long umhmm_copy_to_system(struct umhmm_device *udev,
					  struct migrate_vma *args,
					  bool injectable)
{
	unsigned long i, n = 0;

	for (i = 0; i < args->npages; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		struct folio *sfolio;
		struct page *dpage;

		args->dst[i] = 0;
		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		/*
		 * A page cache folio (SELECT_SYSTEM) stays: migrate_vma_pages()
		 * would move it to a system page without its mapping's
		 * migrate_folio(). So does a folio under writeback (swap
		 * cache), which would reach its BUG_ON(). Only anonymous
		 * memory migrates (Documentation/mm/hmm.rst). The source is
		 * locked here: no writeback starts.
		 */
		sfolio = spage ? page_folio(spage) : NULL;
		if (sfolio && !folio_is_zone_device(sfolio) &&
		    (!folio_test_anon(sfolio) || folio_test_writeback(sfolio)))
			continue;
		if (injectable && umhmm_inject(udev, &udev->fail_copy,
					       &udev->cnt->copy_failures))
			continue;
		dpage = alloc_page_vma(GFP_HIGHUSER_MOVABLE, args->vma,
				       args->start + (i << PAGE_SHIFT));
		if (!dpage)
			continue;
		lock_page(dpage);
		/* A hole or the zero page (SELECT_SYSTEM) reads as zeroes. */
		if (spage)
			copy_highpage(dpage, umhmm_backing_page(spage));
		else
			clear_highpage(dpage);
		args->dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (args->src[i] & MIGRATE_PFN_WRITE)
			args->dst[i] |= MIGRATE_PFN_WRITE;
		n++;
	}
	return n;
}

static unsigned long umhmm_migrated(const unsigned long *src,
				    const unsigned long *dst,
				    unsigned long npages)
{
	unsigned long i, n = 0;

	for (i = 0; i < npages; i++)
		if ((src[i] & MIGRATE_PFN_MIGRATE) && dst[i])
			n++;
	return n;
}

static vm_fault_t umhmm_migrate_to_ram(struct vm_fault *vmf)
{
	struct umhmm_device *udev = umhmm_page_chunk(vmf->page)->udev;
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vmf->vma,
		.start = vmf->address,
		.end = vmf->address + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = udev->owner,
		.flags = MIGRATE_VMA_SELECT_DEVICE_PRIVATE,
		.fault_page = vmf->page,
	};

	bool selected;
	unsigned long copied;

	atomic64_inc(&udev->cnt->migrate_to_ram);
	if (migrate_vma_setup(&args))
		return VM_FAULT_SIGBUS;
	selected = src & MIGRATE_PFN_MIGRATE;
	copied = umhmm_copy_to_system(udev, &args, false);
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
	/* No system page: retrying the fault would only loop. */
	return selected && !copied ? VM_FAULT_OOM : 0;
}

#ifdef UMHMM_HAVE_FOLIO_FREE
static void umhmm_folio_free(struct folio *folio)
{
	umhmm_page_free(&folio->page);
}
#endif

static const struct dev_pagemap_ops umhmm_pagemap_ops = {
#ifdef UMHMM_HAVE_FOLIO_FREE
	.folio_free	= umhmm_folio_free,
#else
	.page_free	= umhmm_page_free,
#endif
	.migrate_to_ram	= umhmm_migrate_to_ram,
};

/*
 * Keeps a locked folio for the "locked" injection while its budget lasts;
 * once spent, drops the lock and the reference and returns false.
 */
static bool umhmm_keep_locked(struct umhmm_device *udev, struct folio *folio)
{
	if (umhmm_inject(udev, &udev->fail_locked, &udev->cnt->locked_injected))
		return true;
	folio_unlock(folio);
	folio_put(folio);
	return false;
}

/* Locks the first pages in use of a chunk that the injection asks for. */
static unsigned long *umhmm_inject_chunk_locks(struct umhmm_device *udev,
					       unsigned long start)
{
	unsigned long *locked, i;

	if (!READ_ONCE(udev->fail_locked))
		return NULL;
	locked = kvcalloc(BITS_TO_LONGS(chunk_pages), sizeof(*locked),
			  GFP_KERNEL | __GFP_NOFAIL);
	for (i = 0; i < chunk_pages && READ_ONCE(udev->fail_locked); i++) {
		struct folio *folio = page_folio(pfn_to_page(start + i));

		/* Free device pages have no reference. */
		if (!folio_try_get(folio))
			continue;
		if (!folio_trylock(folio)) {
			folio_put(folio);
			continue;
		}
		if (!umhmm_keep_locked(udev, folio))
			break;
		__set_bit(i, locked);
	}
	return locked;
}

static void umhmm_release_chunk_locks(unsigned long start,
				      unsigned long *locked)
{
	unsigned long i;

	if (!locked)
		return;
	for_each_set_bit(i, locked, chunk_pages) {
		struct folio *folio = page_folio(pfn_to_page(start + i));

		folio_unlock(folio);
		folio_put(folio);
	}
	kvfree(locked);
}

/* Moves every page of one chunk that is in use back to system memory. */
static unsigned long umhmm_evict_chunk(struct umhmm_chunk *chunk)
{
	unsigned long start = PHYS_PFN(chunk->pagemap.range.start);
	unsigned long *src, *dst, *locked;
	unsigned long i, n = 0;

	src = kvcalloc(chunk_pages, sizeof(*src), GFP_KERNEL | __GFP_NOFAIL);
	dst = kvcalloc(chunk_pages, sizeof(*dst), GFP_KERNEL | __GFP_NOFAIL);

	locked = umhmm_inject_chunk_locks(chunk->udev, start);
	migrate_device_range(src, start, chunk_pages);
	umhmm_release_chunk_locks(start, locked);
	for (i = 0; i < chunk_pages; i++) {
		struct page *spage = migrate_pfn_to_page(src[i]);
		struct page *dpage;

		if (!spage || !(src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		dpage = alloc_page(GFP_HIGHUSER_MOVABLE | __GFP_NOFAIL);
		lock_page(dpage);
		copy_highpage(dpage, umhmm_backing_page(spage));
		dst[i] = migrate_pfn(page_to_pfn(dpage));
		if (src[i] & MIGRATE_PFN_WRITE)
			dst[i] |= MIGRATE_PFN_WRITE;
	}
	migrate_device_pages(src, dst, chunk_pages);
	n = umhmm_migrated(src, dst, chunk_pages);
	migrate_device_finalize(src, dst, chunk_pages);

	kvfree(src);
	kvfree(dst);
	return n;
}

static unsigned long umhmm_pages_in_use(struct umhmm_device *udev)
{
	unsigned long total, nfree;

	mutex_lock(&udev->chunk_lock);
	total = (unsigned long)udev->nchunks * chunk_pages;
	mutex_unlock(&udev->chunk_lock);
	spin_lock(&udev->lock);
	nfree = udev->nfree;
	spin_unlock(&udev->lock);
	return total - nfree;
}

static u64 umhmm_evict_all(struct umhmm_device *udev)
{
	unsigned int i, tries;
	u64 n = 0;

	/* Pages busy in a migration or a fault are retried, not skipped. */
	for (tries = 0; tries < UMHMM_EVICT_TRIES; tries++) {
		mutex_lock(&udev->chunk_lock);
		for (i = 0; i < udev->nchunks; i++)
			n += umhmm_evict_chunk(udev->chunks[i]);
		mutex_unlock(&udev->chunk_lock);
		if (!umhmm_pages_in_use(udev))
			break;
		cond_resched();
	}
	atomic64_add(n, &udev->cnt->evicted);
	return n;
}

/*
 * Marks the grabs whose pages an invalidation may take back, under
 * mirror->lock. Our own migrations and MMU_NOTIFY_EXCLUSIVE (grabs, and
 * 6.12's restores) are not passed here: they take the page lock. Nor is
 * what the grabbing task's own GUP does inside make_device_exclusive()
 * (restores, which 7.2 reports as MMU_NOTIFY_CLEAR, and COW breaks): it
 * only touches pages not yet grabbed.
 */
static void umhmm_mark_stale_grabs(struct umhmm_mirror *mirror,
				   const struct mmu_notifier_range *range)
{
	struct umhmm_grab *grab;

	list_for_each_entry(grab, &mirror->grabs, node) {
		if (range->end <= grab->start || range->start >= grab->end)
			continue;
		if (grab->task == current && READ_ONCE(grab->in_grab))
			continue;
		grab->stale = true;
	}
}

static bool umhmm_invalidate(struct mmu_interval_notifier *mni,
			     const struct mmu_notifier_range *range,
			     unsigned long cur_seq)
{
	struct umhmm_mirror *mirror =
		container_of(mni, struct umhmm_mirror, notifier);
	struct umhmm_device *udev = mirror->udev;
	unsigned long pfn;
	void *entry;
	bool own;

	if (range->event < UMHMM_NR_EVENTS)
		atomic64_inc(&udev->cnt->invalidations[range->event]);

	/* Our own exclusive grabs move no page: nothing we mirror changes. */
	if (range->event == MMU_NOTIFY_EXCLUSIVE && range->owner == udev->owner)
		return true;
	/*
	 * Our own migrations leave the pages we hold exclusive as they are.
	 * They still move the sequence: a READ or WRITE copies from the page
	 * hmm_range_fault() returned without a reference, under mirror->lock,
	 * and a migration of that page by a CPU fault or another ioctl frees
	 * it.
	 */
	own = range->event == MMU_NOTIFY_MIGRATE && range->owner == udev->owner;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&mirror->lock);
	else if (!mutex_trylock(&mirror->lock))
		return false;

	mmu_interval_set_seq(mni, cur_seq);
	if (!own && range->event != MMU_NOTIFY_EXCLUSIVE)
		umhmm_mark_stale_grabs(mirror, range);
	if (!own)
		xa_for_each_range(&mirror->exclusive, pfn, entry,
				  range->start >> PAGE_SHIFT,
				  (range->end - 1) >> PAGE_SHIFT)
			xa_erase(&mirror->exclusive, pfn);

	mutex_unlock(&mirror->lock);
	return true;
}

static const struct mmu_interval_notifier_ops umhmm_notifier_ops = {
	.invalidate = umhmm_invalidate,
};

/* Until when a batch may be retried before its call fails with EBUSY. */
static unsigned long umhmm_retry_deadline(void)
{
	return jiffies + msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
}

/*
 * Runs hmm_range_fault() until it succeeds with a stable notifier sequence;
 * returns with mirror->lock held on success.
 */
static int umhmm_range_fault(struct umhmm_mirror *mirror,
			     struct hmm_range *range, u64 *retries)
{
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long timeout = umhmm_retry_deadline();
	int ret;

	for (;;) {
		if (time_after(jiffies, timeout))
			return -EBUSY;
		range->notifier_seq = mmu_interval_read_begin(range->notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(range);
		mmap_read_unlock(mm);
		if (ret == -EBUSY) {
			(*retries)++;
			continue;
		}
		if (ret)
			return ret;
		mutex_lock(&mirror->lock);
		if (!mmu_interval_read_retry(range->notifier,
					     range->notifier_seq))
			return 0;
		mutex_unlock(&mirror->lock);
		(*retries)++;
	}
}

static u8 umhmm_page_state(struct umhmm_device *udev, unsigned long entry)
{
	struct page *page;
	u8 state;

	if (entry & HMM_PFN_ERROR)
		return UMHMM_PAGE_ERROR;
	if (!(entry & HMM_PFN_VALID))
		return UMHMM_PAGE_NONE;

	page = hmm_pfn_to_page(entry);
	if (is_device_private_page(page))
		state = umhmm_is_our_page(page) &&
			umhmm_page_chunk(page)->udev == udev ?
			UMHMM_PAGE_DEVICE_LOCAL : UMHMM_PAGE_DEVICE_REMOTE;
	else if (is_zero_pfn(page_to_pfn(page)))
		state = UMHMM_PAGE_ZERO;
	else
		state = UMHMM_PAGE_SYSTEM;

	return state | (entry & HMM_PFN_WRITE ? UMHMM_PAGE_WRITE :
						UMHMM_PAGE_READ);
}

enum umhmm_access { UMHMM_READ, UMHMM_WRITE, UMHMM_SNAPSHOT };

/*
 * The data of a READ, WRITE or EXCLUSIVE call between the user's buffer
 * and the mirror: one zeroed page of system memory per page of the range,
 * reached through the kernel's linear map.  A vmalloc() buffer would map
 * each of its pages into the kernel's address space and out again, which
 * under UML is a host mmap(), page fault and munmap() per page: 0.6 s for
 * a range of UMHMM_MAX_PAGES on a host where a page fault costs 20 us,
 * against 7 ms in 4 MiB calls served by kmalloc().
 */
static void umhmm_data_free(struct page **data, unsigned long npages)
{
	unsigned long i;

	if (!data)
		return;
	for (i = 0; i < npages && data[i]; i++)
		__free_page(data[i]);
	kvfree(data);
}

static struct page **umhmm_data_alloc(unsigned long npages)
{
	struct page **data;
	unsigned long i;

	data = kvcalloc(npages, sizeof(*data), GFP_KERNEL | __GFP_NOWARN);
	if (!data)
		return NULL;
	for (i = 0; i < npages; i++) {
		data[i] = alloc_page(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);
		if (!data[i]) {
			umhmm_data_free(data, npages);
			return NULL;
		}
	}
	return data;
}

static int umhmm_data_copy(struct page **data, unsigned long npages,
			   void __user *uptr, bool to_user)
{
	unsigned long i, left;
	void __user *u;
	void *p;

	for (i = 0; i < npages; i++) {
		u = uptr + (i << PAGE_SHIFT);
		p = kmap_local_page(data[i]);
		left = to_user ? copy_to_user(u, p, PAGE_SIZE) :
				 copy_from_user(p, u, PAGE_SIZE);
		kunmap_local(p);
		if (left)
			return -EFAULT;
	}
	return 0;
}

/*
 * Mirror access through hmm_range_fault(): read or write the data of the
 * range as the device would by DMA (one page of @data per page), or record
 * each page's state (one byte of @states per page). The caller holds a
 * reference on the mm.
 */
static int umhmm_access(struct umhmm_mirror *mirror, struct umhmm_range *r,
			enum umhmm_access how, struct page **data, u8 *states)
{
	struct umhmm_device *udev = mirror->udev;
	unsigned long pfns[UMHMM_BATCH];
	struct hmm_range range = {
		.notifier = &mirror->notifier,
		.hmm_pfns = pfns,
		.dev_private_owner = udev->owner,
	};
	unsigned long addr, end = r->addr + (r->npages << PAGE_SHIFT);
	int ret = 0;

	if (how != UMHMM_SNAPSHOT && !(r->flags & UMHMM_F_NOFAULT))
		range.default_flags = HMM_PFN_REQ_FAULT |
			(how == UMHMM_WRITE ? HMM_PFN_REQ_WRITE : 0);

	for (addr = r->addr; addr < end; addr = range.end) {
		unsigned long i, n;

		range.start = addr;
		range.end = min(end, addr + (UMHMM_BATCH << PAGE_SHIFT));
		n = (range.end - range.start) >> PAGE_SHIFT;

		ret = umhmm_range_fault(mirror, &range, &r->retries);
		if (ret)
			break;
		for (i = 0; i < n; i++) {
			unsigned long idx = ((addr - r->addr) >> PAGE_SHIFT) + i;
			struct page *mapped, *page;

			if (how == UMHMM_SNAPSHOT) {
				states[idx] = umhmm_page_state(udev, pfns[i]);
				r->done++;
				continue;
			}
			if (!(pfns[i] & HMM_PFN_VALID))
				continue;
			mapped = hmm_pfn_to_page(pfns[i]);
			page = umhmm_backing_page(mapped);
			if (how == UMHMM_READ) {
				copy_highpage(data[idx], page);
			} else if (pfns[i] & HMM_PFN_WRITE) {
				copy_highpage(page, data[idx]);
				/*
				 * A writable PTE can be clean on a clean
				 * folio (swapped in by a read fault): only we
				 * know it changed. Not set_page_dirty_lock():
				 * page locks nest outside mirror->lock. Held
				 * with the sequence valid, mirror->lock keeps
				 * the page mapped, so its mapping stays.
				 */
				if (!is_zone_device_page(mapped))
					folio_mark_dirty(page_folio(page));
			} else {
				ret = -EPERM;
				break;
			}
			r->done++;
		}
		mutex_unlock(&mirror->lock);
		if (ret)
			break;
	}
	return ret;
}

/*
 * Injected lock holder: locks the system folio the CPU maps at @addr, as
 * a concurrent migration holding it would, and returns it with a
 * reference; NULL where nothing is mapped or it is already locked.
 */
static struct folio *umhmm_lock_mapped(struct vm_area_struct *vma,
				       unsigned long addr)
{
	struct folio_walk fw;
	struct folio *folio;

	folio = folio_walk_start(&fw, vma, addr, 0);
	if (!folio)
		return NULL;
	folio_get(folio);
	folio_walk_end(&fw, vma);
	if (folio_is_zone_device(folio) || !folio_trylock(folio)) {
		folio_put(folio);
		return NULL;
	}
	return folio;
}

/*
 * Locks the first pages of [start, end) that the injection asks for and
 * returns them, NULL-terminated; NULL when nothing is armed.  They are
 * remembered, not found again in the page tables afterwards: another
 * thread may zap or replace the mapping meanwhile (MADV_DONTNEED runs
 * under the mmap read lock too).
 */
static struct folio **umhmm_inject_locks(struct umhmm_device *udev,
					 struct vm_area_struct *vma,
					 unsigned long start, unsigned long end)
{
	struct folio **locked;
	unsigned long addr;
	int n = 0;

	if (!READ_ONCE(udev->fail_locked))
		return NULL;
	locked = kcalloc(UMHMM_BATCH + 1, sizeof(*locked),
			 GFP_KERNEL | __GFP_NOFAIL);
	for (addr = start; addr < end && READ_ONCE(udev->fail_locked);
	     addr += PAGE_SIZE) {
		struct folio *folio = umhmm_lock_mapped(vma, addr);

		if (!folio)
			continue;
		if (!umhmm_keep_locked(udev, folio))
			break;
		locked[n++] = folio;
	}
	return locked;
}

static void umhmm_release_locks(struct folio **locked)
{
	int i;

	if (!locked)
		return;
	for (i = 0; locked[i]; i++) {
		folio_unlock(locked[i]);
		folio_put(locked[i]);
	}
	kfree(locked);
}

/*
 * Injected isolation: takes the mapped system folios of [start, end) off
 * the LRU while the injection's budget lasts, before migrate_vma_setup(),
 * as compaction or reclaim on another CPU would, and keeps them on
 * @isolated: migrate_device_unmap() cannot isolate them and must leave
 * them mapped.  The caller puts them back (putback_movable_pages()) after
 * migrate_vma_finalize().
 */
static void umhmm_inject_isolate(struct umhmm_device *udev,
				 struct vm_area_struct *vma, unsigned long start,
				 unsigned long end, struct list_head *isolated)
{
	unsigned long addr;

	if (!READ_ONCE(udev->isolate))
		return;
	/* A folio just faulted in may still wait in this CPU's LRU batch. */
	lru_add_drain();
	for (addr = start; addr < end && READ_ONCE(udev->isolate);
	     addr += PAGE_SIZE) {
		struct folio_walk fw;
		struct folio *folio;
		LIST_HEAD(one);
		bool ok;

		folio = folio_walk_start(&fw, vma, addr, 0);
		if (!folio)
			continue;
		folio_get(folio);
		folio_walk_end(&fw, vma);
		ok = !folio_is_zone_device(folio) &&
		     isolate_folio_to_list(folio, &one);
		folio_put(folio);
		if (!ok)
			continue;
		if (!umhmm_inject(udev, &udev->isolate,
				  &udev->cnt->isolated)) {
			putback_movable_pages(&one);
			break;
		}
		list_splice(&one, isolated);
	}
}

/* A nested migration of one hole or zero page to device memory. */
static void umhmm_migrate_hole(struct umhmm_device *udev,
			       struct vm_area_struct *vma, unsigned long addr)
{
	unsigned long src = 0, dst = 0;
	struct migrate_vma args = {
		.vma = vma,
		.start = addr,
		.end = addr + PAGE_SIZE,
		.src = &src,
		.dst = &dst,
		.pgmap_owner = udev->owner,
		.flags = MIGRATE_VMA_SELECT_SYSTEM,
	};
	struct page *dpage;

	if (migrate_vma_setup(&args))
		return;
	if ((src & MIGRATE_PFN_MIGRATE) && !migrate_pfn_to_page(src)) {
		dpage = umhmm_alloc_page(udev);
		if (dpage) {
			clear_highpage(dpage->zone_device_data);
			dst = migrate_pfn(page_to_pfn(dpage));
		}
	}
	migrate_vma_pages(&args);
	migrate_vma_finalize(&args);
}

/*
 * Injected races between migrate_vma_setup() and migrate_vma_pages(): a
 * CPU fault or a nested migration on a selected hole or zero page (the
 * device page must then not be inserted over the new page), and an extra
 * reference on a selected source page (its migration must fail and leave
 * it in place).  The pages held are marked in @held for
 * umhmm_release_busy().
 */
static void umhmm_inject_races(struct umhmm_device *udev,
			       struct migrate_vma *args, unsigned long *held)
{
	unsigned long i;

	for (i = 0; i < args->npages; i++) {
		unsigned long addr = args->start + (i << PAGE_SHIFT);
		struct page *spage = migrate_pfn_to_page(args->src[i]);
		unsigned int flags = FAULT_FLAG_REMOTE;

		if (!(args->src[i] & MIGRATE_PFN_MIGRATE))
			continue;
		if (spage) {
			if (umhmm_inject(udev, &udev->fail_busy,
					 &udev->cnt->busy_injected)) {
				folio_get(page_folio(spage));
				__set_bit(i, held);
			}
			continue;
		}
		if (umhmm_inject(udev, &udev->race_migrate,
				 &udev->cnt->race_migrations)) {
			umhmm_migrate_hole(udev, args->vma, addr);
			continue;
		}
		if (!umhmm_inject(udev, &udev->race_fault,
				  &udev->cnt->race_faults))
			continue;
		if (args->vma->vm_flags & VM_WRITE)
			flags |= FAULT_FLAG_WRITE;
		handle_mm_fault(args->vma, addr, flags, NULL);
	}
}

static void umhmm_release_busy(struct migrate_vma *args, unsigned long *held)
{
	unsigned long i;

	for_each_set_bit(i, held, UMHMM_BATCH)
		folio_put(page_folio(migrate_pfn_to_page(args->src[i])));
}

/*
 * Injected stall: a fault from another task (a worker) on the first page
 * held for migration, while the migration waits until that fault sleeps
 * on the page's migration entry (at most 10 s). The fault must then find
 * the page where the migration put it.
 */
struct umhmm_stall {
	struct work_struct work;
	struct umhmm_mirror *mirror;
	unsigned long addr;
	unsigned long pfn;
	int ret;
};

static void umhmm_stall_fault(struct work_struct *work)
{
	struct umhmm_stall *st = container_of(work, struct umhmm_stall, work);
	struct mm_struct *mm = st->mirror->notifier.mm;
	struct hmm_range range = {
		.notifier = &st->mirror->notifier,
		.start = st->addr,
		.end = st->addr + PAGE_SIZE,
		.hmm_pfns = &st->pfn,
		.default_flags = HMM_PFN_REQ_FAULT,
		.dev_private_owner = st->mirror->udev->owner,
	};

	do {
		range.notifier_seq = mmu_interval_read_begin(range.notifier);
		mmap_read_lock(mm);
		st->ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
	} while (st->ret == -EBUSY);
}

static struct umhmm_stall *umhmm_stall(struct umhmm_mirror *mirror,
				       struct migrate_vma *args)
{
	struct umhmm_device *udev = mirror->udev;
	unsigned long timeout = jiffies + 10 * HZ;
	struct folio *folio = NULL;
	struct umhmm_stall *st;
	unsigned long i;

	for (i = 0; i < args->npages && !folio; i++) {
		struct page *spage = migrate_pfn_to_page(args->src[i]);

		if (spage && (args->src[i] & MIGRATE_PFN_MIGRATE))
			folio = page_folio(spage);
	}
	if (!folio)
		return NULL;
	st = kzalloc_obj(*st, GFP_KERNEL);
	if (!st)
		return NULL;
	/* The budget pays for a stall that happens, not for a batch of holes. */
	if (!umhmm_inject(udev, &udev->stall, &udev->cnt->stalls)) {
		kfree(st);
		return NULL;
	}
	st->mirror = mirror;
	st->addr = args->start + ((i - 1) << PAGE_SHIFT);
	INIT_WORK(&st->work, umhmm_stall_fault);
	queue_work(system_unbound_wq, &st->work);

	while (!folio_test_waiters(folio) && time_before(jiffies, timeout))
		schedule_timeout_uninterruptible(1);
	if (folio_test_waiters(folio))
		atomic64_inc(&udev->cnt->stall_waits);
	return st;
}

/* Called without the mmap lock: the fault may still need it. */
static void umhmm_stall_end(struct umhmm_device *udev, struct umhmm_stall *st)
{
	struct page *page;

	if (!st)
		return;
	flush_work(&st->work);
	if (!st->ret && (st->pfn & HMM_PFN_VALID)) {
		page = hmm_pfn_to_page(st->pfn);
		if (umhmm_is_our_page(page) &&
		    umhmm_page_chunk(page)->udev == udev)
			atomic64_inc(&udev->cnt->stall_device);
	}
	kfree(st);
}

/* A destination allocated in bulk (UMHMM_F_PREALLOC) that no page uses. */
static unsigned long umhmm_unused_dst(struct umhmm_device *udev)
{
	struct page *dpage = umhmm_alloc_page(udev);

	return dpage ? migrate_pfn(page_to_pfn(dpage)) : 0;
}

static int umhmm_migrate(struct umhmm_mirror *mirror, struct umhmm_range *r,
			 bool to_device)
{
	struct umhmm_device *udev = mirror->udev;
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long src[UMHMM_BATCH], dst[UMHMM_BATCH];
	DECLARE_BITMAP(held, UMHMM_BATCH);
	struct folio **locked;
	LIST_HEAD(isolated);
	struct umhmm_stall *st = NULL;
	unsigned long addr, end = r->addr + (r->npages << PAGE_SHIFT);
	struct migrate_vma args = {
		.src = src,
		.dst = dst,
		.pgmap_owner = udev->owner,
	};
	int ret = 0;

	if (r->flags & UMHMM_F_SELECT_SYSTEM)
		args.flags |= MIGRATE_VMA_SELECT_SYSTEM;
	if (r->flags & UMHMM_F_SELECT_DEVICE_PRIVATE)
		args.flags |= MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
	if (r->flags & UMHMM_F_SELECT_DEVICE_COHERENT)
		args.flags |= MIGRATE_VMA_SELECT_DEVICE_COHERENT;
	if (!args.flags)
		args.flags = to_device ? MIGRATE_VMA_SELECT_SYSTEM :
					 MIGRATE_VMA_SELECT_DEVICE_PRIVATE;

	mmap_read_lock(mm);
	for (addr = r->addr; addr < end; addr = args.end) {
		struct vm_area_struct *vma = vma_lookup(mm, addr);
		unsigned long i, n;

		if (!vma) {
			ret = -EFAULT;
			break;
		}
		args.vma = vma;
		args.start = addr;
		args.end = min3(end, vma->vm_end,
				addr + (UMHMM_BATCH << PAGE_SHIFT));
		locked = umhmm_inject_locks(udev, vma, args.start, args.end);
		umhmm_inject_isolate(udev, vma, args.start, args.end,
				     &isolated);
		ret = migrate_vma_setup(&args);
		umhmm_release_locks(locked);
		if (ret) {
			putback_movable_pages(&isolated);
			break;
		}
		bitmap_zero(held, UMHMM_BATCH);
		umhmm_inject_races(udev, &args, held);
		if (!st && READ_ONCE(udev->stall))
			st = umhmm_stall(mirror, &args);

		if (!to_device) {
			umhmm_copy_to_system(udev, &args, true);
		} else {
			for (i = 0; i < args.npages; i++) {
				struct page *spage, *dpage;

				dst[i] = 0;
				if (!(src[i] & MIGRATE_PFN_MIGRATE)) {
					if (r->flags & UMHMM_F_PREALLOC)
						dst[i] = umhmm_unused_dst(udev);
					continue;
				}
				/* Already here: nothing to move. */
				spage = migrate_pfn_to_page(src[i]);
				if (spage && umhmm_is_our_page(spage) &&
				    umhmm_page_chunk(spage)->udev == udev)
					continue;
				if (umhmm_inject(udev, &udev->fail_copy,
						 &udev->cnt->copy_failures))
					continue;
				dpage = umhmm_alloc_page(udev);
				if (!dpage)
					continue;
				/* pte_none or zero page sources read as 0. */
				if (spage)
					copy_highpage(dpage->zone_device_data,
						      umhmm_backing_page(spage));
				else
					clear_highpage(dpage->zone_device_data);
				dst[i] = migrate_pfn(page_to_pfn(dpage));
				if ((src[i] & MIGRATE_PFN_WRITE) ||
				    (!spage && (vma->vm_flags & VM_WRITE)))
					dst[i] |= MIGRATE_PFN_WRITE;
			}
		}
		migrate_vma_pages(&args);
		umhmm_release_busy(&args, held);
		n = umhmm_migrated(src, dst, args.npages);
		migrate_vma_finalize(&args);
		putback_movable_pages(&isolated);
		r->done += n;
		atomic64_add(n, to_device ? &udev->cnt->migrated_to_device :
					    &udev->cnt->migrated_to_system);
	}
	mmap_read_unlock(mm);
	umhmm_stall_end(udev, st);
	return ret;
}

/*
 * Registers @grab for [start, end), then waits for the invalidations that
 * reached the mirror before it to finish: a page made exclusive after
 * this can only be taken back by an invalidation that marks the grab.
 * Called without mmap_lock, as before hmm_range_fault().
 */
static void umhmm_grab_begin(struct umhmm_mirror *mirror,
			     struct umhmm_grab *grab, unsigned long start,
			     unsigned long end)
{
	mutex_lock(&mirror->lock);
	grab->start = start;
	grab->end = end;
	grab->stale = false;
	list_add(&grab->node, &mirror->grabs);
	mutex_unlock(&mirror->lock);
	mmu_interval_read_begin(&mirror->notifier);
}

/*
 * The race_zap injection: zaps the pages just made exclusive, while they
 * are still locked and not yet recorded, as another thread's MADV_DONTNEED
 * could.  Under the mmap_lock the grab took, as that thread's would be.
 */
static void umhmm_race_zap(struct umhmm_device *udev, struct mm_struct *mm,
			   unsigned long addr, struct page **pages, int got)
{
	struct vm_area_struct *vma;
	unsigned long page_addr;
	int i;

	for (i = 0; i < got; i++) {
		if (!pages[i])
			continue;
		if (!umhmm_inject(udev, &udev->race_zap, &udev->cnt->race_zaps))
			return;
		page_addr = addr + ((unsigned long)i << PAGE_SHIFT);
		vma = vma_lookup(mm, page_addr);
		if (vma)
			umhmm_zap_page(vma, page_addr);
	}
}

static int umhmm_exclusive(struct umhmm_mirror *mirror, struct umhmm_range *r,
			   struct page **data)
{
	const unsigned long batch = UMHMM_EXCLUSIVE_ONE_PAGE ? 1 : UMHMM_BATCH;
	struct umhmm_device *udev = mirror->udev;
	struct mm_struct *mm = mirror->notifier.mm;
	unsigned long addr = r->addr, end = r->addr + (r->npages << PAGE_SHIFT);
	unsigned long timeout = umhmm_retry_deadline();
	struct umhmm_grab grab = { .task = current };
	struct page *pages[UMHMM_BATCH];
	int ret = 0;

	while (addr < end && !ret) {
		unsigned long next = min(end, addr + (batch << PAGE_SHIFT));
		unsigned long n = (next - addr) >> PAGE_SHIFT;
		bool busy = false, stale;
		int i, got;

		umhmm_grab_begin(mirror, &grab, addr, next);
		mmap_read_lock(mm);
		WRITE_ONCE(grab.in_grab, true);
		got = umhmm_make_device_exclusive(mm, addr, next, pages,
						  udev->owner);
		WRITE_ONCE(grab.in_grab, false);
		if (got > 0)
			umhmm_race_zap(udev, mm, addr, pages, got);
		mmap_read_unlock(mm);
		mutex_lock(&mirror->lock);
		list_del(&grab.node);
		/* Not even the first page: nothing to record or release. */
		if (got <= 0) {
			mutex_unlock(&mirror->lock);
			ret = got ? got : -EFAULT;
			break;
		}
		/*
		 * A page of this batch may have been taken back after it was
		 * made exclusive: nothing is recorded, the batch is grabbed
		 * again.
		 */
		stale = grab.stale;
		for (i = 0; i < got && !stale; i++) {
			unsigned long idx = (addr >> PAGE_SHIFT) + i;

			if (!pages[i]) {
				busy = true;
				continue;
			}
			/*
			 * No reclaim under mirror->lock: reclaim may
			 * invalidate this range, and umhmm_invalidate()
			 * takes the lock.
			 */
			if (xa_err(xa_store(&mirror->exclusive, idx, pages[i],
					    GFP_ATOMIC))) {
				/*
				 * Not held by the mirror: not done. The CPU's
				 * next access restores the page as usual.
				 */
				ret = -ENOMEM;
				continue;
			}
			copy_highpage(data[idx - (r->addr >> PAGE_SHIFT)],
				      pages[i]);
			r->done++;
		}
		mutex_unlock(&mirror->lock);
		for (i = 0; i < got; i++) {
			if (pages[i]) {
				unlock_page(pages[i]);
				put_page(pages[i]);
			}
		}
		if (stale) {
			r->retries++;
			if (time_after(jiffies, timeout))
				ret = -EBUSY;
			continue;
		}
		/* A page that could not be made exclusive fails the call. */
		if (!ret && busy)
			ret = -EBUSY;
		/*
		 * GUP stopped short (a hole): the next grab starts there and
		 * fails as a range starting there would, whatever the batch.
		 */
		addr = got < (int)n ? addr + ((unsigned long)got << PAGE_SHIFT) :
				      next;
		timeout = umhmm_retry_deadline();
	}
	return ret;
}

static int umhmm_check_exclusive(struct umhmm_mirror *mirror,
				 struct umhmm_range *r)
{
	unsigned long first = r->addr >> PAGE_SHIFT;
	unsigned long pfn;
	void *entry;

	mutex_lock(&mirror->lock);
	xa_for_each_range(&mirror->exclusive, pfn, entry, first,
			  first + r->npages - 1)
		r->done++;
	mutex_unlock(&mirror->lock);
	return 0;
}

static int umhmm_check_range(unsigned int cmd, struct umhmm_range *r)
{
	u64 len;

	if (r->size != sizeof(*r) || r->flags & ~umhmm_range_flags(cmd))
		return -EINVAL;
	if (!r->npages || r->npages > UMHMM_MAX_PAGES ||
	    (r->addr & ~PAGE_MASK))
		return -EINVAL;
	/* npages is bounded, so the length cannot overflow; the end can wrap. */
	len = r->npages << PAGE_SHIFT;
	if (r->addr + len < r->addr || r->addr + len > TASK_SIZE)
		return -EINVAL;
	return 0;
}

static int umhmm_range_ioctl(struct umhmm_mirror *mirror, unsigned int cmd,
			     struct umhmm_range *r)
{
	void __user *uptr = u64_to_user_ptr(r->ptr);
	struct mm_struct *mm = mirror->notifier.mm;
	struct page **data = NULL;
	u8 *states = NULL;
	size_t out_size;
	bool walks_mm;
	int ret;

	ret = umhmm_check_range(cmd, r);
	if (ret)
		return ret;
	r->done = 0;
	r->retries = 0;

	switch (cmd) {
	case UMHMM_IOC_READ:
	case UMHMM_IOC_WRITE:
	case UMHMM_IOC_EXCLUSIVE:
		data = umhmm_data_alloc(r->npages);
		if (!data)
			return -ENOMEM;
		break;
	case UMHMM_IOC_SNAPSHOT:
		states = kvzalloc(r->npages, GFP_KERNEL | __GFP_NOWARN);
		if (!states)
			return -ENOMEM;
		break;
	}
	/* The whole buffer first: a WRITE that faults changes nothing. */
	if (cmd == UMHMM_IOC_WRITE) {
		ret = umhmm_data_copy(data, r->npages, uptr, false);
		if (ret)
			goto out;
	}
	/*
	 * Where the results go, writable before anything is done: a READ
	 * that faults pages in (and brings other owners' device pages back)
	 * or an EXCLUSIVE that grabs them must not then fail to report it.
	 */
	out_size = states ? r->npages :
		   data && cmd != UMHMM_IOC_WRITE ? r->npages << PAGE_SHIFT : 0;
	if (out_size && fault_in_safe_writeable(uptr, out_size)) {
		ret = -EFAULT;
		goto out;
	}
	/*
	 * All but CHECK_EXCLUSIVE walk the mirrored mm. The fd can outlive it
	 * (inherited, or passed on), and once its last user is gone
	 * exit_mmap() may be tearing it down.
	 */
	walks_mm = cmd != UMHMM_IOC_CHECK_EXCLUSIVE;
	if (walks_mm && !mmget_not_zero(mm)) {
		ret = -ESRCH;
		goto out;
	}

	switch (cmd) {
	case UMHMM_IOC_READ:
		ret = umhmm_access(mirror, r, UMHMM_READ, data, NULL);
		break;
	case UMHMM_IOC_WRITE:
		ret = umhmm_access(mirror, r, UMHMM_WRITE, data, NULL);
		break;
	case UMHMM_IOC_SNAPSHOT:
		ret = umhmm_access(mirror, r, UMHMM_SNAPSHOT, NULL, states);
		break;
	case UMHMM_IOC_MIGRATE_TO_DEV:
		ret = umhmm_migrate(mirror, r, true);
		break;
	case UMHMM_IOC_MIGRATE_TO_SYS:
		ret = umhmm_migrate(mirror, r, false);
		break;
	case UMHMM_IOC_EXCLUSIVE:
		ret = umhmm_exclusive(mirror, r, data);
		break;
	case UMHMM_IOC_CHECK_EXCLUSIVE:
		ret = umhmm_check_exclusive(mirror, r);
		break;
	}
	if (walks_mm)
		mmput(mm);

	if (!ret && states && copy_to_user(uptr, states, r->npages))
		ret = -EFAULT;
	if (!ret && data && cmd != UMHMM_IOC_WRITE)
		ret = umhmm_data_copy(data, r->npages, uptr, true);
out:
	kvfree(states);
	umhmm_data_free(data, r->npages);
	return ret;
}

static const enum memory_type umhmm_pgmap_types[UMHMM_PGMAP_NR_TYPES] = {
	[UMHMM_PGMAP_PRIVATE]	= MEMORY_DEVICE_PRIVATE,
	[UMHMM_PGMAP_COHERENT]	= MEMORY_DEVICE_COHERENT,
	[UMHMM_PGMAP_GENERIC]	= MEMORY_DEVICE_GENERIC,
};

/* The lookups of UMHMM_IOC_PGMAP on a pgmap that is remapped. */
static u32 umhmm_pgmap_lookups(struct dev_pagemap *pgmap)
{
	u32 checks = UMHMM_PGMAP_PFN_VALID | UMHMM_PGMAP_LOOKUP;
	unsigned long first = PHYS_PFN(pgmap->ranges[0].start);
	struct dev_pagemap *ref, *got;
	int i;

	for (i = 0; i < pgmap->nr_range; i++) {
		struct range *range = &pgmap->ranges[i];

		if (!pgmap_pfn_valid(pgmap, PHYS_PFN(range->start)))
			checks &= ~UMHMM_PGMAP_PFN_VALID;
		ref = umhmm_get_dev_pagemap(PHYS_PFN(range->end), NULL);
		if (ref != pgmap)
			checks &= ~UMHMM_PGMAP_LOOKUP;
		if (ref)
			put_dev_pagemap(ref);
	}
	if (!pgmap_pfn_valid(pgmap, first - 1))
		checks |= UMHMM_PGMAP_PFN_OUTSIDE;

	ref = umhmm_get_dev_pagemap(first, NULL);
	if (!ref)
		return checks;
	/* Given a reference that covers the pfn, the same one comes back. */
	got = umhmm_get_dev_pagemap(first + 1, ref);
	if (got == ref)
		checks |= UMHMM_PGMAP_CACHED;
	/* Given one that does not, it is dropped and the pfn looked up. */
	got = umhmm_get_dev_pagemap(first - 1, got);
	if (!got)
		checks |= UMHMM_PGMAP_LOOKUP_OUTSIDE;
	else
		put_dev_pagemap(got);
	return checks;
}

static bool umhmm_pgmap_gone(struct dev_pagemap *pgmap, int nr_range)
{
	bool gone = true;
	int i;

	for (i = 0; i < nr_range; i++) {
		struct dev_pagemap *ref;

		ref = umhmm_get_dev_pagemap(PHYS_PFN(pgmap->ranges[i].start), NULL);
		if (ref) {
			put_dev_pagemap(ref);
			gone = false;
		}
	}
	return gone;
}

/*
 * One probe at a time: an UNREACHABLE range is always the same address,
 * claimed nowhere, and memremap_pages() stores the pgmap before it finds
 * the range out of reach: a second probe in between would meet the first
 * one's pgmap and WARN ("Conflicting mapping in same section").
 */
static DEFINE_MUTEX(umhmm_pgmap_probe_lock);

/*
 * UMHMM_IOC_PGMAP: memremap_pages() of a throwaway pgmap, its lookups and
 * memunmap_pages(); the device memory is not touched.
 */
static int umhmm_pgmap_probe(struct umhmm_device *udev, struct umhmm_pgmap *p)
{
	struct resource *res[2] = { NULL, NULL };
	bool devm = p->flags & UMHMM_PGMAP_DEVM;
	struct dev_pagemap *pgmap;
	u64 size;
	void *addr;
	int i, ret = 0;

	if (p->size != sizeof(*p) || p->type >= UMHMM_PGMAP_NR_TYPES ||
	    p->nr_range < 1 || p->nr_range > ARRAY_SIZE(res) ||
	    p->flags & ~UMHMM_PGMAP_ALL || p->npages < 512 ||
	    p->npages > 65536 || p->npages % 512)
		return -EINVAL;
	size = p->npages << PAGE_SHIFT;
	p->error = 0;
	p->checks = 0;
	p->compat_align = memremap_compat_align();

	pgmap = kzalloc(struct_size(pgmap, ranges, p->nr_range), GFP_KERNEL);
	if (!pgmap)
		return -ENOMEM;
	pgmap->type = umhmm_pgmap_types[p->type];
	pgmap->nr_range = p->nr_range;
	if (p->type != UMHMM_PGMAP_GENERIC) {
		/* No page is handed out: the callbacks are never called. */
		pgmap->ops = &umhmm_pagemap_ops;
		pgmap->owner = udev->owner;
	}
	mutex_lock(&umhmm_pgmap_probe_lock);
	for (i = 0; i < p->nr_range; i++) {
		struct range *range = &pgmap->ranges[i];

		if (i == p->nr_range - 1 &&
		    (p->flags & UMHMM_PGMAP_UNREACHABLE)) {
			range->start = mhp_get_pluggable_range(false).end + 1;
		} else {
			res[i] = request_free_mem_region(&iomem_resource, size,
							 "umhmm-pgmap");
			if (IS_ERR(res[i])) {
				ret = PTR_ERR(res[i]);
				res[i] = NULL;
				goto out;
			}
			range->start = res[i]->start;
		}
		range->end = range->start + size - 1;
	}

	if (devm)
		addr = devm_memremap_pages(udev->dev, pgmap);
	else
		addr = memremap_pages(pgmap, dev_to_node(udev->dev));
	if (IS_ERR(addr)) {
		p->error = PTR_ERR(addr);
	} else {
		p->checks = umhmm_pgmap_lookups(pgmap);
		if (devm)
			devm_memunmap_pages(udev->dev, pgmap);
		else
			memunmap_pages(pgmap);
	}
	if (umhmm_pgmap_gone(pgmap, p->nr_range))
		p->checks |= UMHMM_PGMAP_GONE;
out:
	for (i = 0; i < ARRAY_SIZE(res); i++)
		if (res[i])
			release_mem_region(res[i]->start, resource_size(res[i]));
	mutex_unlock(&umhmm_pgmap_probe_lock);
	kfree(pgmap);
	return ret;
}

static void umhmm_get_stats(struct umhmm_device *udev, struct umhmm_stats *s)
{
	struct umhmm_counters *c = udev->cnt;
	int i;

	s->bound = !udev->dead;
	mutex_lock(&udev->chunk_lock);
	s->chunks = udev->nchunks;
	s->pages_total = (u64)udev->nchunks * chunk_pages;
	mutex_unlock(&udev->chunk_lock);
	spin_lock(&udev->lock);
	s->pages_free = udev->nfree;
	spin_unlock(&udev->lock);
	s->chunks_added = atomic64_read(&c->chunks_added);
	s->pages_allocated = atomic64_read(&c->pages_allocated);
	s->pages_freed = atomic64_read(&c->pages_freed);
	s->migrate_to_ram = atomic64_read(&c->migrate_to_ram);
	s->migrated_to_device = atomic64_read(&c->migrated_to_device);
	s->migrated_to_system = atomic64_read(&c->migrated_to_system);
	s->evicted = atomic64_read(&c->evicted);
	s->alloc_failures = atomic64_read(&c->alloc_failures);
	s->copy_failures = atomic64_read(&c->copy_failures);
	for (i = 0; i < UMHMM_NR_EVENTS; i++)
		s->invalidations[i] = atomic64_read(&c->invalidations[i]);
	s->busy_injected = atomic64_read(&c->busy_injected);
	s->race_faults = atomic64_read(&c->race_faults);
	s->locked_injected = atomic64_read(&c->locked_injected);
	s->stalls = atomic64_read(&c->stalls);
	s->stall_waits = atomic64_read(&c->stall_waits);
	s->stall_device = atomic64_read(&c->stall_device);
	s->race_migrations = atomic64_read(&c->race_migrations);
	s->isolated = atomic64_read(&c->isolated);
	s->bar_faults = atomic64_read(&c->bar_faults);
	s->race_zaps = atomic64_read(&c->race_zaps);
}

static long umhmm_ioctl(struct file *file, unsigned int cmd,
			unsigned long arg)
{
	struct umhmm_mirror *mirror = file->private_data;
	struct umhmm_device *udev = mirror->udev;
	void __user *uarg = (void __user *)arg;
	union {
		struct umhmm_range range;
		struct umhmm_stats stats;
		struct umhmm_inject inject;
		struct umhmm_pgmap pgmap;
		u64 evicted;
		u32 version;
	} u;
	long ret = 0;

	if (_IOC_TYPE(cmd) != UMHMM_IOC_MAGIC || _IOC_SIZE(cmd) > sizeof(u))
		return -ENOTTY;
	memset(&u, 0, sizeof(u));
	if ((_IOC_DIR(cmd) & _IOC_WRITE) &&
	    copy_from_user(&u, uarg, _IOC_SIZE(cmd)))
		return -EFAULT;
	/*
	 * A count that cannot be returned must not evict anything. Probed
	 * before taking teardown: the fault may migrate a device page back.
	 */
	if (cmd == UMHMM_IOC_EVICT && put_user(0, (u64 __user *)uarg))
		return -EFAULT;

	down_read(&udev->teardown);
	/* An unbound device still tells its version and counters. */
	if (udev->dead && cmd != UMHMM_IOC_VERSION && cmd != UMHMM_IOC_STATS) {
		ret = -ENODEV;
		goto out;
	}

	switch (cmd) {
	case UMHMM_IOC_VERSION:
		u.version = UMHMM_ABI_VERSION;
		break;
	case UMHMM_IOC_READ:
	case UMHMM_IOC_WRITE:
	case UMHMM_IOC_MIGRATE_TO_DEV:
	case UMHMM_IOC_MIGRATE_TO_SYS:
	case UMHMM_IOC_SNAPSHOT:
	case UMHMM_IOC_EXCLUSIVE:
	case UMHMM_IOC_CHECK_EXCLUSIVE:
		ret = umhmm_range_ioctl(mirror, cmd, &u.range);
		break;
	case UMHMM_IOC_EVICT:
		u.evicted = umhmm_evict_all(udev);
		break;
	case UMHMM_IOC_STATS:
		if (u.stats.size != sizeof(u.stats)) {
			ret = -EINVAL;
			break;
		}
		umhmm_get_stats(udev, &u.stats);
		break;
	case UMHMM_IOC_PGMAP:
		ret = umhmm_pgmap_probe(udev, &u.pgmap);
		break;
	case UMHMM_IOC_INJECT:
		if (u.inject.size != sizeof(u.inject) || u.inject.reserved) {
			ret = -EINVAL;
			break;
		}
		umhmm_set_injections(udev, &u.inject);
		break;
	default:
		ret = -ENOTTY;
		break;
	}
out:
	up_read(&udev->teardown);

	/* Counts and retries are reported on failure too. */
	if ((_IOC_DIR(cmd) & _IOC_READ) && ret != -ENOTTY &&
	    ret != -ENODEV && copy_to_user(uarg, &u, _IOC_SIZE(cmd)))
		ret = -EFAULT;
	return ret;
}

static int umhmm_open(struct inode *inode, struct file *file)
{
	struct miscdevice *misc = file->private_data;
	struct umhmm_device *udev = container_of(misc, struct umhmm_device,
						 misc);
	struct umhmm_mirror *mirror;
	int ret;

	mirror = kzalloc_obj(*mirror, GFP_KERNEL);
	if (!mirror)
		return -ENOMEM;
	mutex_init(&mirror->lock);
	xa_init(&mirror->exclusive);
	INIT_LIST_HEAD(&mirror->grabs);

	down_read(&udev->teardown);
	if (udev->dead) {
		ret = -ENODEV;
		goto err;
	}
	mirror->udev = udev;
	ret = mmu_interval_notifier_insert(&mirror->notifier, current->mm, 0,
					   ULONG_MAX & PAGE_MASK,
					   &umhmm_notifier_ops);
	if (ret)
		goto err;
	kref_get(&udev->ref);
	up_read(&udev->teardown);

	file->private_data = mirror;
	return 0;
err:
	up_read(&udev->teardown);
	kfree(mirror);
	return ret;
}

static int umhmm_release(struct inode *inode, struct file *file)
{
	struct umhmm_mirror *mirror = file->private_data;

	mmu_interval_notifier_remove(&mirror->notifier);
	xa_destroy(&mirror->exclusive);
	kref_put(&mirror->udev->ref, umhmm_device_release);
	kfree(mirror);
	return 0;
}

#ifdef UMHMM_UML_IOMEM
/*
 * The BAR: pages of UML's iomem region UMHMM_BAR_NAME, a host file mapped
 * after physical memory, that no memory section covers: their pfns have no
 * struct page, as a PCI BAR's have none, and go into a VM_MIXEDMAP vma,
 * where vm_normal_page() refuses them, or a VM_PFNMAP one, which
 * hmm_range_fault() does not walk at all.  0 when there is no such region.
 */
static unsigned long umhmm_bar_pfn;
/*
 * Its range, claimed in iomem_resource so that request_free_mem_region()
 * never hands it out as device memory: pfn_valid() would then turn true
 * under the VM_MIXEDMAP mappings of these pfns.
 */
static struct resource *umhmm_bar_res;

static void __init umhmm_find_bar(void)
{
	char name[] = UMHMM_BAR_NAME;
	unsigned long len, virt, pfn, end;

	virt = find_iomem(name, &len);
	if (!virt)
		return;
	pfn = PHYS_PFN(__pa(virt));
	end = pfn + (len >> PAGE_SHIFT);
	/*
	 * The region starts a page after physical memory, within its last
	 * memory section, where every pfn is valid (an early section has
	 * struct pages for all of it): use the pages past that section.
	 */
	if (pfn_valid(pfn))
		pfn = ALIGN(pfn + 1, PAGES_PER_SECTION);
	if (pfn + UMHMM_BAR_PAGES > end || pfn_valid(pfn) ||
	    pfn_valid(pfn + UMHMM_BAR_PAGES - 1)) {
		pr_warn("umhmm: iomem region %s has no %u pages without struct page\n",
			name, UMHMM_BAR_PAGES);
		return;
	}
	umhmm_bar_res = request_mem_region(PFN_PHYS(pfn),
					   (resource_size_t)UMHMM_BAR_PAGES << PAGE_SHIFT,
					   "umhmm BAR");
	if (!umhmm_bar_res) {
		pr_warn("umhmm: cannot claim the BAR at pfn %#lx\n", pfn);
		return;
	}
	umhmm_bar_pfn = pfn;
	pr_info("umhmm: BAR at pfn %#lx, %u pages\n", pfn, UMHMM_BAR_PAGES);
}

static void umhmm_release_bar(void)
{
	if (umhmm_bar_res)
		release_mem_region(umhmm_bar_res->start,
				   resource_size(umhmm_bar_res));
	umhmm_bar_res = NULL;
	umhmm_bar_pfn = 0;
}

static vm_fault_t umhmm_bar_fault(struct vm_fault *vmf)
{
	struct umhmm_mirror *mirror = vmf->vma->vm_file->private_data;
	vm_fault_t ret;

	if (vmf->pgoff >= UMHMM_BAR_PAGES)
		return VM_FAULT_SIGBUS;
	/* PFN_DEV: no struct page to take a reference on. */
	ret = vmf_insert_mixed(vmf->vma, vmf->address,
			       __pfn_to_pfn_t(umhmm_bar_pfn + vmf->pgoff,
					      PFN_DEV));
	if (ret == VM_FAULT_NOPAGE)
		atomic64_inc(&mirror->udev->cnt->bar_faults);
	return ret;
}

static const struct vm_operations_struct umhmm_bar_ops = {
	.fault = umhmm_bar_fault,
};

static int umhmm_mmap(struct file *file, struct vm_area_struct *vma)
{
	unsigned long pgoff = vma->vm_pgoff;
	bool pfnmap = pgoff >= UMHMM_BAR_PFNMAP_PGOFF;

	if (!umhmm_bar_pfn)
		return -ENODEV;
	if (pfnmap)
		pgoff -= UMHMM_BAR_PFNMAP_PGOFF;
	if (!(vma->vm_flags & VM_SHARED) || pgoff >= UMHMM_BAR_PAGES ||
	    vma_pages(vma) > UMHMM_BAR_PAGES - pgoff)
		return -EINVAL;
	if (pfnmap)
		return remap_pfn_range(vma, vma->vm_start, umhmm_bar_pfn + pgoff,
				       vma->vm_end - vma->vm_start,
				       vma->vm_page_prot);
	vm_flags_set(vma, VM_MIXEDMAP | VM_DONTEXPAND | VM_DONTDUMP);
	vma->vm_ops = &umhmm_bar_ops;
	return 0;
}
#else
static void __init umhmm_find_bar(void)
{
}

static void umhmm_release_bar(void)
{
}

static int umhmm_mmap(struct file *file, struct vm_area_struct *vma)
{
	return -ENODEV;
}
#endif

static const struct file_operations umhmm_fops = {
	.owner		= THIS_MODULE,
	.open		= umhmm_open,
	.release	= umhmm_release,
	.mmap		= umhmm_mmap,
	.unlocked_ioctl	= umhmm_ioctl,
	.llseek		= noop_llseek,
};

/* Owner id: devices with the same id share one dev_pagemap owner. */
static ssize_t owner_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct platform_device *pdev = to_platform_device(dev);

	return sysfs_emit(buf, "%u\n", umhmm_owner_id[pdev->id]);
}

/* Takes effect at the next bind, when the device has no memory. */
static ssize_t owner_store(struct device *dev, struct device_attribute *attr,
			   const char *buf, size_t count)
{
	struct platform_device *pdev = to_platform_device(dev);
	u8 owner;
	int ret;

	ret = kstrtou8(buf, 0, &owner);
	if (ret)
		return ret;
	if (owner >= UMHMM_MAX_DEVICES)
		return -EINVAL;
	device_lock(dev);
	if (dev->driver)
		ret = -EBUSY;
	else
		umhmm_owner_id[pdev->id] = owner;
	device_unlock(dev);
	return ret ? ret : count;
}
static DEVICE_ATTR_RW(owner);

static struct attribute *umhmm_attrs[] = {
	&dev_attr_owner.attr,
	NULL,
};
ATTRIBUTE_GROUPS(umhmm);

/*
 * Splat triggers for the harness's own tests: writing warn, oops, uaf,
 * lockdep or hang to /sys/kernel/debug/umhmm/trigger provokes that
 * kernel report (uaf needs KASAN, lockdep PROVE_LOCKING), so the harness can
 * show it catches each one and names the test that was running.
 */
static DEFINE_MUTEX(umhmm_lock_a);
static DEFINE_MUTEX(umhmm_lock_b);

static noinline void umhmm_use_after_free(void)
{
	char *p = kmalloc(64, GFP_KERNEL);

	if (!p)
		return;
	kfree(p);
	pr_info("umhmm: read after free: %d\n", READ_ONCE(p[8]));
}

static ssize_t umhmm_trigger_write(struct file *file, const char __user *ubuf,
				   size_t count, loff_t *ppos)
{
	char buf[16];

	if (count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	strim(buf);

	if (!strcmp(buf, "warn")) {
		WARN(1, "umhmm: WARN triggered on request\n");
	} else if (!strcmp(buf, "oops")) {
		int *null = NULL;

		OPTIMIZER_HIDE_VAR(null);
		pr_info("umhmm: read through NULL: %d\n", READ_ONCE(*null));
	} else if (!strcmp(buf, "uaf")) {
		umhmm_use_after_free();
	} else if (!strcmp(buf, "lockdep")) {
		/* A then B, later B then A: an ABBA deadlock in waiting. */
		mutex_lock(&umhmm_lock_a);
		mutex_lock(&umhmm_lock_b);
		mutex_unlock(&umhmm_lock_b);
		mutex_unlock(&umhmm_lock_a);
		mutex_lock(&umhmm_lock_b);
		mutex_lock(&umhmm_lock_a);
		mutex_unlock(&umhmm_lock_a);
		mutex_unlock(&umhmm_lock_b);
	} else if (!strcmp(buf, "hang")) {
		for (;;) {
			set_current_state(TASK_UNINTERRUPTIBLE);
			schedule();
		}
	} else {
		return -EINVAL;
	}
	return count;
}

static const struct file_operations umhmm_trigger_fops = {
	.owner		= THIS_MODULE,
	.write		= umhmm_trigger_write,
	.llseek		= noop_llseek,
};

static struct dentry *umhmm_debugfs;

static void umhmm_put(void *data)
{
	struct umhmm_device *udev = data;

	/*
	 * Run last by devres, after it unmapped every chunk: STATS through an
	 * fd still open reports no memory, and no freed page is handed out.
	 */
	mutex_lock(&udev->chunk_lock);
	udev->nchunks = 0;
	mutex_unlock(&udev->chunk_lock);
	spin_lock(&udev->lock);
	udev->free_pages = NULL;
	udev->nfree = 0;
	spin_unlock(&udev->lock);
	kref_put(&udev->ref, umhmm_device_release);
}

static int umhmm_probe(struct platform_device *pdev)
{
	struct umhmm_device *udev;
	int ret;

	/* The id indexes the owners and counters: only devices made here. */
	if (pdev->id < 0 || pdev->id >= UMHMM_MAX_DEVICES)
		return dev_err_probe(&pdev->dev, -EINVAL,
				     "id %d is not one of umhmm's devices\n",
				     pdev->id);

	udev = kzalloc_obj(*udev, GFP_KERNEL);
	if (!udev)
		return -ENOMEM;
	kref_init(&udev->ref);
	init_rwsem(&udev->teardown);
	mutex_init(&udev->chunk_lock);
	spin_lock_init(&udev->lock);
	/* Registered first, so devres drops this reference last. */
	ret = devm_add_action_or_reset(&pdev->dev, umhmm_put, udev);
	if (ret)
		return ret;

	udev->dev = &pdev->dev;
	udev->owner = &umhmm_owner_token[umhmm_owner_id[pdev->id]];
	udev->cnt = &umhmm_counters[pdev->id];

	ret = umhmm_add_chunk(udev);
	if (ret)
		return dev_err_probe(&pdev->dev, ret, "no device memory\n");

	snprintf(udev->name, sizeof(udev->name), "umhmm%d", pdev->id);
	udev->misc.minor = MISC_DYNAMIC_MINOR;
	udev->misc.name = udev->name;
	udev->misc.fops = &umhmm_fops;
	udev->misc.parent = &pdev->dev;
	ret = misc_register(&udev->misc);
	if (ret)
		return ret;

	platform_set_drvdata(pdev, udev);
	return 0;
}

/*
 * Unbind: refuse new work, evict every page in use, then let devres unmap
 * the memory (memunmap_pages() waits for the last device page to be freed).
 */
static void umhmm_remove(struct platform_device *pdev)
{
	struct umhmm_device *udev = platform_get_drvdata(pdev);

	misc_deregister(&udev->misc);
	down_write(&udev->teardown);
	mutex_lock(&udev->chunk_lock);
	udev->dead = true;
	mutex_unlock(&udev->chunk_lock);
	up_write(&udev->teardown);

	/*
	 * Injections a test left armed would make the eviction fail (a
	 * locked budget locks every page it tries), and memunmap_pages()
	 * would then wait forever for the pages it could not move.
	 */
	umhmm_set_injections(udev, &(struct umhmm_inject){ 0 });

	umhmm_evict_all(udev);
	if (umhmm_pages_in_use(udev))
		dev_warn(&pdev->dev, "%lu device pages still in use\n",
			 umhmm_pages_in_use(udev));
}

static struct platform_driver umhmm_driver = {
	.probe = umhmm_probe,
	.remove = umhmm_remove,
	.driver = {
		.name = "umhmm",
	},
};

static struct platform_device *umhmm_pdevs[UMHMM_MAX_DEVICES];

static void umhmm_unregister_devices(void)
{
	int i;

	for (i = 0; i < UMHMM_MAX_DEVICES; i++) {
		platform_device_unregister(umhmm_pdevs[i]);
		umhmm_pdevs[i] = NULL;
	}
}

static int __init umhmm_init(void)
{
	unsigned int i;
	int ret;

	/* A chunk is hot-added whole: a multiple of a subsection. */
	if (!ndevices || ndevices > UMHMM_MAX_DEVICES ||
	    chunk_pages < 512 || chunk_pages > 65536 ||
	    chunk_pages % PAGES_PER_SUBSECTION) {
		pr_err("umhmm: ndevices=%u (1-%u) or chunk_pages=%u (512-65536, a multiple of 512) out of range\n",
		       ndevices, UMHMM_MAX_DEVICES, chunk_pages);
		return -EINVAL;
	}
	for (i = 0; i < UMHMM_MAX_DEVICES; i++)
		umhmm_owner_id[i] = i;
	umhmm_find_bar();
	umhmm_debugfs = debugfs_create_dir("umhmm", NULL);
	debugfs_create_file("trigger", 0200, umhmm_debugfs, NULL,
			    &umhmm_trigger_fops);

	ret = platform_driver_register(&umhmm_driver);
	if (ret)
		goto err_debugfs;
	for (i = 0; i < ndevices; i++) {
		struct platform_device *pdev;

		pdev = platform_device_alloc("umhmm", i);
		if (!pdev) {
			ret = -ENOMEM;
			goto err;
		}
		/* The owner belongs to the device: it is set while unbound. */
		pdev->dev.groups = umhmm_groups;
		ret = platform_device_add(pdev);
		if (ret) {
			platform_device_put(pdev);
			goto err;
		}
		umhmm_pdevs[i] = pdev;
	}
	return 0;

err:
	umhmm_unregister_devices();
	platform_driver_unregister(&umhmm_driver);
err_debugfs:
	debugfs_remove_recursive(umhmm_debugfs);
	umhmm_release_bar();
	return ret;
}

static void __exit umhmm_exit(void)
{
	debugfs_remove_recursive(umhmm_debugfs);
	umhmm_unregister_devices();
	platform_driver_unregister(&umhmm_driver);
	umhmm_release_bar();
}

module_init(umhmm_init);
module_exit(umhmm_exit);

MODULE_DESCRIPTION("HMM test driver with devm_memremap_pages() device memory");
MODULE_LICENSE("GPL");
