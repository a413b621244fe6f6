// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: 8a295dbbaf72 ("mm/hmm: fault non-owner device private
 * entries", R. Campbell, 2022; the id as its stable backport cites it).
 *
 * hmm_range_fault() handed a device-private entry owned by another driver
 * (another dev_pagemap owner) to the caller as if it were a valid PFN
 * instead of faulting it back to system memory: device B got device A's
 * page, whose data it cannot reach.  The fix faults every device-private
 * entry whose owner is not range->dev_private_owner.
 *
 * Scenario: umhmm devices 0 and 1 have different owners by default
 * (sysfs "owner" attribute).  Migrate to device 0, then read (and write)
 * the range through device 1: device 1 sees the right bytes, the pages are
 * back in system memory, device 0's migrate_to_ram count went up by the
 * number of pages, and device 1 never reports device 0's pages as its own
 * or as a remote device page.
 *
 * Reproduction without the fix: not shown here; without it the faulting
 * read would copy from device 0's page (umhmm_backing_page() of a foreign
 * page returns the device page itself), giving wrong data, and the
 * migrate_to_ram count would not move.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "umhmm_test.h"

#define NPAGES		100	/* more than one UMHMM_BATCH */

static int fd0, fd1;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
	fd1 = umhmm_fd[1];
}

static unsigned char *on_device0(unsigned int seed)
{
	unsigned char *buf = test_map_pattern(NPAGES, seed);
	unsigned char state[NPAGES];

	/* The precondition of the whole suite. */
	ck_assert_int_ne(umhmm_get_owner(0), umhmm_get_owner(1));
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_DEVICE_LOCAL, "on device 0");
	return buf;
}

START_TEST(test_read_through_other_owner)
{
	size_t size = NPAGES * page_size;
	struct umhmm_stats b0, a0, b1, a1;
	unsigned char *copy = malloc(size);
	unsigned char state[NPAGES];
	unsigned char *buf;

	ck_assert_ptr_nonnull(copy);
	buf = on_device0(500);
	umhmm_stats(fd0, &b0);
	umhmm_stats(fd1, &b1);
	memset(copy, 0, size);
	ck_assert_uint_eq(umhmm_ok(fd1, UMHMM_IOC_READ, buf, NPAGES, copy, 0),
			  NPAGES);
	ck_assert_pattern(copy, size, 500);
	umhmm_stats(fd0, &a0);
	umhmm_stats(fd1, &a1);
	/* Faulted back through device 0's migrate_to_ram(), page by page. */
	ck_assert_uint_eq(a0.migrate_to_ram - b0.migrate_to_ram, NPAGES);
	ck_assert_uint_eq(a0.pages_freed - b0.pages_freed, NPAGES);
	ck_assert_uint_eq(a1.pages_allocated, b1.pages_allocated);
	ck_assert_uint_eq(a1.migrate_to_ram, b1.migrate_to_ram);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "device 0 view");
	snapshot(fd1, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "device 1 view");
	ck_assert_pattern(buf, size, 500);
	free(copy);
}
END_TEST

START_TEST(test_snapshot_hides_foreign_pages)
{
	size_t size = NPAGES * page_size;
	unsigned char *copy = malloc(size);
	unsigned char state[NPAGES];
	struct umhmm_stats b0, a0;
	unsigned char *buf;

	ck_assert_ptr_nonnull(copy);
	buf = on_device0(501);
	umhmm_stats(fd0, &b0);
	/* Without faulting, a foreign entry is "nothing", never a PFN. */
	snapshot(fd1, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_NONE, "device 1 view");
	memset(copy, 0, size);
	ck_assert_uint_eq(umhmm_ok(fd1, UMHMM_IOC_READ, buf, NPAGES, copy,
				   UMHMM_F_NOFAULT), 0);
	ck_assert_int_eq(first_nonzero(copy, size), -1);
	umhmm_stats(fd0, &a0);
	ck_assert_uint_eq(a0.migrate_to_ram, b0.migrate_to_ram);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_DEVICE_LOCAL, "still device 0");
	ck_assert_pattern(buf, size, 501);
	free(copy);
}
END_TEST

START_TEST(test_write_through_other_owner)
{
	size_t size = NPAGES * page_size;
	unsigned char *data = malloc(size);
	unsigned char state[NPAGES];
	struct umhmm_stats b0, a0;
	unsigned char *buf;

	ck_assert_ptr_nonnull(data);
	buf = on_device0(502);
	fill_pattern(data, size, 503);
	umhmm_stats(fd0, &b0);
	ck_assert_uint_eq(umhmm_ok(fd1, UMHMM_IOC_WRITE, buf, NPAGES, data, 0),
			  NPAGES);
	umhmm_stats(fd0, &a0);
	ck_assert_uint_eq(a0.migrate_to_ram - b0.migrate_to_ram, NPAGES);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "after write");
	/* The write landed in the system pages the CPU now maps. */
	ck_assert_pattern(buf, size, 503);
	free(data);
}
END_TEST

START_TEST(test_partial_range_other_owner)
{
	size_t size = NPAGES * page_size;
	unsigned char *copy = malloc(10 * page_size);
	unsigned char state[NPAGES];
	struct umhmm_stats b0, a0;
	unsigned char *buf;
	size_t i;

	ck_assert_ptr_nonnull(copy);
	buf = on_device0(504);
	umhmm_stats(fd0, &b0);
	/* Pages 60..69 straddle a batch boundary of the driver. */
	ck_assert_uint_eq(umhmm_ok(fd1, UMHMM_IOC_READ, buf + 60 * page_size,
				   10, copy, 0), 10);
	ck_assert_int_eq(pattern_mismatch_at(copy, 10 * page_size, 504,
					     60 * page_size), -1);
	umhmm_stats(fd0, &a0);
	ck_assert_uint_eq(a0.migrate_to_ram - b0.migrate_to_ram, 10);
	snapshot(fd0, buf, NPAGES, state);
	for (i = 0; i < NPAGES; i++)
		ck_assert_uint_eq(state[i] & UMHMM_PAGE_TYPE_MASK,
				  i >= 60 && i < 70 ? UMHMM_PAGE_SYSTEM :
				  UMHMM_PAGE_DEVICE_LOCAL);
	ck_assert_pattern(buf, size, 504);
	free(copy);
}
END_TEST

static Suite *non_owner_fault_suite(void)
{
	Suite *s = umhmm_suite_create("non_owner_fault");
	TCase *core = umhmm_tcase_create("core", setup, umhmm_teardown);

	tcase_add_test(core, test_read_through_other_owner);
	tcase_add_test(core, test_snapshot_hides_foreign_pages);
	tcase_add_test(core, test_write_through_other_owner);
	tcase_add_test(core, test_partial_range_other_owner);
	suite_add_tcase(s, core);
	return s;
}

int main(void)
{
	return run_suite(non_owner_fault_suite());
}
