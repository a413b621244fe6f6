// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: J. Gunthorpe's hmm_range_fault() fixes of the v5.7 series,
 * among them "mm/hmm: return -EFAULT when setting HMM_PFN_ERROR on
 * requested valid pages", "mm/hmm: do not unconditionally set pfns when
 * returning EBUSY", "mm/hmm: add missing pfns set to hmm_vma_walk_pmd()",
 * "mm/hmm: return error for non-vma snapshots" and "mm/hmm: don't handle
 * the non-fault case in hmm_vma_walk_hole_()" (ids not checked here).
 *
 * Walks over holes, VMAs the CPU may not read and VMAs without struct
 * pages returned success with stale or invalid PFNs instead of an error,
 * so a device could map the wrong page.  Today hmm_vma_walk_hole() fails
 * a requested fault with -EFAULT where there is no VMA and reports
 * HMM_PFN_ERROR when nothing was requested; hmm_vma_walk_test() does the
 * same for !VM_READ and VM_IO/VM_PFNMAP VMAs; a write fault in a VMA
 * without VM_WRITE is -EPERM.
 *
 * Scenario: mirror ranges with holes, PROT_NONE, a VM_MIXEDMAP mapping
 * (mmap of upstream test_hmm's /dev/hmm_dmirror0, which vm_insert_page()s
 * zeroed pages), a VM_PFNMAP one (umhmm's BAR by remap_pfn_range(), 6.12
 * only: the BAR is an iomem region of UML's) and no VMA at all, faulting
 * (READ/WRITE: -EFAULT/-EPERM as umhmm.h documents), and not faulting
 * (SNAPSHOT: UMHMM_PAGE_ERROR for the holes; READ with UMHMM_F_NOFAULT:
 * only the valid pages, every byte right, zeros where nothing was read).
 * Never wrong data.
 *
 * Reproduction without the fixes: not shown here (pre-5.7 kernels).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm_test.h"

#define NPAGES		8	/* pages 2..5 are the hole */
#define HOLE_FIRST	2
#define HOLE_PAGES	4

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

static int in_hole(size_t i)
{
	return i >= HOLE_FIRST && i < HOLE_FIRST + HOLE_PAGES;
}

/*
 * Checks a NOFAULT read of the whole range: the pages outside the hole
 * carry the pattern, the hole pages nothing (the driver's zeroed buffer).
 */
static void check_nofault_read(unsigned char *buf, unsigned int seed)
{
	size_t size = NPAGES * page_size;
	unsigned char *copy = malloc(size);
	struct umhmm_range r;
	size_t i;

	ck_assert_ptr_nonnull(copy);
	memset(copy, 0xa5, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, NPAGES, copy,
				     UMHMM_F_NOFAULT, &r), 0);
	ck_assert_uint_eq(r.done, NPAGES - HOLE_PAGES);
	for (i = 0; i < NPAGES; i++) {
		unsigned char *p = copy + i * page_size;

		if (in_hole(i))
			ck_assert_msg(first_nonzero(p, page_size) == -1,
				      "hole page %zu: data read", i);
		else
			ck_assert_msg(pattern_mismatch_at(p, page_size, seed,
							  i * page_size) == -1,
				      "page %zu: wrong data", i);
	}
	free(copy);
}

/* Faulting READ and WRITE fail as a whole and change nothing. */
static void check_faulting_fails(unsigned char *buf, int err)
{
	size_t size = NPAGES * page_size;
	unsigned char *copy = malloc(size);
	struct umhmm_range r;

	ck_assert_ptr_nonnull(copy);
	memset(copy, 0xa5, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, NPAGES, copy, 0,
				     &r), err);
	ck_assert_int_eq(first_not(copy, size, 0xa5), -1);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, NPAGES, copy, 0,
				     &r), err);
	free(copy);
}

static void check_states(unsigned char *buf, unsigned char outside)
{
	unsigned char state[NPAGES];
	size_t i;

	snapshot(fd0, buf, NPAGES, state);
	for (i = 0; i < NPAGES; i++)
		ck_assert_msg((state[i] & UMHMM_PAGE_TYPE_MASK) ==
			      (in_hole(i) ? UMHMM_PAGE_ERROR : outside),
			      "page %zu: state %#x", i, state[i]);
}

static void check_outside(unsigned char *buf, unsigned int seed)
{
	size_t i;

	for (i = 0; i < NPAGES; i++)
		if (!in_hole(i))
			ck_assert_int_eq(pattern_mismatch_at(buf + i * page_size,
							     page_size, seed,
							     i * page_size), -1);
}

START_TEST(test_hole)
{
	unsigned char *buf = test_map_pattern(NPAGES, 900);

	ck_assert_int_eq(munmap(buf + HOLE_FIRST * page_size,
				HOLE_PAGES * page_size), 0);
	check_states(buf, UMHMM_PAGE_SYSTEM);
	check_faulting_fails(buf, -EFAULT);
	check_nofault_read(buf, 900);
	check_outside(buf, 900);
}
END_TEST

