// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: fd35ca3d12cc ("mm/migrate_device.c: copy pte dirty bit to
 * page", v6.1).
 *
 * migrate_vma_collect_pmd() cleared a PTE without moving its dirty bit to
 * the folio. An anonymous page in the swap cache (swapped in, then
 * written, so only the PTE knows it is dirty) whose migration then failed
 * on an extra reference got its PTE back from remove_migration_pte(),
 * which re-dirties it only for a dirty folio: the write was forgotten,
 * reclaim dropped the page as clean, and the next access read the stale
 * copy from swap. The fix marks the folio dirty when it takes the PTE
 * down.
 *
 * Scenario (needs swap): fill, MADV_PAGEOUT (pswpout proves the pages
 * went to swap), read them back (clean, in the swap cache: SwapCached
 * proves it), write new data (only the PTEs are dirty), migrate to the
 * device with every device page allocation failing (all are collected,
 * none moves, all are restored), MADV_PAGEOUT again: reclaim must write
 * the new data (pswpout rises again), and reading gives the new data.
 * Without the fix the second pageout writes nothing and the old data
 * comes back. The failure has to come before __migrate_device_pages()
 * looks at the folio: since v6.1 it calls folio_free_swap() first, which
 * dirties the folio, so a migration that fails later (an extra reference,
 * as in the original report) no longer reaches the bug.
 * Two more cases run the same pages through successful migrations, back
 * by migrate_vma and by a CPU fault: there __migrate_device_pages() takes
 * the folio out of the swap cache and the data must survive too. A fourth
 * has the device write them (the driver must dirty them itself), a fifth
 * moves them to new system pages (SELECT_SYSTEM).
 *
 * Swap is a sparse file attached as the UML block device ubda, made a swap
 * area by scripts/uml-init (hostfs and tmpfs cannot hold a swap file).
 * On a kernel without swap the cases end with umhmm_skip(): reported as
 * SKIP with the reason, never as a pass.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "umhmm_test.h"

#define NPAGES		32

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT	21
#endif

static void setup(void)
{
	umhmm_setup();
}

/* Returns 1 when some swap area is active, else prints why not. */
static int have_swap(char *why, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/swaps", "re");
	int n = 0;

	if (!f) {
		snprintf(why, len, "no /proc/swaps (%s): kernel without CONFIG_SWAP",
			 strerror(errno));
		return 0;
	}
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	/* The first line is the header. */
	if (n < 2) {
		snprintf(why, len, "no active swap area in /proc/swaps");
		return 0;
	}
	return 1;
}

/* The value of KEY in a "key value" file (/proc/vmstat, /proc/meminfo). */
static long proc_value(const char *path, const char *key)
{
	char name[64];
	long val;
	FILE *f = fopen(path, "re");

	ck_assert_msg(f, "%s: %s", path, strerror(errno));
	while (fscanf(f, "%63s %ld%*[^\n]", name, &val) == 2) {
		if (!strcmp(name, key)) {
			fclose(f);
			return val;
		}
	}
	fclose(f);
	ck_abort_msg("%s: no %s", path, key);
	return -1;
}

/*
 * MADV_PAGEOUT only starts the writes to swap. A folio still under
 * writeback cannot leave the swap cache, so migrate_vma_pages() would
 * skip it: wait, with a bound, until the kernel reports no page under
 * writeback (only this test writes to swap in the UML instance).
 */
static void wait_swap_writeback(void)
{
	long val = -1;
	int i;

	for (i = 0; i < 10000; i++) {
		val = proc_value("/proc/vmstat", "nr_writeback");
		if (val == 0)
			return;
		usleep(1000);
	}
	ck_abort_msg("pages still under writeback after 10 s: nr_writeback %ld",
		     val);
}

/* MADV_PAGEOUT on the range; returns how many pages reclaim wrote. */
static long page_out(unsigned char *buf)
{
	long before = proc_value("/proc/vmstat", "pswpout");

	ck_assert_int_eq(madvise(buf, NPAGES * page_size, MADV_PAGEOUT), 0);
	wait_swap_writeback();
	return proc_value("/proc/vmstat", "pswpout") - before;
}

/*
 * The range's pages, filled with SEED, swapped out and read back: clean,
 * in the swap cache.
 */
static unsigned char *map_swapcached(unsigned int seed)
{
	unsigned char *buf = test_map_pattern(NPAGES, seed);

	ck_assert_int_ge(page_out(buf), NPAGES);
	ck_assert_pattern(buf, NPAGES * page_size, seed);
	ck_assert_int_ge(proc_value("/proc/meminfo", "SwapCached:"),
			 NPAGES * page_size / 1024);
	return buf;
}

#define SKIP_IF_NO_SWAP()					\
	do {								\
		char why[128];						\
									\
		if (!have_swap(why, sizeof(why)))			\
			umhmm_skip("%s", why);				\
	} while (0)

