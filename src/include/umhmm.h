/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * umhmm: user ABI of the umhmm test driver (src/driver/umhmm.c).
 *
 * Each bound platform device "umhmm.N" has a character device /dev/umhmmN
 * that mirrors the address space of the process that opened it, the way a
 * GPU driver mirrors a process through HMM.  Every structure starts with its
 * size, which the driver checks: the size is also part of each command
 * number, so a caller built against another layout gets ENOTTY, and one
 * that sets the size field wrong gets EINVAL, never a misread argument.
 */
#ifndef _UAPI_UMHMM_H
#define _UAPI_UMHMM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/*
 * 2: struct umhmm_inject and struct umhmm_stats grew (busy, race and stall
 * injections), UMHMM_IOC_PGMAP and UMHMM_F_PREALLOC were added.
 * 3: they grew again (isolate injection, BAR faults), and mmap() of the
 * BAR was added.
 * 4: each range command refuses the flags it does not take (EINVAL)
 * instead of ignoring them; READ, WRITE and SNAPSHOT through an fd whose
 * process has exited fail with ESRCH, as the others did; EVICT fails with
 * EFAULT before evicting anything when its count cannot be stored; the
 * BAR can be mapped VM_PFNMAP; UMHMM_MAX_PAGES went from 65536 to 16384.
 * 5: READ, SNAPSHOT and EXCLUSIVE fail with EFAULT before doing anything
 * when their result buffer cannot be written, where a READ used to fault
 * the range in and an EXCLUSIVE to grab it first.
 * 6: struct umhmm_inject and struct umhmm_stats grew (race_zap); an
 * EXCLUSIVE whose pages may have been zapped or unmapped while it held
 * them grabs them again (counted in retries) instead of recording them;
 * STATS and VERSION answer on an unbound device (bound 0, no chunks); an
 * EXCLUSIVE over a hole takes the pages before it and fails with EFAULT,
 * where it failed with EBUSY when the hole was inside a batch.
 */
#define UMHMM_ABI_VERSION	6

/*
 * struct umhmm_range.flags: each command takes only the flags listed for it
 * below; any other bit is refused with EINVAL.
 */
/* READ/WRITE: do not fault pages in (no HMM_PFN_REQ_FAULT). */
#define UMHMM_F_NOFAULT			_BITUL(0)
/*
 * MIGRATE_*: which pages migrate_vma_setup() selects (default below).
 * MIGRATE_TO_SYS with SELECT_SYSTEM moves anonymous system pages to new
 * system pages (page cache pages, and pages under writeback, stay where
 * they are) and gives the holes and zero pages of anonymous mappings a
 * zeroed page.
 */
#define UMHMM_F_SELECT_SYSTEM		_BITUL(1)
#define UMHMM_F_SELECT_DEVICE_PRIVATE	_BITUL(2)
#define UMHMM_F_SELECT_DEVICE_COHERENT	_BITUL(3)
#define UMHMM_F_SELECT_ALL		(UMHMM_F_SELECT_SYSTEM | \
					 UMHMM_F_SELECT_DEVICE_PRIVATE | \
					 UMHMM_F_SELECT_DEVICE_COHERENT)
/*
 * MIGRATE_TO_DEV: give every page of each batch a destination, selected or
 * not, as drivers that allocate device memory in bulk do: the kernel must
 * leave the unused ones alone and migrate_vma_finalize() free them.
 */
#define UMHMM_F_PREALLOC		_BITUL(4)
#define UMHMM_F_ALL			0x1fU

/*
 * Most pages one call may cover (64 MiB): a bound on the kernel memory one
 * call holds (READ, WRITE and EXCLUSIVE copy the range's data through as
 * many pages). ABI 3's 256 MiB, when that copy was one vmalloc() buffer
 * that UML maps into its host process page by page, went past the host's
 * vm.max_map_count (65530 by default) and UML panicked.
 */
#define UMHMM_MAX_PAGES			16384

