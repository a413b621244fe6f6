// SPDX-License-Identifier: GPL-2.0
/*
 * Regression: fd35ca3d12cc ("mm/migrate_device.c: copy pte dirty bit to
 * page", v6.1).
 *
 * migrate_vma_collect_pmd() cleared a PTE without moving its dirty bit to
 * the folio.  An anonymous page that sits in the swap cache (swapped in,
 * then written, so only the PTE knows it is dirty) lost its dirty state
 * when it migrated: reclaim could then drop it as clean and a later access
 * read the stale copy from swap.  The fix marks the folio dirty when it
 * takes the PTE down.
 *
 * Scenario (needs swap): fill, MADV_PAGEOUT (pages go to swap), read them
 * back (clean, in the swap cache), write new data (only the PTE is dirty),
 * migrate to the device and back, MADV_PAGEOUT again, read: the new data.
 *
 * Swap is a sparse file attached as the UML block device ubda, made a swap
 * area by scripts/uml-init (hostfs and tmpfs cannot hold a swap file).
 * On a kernel without swap the cases end with umhmm_skip(): reported as
 * SKIP with the reason, never as a pass.
 * Whether the bug reproduces without the fix could not be shown here.
 */
#include <errno.h>
#include <stdio.h>
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

/*
 * MADV_PAGEOUT only starts the writes to swap. A folio still under
 * writeback cannot leave the swap cache, so migrate_vma_pages() would
 * skip it: wait, with a bound, until the kernel reports no page under
 * writeback (only this test writes to swap in the UML instance).
 */
static void wait_swap_writeback(void)
{
	char key[64];
	long val = -1;
	int i;

	for (i = 0; i < 10000; i++) {
		FILE *f = fopen("/proc/vmstat", "re");

		ck_assert_msg(f, "/proc/vmstat: %s", strerror(errno));
		while (fscanf(f, "%63s %ld", key, &val) == 2)
			if (!strcmp(key, "nr_writeback"))
				break;
		fclose(f);
		if (val == 0)
			return;
		usleep(1000);
	}
	ck_abort_msg("pages still under writeback after 10 s: nr_writeback %ld",
		     val);
}

#define SKIP_IF_NO_SWAP()					\
	do {								\
		char why[128];						\
									\
		if (!have_swap(why, sizeof(why)))			\
			umhmm_skip("%s", why);				\
	} while (0)

START_TEST(test_swapcache_dirty_pte_survives_migration)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf;
	unsigned char state[NPAGES];

	SKIP_IF_NO_SWAP();
	buf = test_map_pattern(NPAGES, 400);
	ck_assert_int_eq(madvise(buf, size, MADV_PAGEOUT), 0);
	wait_swap_writeback();
	/* Swapped in clean: the swap copy is valid, the page in swapcache. */
	ck_assert_pattern(buf, size, 400);
	/* Dirty only in the PTEs. */
	fill_pattern(buf, size, 401);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   NPAGES, NULL, 0), NPAGES);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_SYS, buf,
				   NPAGES, NULL, 0), NPAGES);
	snapshot(umhmm_fd[0], buf, NPAGES, state);
	assert_states(state, NPAGES, UMHMM_PAGE_SYSTEM, "back");
	ck_assert_int_eq(madvise(buf, size, MADV_PAGEOUT), 0);
	/* Reclaim must have written the new data, not dropped it. */
	ck_assert_pattern(buf, size, 401);
}
END_TEST

START_TEST(test_swapcache_dirty_pte_cpu_fault_back)
{
	size_t size = NPAGES * page_size;
	unsigned char *buf;

	SKIP_IF_NO_SWAP();
	buf = test_map_pattern(NPAGES, 402);
	ck_assert_int_eq(madvise(buf, size, MADV_PAGEOUT), 0);
	wait_swap_writeback();
	ck_assert_pattern(buf, size, 402);
	fill_pattern(buf, size, 403);
	ck_assert_uint_eq(umhmm_ok(umhmm_fd[0], UMHMM_IOC_MIGRATE_TO_DEV, buf,
				   NPAGES, NULL, 0), NPAGES);
	/* Back through migrate_to_ram() this time. */
	ck_assert_pattern(buf, size, 403);
	ck_assert_int_eq(madvise(buf, size, MADV_PAGEOUT), 0);
	ck_assert_pattern(buf, size, 403);
}
END_TEST

static Suite *dirty_bit_swapcache_suite(void)
{
	Suite *s = umhmm_suite_create("dirty_bit_swapcache");
	TCase *swap = umhmm_tcase_create("swap", setup, umhmm_teardown);

	tcase_add_test(swap, test_swapcache_dirty_pte_survives_migration);
	tcase_add_test(swap, test_swapcache_dirty_pte_cpu_fault_back);
	suite_add_tcase(s, swap);
	return s;
}

int main(void)
{
	return run_suite(dirty_bit_swapcache_suite());
}