START_TEST(test_swapcache_dirty_pte_survives_failed_migration)
{
	size_t size = NPAGES * page_size;
	struct umhmm_stats before, after;
	unsigned char state[NPAGES];
	unsigned char *buf;

	SKIP_IF_NO_SWAP();
	buf = map_swapcached(404);
	/* Dirty only in the PTEs. */
	fill_pattern(buf, size, 405);
	umhmm_stats(umhmm_fd[0], &before);
	ck_assert_int_eq(umhmm_inject(umhmm_fd[0], NPAGES, 0), 0);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   NPAGES, NULL, 0), 0);
	umhmm_stats(umhmm_fd[0], &after);
	ck_assert_uint_eq(after.alloc_failures - before.alloc_failures, NPAGES);
	snapshot(umhmm_fd[0], buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "restored");
	/* Reclaim must write the new data, not drop the pages as clean. */
	ck_assert_msg(page_out(buf) >= NPAGES,
		      "the restored pages were not written to swap: their dirty state was lost");
	ck_assert_pattern(buf, size, 405);
}
END_TEST

START_TEST(test_swapcache_dirty_pte_survives_migration)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf;
	unsigned char state[NPAGES];

	SKIP_IF_NO_SWAP();
	buf = map_swapcached(400);
	fill_pattern(buf, size, 401);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   NPAGES, NULL, 0), NPAGES);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   NPAGES, NULL, 0), NPAGES);
	snapshot(umhmm_fd[0], buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "back");
	/* New pages, out of the swap cache: reclaim must write them. */
	ck_assert_int_ge(page_out(buf), NPAGES);
	ck_assert_pattern(buf, size, 401);
}
END_TEST

START_TEST(test_swapcache_dirty_pte_cpu_fault_back)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf;

	SKIP_IF_NO_SWAP();
	buf = map_swapcached(402);
	fill_pattern(buf, size, 403);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   NPAGES, NULL, 0), NPAGES);
	/* Back through migrate_to_ram() this time. */
	ck_assert_pattern(buf, size, 403);
	ck_assert_int_ge(page_out(buf), NPAGES);
	ck_assert_pattern(buf, size, 403);
}
END_TEST

/*
 * The same clean, writable swap-cache pages written by the device
 * (UMHMM_IOC_WRITE) instead of the CPU: neither the PTEs nor the folios
 * know, so the driver must dirty the folios it writes. umhmm did not (nor
 * does upstream's lib/test_hmm.c), and the second pageout dropped the new
 * data as clean.
 */
START_TEST(test_swapcache_device_write_survives_pageout)
{
	size_t size = NPAGES * page_size;
	unsigned char *data = test_malloc(size);
	unsigned char state[NPAGES];
	unsigned char *buf;

	SKIP_IF_NO_SWAP();
	buf = map_swapcached(406);
	/* Writable already: the WRITE takes no fault that would dirty them. */
	snapshot(umhmm_fd[0], buf, NPAGES, state);
	assert_perm(state, NPAGES, UMHMM_PAGE_WRITE);
	fill_pattern(data, size, 407);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_WRITE, buf, NPAGES,
				   data, 0), NPAGES);
	ck_assert_msg(page_out(buf) >= NPAGES,
		      "the pages the device wrote were not written to swap: dropped as clean");
	ck_assert_pattern(buf, size, 407);
	free(data);
}
END_TEST

/*
 * SELECT_SYSTEM moves the clean swap-cache pages to new system pages: they
 * are anonymous and, their writes to swap done, not under writeback (the
 * driver leaves only page cache and writeback pages). The new pages take
 * the old ones' place in the swap cache, clean: a pageout drops them
 * without a write, and reading them back from swap gives the data.
 */
START_TEST(test_swapcache_pages_to_system)
{
	size_t size = NPAGES * page_size;
	struct umhmm_stats before, after;
	unsigned char state[NPAGES];
	unsigned char *buf;

	SKIP_IF_NO_SWAP();
	buf = map_swapcached(408);
	umhmm_stats(umhmm_fd[0], &before);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   NPAGES, NULL, UMHMM_F_SELECT_SYSTEM), NPAGES);
	umhmm_stats(umhmm_fd[0], &after);
	ck_assert_uint_eq(after.migrated_to_system - before.migrated_to_system,
			  NPAGES);
	snapshot(umhmm_fd[0], buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "moved");
	ck_assert_pattern(buf, size, 408);
	page_out(buf);
	ck_assert_pattern(buf, size, 408);
}
END_TEST

static Suite *dirty_bit_swapcache_suite(void)
{
	Suite *s = umhmm_suite_create("dirty_bit_swapcache");
	TCase *swap = umhmm_tcase_create("swap", setup, umhmm_teardown);

	tcase_add_test(swap, test_swapcache_dirty_pte_survives_failed_migration);
	tcase_add_test(swap, test_swapcache_dirty_pte_survives_migration);
	tcase_add_test(swap, test_swapcache_dirty_pte_cpu_fault_back);
	tcase_add_test(swap, test_swapcache_device_write_survives_pageout);
	tcase_add_test(swap, test_swapcache_pages_to_system);
	suite_add_tcase(s, swap);
	return s;
}

int main(void)
{
	return run_suite(dirty_bit_swapcache_suite());
}