/*
 * mmap() of /dev/umhmmN at offset 0 maps device memory the way a GPU
 * driver maps its BAR: pfns without struct pages, in a VM_MIXEDMAP vma,
 * inserted on fault.  Only UML has it: the BAR is UMHMM_BAR_PAGES pages of
 * the iomem region "umhmm_bar" (the UML option iomem=umhmm_bar,<file>),
 * the first ones past the memory section where physical memory ends, so
 * the file must be a section (128 MiB, it can be sparse) plus the BAR
 * long.  All devices share it.  Without it, mmap() fails with ENODEV.
 * Mappings must be shared.
 *
 * At page offset UMHMM_BAR_PFNMAP_PGOFF the same BAR pages are mapped the
 * other way drivers map a BAR: all at once by remap_pfn_range(), in a
 * VM_PFNMAP | VM_IO vma.
 */
#define UMHMM_BAR_NAME			"umhmm_bar"
#define UMHMM_BAR_PAGES			16
#define UMHMM_BAR_PFNMAP_PGOFF		0x10000

/*
 * A range of the mirrored address space.
 * @size:	sizeof(struct umhmm_range)
 * @flags:	UMHMM_F_*
 * @addr:	page-aligned start address
 * @npages:	number of pages, 1 to UMHMM_MAX_PAGES
 * @ptr:	user buffer: npages pages of data (READ, WRITE, EXCLUSIVE),
 *		npages state bytes (SNAPSHOT), unused otherwise
 * @done:	out: pages read, written, migrated, snapshotted or found
 *		exclusive
 * @retries:	out: times hmm_range_fault(), a notifier sequence check or an
 *		EXCLUSIVE batch had to be retried
 *
 * Every command but CHECK_EXCLUSIVE fails with ESRCH once the process that
 * opened the fd, whose mm it mirrors, has exited.  A @ptr the caller
 * cannot read (WRITE) or write (READ, SNAPSHOT, EXCLUSIVE) fails the call
 * with EFAULT before the range is touched.
 */
struct umhmm_range {
	__u32 size;
	__u32 flags;
	__u64 addr;
	__u64 npages;
	__u64 ptr;
	__u64 done;
	__u64 retries;
};

/* Page states written by UMHMM_IOC_SNAPSHOT, one byte per page. */
#define UMHMM_PAGE_NONE			0x00	/* nothing mapped */
#define UMHMM_PAGE_SYSTEM		0x01	/* system memory */
#define UMHMM_PAGE_ZERO			0x02	/* the shared zero page */
#define UMHMM_PAGE_DEVICE_LOCAL		0x03	/* device memory of this device */
#define UMHMM_PAGE_DEVICE_REMOTE	0x04	/* another device, same owner */
#define UMHMM_PAGE_ERROR		0x0f	/* hmm_range_fault() error */
#define UMHMM_PAGE_TYPE_MASK		0x0f
#define UMHMM_PAGE_READ			0x10
#define UMHMM_PAGE_WRITE		0x20

/* Indexes of umhmm_stats.invalidations: enum mmu_notifier_event. */
#define UMHMM_EVENT_UNMAP		0
#define UMHMM_EVENT_CLEAR		1
#define UMHMM_EVENT_PROTECTION_VMA	2
#define UMHMM_EVENT_PROTECTION_PAGE	3
#define UMHMM_EVENT_SOFT_DIRTY		4
#define UMHMM_EVENT_RELEASE		5
#define UMHMM_EVENT_MIGRATE		6
#define UMHMM_EVENT_EXCLUSIVE		7
#define UMHMM_NR_EVENTS			8

/*
 * Counters of one device id, kept across unbind and rebind so that a test
 * can check that every device page handed out was freed.  STATS and
 * VERSION also answer through an fd whose device was unbound; every other
 * command fails there with ENODEV.
 */