START_TEST(test_hole_device_pages_around)
{
	unsigned char *buf = test_map_pattern(NPAGES, 901);
	struct umhmm_range r;

	ck_assert_int_eq(munmap(buf + HOLE_FIRST * page_size,
				HOLE_PAGES * page_size), 0);
	/* Stops at the hole: the first two pages moved. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				     NPAGES, NULL, 0, &r), -EFAULT);
	ck_assert_uint_eq(r.done, HOLE_FIRST);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV,
				   buf + (HOLE_FIRST + HOLE_PAGES) * page_size,
				   NPAGES - HOLE_FIRST - HOLE_PAGES, NULL, 0),
			  NPAGES - HOLE_FIRST - HOLE_PAGES);
	check_states(buf, UMHMM_PAGE_DEVICE_LOCAL);
	/* The device reads its own pages around the hole. */
	check_nofault_read(buf, 901);
	check_faulting_fails(buf, -EFAULT);
	check_outside(buf, 901);
}
END_TEST

START_TEST(test_prot_none)
{
	unsigned char *buf = test_map_pattern(NPAGES, 902);

	ck_assert_int_eq(mprotect(buf + HOLE_FIRST * page_size,
				  HOLE_PAGES * page_size, PROT_NONE), 0);
	check_states(buf, UMHMM_PAGE_SYSTEM);
	check_faulting_fails(buf, -EFAULT);
	check_nofault_read(buf, 902);
	ck_assert_int_eq(mprotect(buf, NPAGES * page_size, PROT_READ), 0);
	ck_assert_pattern(buf, NPAGES * page_size, 902);
}
END_TEST

START_TEST(test_read_only_middle)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_pattern(NPAGES, 903);
	unsigned char *data = malloc(size);
	unsigned char state[NPAGES];
	struct umhmm_range r;
	size_t i;

	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(mprotect(buf + HOLE_FIRST * page_size,
				  HOLE_PAGES * page_size, PROT_READ), 0);
	/* Readable everywhere: a faulting read gets every byte. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, NPAGES, data, 0),
			  NPAGES);
	ck_assert_pattern(data, size, 903);
	snapshot(fd0, buf, NPAGES, state);
	for (i = 0; i < NPAGES; i++)
		ck_assert_uint_eq(state[i], UMHMM_PAGE_SYSTEM |
				  (in_hole(i) ? UMHMM_PAGE_READ :
						UMHMM_PAGE_WRITE));
	/* A write stops with -EPERM at the read-only VMA. */
	fill_pattern(data, size, 904);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, NPAGES, data, 0,
				     &r), -EPERM);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_pattern(buf, size, 903);
	free(data);
}
END_TEST

START_TEST(test_no_vma)
{
	unsigned char *buf = test_map_anon(NPAGES);
	unsigned char *copy = malloc(NPAGES * page_size);
	unsigned char state[NPAGES];
	struct umhmm_range r;

	ck_assert_ptr_nonnull(copy);
	ck_assert_int_eq(munmap(buf, NPAGES * page_size), 0);
	test_forget(buf);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_ERROR, "no vma");
	check_faulting_fails(buf, -EFAULT);
	memset(copy, 0xa5, NPAGES * page_size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, NPAGES, copy,
				     UMHMM_F_NOFAULT, &r), 0);
	ck_assert_uint_eq(r.done, 0);
	/* Nothing read: the driver's zeroed buffer comes back. */
	ck_assert_int_eq(first_nonzero(copy, NPAGES * page_size), -1);
	free(copy);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				     NPAGES, NULL, 0, &r), -EFAULT);
	ck_assert_uint_eq(r.done, 0);
}
END_TEST

/* A VM_MIXEDMAP mapping: upstream test_hmm vm_insert_page()s its pages. */
static unsigned char *map_mixed(int *dfd, size_t npages)
{
	*dfd = open("/dev/hmm_dmirror0", O_RDWR | O_CLOEXEC);
	if (*dfd < 0)
		return NULL;
	return test_map(npages, PROT_READ | PROT_WRITE, MAP_SHARED, *dfd, 0);
}

