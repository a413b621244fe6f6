// SPDX-License-Identifier: GPL-2.0
/*
 * unpopulated: mirroring and migrating address ranges the CPU never
 * touched, whose page tables do not exist yet (a whole 2 MiB block with no
 * page table under it), in private, read-only and shared mappings, and
 * zero pages that a migration does or does not select.
 *
 * Why: a fresh range is the common case for a device that allocates
 * first and computes later, and it takes its own paths: the page walk
 * reports the missing page table as a hole (hmm_vma_walk_hole(),
 * migrate_vma_collect_hole()), hmm_range_fault() must fault it in, and
 * migrate_vma_pages() must build the page table and insert the new page
 * itself (migrate_vma_insert_page()) with the right permissions: read-only
 * in a read-only mapping, never in a shared one (only anonymous memory may
 * be populated). Tests that fill their buffers first never get there.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "umhmm_test.h"

/* A 2 MiB block: one page table's worth of pages. */
#define BLOCK_PAGES	512

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
	ck_assert_int_eq(umhmm_inject(fd0, 0, 0), 0);
}

/*
 * A 2 MiB-aligned block of BLOCK_PAGES pages inside a fresh mapping of
 * three blocks that nothing touches: no page table covers it.
 */
static unsigned char *fresh_block(int prot, int flags)
{
	size_t block = BLOCK_PAGES * page_size;
	unsigned char *map = test_map(3 * BLOCK_PAGES, prot, flags, -1, 0);
	uintptr_t aligned = ((uintptr_t)map + block - 1) & ~(block - 1);

	return (unsigned char *)aligned;
}

static void assert_zeroes(const unsigned char *buf, size_t npages)
{
	long off = first_nonzero(buf, npages * page_size);

	ck_assert_msg(off == -1, "byte %ld is not zero", off);
}

static void assert_perm(const unsigned char *state, size_t npages,
			unsigned char perm)
{
	size_t i;

	for (i = 0; i < npages; i++)
		ck_assert_msg((state[i] & (UMHMM_PAGE_READ | UMHMM_PAGE_WRITE)) ==
			      perm, "page %zu: state 0x%02x, want permission 0x%02x",
			      i, state[i], perm);
}

START_TEST(test_migrate_fresh_block_to_device)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char state[BLOCK_PAGES];
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   BLOCK_PAGES, NULL, 0), BLOCK_PAGES);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_DEVICE_LOCAL, "populated");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_WRITE);

	/* The device page reads as zeroes and the CPU writes through. */
	assert_zeroes(buf, BLOCK_PAGES);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram,
			  BLOCK_PAGES);
	fill_pattern(buf, BLOCK_PAGES * page_size, 3);
	ck_assert_pattern(buf, BLOCK_PAGES * page_size, 3);
}
END_TEST

/* Read-only: the device page is inserted read-only, and stays so. */
START_TEST(test_migrate_fresh_read_only_block)
{
	unsigned char *buf = fresh_block(PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char *data = test_malloc(BLOCK_PAGES * page_size);
	unsigned char state[BLOCK_PAGES];
	struct umhmm_range r;

	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   BLOCK_PAGES, NULL, 0), BLOCK_PAGES);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_DEVICE_LOCAL, "read-only");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_READ);

	/* The device may not write it either. */
	memset(data, 0x5a, BLOCK_PAGES * page_size);
	ck_assert_int_eq(umhmm_range(fd0, UMHMM_IOC_WRITE, buf, BLOCK_PAGES,
				     data, 0, &r), -EPERM);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, BLOCK_PAGES,
				   data, 0), BLOCK_PAGES);
	assert_zeroes(data, BLOCK_PAGES);
	assert_zeroes(buf, BLOCK_PAGES);
	free(data);
}
END_TEST

/* Shared memory is not anonymous: nothing is populated or selected. */
START_TEST(test_migrate_fresh_shared_block)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS);
	unsigned char state[BLOCK_PAGES];
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   BLOCK_PAGES, NULL, 0), 0);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   BLOCK_PAGES, NULL, UMHMM_F_SELECT_SYSTEM), 0);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_NONE, "shared, untouched");
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.pages_allocated, before.pages_allocated);
	assert_zeroes(buf, BLOCK_PAGES);
}
END_TEST