struct umhmm_stats {
	__u32 size;
	__u32 bound;			/* 1 while the device is bound */
	__u64 chunks;			/* memory chunks remapped (now) */
	__u64 pages_total;		/* device pages in those chunks */
	__u64 pages_free;		/* of which free */
	__u64 chunks_added;		/* since load */
	__u64 pages_allocated;		/* zone_device_page_init() calls */
	__u64 pages_freed;		/* page_free() callbacks */
	__u64 migrate_to_ram;		/* migrate_to_ram() callbacks */
	__u64 migrated_to_device;	/* pages, UMHMM_IOC_MIGRATE_TO_DEV */
	__u64 migrated_to_system;	/* pages, UMHMM_IOC_MIGRATE_TO_SYS */
	__u64 evicted;			/* pages, migrate_device_range() */
	__u64 alloc_failures;		/* injected */
	__u64 copy_failures;		/* injected */
	__u64 invalidations[UMHMM_NR_EVENTS];	/* by mmu_notifier_event */
	__u64 busy_injected;		/* pages, umhmm_inject.busy */
	__u64 race_faults;		/* pages, umhmm_inject.race_fault */
	__u64 locked_injected;		/* pages, umhmm_inject.locked */
	__u64 stalls;			/* migrations, umhmm_inject.stall */
	__u64 stall_waits;		/* of which the fault waited */
	__u64 stall_device;		/* and then found the device page */
	__u64 race_migrations;		/* pages, umhmm_inject.race_migrate */
	__u64 isolated;			/* folios, umhmm_inject.isolate */
	__u64 bar_faults;		/* BAR pages mapped on fault */
	__u64 race_zaps;		/* pages, umhmm_inject.race_zap */
};

/*
 * Fault injection, counted down per page by the ioctls that migrate, evict
 * or grab exclusive pages:
 * @fail_alloc:	fail the next fail_alloc device page allocations
 * @fail_copy:	fail the next fail_copy copies
 * @busy:	hold an extra reference on the next busy source pages between
 *		migrate_vma_setup() and migrate_vma_pages(), as a racing
 *		get_page() would: their migration fails and they stay put
 * @race_fault:	fault in the CPU page behind the next race_fault holes or
 *		zero pages between migrate_vma_setup() and migrate_vma_pages(),
 *		as a racing CPU access would: a write fault (writable
 *		mappings) maps a new page, which the device page must not
 *		replace; a read fault maps the zero page, which it does
 * @locked:	lock the next locked pages before migrate_vma_setup() or
 *		migrate_device_range() collects them, as a concurrent migration
 *		holding them would: they are skipped (an eviction retries them)
 * @stall:	in the next stall migrate ioctls, fault the first page held for
 *		migration from another task (HMM_PFN_REQ_FAULT) and go on only
 *		once that fault waits on its migration entry (at most 10 s)
 * @race_migrate: migrate the next race_migrate holes or zero pages to the
 *		device from a nested migration between migrate_vma_setup() and
 *		migrate_vma_pages(), as another device would: the outer
 *		migration must leave the page the nested one inserted
 * @isolate:	take the next isolate mapped system folios that migrate ioctls
 *		meet off the LRU before migrate_vma_setup()
 *		and put them back after migrate_vma_finalize(), as compaction
 *		or reclaim on another CPU would: migrate_device_unmap() cannot
 *		isolate them and must leave them mapped where they are
 * @race_zap:	zap the next race_zap pages EXCLUSIVE made exclusive, before
 *		the mirror records them and while EXCLUSIVE still holds them
 *		locked, as another thread's MADV_DONTNEED could: the mirror
 *		must not record a page the CPU no longer maps
 */
struct umhmm_inject {
	__u32 size;
	__u32 fail_alloc;
	__u32 fail_copy;
	__u32 busy;
	__u32 race_fault;
	__u32 locked;
	__u32 stall;
	__u32 race_migrate;
	__u32 isolate;
	__u32 race_zap;
	__u32 reserved;			/* must be 0 */
};

/* struct umhmm_pgmap.type */
#define UMHMM_PGMAP_PRIVATE		0	/* MEMORY_DEVICE_PRIVATE */
#define UMHMM_PGMAP_COHERENT		1	/* MEMORY_DEVICE_COHERENT */
#define UMHMM_PGMAP_GENERIC		2	/* MEMORY_DEVICE_GENERIC */
#define UMHMM_PGMAP_NR_TYPES		3

/* struct umhmm_pgmap.flags */
/* devm_memremap_pages() and devm_memunmap_pages() on the device. */
#define UMHMM_PGMAP_DEVM		_BITUL(0)
/* The last range starts past the hotpluggable physical address space. */
#define UMHMM_PGMAP_UNREACHABLE		_BITUL(1)
#define UMHMM_PGMAP_ALL			0x3U