START_TEST(test_mixedmap)
{
	size_t size = NPAGES * page_size;
	unsigned char *data = malloc(size);
	unsigned char state[NPAGES];
	struct umhmm_range r;
	unsigned char *buf;
	int dfd;

	ck_assert_ptr_nonnull(data);
	buf = map_mixed(&dfd, NPAGES);
	if (!buf) {
		int err = errno;

		free(data);
		umhmm_skip("/dev/hmm_dmirror0: %s", strerror(err));
	}
	/* Fresh zeroed pages: the device reads zeros. */
	memset(data, 0xa5, size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, NPAGES, data, 0),
			  NPAGES);
	ck_assert_int_eq(first_nonzero(data, size), -1);
	/* What the CPU writes, the device reads, and the reverse. */
	fill_pattern(buf, size, 905);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, NPAGES, data, 0),
			  NPAGES);
	ck_assert_pattern(data, size, 905);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "mixedmap");
	fill_pattern(data, size, 906);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_WRITE, buf, NPAGES, data, 0),
			  NPAGES);
	ck_assert_pattern(buf, size, 906);
	/* migrate_vma_setup() refuses VM_SPECIAL (VM_MIXEDMAP) VMAs. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				     NPAGES, NULL, 0, &r), -EINVAL);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_pattern(buf, size, 906);
	close(dfd);
	free(data);
}
END_TEST

START_TEST(test_mixedmap_next_to_hole)
{
	size_t size = NPAGES * page_size;
	unsigned char *copy = malloc(size);
	unsigned char state[NPAGES];
	unsigned char *buf;
	struct umhmm_range r;
	size_t i;
	int dfd;

	ck_assert_ptr_nonnull(copy);
	buf = map_mixed(&dfd, NPAGES);
	if (!buf) {
		int err = errno;

		free(copy);
		umhmm_skip("/dev/hmm_dmirror0: %s", strerror(err));
	}
	fill_pattern(buf, size, 907);
	ck_assert_int_eq(munmap(buf + HOLE_FIRST * page_size,
				HOLE_PAGES * page_size), 0);
	snapshot(fd0, buf, NPAGES, state);
	for (i = 0; i < NPAGES; i++)
		ck_assert_uint_eq(state[i] & UMHMM_PAGE_TYPE_MASK,
				  in_hole(i) ? UMHMM_PAGE_ERROR :
					       UMHMM_PAGE_SYSTEM);
	memset(copy, 0xa5, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, NPAGES, copy, 0,
				     &r), -EFAULT);
	ck_assert_int_eq(first_not(copy, size, 0xa5), -1);
	check_nofault_read(buf, 907);
	close(dfd);
	free(copy);
}
END_TEST

/*
 * A VM_PFNMAP | VM_IO mapping: umhmm's BAR mapped at once by
 * remap_pfn_range(). The CPU uses it; hmm_range_fault() must not hand its
 * pfns to the device: -EFAULT when faulting, an error per page when not.
 */
START_TEST(test_pfnmap)
{
	size_t size = NPAGES * page_size;
	unsigned char *data = malloc(size);
	unsigned char state[NPAGES];
	unsigned char *buf, *mixed;
	struct umhmm_range r;

	ck_assert_ptr_nonnull(data);
	buf = umhmm_bar_map(fd0, NPAGES, UMHMM_BAR_PFNMAP_PGOFF, __func__);
	if (!buf) {
		free(data);
		return;
	}
	/* The BAR's own pages: what one window writes, the other reads. */
	fill_pattern(buf, size, 908);
	mixed = test_map(NPAGES, PROT_READ, MAP_SHARED, fd0, 0);
	ck_assert_pattern(mixed, size, 908);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_ERROR, "pfnmap");
	memset(data, 0xa5, size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, NPAGES, data, 0,
				     &r), -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_int_eq(first_not(data, size, 0xa5), -1);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_READ, buf, NPAGES, data,
				     UMHMM_F_NOFAULT, &r), 0);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_int_eq(first_nonzero(data, size), -1);
	fill_pattern(data, size, 909);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, NPAGES, data, 0,
				     &r), -EFAULT);
	ck_assert_uint_eq(r.done, 0);
	/* migrate_vma_setup() refuses VM_SPECIAL (VM_PFNMAP) VMAs. */
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				     NPAGES, NULL, 0, &r), -EINVAL);
	ck_assert_uint_eq(r.done, 0);
	ck_assert_pattern(buf, size, 908);
	free(data);
}
END_TEST

static Suite *range_fault_holes_suite(void)
{
	Suite *s = umhmm_suite_create("range_fault_holes");
	TCase *holes = umhmm_tcase_create("holes", setup, umhmm_teardown);
	TCase *special = umhmm_tcase_create("special", setup, umhmm_teardown);

	tcase_add_test(holes, test_hole);
	tcase_add_test(holes, test_hole_device_pages_around);
	tcase_add_test(holes, test_prot_none);
	tcase_add_test(holes, test_read_only_middle);
	tcase_add_test(holes, test_no_vma);
	suite_add_tcase(s, holes);

	tcase_add_test(special, test_mixedmap);
	tcase_add_test(special, test_mixedmap_next_to_hole);
	tcase_add_test(special, test_pfnmap);
	suite_add_tcase(s, special);
	return s;
}

int main(void)
{
	return run_suite(range_fault_holes_suite());
}
