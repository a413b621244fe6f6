// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: 7ab0ad0e74f8 ("mm/hmm: fix ZONE_DEVICE anon page mapping
 * reuse", R. Campbell, 2019, v5.3; the id as later commits cite it).
 *
 * A freed ZONE_DEVICE page kept the stale page->mapping of the anonymous
 * VMA it last served.  When the driver handed the page out again for
 * another anonymous range, the rmap code followed the stale anon_vma and
 * the page could not be migrated back (or hit a BUG in rmap).  The fix
 * clears page->mapping when the page is freed (today zone_device_page_init()
 * and free_zone_device_folio() reset it).
 *
 * Scenario: migrate a range, munmap it (device pages freed, and being a
 * LIFO free list, the next ones handed out), migrate a fresh range whose
 * pages were never touched (pte_none, except some written ones) so the
 * freed device pages are reused, then CPU-fault it back: zeros where
 * untouched, data where written.  Repeated, and also with MADV_DONTNEED
 * freeing the first pages.
 *
 * Reproduction without the fix: not shown here (the code path was
 * restructured since; a revert does not apply to 6.12).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "umhmm_test.h"

#define NPAGES		64

static int fd0;

static void setup(void)
{
	umhmm_setup();
	fd0 = umhmm_fd[0];
}

/* Pages on the device, then freed by munmap (or MADV_DONTNEED). */
static void free_device_pages(int dontneed, unsigned int seed)
{
	unsigned char *old = test_map_pattern(NPAGES, seed);
	struct umhmm_stats before, after;

	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, old, NPAGES,
				   NULL, 0), NPAGES);
	if (dontneed) {
		ck_assert_int_eq(madvise(old, NPAGES * page_size,
					 MADV_DONTNEED), 0);
	} else {
		ck_assert_int_eq(munmap(old, NPAGES * page_size), 0);
		test_forget(old);
	}
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, NPAGES);
	ck_assert_uint_eq(after.migrate_to_ram, before.migrate_to_ram);
}

/* Migrates a fresh range (every third page written) into reused pages. */
static void reuse(unsigned int seed)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_anon(NPAGES);
	struct umhmm_stats before, after;
	unsigned char state[NPAGES];
	size_t i;

	for (i = 0; i < NPAGES; i += 3)
		fill_pattern(buf + i * page_size, page_size, seed + i);
	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	umhmm_stats(fd0, &after);
	/* Served from the free list: no new chunk of device memory. */
	ck_assert_uint_eq(after.chunks_added, before.chunks_added);
	ck_assert_uint_eq(before.pages_free - after.pages_free, NPAGES);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_DEVICE_LOCAL, "reused");

	/* CPU faults every page back through the rmap of the new VMA. */
	for (i = 0; i < NPAGES; i++) {
		if (i % 3 == 0)
			ck_assert_msg(pattern_mismatch(buf + i * page_size,
						       page_size, seed + i)
				      == -1, "page %zu: written data lost", i);
		else
			ck_assert_msg(first_nonzero(buf + i * page_size,
						    page_size) == -1,
				      "page %zu: not zero", i);
	}
	umhmm_stats(fd0, &after);
	ck_assert_uint_eq(after.migrate_to_ram - before.migrate_to_ram, NPAGES);
	ck_assert_uint_eq(after.pages_freed - before.pages_freed, NPAGES);
	snapshot(fd0, buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "faulted back");
	/* And writable in the new VMA. */
	fill_pattern(buf, size, seed + 1000);
	ck_assert_pattern(buf, size, seed + 1000);
	ck_assert_int_eq(munmap(buf, size), 0);
	test_forget(buf);
}

START_TEST(test_reuse_after_munmap)
{
	unsigned int round;

	for (round = 0; round < 8; round++) {
		free_device_pages(0, 600 + round);
		reuse(700 + round * 100);
	}
}
END_TEST

START_TEST(test_reuse_after_dontneed)
{
	unsigned int round;

	for (round = 0; round < 8; round++) {
		free_device_pages(1, 610 + round);
		reuse(1700 + round * 100);
	}
}
END_TEST

START_TEST(test_reuse_evicted)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf = test_map_pattern(NPAGES, 620);
	struct umhmm_stats before, after;
	unsigned char state[NPAGES];
	unsigned char *fresh;
	__u64 n = 0;

	/* Pages freed by eviction (migrate_device_range()), then reused. */
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, buf, NPAGES,
				   NULL, 0), NPAGES);
	ck_assert_int_eq(ioctl(fd0, UMHMM_IOC_EVICT, &n), 0);
	ck_assert_uint_eq(n, NPAGES);
	fresh = test_map_anon(NPAGES);
	umhmm_stats(fd0, &before);
	ck_assert_uint_eq(umhmm_ok(fd0, UMHMM_IOC_MIGRATE_TO_DEV, fresh,
				   NPAGES, NULL, 0), NPAGES);
	umhmm_stats(fd0, &after);
	/* Served from the free list the eviction filled. */
	ck_assert_uint_eq(after.chunks_added, before.chunks_added);
	ck_assert_uint_eq(before.pages_free - after.pages_free, NPAGES);
	snapshot(fd0, fresh, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_DEVICE_LOCAL, "reused");
	ck_assert_int_eq(first_nonzero(fresh, size), -1);
	ck_assert_pattern(buf, size, 620);
}
END_TEST

static Suite *anon_reuse_suite(void)
{
	Suite *s = umhmm_suite_create("anon_reuse");
	TCase *core = umhmm_tcase_create("core", setup, umhmm_teardown);

	tcase_add_test(core, test_reuse_after_munmap);
	tcase_add_test(core, test_reuse_after_dontneed);
	tcase_add_test(core, test_reuse_evicted);
	suite_add_tcase(s, core);
	return s;
}

int main(void)
{
	return run_suite(anon_reuse_suite());
}