/* struct umhmm_pgmap.checks: what held. */
/* pgmap_pfn_valid() of the first pfn of every range */
#define UMHMM_PGMAP_PFN_VALID		_BITUL(0)
/* !pgmap_pfn_valid() of the pfn before the first range */
#define UMHMM_PGMAP_PFN_OUTSIDE		_BITUL(1)
/* get_dev_pagemap() of the last pfn of every range finds the pgmap */
#define UMHMM_PGMAP_LOOKUP		_BITUL(2)
/* get_dev_pagemap() given the pgmap, for a pfn it covers, returns it */
#define UMHMM_PGMAP_CACHED		_BITUL(3)
/* get_dev_pagemap() given the pgmap, for a pfn outside, finds none */
#define UMHMM_PGMAP_LOOKUP_OUTSIDE	_BITUL(4)
/* after the unmap, or a failed remap, no range has a pgmap any more */
#define UMHMM_PGMAP_GONE		_BITUL(5)

/*
 * UMHMM_IOC_PGMAP: remaps a throwaway dev_pagemap beside the device memory,
 * checks memremap_pages() and its lookups, and unmaps it before returning;
 * no page of it is ever handed out.
 * @size:	sizeof(struct umhmm_pgmap)
 * @type:	UMHMM_PGMAP_PRIVATE, _COHERENT or _GENERIC
 * @nr_range:	number of ranges, 1 or 2, of @npages pages each
 * @flags:	UMHMM_PGMAP_*
 * @npages:	pages per range, a multiple of 512 from 512 to 65536
 * @error:	out: 0 or the -errno (devm_)memremap_pages() returned
 * @checks:	out: the UMHMM_PGMAP_* checks that held
 * @compat_align: out: memremap_compat_align()
 */
struct umhmm_pgmap {
	__u32 size;
	__u32 type;
	__u32 nr_range;
	__u32 flags;
	__u64 npages;
	__s32 error;
	__u32 checks;
	__u64 compat_align;
};

#define UMHMM_IOC_MAGIC		'U'
#define UMHMM_IOC_VERSION	_IOR(UMHMM_IOC_MAGIC, 0x00, __u32)
#define UMHMM_IOC_READ		_IOWR(UMHMM_IOC_MAGIC, 0x01, struct umhmm_range)
#define UMHMM_IOC_WRITE		_IOWR(UMHMM_IOC_MAGIC, 0x02, struct umhmm_range)
#define UMHMM_IOC_MIGRATE_TO_DEV _IOWR(UMHMM_IOC_MAGIC, 0x03, struct umhmm_range)
#define UMHMM_IOC_MIGRATE_TO_SYS _IOWR(UMHMM_IOC_MAGIC, 0x04, struct umhmm_range)
#define UMHMM_IOC_SNAPSHOT	_IOWR(UMHMM_IOC_MAGIC, 0x05, struct umhmm_range)
#define UMHMM_IOC_EXCLUSIVE	_IOWR(UMHMM_IOC_MAGIC, 0x06, struct umhmm_range)
#define UMHMM_IOC_CHECK_EXCLUSIVE _IOWR(UMHMM_IOC_MAGIC, 0x07, struct umhmm_range)
#define UMHMM_IOC_EVICT		_IOR(UMHMM_IOC_MAGIC, 0x08, __u64)
#define UMHMM_IOC_STATS		_IOWR(UMHMM_IOC_MAGIC, 0x09, struct umhmm_stats)
#define UMHMM_IOC_INJECT	_IOW(UMHMM_IOC_MAGIC, 0x0a, struct umhmm_inject)
#define UMHMM_IOC_PGMAP		_IOWR(UMHMM_IOC_MAGIC, 0x0b, struct umhmm_pgmap)

/*
 * The flags a range command takes; any other bit is refused with EINVAL.
 * The driver checks against this, and callers (the fuzzer) draw from it.
 */
static inline __u32 umhmm_range_flags(unsigned long cmd)
{
	switch (cmd) {
	case UMHMM_IOC_READ:
	case UMHMM_IOC_WRITE:
		return UMHMM_F_NOFAULT;
	case UMHMM_IOC_MIGRATE_TO_DEV:
		return UMHMM_F_SELECT_ALL | UMHMM_F_PREALLOC;
	case UMHMM_IOC_MIGRATE_TO_SYS:
		return UMHMM_F_SELECT_ALL;
	default:
		return 0;
	}
}

#endif /* _UAPI_UMHMM_H */
