/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * umhmm: user ABI of the umhmm test driver (src/driver/umhmm.c).
 *
 * Each bound platform device "umhmm.N" has a character device /dev/umhmmN
 * that mirrors the address space of the process that opened it, the way a
 * GPU driver mirrors a process through HMM.  Every structure starts with its
 * size, which the driver checks: a caller built against another layout gets
 * -EINVAL, never a misread argument.
 */
#ifndef _UAPI_UMHMM_H
#define _UAPI_UMHMM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define UMHMM_ABI_VERSION	1

/* struct umhmm_range.flags */
/* READ/WRITE: do not fault pages in (no HMM_PFN_REQ_FAULT). */
#define UMHMM_F_NOFAULT			_BITUL(0)
/* MIGRATE_*: which pages migrate_vma_setup() selects (default below). */
#define UMHMM_F_SELECT_SYSTEM		_BITUL(1)
#define UMHMM_F_SELECT_DEVICE_PRIVATE	_BITUL(2)
#define UMHMM_F_SELECT_DEVICE_COHERENT	_BITUL(3)
#define UMHMM_F_ALL			0xfU

/* Most pages one call may cover (256 MiB): a bound on kernel buffers. */
#define UMHMM_MAX_PAGES			65536

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
 * @retries:	out: times hmm_range_fault() or a notifier sequence check
 *		had to be retried
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
 * can check that every device page handed out was freed.
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
};

/* Fail the next fail_alloc device page allocations, fail_copy copies. */
struct umhmm_inject {
	__u32 size;
	__u32 fail_alloc;
	__u32 fail_copy;
	__u32 reserved;			/* must be 0 */
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

#endif /* _UAPI_UMHMM_H */
