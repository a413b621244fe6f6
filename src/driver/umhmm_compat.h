/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The mm interfaces umhmm uses that changed between the kernels it is built
 * on (6.12 and 7.2), wrapped so that umhmm.c reads the same on both.  The
 * series for each kernel (uml/patches/<version>/) builds drivers/umhmm with
 * a UMHMM_HAVE_* flag for each newer interface its kernel has; without
 * flags these are the interfaces of 6.12.
 */
#ifndef _UMHMM_COMPAT_H
#define _UMHMM_COMPAT_H

#include <linux/err.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/rmap.h>
#include <linux/slab.h>

/* 7.0 added the typed allocators; older kernels have only kzalloc(). */
#ifndef kzalloc_obj
#define kzalloc_obj(P, GFP)	kzalloc(sizeof(P), (GFP))
#endif

/* 6.15 moved pgmap from struct page to struct folio, behind page_pgmap(). */
#ifndef UMHMM_HAVE_PAGE_PGMAP
static inline struct dev_pagemap *page_pgmap(const struct page *page)
{
	return page->pgmap;
}
#endif

/*
 * get_dev_pagemap() with the reference a caller already holds: up to 6.14
 * the kernel returned it unchanged when it covers pfn, and otherwise
 * dropped it and looked pfn up.  The rework that added page_pgmap()
 * removed that argument; the same contract is kept here on top of the
 * plain lookup, so the driver reads the same on both.
 */
static inline struct dev_pagemap *umhmm_get_dev_pagemap(unsigned long pfn,
							struct dev_pagemap *held)
{
#ifdef UMHMM_HAVE_PAGE_PGMAP
	struct dev_pagemap *pgmap;

	if (held && pgmap_pfn_valid(held, pfn))
		return held;
	pgmap = get_dev_pagemap(pfn);
	if (held)
		put_dev_pagemap(held);
	return pgmap;
#else
	return get_dev_pagemap(pfn, held);
#endif
}

/*
 * 6.19 made device private memory hold large folios: the pagemap's free
 * callback takes the folio, and zone_device_page_init() an order and the
 * pagemap.  umhmm hands out single pages.
 */
#ifdef UMHMM_HAVE_FOLIO_FREE
static inline void umhmm_zone_device_page_init(struct page *page)
{
	zone_device_page_init(page, page_pgmap(page), 0);
}
#else
static inline void umhmm_zone_device_page_init(struct page *page)
{
	zone_device_page_init(page);
}
#endif

/*
 * Makes the pages of [start, end) exclusive to the device and fills pages[]
 * with them, each locked and referenced, as make_device_exclusive_range()
 * did up to 6.14: the return value is the number of pages looked up, or an
 * error if not even the first one was, and a page that could not be made
 * exclusive is left NULL.  Since 6.15 make_device_exclusive() takes one
 * page and refuses a folio that is not anonymous with -EOPNOTSUPP.
 */
static inline int umhmm_make_device_exclusive(struct mm_struct *mm,
					      unsigned long start,
					      unsigned long end,
					      struct page **pages, void *owner)
{
#ifdef UMHMM_HAVE_MAKE_DEVICE_EXCLUSIVE
	unsigned long addr;
	int n = 0;

	for (addr = start; addr < end; addr += PAGE_SIZE, n++) {
		struct folio *folio;
		struct page *page;

		page = make_device_exclusive(mm, addr, owner, &folio);
		if (IS_ERR(page)) {
			if (PTR_ERR(page) != -EOPNOTSUPP)
				return n ? n : PTR_ERR(page);
			page = NULL;
		}
		pages[n] = page;
	}
	return n;
#else
	return make_device_exclusive_range(mm, start, end, pages, owner);
#endif
}

/*
 * Since 6.15 each page's folio stays locked from its grab until the
 * caller records it, and the next page of a large folio would wait for
 * that lock forever: the caller grabs one page at a time.  Before, the
 * kernel skipped a folio it could not trylock and left the page NULL.
 */
#ifdef UMHMM_HAVE_MAKE_DEVICE_EXCLUSIVE
#define UMHMM_EXCLUSIVE_ONE_PAGE	true
#else
#define UMHMM_EXCLUSIVE_ONE_PAGE	false
#endif

/* Zaps one page of @vma, as MADV_DONTNEED does; by 7.2 zap_vma_range(). */
static inline void umhmm_zap_page(struct vm_area_struct *vma,
				  unsigned long addr)
{
#ifdef UMHMM_HAVE_ZAP_VMA_RANGE
	zap_vma_range(vma, addr, PAGE_SIZE);
#else
	zap_page_range_single(vma, addr, PAGE_SIZE, NULL);
#endif
}

/*
 * UML's iomem= regions (find_iomem()) were removed before 7.2, whose series
 * says so with UMHMM_HAVE_NO_UML_IOMEM; without them there is no BAR.
 */
#if defined(CONFIG_UML) && !defined(UMHMM_HAVE_NO_UML_IOMEM)
#define UMHMM_UML_IOMEM
#endif

#endif /* _UMHMM_COMPAT_H */