/* hmm_range_fault() faults a range with no page table in. */
START_TEST(test_read_fresh_block_faults_in)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char *data = test_malloc(BLOCK_PAGES * page_size);
	unsigned char state[BLOCK_PAGES];

	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_NONE, "before");

	memset(data, 0xa5, BLOCK_PAGES * page_size);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_READ, buf, BLOCK_PAGES,
				   data, 0), BLOCK_PAGES);
	assert_zeroes(data, BLOCK_PAGES);
	/* A read fault maps the zero page, read-only. */
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_ZERO, "after read");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_READ);
	free(data);
}
END_TEST

/* A write through the mirror populates a fresh block with writable pages. */
START_TEST(test_write_fresh_block_faults_in)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char *data = test_malloc(BLOCK_PAGES * page_size);
	unsigned char state[BLOCK_PAGES];

	fill_pattern(data, BLOCK_PAGES * page_size, 11);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_WRITE, buf, BLOCK_PAGES,
				   data, 0), BLOCK_PAGES);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_SYSTEM, "after write");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_WRITE);
	ck_assert_pattern(buf, BLOCK_PAGES * page_size, 11);
	free(data);
}
END_TEST

/*
 * MIGRATE_TO_SYS with SELECT_SYSTEM populates holes and replaces zero
 * pages with zeroed system pages. _i: 0 holes, 1 zero pages.
 */
START_TEST(test_populate_to_system)
{
	unsigned char *buf = fresh_block(PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS);
	unsigned char state[BLOCK_PAGES];
	volatile unsigned char sink = 0;
	struct umhmm_stats before, after;
	size_t i;

	if (_i == 1) {
		for (i = 0; i < BLOCK_PAGES; i++)
			sink += buf[i * page_size];
		snapshot(fd0, buf, BLOCK_PAGES, state);
		assert_states(state, BLOCK_PAGES, UMHMM_PAGE_ZERO, "read");
	}
	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   BLOCK_PAGES, NULL, UMHMM_F_SELECT_SYSTEM),
			  BLOCK_PAGES);
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrated_to_system - before.migrated_to_system,
			  BLOCK_PAGES);
	ck_assert_uint_eq(after.pages_allocated, before.pages_allocated);
	snapshot(fd0, buf, BLOCK_PAGES, state);
	assert_states(state, BLOCK_PAGES, UMHMM_PAGE_SYSTEM, "populated");
	assert_perm(state, BLOCK_PAGES, UMHMM_PAGE_WRITE);
	assert_zeroes(buf, BLOCK_PAGES);
	ck_assert_uint_eq(sink, 0);
}
END_TEST

/*
 * Without SELECT_SYSTEM, neither system pages nor the zero page are
 * selected: nothing moves. _i: 0 system pages, 1 zero pages.
 */
START_TEST(test_unselected_pages_stay)
{
	const size_t npages = 16;
	unsigned char *buf = test_map_anon(npages);
	unsigned char state[16];
	volatile unsigned char sink = 0;
	size_t i;

	if (_i == 0)
		fill_pattern(buf, npages * page_size, 5);
	else
		for (i = 0; i < npages; i++)
			sink += buf[i * page_size];
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, npages,
				   NULL, UMHMM_F_SELECT_DEVICE_PRIVATE), 0);
	snapshot(fd0, buf, npages, state);
	assert_states(state, npages,
		      _i == 0 ? UMHMM_PAGE_SYSTEM : UMHMM_PAGE_ZERO, "unselected");
	if (_i == 0)
		ck_assert_pattern(buf, npages * page_size, 5);
	else
		assert_zeroes(buf, npages);
	ck_assert_uint_eq(sink, 0);
}
END_TEST

static Suite *unpopulated_suite(void)
{
	Suite *s = umhmm_suite_create("unpopulated");
	TCase *migrate = umhmm_tcase_create("migrate", setup, umhmm_teardown);
	TCase *mirror = umhmm_tcase_create("mirror", setup, umhmm_teardown);

	tcase_add_test(migrate, test_migrate_fresh_block_to_device);
	tcase_add_test(migrate, test_migrate_fresh_read_only_block);
	tcase_add_test(migrate, test_migrate_fresh_shared_block);
	tcase_add_loop_test(migrate, test_populate_to_system, 0, 2);
	tcase_add_loop_test(migrate, test_unselected_pages_stay, 0, 2);
	suite_add_tcase(s, migrate);

	tcase_add_test(mirror, test_read_fresh_block_faults_in);
	tcase_add_test(mirror, test_write_fresh_block_faults_in);
	suite_add_tcase(s, mirror);
	return s;
}

int main(void)
{
	return run_suite(unpopulated_suite());
}
